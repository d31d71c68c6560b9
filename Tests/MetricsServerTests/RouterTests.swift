import MetricsServer
import XCTest

final class RouterTests: XCTestCase {
    private let router = Router(routes: [
        "/metrics": { HTTPResponse(status: 200, headers: [("Content-Type", "text/plain")], body: Array("m 1\n".utf8)) },
        "/-/healthy": { .text(200, "Healthy\n") },
    ])

    private func header(_ response: HTTPResponse, _ name: String) -> String? {
        response.headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    func testGetHitsTheRoute() {
        let response = router.respond(to: HTTPRequest(method: "GET", path: "/metrics"))
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.body, Array("m 1\n".utf8))
        XCTAssertEqual(header(response, "Content-Type"), "text/plain")
    }

    func testHeadHitsTheRoute() {
        let response = router.respond(to: HTTPRequest(method: "HEAD", path: "/metrics"))
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.body, Array("m 1\n".utf8), "the server drops a HEAD body; the router does not")
    }

    func testOtherRoute() {
        let response = router.respond(to: HTTPRequest(method: "GET", path: "/-/healthy"))
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self), "Healthy\n")
    }

    func testPostOnAKnownPathIs405WithAllow() {
        for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
            let response = router.respond(to: HTTPRequest(method: method, path: "/metrics"))
            XCTAssertEqual(response.status, 405, method)
            XCTAssertEqual(header(response, "Allow"), "GET, HEAD", method)
        }
    }

    func testUnknownPathIs404() {
        let response = router.respond(to: HTTPRequest(method: "GET", path: "/nope"))
        XCTAssertEqual(response.status, 404)
        XCTAssertNil(header(response, "Allow"))
        XCTAssertEqual(router.respond(to: HTTPRequest(method: "POST", path: "/nope")).status, 404)
    }

    func testPathMatchIsExact() {
        XCTAssertEqual(router.respond(to: HTTPRequest(method: "GET", path: "/metrics/")).status, 404)
        XCTAssertEqual(router.respond(to: HTTPRequest(method: "GET", path: "/Metrics")).status, 404)
    }

    func testMethodIsCaseSensitive() {
        // HTTP methods are case-sensitive tokens (RFC 9110 §9.1).
        XCTAssertEqual(router.respond(to: HTTPRequest(method: "get", path: "/metrics")).status, 405)
    }

    func testRouteIsEvaluatedForEveryRequest() {
        final class Counter: @unchecked Sendable { var calls = 0 }
        let counter = Counter()
        let router = Router(routes: [
            "/x": {
                counter.calls += 1
                return .text(200, "\(counter.calls)")
            }
        ])
        XCTAssertEqual(router.respond(to: HTTPRequest(method: "GET", path: "/x")).body, Array("1".utf8))
        XCTAssertEqual(router.respond(to: HTTPRequest(method: "GET", path: "/x")).body, Array("2".utf8))
    }
}

/// Content negotiation of the request's `Accept-Encoding`.
final class AcceptEncodingTests: XCTestCase {
    private func accepts(_ header: String?) -> Bool {
        HTTPRequest(method: "GET", path: "/metrics", acceptEncoding: header).acceptsGzip
    }

    func testGzipIsAcceptedWhenListedWithoutQZero() {
        XCTAssertTrue(accepts("gzip"))
        XCTAssertTrue(accepts("identity, gzip"))
        XCTAssertTrue(accepts("gzip;q=0.5, deflate"))
        XCTAssertTrue(accepts("GZIP"))
        XCTAssertTrue(accepts("*"))
        XCTAssertTrue(accepts("x-gzip"))
    }

    func testGzipIsRefusedWhenAbsentOrAtQZero() {
        XCTAssertFalse(accepts(nil))
        XCTAssertFalse(accepts(""))
        XCTAssertFalse(accepts("deflate, br"))
        XCTAssertFalse(accepts("gzip;q=0"))
        XCTAssertFalse(accepts("gzip; q=0.0, identity"))
        XCTAssertFalse(accepts("gzipx"))
    }
}
