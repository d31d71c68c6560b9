import MetricsServer
import XCTest

@testable import FootprintExporter

final class ExporterRoutesTests: XCTestCase {
    private func get(_ router: Router, _ path: String, method: String = "GET") -> HTTPResponse {
        router.respond(to: HTTPRequest(method: method, path: path))
    }

    private func header(_ response: HTTPResponse, _ name: String) -> String? {
        response.headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    func testMetricsIs503UntilTheFirstSampleThenServesTheSnapshot() {
        let store = SnapshotStore()
        let router = ExporterRoutes.router(telemetryPath: "/metrics", store: store)
        XCTAssertEqual(get(router, "/metrics").status, 503)
        store.publish(Array("footprint_pue 1.58\n".utf8))
        let response = get(router, "/metrics")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(header(response, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self), "footprint_pue 1.58\n")
        store.publish(Array("footprint_pue 2\n".utf8))
        XCTAssertEqual(String(decoding: get(router, "/metrics").body, as: UTF8.self), "footprint_pue 2\n")
    }

    func testReadinessFollowsTheFirstSampleAndHealthIsAlwaysUp() {
        let store = SnapshotStore()
        let router = ExporterRoutes.router(telemetryPath: "/metrics", store: store)
        XCTAssertEqual(get(router, "/-/healthy").status, 200)
        XCTAssertEqual(get(router, "/-/ready").status, 503)
        store.publish([])
        XCTAssertEqual(get(router, "/-/ready").status, 200)
    }

    func testLandingPageLinksToTheTelemetryPath() {
        let router = ExporterRoutes.router(telemetryPath: "/custom", store: SnapshotStore())
        let response = get(router, "/")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(header(response, "Content-Type"), "text/html; charset=utf-8")
        XCTAssertTrue(String(decoding: response.body, as: UTF8.self).contains(#"href="/custom""#))
    }

    /// Validation refuses markup characters in the path; the page escapes them anyway.
    func testLandingPageEscapesTheTelemetryPath() {
        let router = ExporterRoutes.router(telemetryPath: "/m\"><script>alert('x')</script>&", store: SnapshotStore())
        let page = String(decoding: get(router, "/").body, as: UTF8.self)
        XCTAssertFalse(page.contains("<script>"), page)
        XCTAssertTrue(
            page.contains(#"href="/m&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;""#), page)
    }

    func testTheProbesAreTheHealthAndReadinessRoutes() {
        XCTAssertEqual(ExporterRoutes.probes, ["/-/healthy", "/-/ready"])
        let router = ExporterRoutes.router(telemetryPath: "/metrics", store: SnapshotStore())
        for probe in ExporterRoutes.probes {
            XCTAssertNotEqual(get(router, probe).status, 404, probe)
        }
    }

    func testCustomTelemetryPathReplacesMetrics() {
        let store = SnapshotStore()
        store.publish(Array("x 1\n".utf8))
        let router = ExporterRoutes.router(telemetryPath: "/custom", store: store)
        XCTAssertEqual(get(router, "/custom").status, 200)
        XCTAssertEqual(get(router, "/metrics").status, 404)
    }

    func testOtherMethodsAre405() {
        let router = ExporterRoutes.router(telemetryPath: "/metrics", store: SnapshotStore())
        let response = get(router, "/metrics", method: "POST")
        XCTAssertEqual(response.status, 405)
        XCTAssertEqual(header(response, "Allow"), "GET, HEAD")
        XCTAssertEqual(get(router, "/unknown").status, 404)
    }
}
