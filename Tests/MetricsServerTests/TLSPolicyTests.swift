import XCTest

@testable import MetricsServer

/// The exporter-toolkit TLS policy in GnuTLS' priority syntax.
final class TLSPolicyTests: XCTestCase {
    private func priorities(
        min: String? = nil, max: String? = nil, suites: [String] = [], curves: [String] = [], prefer: Bool = false
    ) throws -> String {
        try TLSPolicy(
            minimumVersion: min, maximumVersion: max, cipherSuites: suites, curves: curves,
            preferServerCipherSuites: prefer
        ).gnutlsPriorities
    }

    func testDefaultsAreTLS12AndTLS13() throws {
        XCTAssertEqual(try priorities(), "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3")
    }

    func testVersionRange() throws {
        XCTAssertEqual(try priorities(min: "TLS13"), "NORMAL:-VERS-ALL:+VERS-TLS1.3")
        XCTAssertEqual(
            try priorities(min: "TLS10", max: "TLS12"), "NORMAL:-VERS-ALL:+VERS-TLS1.0:+VERS-TLS1.1:+VERS-TLS1.2")
    }

    func testBadVersionsAreClearErrors() {
        XCTAssertThrowsError(try priorities(min: "TLS14")) { XCTAssertTrue("\($0)".contains("min_version")) }
        XCTAssertThrowsError(try priorities(max: "SSL3")) { XCTAssertTrue("\($0)".contains("max_version")) }
        XCTAssertThrowsError(try priorities(min: "TLS13", max: "TLS12")) {
            XCTAssertTrue("\($0)".contains("above max_version"))
        }
    }

    func testCipherSuitesBecomeTheUnionOfTheirPartsAndKeepTLS13Ciphers() throws {
        let text = try priorities(suites: ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"])
        XCTAssertEqual(
            text,
            "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3:-KX-ALL:+ECDHE-RSA:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM"
                + ":+CHACHA20-POLY1305:-MAC-ALL:+AEAD")
        let onlyTLS12 = try priorities(max: "TLS12", suites: ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"])
        XCTAssertTrue(onlyTLS12.hasSuffix("-KX-ALL:+ECDHE-RSA:-CIPHER-ALL:+AES-128-CBC:-MAC-ALL:+SHA1"), onlyTLS12)
    }

    func testUnknownSuiteAndCurveAreErrors() {
        XCTAssertThrowsError(try priorities(suites: ["TLS_RSA_WITH_RC4_128_SHA"])) {
            XCTAssertTrue("\($0)".contains("cannot be honoured"))
        }
        XCTAssertThrowsError(try priorities(curves: ["CurveP192"])) { XCTAssertTrue("\($0)".contains("CurveP192")) }
    }

    func testCurvesAndServerPrecedence() throws {
        XCTAssertEqual(
            try priorities(curves: ["X25519", "CurveP256"], prefer: true),
            "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:%SERVER_PRECEDENCE")
    }

    func testClientVerificationWithoutACAIsTheOneStatedProblem() {
        var settings = TLSSettings(certificatePEM: "c", keyPEM: "k", clientAuthentication: .requireAndVerifyClientCert)
        XCTAssertEqual(settings.problem, "client_auth_type RequireAndVerifyClientCert needs client_ca_file")
        settings.clientAuthentication = .verifyClientCertIfGiven
        XCTAssertNotNil(settings.problem)
        settings.clientAuthentication = .requireAnyClientCert
        XCTAssertNil(settings.problem, "any certificate needs no CA")
        settings.clientAuthentication = .requireAndVerifyClientCert
        settings.clientCAPEM = "ca"
        XCTAssertNil(settings.problem)
    }
}
