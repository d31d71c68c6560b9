import MetricsServer

/// The HTTP routes of docs/design.md §6: the metrics, the live page and its JSON, health and readiness.
enum ExporterRoutes {
    /// The probes: cheap answers that must come even while every concurrent-request slot is busy with a scrape (a
    /// liveness probe that got 503 would have the exporter restarted for being busy).
    static let probes: Set<String> = ["/-/healthy", "/-/ready"]

    static func router(telemetryPath: String, store: SnapshotStore, liveUI: Bool = true) -> Router {
        let links = linkPage(telemetryPath: telemetryPath)
        return Router(
            routes: [
                "/": {
                    guard liveUI else {
                        return HTTPResponse(
                            status: 200, headers: [("Content-Type", "text/html; charset=utf-8")], body: links)
                    }
                    guard let summary = store.summary()?.summary else {
                        return .text(503, "no sample has completed yet\n")
                    }
                    return HTTPResponse(
                        status: 200,
                        headers: [
                            ("Content-Type", "text/html; charset=utf-8"),
                            ("Content-Security-Policy", SummaryPage.contentSecurityPolicy),
                            ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
                            ("Referrer-Policy", "no-referrer"),
                        ],
                        body: SummaryPage.render(summary, telemetryPath: telemetryPath))
                },
                "/api/v1/summary": {
                    guard let json = store.summary()?.json else {
                        return .text(503, "no sample has completed yet\n")
                    }
                    return HTTPResponse(
                        status: 200, headers: [("Content-Type", "application/json"), ("Cache-Control", "no-store")],
                        body: json)
                },
                "/favicon.ico": {
                    HTTPResponse(
                        status: 200,
                        headers: [("Content-Type", "image/svg+xml"), ("Cache-Control", "max-age=86400")],
                        body: SummaryPage.icon)
                },
                "/-/healthy": { .text(200, "Healthy\n") },
                "/-/ready": {
                    !store.hasSample ? .text(503, "Not ready: no sample yet\n") : .text(200, "Ready\n")
                },
            ],
            negotiated: [telemetryPath: { request in metrics(store, request) }])
    }

    /// The exposition, gzip-compressed for clients that accept it (compressed once per sample, not per scrape).
    static func metrics(_ store: SnapshotStore, _ request: HTTPRequest) -> HTTPResponse {
        guard let latest = store.latest(acceptingGzip: request.acceptsGzip) else {
            return .text(503, "no sample has completed yet\n")
        }
        return HTTPResponse(status: 200, headers: latest.gzip ? gzipHeaders : plainHeaders, body: latest.body)
    }

    // Typed with the labels HTTPResponse takes: an unlabelled tuple array would be converted element by element, with
    // dynamic casts, on every scrape.
    private static let plainHeaders: [(name: String, value: String)] = [
        ("Content-Type", ExpositionEncoder.contentType), ("Vary", "Accept-Encoding"),
    ]
    private static let gzipHeaders: [(name: String, value: String)] = plainHeaders + [("Content-Encoding", "gzip")]

    /// The plain list of links served at `/` with `--web.disable-ui`.
    static func linkPage(telemetryPath: String) -> [UInt8] {
        let path = SummaryPage.escape(telemetryPath)
        return Array(
            """
            <!DOCTYPE html>
            <html lang="en">
            <head><meta charset="utf-8"><title>footprint_exporter</title></head>
            <body>
            <h1>footprint_exporter</h1>
            <p>Node power, PUE-adjusted energy and CO2e for Prometheus. Version \(BuildInfo.version).</p>
            <ul>
            <li><a href="\(path)">Metrics</a></li>
            <li><a href="/api/v1/summary">Summary (JSON)</a></li>
            <li><a href="/-/healthy">Health</a></li>
            <li><a href="/-/ready">Readiness</a></li>
            </ul>
            </body>
            </html>

            """.utf8)
    }
}
