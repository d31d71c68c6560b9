import XCTest

@testable import MetricsServer

/// The exporter-toolkit web configuration: what the parser accepts of basic_auth_users.
final class WebConfigFileTests: XCTestCase {
    private static let salt = "abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"

    private func parse(_ text: String) throws -> WebSecurity {
        try WebConfigFile.parse(text, path: "/nonexistent/web.yml")
    }

    func testBcryptCostsUpTo16AreAccepted() throws {
        for cost in ["04", "10", "12", "16"] {
            let security = try parse("basic_auth_users:\n  prometheus: '$2y$\(cost)$\(Self.salt)'\n")
            XCTAssertEqual(security.basicAuthUsers.count, 1, cost)
        }
    }

    /// A cost-31 hash is valid bcrypt, but one check of it takes days of CPU: refused, naming the user and the cost.
    func testBcryptCostsAbove16AreRefusedNamingUserAndCost() {
        for cost in [17, 31] {
            let text = "basic_auth_users:\n  ok: '$2y$10$\(Self.salt)'\n  slowpoke: '$2b$\(cost)$\(Self.salt)'\n"
            XCTAssertThrowsError(try parse(text), "cost \(cost)") { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains("\"slowpoke\""), message)
                XCTAssertTrue(message.contains("\(cost)"), message)
                XCTAssertTrue(message.contains("16"), message)
                XCTAssertFalse(message.contains("\n"), message)
            }
        }
    }

    func testMalformedHashesAreRefused() {
        for hash in ["plain", "$2y$1$\(Self.salt)", "$2y$32$\(Self.salt)", "$2x$10$\(Self.salt)", "$2y$10$short"] {
            XCTAssertThrowsError(try parse("basic_auth_users:\n  u: '\(hash)'\n"), hash) { error in
                XCTAssertTrue("\(error)".contains("must be a bcrypt hash"), "\(error)")
            }
        }
    }

    /// A reload may not drop a protection in force; it may add one or change one.
    func testWeakeningNamesWhatANewConfigurationWouldTurnOff() {
        let tls = TLSSettings(certificatePEM: "c", keyPEM: "k")
        let verified = TLSSettings(
            certificatePEM: "c", keyPEM: "k", clientCAPEM: "ca", clientAuthentication: .requireAndVerifyClientCert)
        let users = ["prometheus": "$2y$10$\(Self.salt)"]
        let full = WebSecurity(tls: verified, basicAuthUsers: users)
        XCTAssertEqual(full.weakening(to: .open), "would turn off TLS")
        XCTAssertEqual(full.weakening(to: WebSecurity(basicAuthUsers: users)), "would turn off TLS")
        XCTAssertEqual(
            full.weakening(to: WebSecurity(tls: tls, basicAuthUsers: users)),
            "would stop requiring client certificates")
        XCTAssertEqual(full.weakening(to: WebSecurity(tls: verified)), "would turn off basic auth")
        XCTAssertNil(full.weakening(to: full))
        XCTAssertNil(full.weakening(to: WebSecurity(tls: verified, basicAuthUsers: ["other": users["prometheus"]!])))
        XCTAssertNil(WebSecurity.open.weakening(to: full), "adding protection is fine")
        XCTAssertNil(WebSecurity(basicAuthUsers: users).weakening(to: WebSecurity(tls: tls, basicAuthUsers: users)))
    }
}
