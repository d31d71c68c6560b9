import Foundation
import Synchronization
import XCTest

@testable import HTTPFetch

final class HTTPFetcherTests: XCTestCase {
    private var servers: [ScriptedServer] = []

    override func tearDown() {
        for server in servers { server.stop() }
        servers = []
    }

    private func serve(_ reply: ScriptedServer.Reply) throws -> ScriptedServer {
        let server = try ScriptedServer(reply)
        servers.append(server)
        return server
    }

    private func fetcher() throws -> HTTPFetcher { try HTTPFetcher() }

    func testReturnsTheStatusAndBodyAndSendsWhatItWasAsked() throws {
        let server = try serve(ScriptedServer.response(body: Array("hello".utf8)))
        let response = try fetcher().get(
            HTTPFetchRequest(
                url: "http://127.0.0.1:\(server.port)/api/v1/query?query=up", headers: [("Accept", "application/json")],
                userAgent: "footprint_exporter/test"))
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.body, Array("hello".utf8))
        let head = try XCTUnwrap(server.requests.first)
        XCTAssertTrue(head.hasPrefix("GET /api/v1/query?query=up HTTP/1.1\r\n"), head)
        XCTAssertTrue(head.contains("\r\nUser-Agent: footprint_exporter/test\r\n"), head)
        XCTAssertTrue(head.contains("\r\nAccept: application/json\r\n"), head)
        XCTAssertFalse(head.contains("Authorization"), head)
    }

    func testTheResponseHeadersComeBack() throws {
        let server = try serve(
            ScriptedServer.response(
                status: "429 Too Many Requests", headers: ["Retry-After: 120", "X-Note:  spaced  "],
                body: Array("slow down\n".utf8)))
        let response = try fetcher().get(HTTPFetchRequest(url: "http://127.0.0.1:\(server.port)/"))
        XCTAssertEqual(response.status, 429)
        XCTAssertEqual(response.header("retry-after"), "120")
        XCTAssertEqual(response.header("X-NOTE"), "spaced")
        XCTAssertNil(response.header("Absent"))
    }

    func testAnErrorStatusIsAResponseNotAnError() throws {
        let server = try serve(ScriptedServer.response(status: "401 Unauthorized", body: Array("no\n".utf8)))
        let response = try fetcher().get(HTTPFetchRequest(url: "http://127.0.0.1:\(server.port)/"))
        XCTAssertEqual(response.status, 401)
        XCTAssertEqual(response.body, Array("no\n".utf8))
    }

    func testBasicAuthAndBearerTokenAreSentAsHeaders() throws {
        let server = try serve(ScriptedServer.response(body: []))
        _ = try fetcher().get(
            HTTPFetchRequest(url: "http://127.0.0.1:\(server.port)/", basicAuth: ("alice", "s3cret:with colon")))
        _ = try fetcher().get(HTTPFetchRequest(url: "http://127.0.0.1:\(server.port)/", bearerToken: "tok.en-1"))
        let heads = server.requests
        XCTAssertEqual(heads.count, 2)
        let basic = Data("alice:s3cret:with colon".utf8).base64EncodedString()
        XCTAssertTrue(heads[0].contains("\r\nAuthorization: Basic \(basic)\r\n"), heads[0])
        XCTAssertTrue(heads[1].contains("\r\nAuthorization: Bearer tok.en-1\r\n"), heads[1])
    }

    func testAGzipBodyIsDecoded() throws {
        let compressed: [UInt8] = [
            31, 139, 8, 0, 0, 0, 0, 0, 2, 3, 203, 72, 205, 201, 201, 215, 81, 72, 175, 202, 44, 0, 0, 74, 155, 177, 92,
            11, 0, 0, 0,
        ]
        let server = try serve(ScriptedServer.response(headers: ["Content-Encoding: gzip"], body: compressed))
        let response = try fetcher().get(HTTPFetchRequest(url: "http://127.0.0.1:\(server.port)/"))
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self), "hello, gzip")
        XCTAssertTrue(try XCTUnwrap(server.requests.first).contains("Accept-Encoding: "))
    }

    func testALongerBodyThanAllowedIsRefused() throws {
        let server = try serve(ScriptedServer.response(body: [UInt8](repeating: 65, count: 10_000)))
        let url = "http://127.0.0.1:\(server.port)/"
        XCTAssertThrowsError(try fetcher().get(HTTPFetchRequest(url: url, maximumBodyBytes: 1000))) { error in
            XCTAssertEqual(error as? HTTPFetchError, .bodyTooLarge(url: url, limit: 1000))
        }
    }

    func testARefusedConnectionIsATransportError() throws {
        // A port that was just bound and closed: nothing listens there.
        let server = try ScriptedServer(.silence)
        let port = server.port
        server.stop()
        let url = "http://127.0.0.1:\(port)/"
        XCTAssertThrowsError(try fetcher().get(HTTPFetchRequest(url: url, timeoutSeconds: 10))) { error in
            guard case .transport(let failed, let reason) = error as? HTTPFetchError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(failed, url)
            XCTAssertFalse(reason.isEmpty)
            XCTAssertTrue("\(error)".hasPrefix("no response from \(url): "), "\(error)")
        }
    }

    func testAServerThatNeverAnswersTimesOut() throws {
        let server = try serve(.silence)
        XCTAssertThrowsError(
            try fetcher().get(HTTPFetchRequest(url: "http://127.0.0.1:\(server.port)/", timeoutSeconds: 0.3))
        ) { error in
            guard case .transport(_, let reason) = error as? HTTPFetchError else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.lowercased().contains("timeout"), reason)
        }
    }

    func testURLsWithCredentialsOrOtherSchemesAreRefusedBeforeAnythingIsSent() throws {
        let fetcher = try fetcher()
        for url in [
            "http://alice:secret@127.0.0.1:1/", "https://token@prometheus.example/", "file:///etc/passwd",
            "ftp://example/", "http:///path", "http://exa mple/", "127.0.0.1:9090",
        ] {
            XCTAssertThrowsError(try fetcher.get(HTTPFetchRequest(url: url)), url) { error in
                guard case .invalidURL(let refused, _) = error as? HTTPFetchError else { return XCTFail("\(error)") }
                XCTAssertEqual(refused, HTTPFetchURL.redacted(url))
                XCTAssertFalse("\(error)".contains("secret"), "a password must never be echoed: \(error)")
            }
        }
    }

    func testRedactionHidesTheUserInfoOnly() {
        XCTAssertEqual(HTTPFetchURL.redacted("http://alice:secret@host:9090/x@y"), "http://***@host:9090/x@y")
        XCTAssertEqual(HTTPFetchURL.redacted("https://host/path?a=b@c"), "https://host/path?a=b@c")
    }

    func testAMissingLibraryIsAClearError() {
        XCTAssertThrowsError(try HTTPFetcher(libraryNames: ["/nonexistent/libcurl.so.4"])) { error in
            guard case .libraryUnavailable(let reason) = error as? HTTPFetchError else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("/nonexistent/libcurl.so.4"), reason)
            XCTAssertTrue("\(error)".contains("install libcurl3-gnutls"))
        }
    }

    func testAFetcherServesSeveralThreadsAtOnce() throws {
        let server = try serve(ScriptedServer.response(body: Array("ok".utf8)))
        let fetcher = try fetcher()
        let url = "http://127.0.0.1:\(server.port)/"
        let failed = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            let ok = (try? fetcher.get(HTTPFetchRequest(url: url)))?.body == Array("ok".utf8)
            if !ok { failed.withLock { $0 += 1 } }
        }
        XCTAssertEqual(failed.withLock { $0 }, 0)
        XCTAssertEqual(server.requests.count, 8)
        XCTAssertFalse(fetcher.libraryVersion.isEmpty)
    }
}
