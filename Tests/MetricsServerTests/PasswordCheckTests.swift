import Glibc
import XCTest

@testable import MetricsServer

/// bcrypt off the request threads: at most `concurrentPasswordChecks` at once, the excess refused with 429 at once,
/// and a server that stops while a check runs closes that request instead of waiting for it.
final class PasswordCheckTests: XCTestCase {
    /// A syntactically valid cost-14 hash (about a second per check): no password matches it, and nothing has to
    /// be hashed to make it.
    private static let slowHash = "$2b$14$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"

    private var servers: [HTTPServer] = []

    override func tearDown() {
        for server in servers { server.stop(gracePeriodSeconds: 0) }
        servers = []
    }

    private func startedServer(checks: Int) throws -> HTTPServer {
        let router = Router(routes: ["/metrics": { .text(200, "x 1\n") }])
        let server = HTTPServer(
            configuration: HTTPServerConfiguration(
                address: try XCTUnwrap(ListenAddress(parsing: "127.0.0.1:0")), maximumConnections: 64,
                maximumConnectionsPerIP: 64, connectionTimeoutSeconds: 30, requestHeaderTimeoutSeconds: 30,
                maximumConcurrentRequests: 64, concurrentPasswordChecks: checks),
            handler: router)
        servers.append(server)
        try server.start(
            security: WebSecurity(basicAuthUsers: ["prometheus": Self.slowHash], headers: ["X-Frame-Options": "deny"]))
        return server
    }

    /// Sends a request with a wrong password on a new connection, without reading the answer.
    private func sendWrongPassword(port: UInt16) throws -> Int32 {
        let socket = try RawHTTPClient.connect(port: port)
        var head = Array(
            "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic cHJvbWV0aGV1czp3cm9uZw==\r\n\r\n".utf8)
        XCTAssertEqual(write(socket, &head, head.count), head.count)
        return socket
    }

    func testAPasswordCheckBeyondTheLimitIs429AtOnce() throws {
        let server = try startedServer(checks: 1)
        let first = try sendWrongPassword(port: server.boundPort)
        defer { close(first) }
        try waitUntil("the first check runs") { server.passwordChecksRunning == 1 }
        let started = MonotonicClock.seconds()
        let response = try RawHTTPClient.request(
            "GET", "/metrics", port: server.boundPort, extraHeaders: "Authorization: Basic Z2hvc3Q6d3Jvbmc=\r\n")
        XCTAssertLessThan(MonotonicClock.seconds() - started, 0.5, "refused at once, not queued")
        XCTAssertEqual(response.status, 429)
        XCTAssertEqual(response.header("Retry-After"), "1")
        XCTAssertEqual(response.header("X-Frame-Options"), "deny")
    }

    func testStoppingWhileAPasswordIsCheckedClosesThatRequest() throws {
        let server = try startedServer(checks: 2)
        let socket = try sendWrongPassword(port: server.boundPort)
        defer { close(socket) }
        try waitUntil("the check runs") { server.passwordChecksRunning == 1 }
        let started = MonotonicClock.seconds()
        server.stop(gracePeriodSeconds: 0.1)
        XCTAssertLessThan(MonotonicClock.seconds() - started, 1, "the stop did not wait for bcrypt")
        var byte: UInt8 = 0
        XCTAssertEqual(recv(socket, &byte, 1, 0), 0, "closed without an answer")
    }

    /// Polls `condition` until it holds; fails after a deadline generous enough for a loaded CI machine.
    private func waitUntil(
        _ what: String, timeoutSeconds: Double = 30, file: StaticString = #filePath, line: UInt = #line,
        _ condition: () throws -> Bool
    ) throws {
        let deadline = MonotonicClock.seconds() + timeoutSeconds
        while try !condition() {
            guard MonotonicClock.seconds() < deadline else {
                XCTFail("timed out waiting until \(what)", file: file, line: line)
                return
            }
            usleep(5_000)
        }
    }
}
