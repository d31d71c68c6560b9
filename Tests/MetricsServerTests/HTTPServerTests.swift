import Glibc
import MetricsServer
import XCTest

final class HTTPServerTests: XCTestCase {
    private static let metricsBody = "# HELP x_total A test counter.\n# TYPE x_total counter\nx_total 42\n"
    private static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    private var servers: [HTTPServer] = []

    override func tearDown() {
        for server in servers { server.stop() }
        servers = []
    }

    /// Limits of a test server; the exporter's own come from its settings.
    private static func configuration(address: ListenAddress, maximumConcurrentRequests: Int = 64)
        -> HTTPServerConfiguration
    {
        HTTPServerConfiguration(
            address: address, maximumConnections: 1024, maximumConnectionsPerIP: 64, connectionTimeoutSeconds: 10,
            requestHeaderTimeoutSeconds: 10, maximumConcurrentRequests: maximumConcurrentRequests)
    }

    private func makeServer(_ address: String = "127.0.0.1:0") throws -> HTTPServer {
        let router = Router(routes: [
            "/metrics": {
                HTTPResponse(
                    status: 200, headers: [("Content-Type", Self.contentType)], body: Array(Self.metricsBody.utf8))
            },
            "/-/healthy": { .text(200, "Healthy\n") },
        ])
        let server = HTTPServer(
            configuration: Self.configuration(address: try XCTUnwrap(ListenAddress(parsing: address))),
            handler: router)
        servers.append(server)
        return server
    }

    private func startedServer() throws -> (HTTPServer, UInt16) {
        let server = try makeServer()
        XCTAssertEqual(server.boundPort, 0, "no port before start")
        try server.start()
        let port = server.boundPort
        XCTAssertNotEqual(port, 0, "port 0 must be replaced by the kernel's choice")
        return (server, port)
    }

    func testGetMetrics() throws {
        let (_, port) = try startedServer()
        let response = try RawHTTPClient.request("GET", "/metrics", port: port)
        XCTAssertEqual(response.statusLine, "HTTP/1.1 200 OK")
        XCTAssertEqual(response.header("Content-Type"), Self.contentType)
        XCTAssertEqual(response.header("Content-Length"), String(Self.metricsBody.utf8.count))
        XCTAssertEqual(response.bodyText, Self.metricsBody)
    }

    func testQueryStringIsIgnoredForRouting() throws {
        let (_, port) = try startedServer()
        let response = try RawHTTPClient.request("GET", "/metrics?name[]=x_total", port: port)
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.bodyText, Self.metricsBody)
    }

    func testHeadHasContentLengthButNoBody() throws {
        let (_, port) = try startedServer()
        let response = try RawHTTPClient.request("HEAD", "/metrics", port: port)
        XCTAssertEqual(response.statusLine, "HTTP/1.1 200 OK")
        XCTAssertEqual(response.header("Content-Type"), Self.contentType)
        XCTAssertEqual(response.header("Content-Length"), String(Self.metricsBody.utf8.count))
        XCTAssertEqual(response.body, [])
    }

    func testPostIs405WithAllow() throws {
        let (_, port) = try startedServer()
        let response = try RawHTTPClient.request(
            "POST", "/metrics", port: port, extraHeaders: "Content-Length: 0\r\n")
        XCTAssertEqual(response.status, 405, response.statusLine)
        XCTAssertEqual(response.header("Allow"), "GET, HEAD")
    }

    /// The server takes no request bodies: another method with one is refused before its body is read.
    func testPostWithABodyIs413AndClosesTheConnection() throws {
        let (_, port) = try startedServer()
        let response = try RawHTTPClient.exchange(
            "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
            port: port)
        XCTAssertEqual(response.status, 413, response.statusLine)
        XCTAssertEqual(response.header("Connection"), "close")
    }

    /// GET and HEAD never take a body: one announced (by a length or any transfer coding) is a malformed request.
    func testGetOrHeadWithABodyIs400AndClosesTheConnection() throws {
        let (_, port) = try startedServer()
        for head in [
            "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
            "HEAD /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ] {
            let response = try RawHTTPClient.exchange(head, port: port)
            XCTAssertEqual(response.status, 400, head)
            XCTAssertEqual(response.header("Connection"), "close", head)
        }
        let empty = try RawHTTPClient.request("GET", "/metrics", port: port, extraHeaders: "Content-Length: 0\r\n")
        XCTAssertEqual(empty.status, 200, "an empty body is no body")
    }

    func testUnknownPathIs404() throws {
        let (_, port) = try startedServer()
        let response = try RawHTTPClient.request("GET", "/nope", port: port)
        XCTAssertEqual(response.statusLine, "HTTP/1.1 404 Not Found")
        XCTAssertEqual(response.bodyText, "404 page not found\n")
    }

    func testSecondRoute() throws {
        let (_, port) = try startedServer()
        let response = try RawHTTPClient.request("GET", "/-/healthy", port: port)
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.header("Content-Type"), "text/plain; charset=utf-8")
        XCTAssertEqual(response.bodyText, "Healthy\n")
    }

    func testManySequentialRequests() throws {
        let (_, port) = try startedServer()
        for index in 0..<50 {
            let response = try RawHTTPClient.request("GET", "/metrics", port: port)
            XCTAssertEqual(response.status, 200, "request \(index)")
        }
    }

    func testStopThenConnectingFails() throws {
        let (server, port) = try startedServer()
        XCTAssertEqual(try RawHTTPClient.request("GET", "/metrics", port: port).status, 200)
        server.stop()
        XCTAssertEqual(server.boundPort, 0)
        XCTAssertThrowsError(try RawHTTPClient.connect(port: port)) { error in
            guard case .connect(let code) = error as? RawHTTPClient.Failure else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertEqual(code, ECONNREFUSED)
        }
        server.stop()  // a second stop is harmless
    }

    func testStartingAgainAfterStop() throws {
        let (server, _) = try startedServer()
        server.stop()
        try server.start()
        XCTAssertNotEqual(server.boundPort, 0)
        XCTAssertEqual(try RawHTTPClient.request("GET", "/metrics", port: server.boundPort).status, 200)
    }

    func testSecondServerOnTheSamePortCannotListen() throws {
        let (_, port) = try startedServer()
        let second = try makeServer("127.0.0.1:\(port)")
        XCTAssertThrowsError(try second.start(), "two servers listening on 127.0.0.1:\(port)") { error in
            guard case .cannotListen(let address, _) = error as? HTTPServerError else {
                return XCTFail("expected cannotListen, got \(error)")
            }
            XCTAssertEqual(address, ListenAddress(host: "127.0.0.1", port: port))
        }
    }

    func testUnresolvableHost() throws {
        let server = try makeServer("no-such-host.invalid:0")
        XCTAssertThrowsError(try server.start()) { error in
            guard case .unresolvableHost(let host) = error as? HTTPServerError else {
                return XCTFail("expected unresolvableHost, got \(error)")
            }
            XCTAssertEqual(host, "no-such-host.invalid")
        }
    }

    func testRequestsBeyondTheConcurrencyCapGet503AtOnceAndTheCapFreesUp() throws {
        // One request held in flight: a 32 MiB response to a client that reads nothing stays unsent.
        let big = [UInt8](repeating: UInt8(ascii: "a"), count: 32 << 20)
        let router = Router(routes: [
            "/big": { HTTPResponse(status: 200, headers: [("Content-Type", "text/plain")], body: big) },
            "/metrics": { .text(200, Self.metricsBody) },
            "/-/healthy": { .text(200, "Healthy\n") },
        ])
        var configuration = Self.configuration(
            address: try XCTUnwrap(ListenAddress(parsing: "127.0.0.1:0")), maximumConcurrentRequests: 1)
        configuration.uncappedPaths = ["/-/healthy"]
        let server = HTTPServer(configuration: configuration, handler: router)
        servers.append(server)
        try server.start(security: WebSecurity(headers: ["X-Frame-Options": "deny"]))
        let port = server.boundPort
        XCTAssertEqual(try RawHTTPClient.request("GET", "/metrics", port: port).status, 200, "under the cap")

        // The holder sends a request whose 32 MiB response stays unsent, so it keeps the one slot. A scrape that is
        // in flight at the moment the holder's head arrives takes the slot first and gets the holder refused (a small
        // 503 that completes at once): then the holder tries again, until it holds the slot and scrapes are refused.
        var holder: Int32 = -1
        defer { if holder >= 0 { close(holder) } }
        var refused: RawHTTPClient.Response?
        try waitUntil("a scrape is refused while a request is in flight") {
            if holder < 0 || Self.holderWasRefused(holder) {
                if holder >= 0 { close(holder) }
                holder = try Self.sendHeldRequest(port: port)
            }
            let response = try RawHTTPClient.request("GET", "/metrics", port: port)
            if response.status == 503 { refused = response }
            return refused != nil
        }
        let response = try XCTUnwrap(refused, "no 503 while a request was in flight with a cap of 1")
        XCTAssertEqual(response.header("Retry-After"), "1")
        XCTAssertEqual(response.header("X-Frame-Options"), "deny", "a refusal carries the configured headers")
        XCTAssertEqual(response.bodyText, "too many concurrent requests\n")
        XCTAssertEqual(try RawHTTPClient.request("GET", "/metrics", port: port).status, 503, "still held")
        // The liveness probe does not count against the cap: it answers while every slot is taken.
        let probe = try RawHTTPClient.request("GET", "/-/healthy", port: port)
        XCTAssertEqual(probe.status, 200)
        XCTAssertEqual(probe.header("X-Frame-Options"), "deny")
        XCTAssertEqual(try RawHTTPClient.request("GET", "/metrics", port: port).status, 503, "still held")

        close(holder)  // the held request completes (aborted), and its slot is free again
        holder = -1
        try waitUntil("the slot is given back") {
            try RawHTTPClient.request("GET", "/metrics", port: port).status == 200
        }
    }

    /// Opens a connection and sends `GET /big` on it without ever reading the answer.
    private static func sendHeldRequest(port: UInt16) throws -> Int32 {
        let holder = try RawHTTPClient.connect(port: port)
        // A small receive buffer, so that no tuning of loopback buffers lets the whole response be sent.
        var receiveBuffer: Int32 = 4096
        _ = setsockopt(holder, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, socklen_t(MemoryLayout<Int32>.size))
        var head = Array("GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        XCTAssertEqual(write(holder, &head, head.count), head.count)
        return holder
    }

    /// Whether the server answered the held request with 503 (it lost the slot to a scrape), without consuming it.
    private static func holderWasRefused(_ holder: Int32) -> Bool {
        var start = [UInt8](repeating: 0, count: 12)
        let count = recv(holder, &start, start.count, Int32(MSG_PEEK | MSG_DONTWAIT))
        return count == start.count && String(decoding: start, as: UTF8.self) == "HTTP/1.1 503"
    }

    /// Polls `condition` until it holds; fails after a deadline generous enough for a loaded CI machine, so the test
    /// waits on what it needs and never on a guess of how long that takes.
    private func waitUntil(
        _ what: String, timeoutSeconds: Double = 30, file: StaticString = #filePath, line: UInt = #line,
        _ condition: () throws -> Bool
    ) throws {
        func now() -> Double {
            var time = timespec()
            clock_gettime(CLOCK_MONOTONIC, &time)
            return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
        }
        let deadline = now() + timeoutSeconds
        while try !condition() {
            guard now() < deadline else {
                XCTFail("timed out waiting until \(what)", file: file, line: line)
                return
            }
            usleep(5_000)
        }
    }
}
