import Synchronization
import XCTest

@testable import MetricsServer

/// HTTP basic authentication against bcrypt hashes: header parsing, base64, constant-time comparison, the cache.
final class BasicAuthenticatorTests: XCTestCase {
    private final class ManualClock: Sendable {
        let seconds = Mutex(1000.0)
        func now() -> Double { seconds.withLock { $0 } }
        func advance(_ by: Double) { seconds.withLock { $0 += by } }
    }

    private func header(_ user: String, _ password: String) -> String {
        "Basic " + Self.base64(Array("\(user):\(password)".utf8))
    }

    /// RFC 4648 base64, written independently of the code under test.
    private static func base64(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var text = ""
        var index = 0
        while index < bytes.count {
            let chunk = Array(bytes[index..<min(index + 3, bytes.count)]) + [0, 0]
            let value = UInt32(chunk[0]) << 16 | UInt32(chunk[1]) << 8 | UInt32(chunk[2])
            let characters = (0..<4).map { alphabet[Int(value >> (18 - 6 * $0) & 0x3F)] }
            let kept = min(bytes.count - index, 3) + 1
            text += String(characters[0..<kept]) + String(repeating: "=", count: 4 - kept)
            index += 3
        }
        return text
    }

    func testBase64DecodesTheRFC4648Vectors() {
        let vectors = [
            "": "", "Zg==": "f", "Zm8=": "fo", "Zm9v": "foo", "Zm9vYg==": "foob", "Zm9vYmE=": "fooba",
            "Zm9vYmFy": "foobar",
        ]
        for (encoded, decoded) in vectors {
            XCTAssertEqual(Base64.decode(encoded), Array(decoded.utf8), encoded)
        }
    }

    func testBase64RejectsBadAlphabetAndPadding() {
        for bad in ["Zg=", "Z===", "Zm9v!", "Zg==Zg==", "Zm9v=", "Z", "Zm9vY"] {
            XCTAssertNil(Base64.decode(bad), bad)
        }
    }

    func testParseSplitsAtTheFirstColonAndRefusesOtherSchemes() throws {
        let parsed = try XCTUnwrap(BasicAuthenticator.parse(header("prometheus", "pa:ss word")))
        XCTAssertEqual(parsed.user, "prometheus")
        XCTAssertEqual(parsed.password, "pa:ss word")
        XCTAssertNotNil(BasicAuthenticator.parse("basic " + Self.base64(Array("a:b".utf8))), "scheme is case-blind")
        XCTAssertNil(BasicAuthenticator.parse("Bearer " + Self.base64(Array("a:b".utf8))))
        XCTAssertNil(BasicAuthenticator.parse("Basic " + Self.base64(Array("no-colon".utf8))))
        XCTAssertNil(BasicAuthenticator.parse("Basic " + Self.base64([0x61, 0x3A, 0x62, 0x00, 0x63])), "NUL inside")
        XCTAssertNil(BasicAuthenticator.parse("Basic " + Self.base64([0x61, 0x3A, 0xFF])), "not UTF-8")
        XCTAssertNil(BasicAuthenticator.parse("Basic"))
    }

    func testConstantTimeEqualComparesWholeArrays() {
        XCTAssertTrue(BasicAuthenticator.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        XCTAssertTrue(BasicAuthenticator.constantTimeEqual([], []))
        XCTAssertFalse(BasicAuthenticator.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        XCTAssertFalse(BasicAuthenticator.constantTimeEqual([1, 2, 3], [1, 2]), "a prefix is not equal")
        XCTAssertFalse(BasicAuthenticator.constantTimeEqual([1, 2], [1, 2, 0]), "a trailing zero is not equal")
        XCTAssertFalse(BasicAuthenticator.constantTimeEqual([0], []))
    }

    func testCostOfAHash() {
        XCTAssertEqual(BasicAuthenticator.cost(of: "$2y$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"), 10)
        XCTAssertEqual(BasicAuthenticator.cost(of: "$2b$04$x"), 4)
        XCTAssertNil(BasicAuthenticator.cost(of: "$1$md5$x"))
        XCTAssertNil(BasicAuthenticator.cost(of: "plain"))
    }

    func testRightPasswordPassesWrongPasswordAndUnknownUserFail() throws {
        let hash = try XCTUnwrap(BasicAuthenticator.hash(password: "secret", cost: 4))
        XCTAssertTrue(hash.hasPrefix("$2"), hash)
        XCTAssertTrue(BasicAuthenticator.verify(password: "secret", hash: hash))
        XCTAssertFalse(BasicAuthenticator.verify(password: "Secret", hash: hash))
        let authenticator = BasicAuthenticator(users: ["prometheus": hash])
        XCTAssertTrue(authenticator.authorizes(header("prometheus", "secret")))
        XCTAssertFalse(authenticator.authorizes(header("prometheus", "wrong")))
        XCTAssertFalse(authenticator.authorizes(header("intruder", "secret")))
        XCTAssertFalse(authenticator.authorizes(nil))
        XCTAssertFalse(authenticator.authorizes("Basic !!!"))
    }

    func testAcceptedCredentialsAreCachedUntilTheyExpireAndFailuresNever() throws {
        let hash = try XCTUnwrap(BasicAuthenticator.hash(password: "secret", cost: 4))
        let clock = ManualClock()
        let authenticator = BasicAuthenticator(users: ["prometheus": hash], now: clock.now)
        XCTAssertFalse(authenticator.authorizes(header("prometheus", "wrong")))
        XCTAssertEqual(authenticator.cachedCount, 0, "a failure is never remembered")
        XCTAssertTrue(authenticator.authorizes(header("prometheus", "secret")))
        XCTAssertEqual(authenticator.cachedCount, 1)
        clock.advance(BasicAuthenticator.cacheSeconds - 1)
        XCTAssertTrue(authenticator.authorizes(header("prometheus", "secret")))
        clock.advance(2)
        XCTAssertTrue(authenticator.authorizes(header("prometheus", "secret")), "re-verified after expiry")
        XCTAssertEqual(authenticator.cachedCount, 1)
    }

    func testTheCacheIsBounded() throws {
        let hash = try XCTUnwrap(BasicAuthenticator.hash(password: "secret", cost: 4))
        let authenticator = BasicAuthenticator(users: ["prometheus": hash])
        // Distinct headers for the same credentials: base64 allows no variants, but the scheme's case does.
        let spellings = ["Basic", "basic", "BASIC", "bAsic"]
        for spelling in spellings {
            XCTAssertTrue(authenticator.authorizes(spelling + " " + Self.base64(Array("prometheus:secret".utf8))))
        }
        XCTAssertEqual(authenticator.cachedCount, spellings.count)
        XCTAssertLessThanOrEqual(authenticator.cachedCount, BasicAuthenticator.cacheLimit)
    }

    /// Users at costs 4 and 12: an unknown name must cost what some real user costs, chosen by the name alone, so the
    /// timing of unknown names has the same spread as real users' (a wrong password for the cost-4 user answers in a
    /// millisecond; if every unknown name cost 12, a fast answer would prove the user exists).
    func testUnknownUsersCostWhatARealUserCostsChosenByName() throws {
        let cheap = try XCTUnwrap(BasicAuthenticator.hash(password: "a", cost: 4))
        let users = ["cheap": cheap, "dear": "$2y$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"]
        let authenticator = BasicAuthenticator(users: users)
        XCTAssertEqual(authenticator.costs, [4, 12])
        var seen: [UInt: Int] = [:]
        for index in 0..<200 {
            let name = "ghost-\(index)"
            let cost = BasicAuthenticator.dummyCost(forUnknownUser: name, costs: authenticator.costs)
            XCTAssertEqual(cost, BasicAuthenticator.dummyCost(forUnknownUser: name, costs: [4, 12]), "deterministic")
            XCTAssertEqual(BasicAuthenticator.cost(of: authenticator.dummyHash(forUnknownUser: name)), cost, name)
            seen[cost, default: 0] += 1
        }
        XCTAssertEqual(Set(seen.keys), [4, 12], "every real cost is used for some unknown names: \(seen)")
        XCTAssertGreaterThan(seen[4] ?? 0, 60, "\(seen)")
        XCTAssertGreaterThan(seen[12] ?? 0, 60, "\(seen)")
        // A second authenticator over the same users (a reload) picks the same cost for the same name.
        let again = BasicAuthenticator(users: users)
        for index in 0..<20 {
            XCTAssertEqual(
                BasicAuthenticator.cost(of: again.dummyHash(forUnknownUser: "ghost-\(index)")),
                BasicAuthenticator.cost(of: authenticator.dummyHash(forUnknownUser: "ghost-\(index)")))
        }
        // The choice is a stable function of the name (FNV-1a), not of the process: pinned values.
        XCTAssertEqual(BasicAuthenticator.dummyCost(forUnknownUser: "", costs: [4, 12]), 12)
        XCTAssertEqual(BasicAuthenticator.dummyCost(forUnknownUser: "a", costs: [4, 12]), 4)
        XCTAssertEqual(BasicAuthenticator.dummyCost(forUnknownUser: "ghost", costs: [4, 12]), 4)
    }

    func testOneDummyHashPerDistinctCost() throws {
        let four = try XCTUnwrap(BasicAuthenticator.hash(password: "a", cost: 4))
        let alsoFour = try XCTUnwrap(BasicAuthenticator.hash(password: "b", cost: 4))
        let five = try XCTUnwrap(BasicAuthenticator.hash(password: "c", cost: 5))
        let authenticator = BasicAuthenticator(users: ["a": four, "b": alsoFour, "c": five])
        XCTAssertEqual(authenticator.dummyHashes.count, 2)
        XCTAssertEqual(Set(authenticator.dummyHashes.keys), [4, 5])
        for (cost, dummy) in authenticator.dummyHashes {
            XCTAssertEqual(BasicAuthenticator.cost(of: dummy), cost, dummy)
            XCTAssertFalse(BasicAuthenticator.verify(password: "", hash: dummy), "a dummy never matches")
        }
        // Unknown users are refused whichever dummy they get.
        for index in 0..<10 {
            XCTAssertFalse(authenticator.authorizes(header("nobody\(index)", "a")))
        }
    }

    func testVerdictAnswersCacheHitsAndMalformedHeadersWithoutBcrypt() throws {
        let hash = try XCTUnwrap(BasicAuthenticator.hash(password: "secret", cost: 4))
        let authenticator = BasicAuthenticator(users: ["prometheus": hash])
        guard case .denied = authenticator.verdict(for: "Basic !!!") else {
            return XCTFail("malformed needs no bcrypt")
        }
        guard case .denied = authenticator.verdict(for: nil) else { return XCTFail("no header needs no bcrypt") }
        guard case .needsCheck(let pending) = authenticator.verdict(for: header("prometheus", "secret")) else {
            return XCTFail("an uncached password needs bcrypt")
        }
        XCTAssertTrue(pending.knownUser)
        XCTAssertTrue(authenticator.check(pending))
        guard case .granted = authenticator.verdict(for: header("prometheus", "secret")) else {
            return XCTFail("a cached credential needs no bcrypt")
        }
        guard case .needsCheck(let unknown) = authenticator.verdict(for: header("ghost", "secret")) else {
            return XCTFail("an unknown user pays bcrypt like a known one")
        }
        XCTAssertFalse(unknown.knownUser)
        XCTAssertFalse(authenticator.check(unknown))
    }

    func testBcryptGateAdmitsUpToItsLimitAndNeverWaits() {
        let gate = BcryptGate(limit: 2)
        XCTAssertTrue(gate.tryEnter())
        XCTAssertTrue(gate.tryEnter())
        XCTAssertFalse(gate.tryEnter(), "a third check at once is refused, not queued")
        XCTAssertEqual(gate.inUse, 2)
        gate.leave()
        XCTAssertTrue(gate.tryEnter())
        gate.leave()
        gate.leave()
        XCTAssertEqual(gate.inUse, 0)
    }
}
