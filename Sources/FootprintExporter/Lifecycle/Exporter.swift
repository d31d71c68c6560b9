import Logging
import MetricsServer
import PowerSources
import ServiceLifecycle
import Synchronization

/// The assembled exporter: sources, sampler, snapshot store and HTTP server, built from one configuration.
public final class Exporter: Sendable {
    public let configuration: ExporterConfiguration
    public let sampler: Sampler
    public let server: HTTPServer
    public let store: SnapshotStore
    let persistence: StatePersistence?
    /// The command-line settings, re-applied over the config file on every reload.
    let flags: [(name: String, value: String)]
    let logger: Logger
    let logLevel: LogLevelControl
    let runningConfiguration: Mutex<ExporterConfiguration>
    let webWatcher: WebConfigWatcher

    public init(
        configuration: ExporterConfiguration, flags: [(name: String, value: String)] = [], logger: Logger,
        logLevel: LogLevelControl = LogLevelControl(.info)
    ) {
        self.configuration = configuration
        self.flags = flags
        self.logger = logger
        self.logLevel = logLevel
        self.runningConfiguration = Mutex(configuration)
        let store = SnapshotStore()
        self.store = store
        let sysfs = SysfsRoot(configuration.sysfsPath)
        let procfs = ProcfsRoot(configuration.procfsPath)
        var hardware: [any PowerSource] = []
        if configuration.raplEnabled {
            hardware.append(
                RaplSource(
                    sysfs: sysfs,
                    maximumPlausibleWatts: configuration.raplMaximumWatts > 0 ? configuration.raplMaximumWatts : nil))
        }
        if configuration.nvmlEnabled {
            hardware.append(NvmlSource(libraryPath: configuration.nvmlLibrary))
        }
        if configuration.hwmonEnabled {
            hardware.append(HwmonSource(sysfs: sysfs))
        }
        let estimate: (any PowerSource)? =
            configuration.estimateEnabled ? EstimateSource(procfs: procfs, coefficients: configuration.estimate) : nil
        let persistence = configuration.stateFile.map { path in
            StatePersistence(
                path: path,
                everySamples: Int(configuration.stateSaveInterval / configuration.sampleInterval),
                procfs: procfs, logger: logger)
        }
        self.persistence = persistence
        let router = ExporterRoutes.router(telemetryPath: configuration.telemetryPath, store: store)
        let server = HTTPServer(
            configuration: HTTPServerConfiguration(
                address: configuration.listenAddress,
                maximumConnections: configuration.maximumConnections,
                maximumConnectionsPerIP: configuration.maximumConnectionsPerIP,
                connectionTimeoutSeconds: Int(configuration.connectionTimeout.components.seconds),
                requestHeaderTimeoutSeconds: Int(configuration.readHeaderTimeout.components.seconds),
                maximumConcurrentRequests: configuration.maximumConcurrentRequests,
                uncappedPaths: ExporterRoutes.probes),
            handler: router)
        self.server = server
        let webWatcher = WebConfigWatcher(path: configuration.webConfigFile, server: server, logger: logger)
        self.webWatcher = webWatcher
        sampler = Sampler(
            hardwareSources: hardware, estimateSource: estimate, interval: configuration.sampleInterval,
            settings: AccountingSettings(
                pue: configuration.pue, gridGramsPerKilowattHour: configuration.gridGramsPerKilowattHour,
                budgets: configuration.budgets),
            store: store, logger: logger,
            restoring: persistence?.restore() ?? SamplerState(),
            afterSample: Self.saver(persistence),
            webConfigReloadFailures: { webWatcher.reloadFailures })
    }

    private static func saver(_ persistence: StatePersistence?) -> (@Sendable (SamplerState) -> Void)? {
        guard let persistence else { return nil }
        return { state in persistence.afterSample(state) }
    }

    /// Reads the web configuration and binds the listen address; throws with a one-line reason when either fails.
    public func listen() throws(ListenError) {
        var security = WebSecurity.open
        if let path = configuration.webConfigFile {
            do {
                security = try WebConfigFile.load(path)
            } catch {
                throw .configuration(ConfigurationError(error.message))
            }
        }
        do {
            try server.start(security: security)
        } catch {
            switch error {
            case .invalidTLS:
                // The TLS material of the web config file (a key that does not match its certificate, say).
                throw .configuration(
                    ConfigurationError("web config file \(configuration.webConfigFile ?? ""): \(error)"))
            case .cannotListen, .unresolvableHost:
                throw .cannotListen(error.description)
            }
        }
        webWatcher.start(applied: security)
    }

    /// The services to run in a `ServiceGroup`: sampling first, serving second (stopped in reverse order).
    public var services: [any Service] {
        [
            SamplerService(sampler: sampler) { [sampler, persistence] in persistence?.saveNow(sampler.currentState) },
            HTTPService(server: server, webWatcher: webWatcher),
            ReloadService(exporter: self),
        ]
    }
}

/// Why the exporter could not start serving, with the exit code README.md ("Validation") gives it: 2 for a bad web
/// config file, like any other bad setting, and 1 when it cannot listen.
public enum ListenError: Error, Sendable, CustomStringConvertible {
    case configuration(ConfigurationError)
    case cannotListen(String)

    /// The one line that names the problem.
    public var description: String {
        switch self {
        case .configuration(let error): error.message
        case .cannotListen(let reason): reason
        }
    }

    public var exitCode: Int32 {
        switch self {
        case .configuration: 2
        case .cannotListen: 1
        }
    }
}

/// The HTTP routes of docs/design.md §6.
enum ExporterRoutes {
    /// The probes: cheap answers that must come even while every concurrent-request slot is busy with a scrape (a
    /// liveness probe that got 503 would have the exporter restarted for being busy).
    static let probes: Set<String> = ["/-/healthy", "/-/ready"]

    static func router(telemetryPath: String, store: SnapshotStore) -> Router {
        let landing = landingPage(telemetryPath: telemetryPath)
        return Router(routes: [
            telemetryPath: {
                guard let body = store.latest() else {
                    return .text(503, "no sample has completed yet\n")
                }
                return HTTPResponse(status: 200, headers: [("Content-Type", ExpositionEncoder.contentType)], body: body)
            },
            "/": { HTTPResponse(status: 200, headers: [("Content-Type", "text/html; charset=utf-8")], body: landing) },
            "/-/healthy": { .text(200, "Healthy\n") },
            "/-/ready": { store.latest() == nil ? .text(503, "Not ready: no sample yet\n") : .text(200, "Ready\n") },
        ])
    }

    static func landingPage(telemetryPath: String) -> [UInt8] {
        Array(
            """
            <!DOCTYPE html>
            <html lang="en">
            <head><meta charset="utf-8"><title>footprint_exporter</title></head>
            <body>
            <h1>footprint_exporter</h1>
            <p>Node power, PUE-adjusted energy and CO2e for Prometheus. Version \(BuildInfo.version).</p>
            <ul>
            <li><a href="\(htmlEscaped(telemetryPath))">Metrics</a></li>
            <li><a href="/-/healthy">Health</a></li>
            <li><a href="/-/ready">Readiness</a></li>
            </ul>
            </body>
            </html>

            """.utf8)
    }

    /// `text` with the characters that are markup in HTML (also inside a quoted attribute) written as entities.
    /// Validation already refuses them in the telemetry path; the page does not rely on it.
    static func htmlEscaped(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
