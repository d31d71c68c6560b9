import Logging
import MetricsServer
import PowerSources
import Synchronization
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

    func testTheExpositionIsRenderedOncePerSampleAndOnlyWhenAScrapeAsksForIt() {
        let store = SnapshotStore()
        let router = ExporterRoutes.router(telemetryPath: "/metrics", store: store)
        let renders = Mutex(0)
        func publish(_ text: String) {
            store.publish(
                render: {
                    renders.withLock { $0 += 1 }
                    return Array(text.utf8)
                },
                summary: LazySummary {
                    Summary.make(
                        state: SamplerState(),
                        settings: AccountingSettings(pue: 1, gridGramsPerKilowattHour: 0, budgets: []),
                        history: PowerHistory(intervalSeconds: 1))
                })
        }
        publish("footprint_pue 1\n")
        publish("footprint_pue 2\n")
        XCTAssertEqual(get(router, "/-/ready").status, 200)
        XCTAssertEqual(get(router, "/-/healthy").status, 200)
        XCTAssertEqual(renders.withLock { $0 }, 0, "samples nobody scraped, and probes, must not render")
        XCTAssertEqual(String(decoding: get(router, "/metrics").body, as: UTF8.self), "footprint_pue 2\n")
        let gzipRequest = HTTPRequest(method: "GET", path: "/metrics", acceptEncoding: "gzip")
        XCTAssertEqual(header(router.respond(to: gzipRequest), "Content-Encoding"), "gzip")
        XCTAssertEqual(get(router, "/metrics").status, 200)
        XCTAssertEqual(renders.withLock { $0 }, 1, "one render serves every scrape of a sample, plain and gzip")
        publish("footprint_pue 3\n")
        XCTAssertEqual(String(decoding: get(router, "/metrics").body, as: UTF8.self), "footprint_pue 3\n")
        XCTAssertEqual(renders.withLock { $0 }, 2)
    }

    func testWithTheUIDisabledTheLandingPageLinksToTheTelemetryPath() {
        let router = ExporterRoutes.router(telemetryPath: "/custom", store: SnapshotStore(), liveUI: false)
        let response = get(router, "/")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(header(response, "Content-Type"), "text/html; charset=utf-8")
        XCTAssertTrue(String(decoding: response.body, as: UTF8.self).contains(#"href="/custom""#))
    }

    func testTheLivePageAndItsJSONWaitForTheFirstSample() throws {
        let store = SnapshotStore()
        let router = ExporterRoutes.router(telemetryPath: "/custom", store: store)
        XCTAssertEqual(get(router, "/").status, 503)
        XCTAssertEqual(get(router, "/api/v1/summary").status, 503)
        let rapl = ScriptedSource(name: "estimate", [SourceSample(readings: [])])
        let sampler = Sampler(
            hardwareSources: [], estimateSource: rapl, interval: .seconds(1),
            settings: AccountingSettings(pue: 1.5, gridGramsPerKilowattHour: 100, budgets: []), store: store,
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        sampler.sampleOnce()
        let page = get(router, "/")
        XCTAssertEqual(page.status, 200)
        let csp = try XCTUnwrap(header(page, "Content-Security-Policy"))
        XCTAssertTrue(csp.hasPrefix("default-src 'none'"), csp)
        XCTAssertFalse(csp.contains("unsafe-inline"))
        let html = String(decoding: page.body, as: UTF8.self)
        XCTAssertTrue(html.contains(#"href="/custom""#))
        XCTAssertTrue(html.contains(#"id="pue">1.50<"#), "rendered at request time, for browsers without JavaScript")
        XCTAssertFalse(html.contains("http://") || html.contains("https://"), "nothing leaves the exporter's origin")
        let json = get(router, "/api/v1/summary")
        XCTAssertEqual(header(json, "Content-Type"), "application/json")
        XCTAssertTrue(String(decoding: json.body, as: UTF8.self).contains(#""pue":1.5"#))
    }

    /// Validation refuses markup characters in the path; the page escapes them anyway.
    func testLandingPageEscapesTheTelemetryPath() {
        let router = ExporterRoutes.router(
            telemetryPath: "/m\"><script>alert('x')</script>&", store: SnapshotStore(), liveUI: false)
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

    func testMetricsAreGzippedOnceForClientsThatAcceptIt() throws {
        let store = SnapshotStore()
        let body = Array(String(repeating: "footprint_energy_joules_total{component=\"cpu\"} 1\n", count: 200).utf8)
        store.publish(body)
        let router = ExporterRoutes.router(telemetryPath: "/metrics", store: store)
        let plain = router.respond(to: HTTPRequest(method: "GET", path: "/metrics"))
        XCTAssertEqual(plain.body, body)
        XCTAssertNil(header(plain, "Content-Encoding"))
        XCTAssertEqual(header(plain, "Vary"), "Accept-Encoding")
        let gzipped = router.respond(
            to: HTTPRequest(method: "GET", path: "/metrics", acceptEncoding: "gzip, deflate"))
        XCTAssertEqual(header(gzipped, "Content-Encoding"), "gzip")
        XCTAssertEqual(Array(gzipped.body.prefix(2)), [0x1F, 0x8B], "a gzip member")
        XCTAssertLessThan(gzipped.body.count, body.count / 10)
        let again = router.respond(to: HTTPRequest(method: "GET", path: "/metrics", acceptEncoding: "gzip"))
        XCTAssertEqual(again.body, gzipped.body, "compressed once per sample and reused")
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
