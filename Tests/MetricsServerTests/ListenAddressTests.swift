import MetricsServer
import XCTest

final class ListenAddressTests: XCTestCase {
    func testPortOnlyBindsEveryAddress() throws {
        let address = try XCTUnwrap(ListenAddress(parsing: ":9636"))
        XCTAssertNil(address.host)
        XCTAssertEqual(address.port, 9636)
        XCTAssertEqual(address.description, ":9636")
    }

    func testIPv4HostAndPort() throws {
        let address = try XCTUnwrap(ListenAddress(parsing: "127.0.0.1:9636"))
        XCTAssertEqual(address.host, "127.0.0.1")
        XCTAssertEqual(address.port, 9636)
        XCTAssertEqual(address.description, "127.0.0.1:9636")
    }

    func testBracketedIPv6HostAndPort() throws {
        let address = try XCTUnwrap(ListenAddress(parsing: "[::1]:9636"))
        XCTAssertEqual(address.host, "::1")
        XCTAssertEqual(address.port, 9636)
        XCTAssertEqual(address.description, "[::1]:9636")
    }

    func testHostNameAndPortZero() throws {
        let address = try XCTUnwrap(ListenAddress(parsing: "localhost:0"))
        XCTAssertEqual(address.host, "localhost")
        XCTAssertEqual(address.port, 0)
    }

    func testHighestPort() {
        XCTAssertEqual(ListenAddress(parsing: ":65535")?.port, 65535)
    }

    func testColonAloneIsRejected() { XCTAssertNil(ListenAddress(parsing: ":")) }
    func testPortWithoutColonIsRejected() { XCTAssertNil(ListenAddress(parsing: "9636")) }
    func testUnbracketedIPv6IsRejected() { XCTAssertNil(ListenAddress(parsing: "::1:9636")) }
    func testPortAboveRangeIsRejected() { XCTAssertNil(ListenAddress(parsing: ":70000")) }
    func testNonNumericPortIsRejected() { XCTAssertNil(ListenAddress(parsing: "host:abc")) }
    func testEmptyIsRejected() { XCTAssertNil(ListenAddress(parsing: "")) }
    func testEmptyBracketsAreRejected() { XCTAssertNil(ListenAddress(parsing: "[]:9636")) }
    func testUnclosedBracketIsRejected() { XCTAssertNil(ListenAddress(parsing: "[::1:9636")) }
    func testHostWithSpaceIsRejected() { XCTAssertNil(ListenAddress(parsing: "local host:9636")) }

    func testDescriptionRoundTrips() {
        for text in [":9636", "127.0.0.1:1", "[::1]:9636", "[fe80::1]:80", "localhost:0"] {
            XCTAssertEqual(ListenAddress(parsing: text)?.description, text)
        }
    }
}
