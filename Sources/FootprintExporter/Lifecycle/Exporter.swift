import Logging
import MetricsServer
import PowerSources
import ServiceLifecycle
import Synchronization
import Workloads

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
    /// The grid intensity in force, and the readers of its live source (docs/carbon-data.md).
    public let grid: GridIntensityControl
    let intensityFileWatcher: IntensityFileWatcher
    let providerPoller: ProviderPoller

    /// Builds the exporter; throws the one line that says why when the state file cannot be used (a directory anyone
    /// may write, another exporter holding it, a path that holds something else).
    public init(
        configuration: ExporterConfiguration, flags: [(name: String, value: String)] = [], logger: Logger,
        logLevel: LogLevelControl = LogLevelControl(.info)
    ) throws(ConfigurationError) {
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
            hardware.append(
                NvmlSource(libraryPath: configuration.nvmlLibrary, readsProcesses: configuration.attribution != nil))
        }
        if configuration.hwmonEnabled {
            hardware.append(HwmonSource(sysfs: sysfs))
        }
        let estimate: (any PowerSource)? =
            configuration.estimateEnabled ? EstimateSource(procfs: procfs, coefficients: configuration.estimate) : nil
        var persistence: StatePersistence?
        if let path = configuration.stateFile {
            persistence = StatePersistence(
                path: path, everySamples: Int(configuration.stateSaveInterval / configuration.sampleInterval),
                procfs: procfs, logger: logger, guardian: try StateFileGuard.acquire(for: path))
        }
        self.persistence = persistence
        let attribution = configuration.attribution.map { settings in
            (
                monitor: WorkloadMonitor(
                    cgroupRoot: CgroupRoot(
                        configuration.cgroupfsPath.isEmpty ? sysfs.resolve("fs/cgroup") : configuration.cgroupfsPath),
                    procfs: procfs, kinds: configuration.workloadKinds, podLogs: configuration.podLogsPath,
                    // The tree is walked again every 10 s (and when a known cgroup vanishes); counters every sample.
                    rescanEverySamples: max(1, Int(Duration.seconds(10) / configuration.sampleInterval))),
                settings: settings
            )
        }
        let router = ExporterRoutes.router(
            telemetryPath: configuration.telemetryPath, store: store, liveUI: !configuration.disableUI)
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
        Self.warnAboutUnattributedBudgetKinds(configuration, logger: logger)
        let grid = GridIntensityControl(plan: configuration.intensityPlan)
        self.grid = grid
        intensityFileWatcher = IntensityFileWatcher(control: grid, logger: logger)
        providerPoller = ProviderPoller(control: grid, logger: logger)
        // Only reads the token file here: fetching starts with the services.
        if let settings = ProviderSettings(configuration), let path = settings.tokenFile {
            _ = try ProviderPoller.readToken(path)
        }
        sampler = Sampler(
            hardwareSources: hardware, estimateSource: estimate, interval: configuration.sampleInterval,
            settings: AccountingSettings(configuration),
            store: store, logger: logger, attribution: attribution,
            restoring: persistence?.restore() ?? SamplerState(),
            beforePublish: Self.saver(persistence),
            webConfigReloadFailures: { webWatcher.reloadFailures }, grid: grid)
    }

    /// Warns about every budget matcher for a workload kind that is not attributed: it counts nothing.
    static func warnAboutUnattributedBudgetKinds(_ configuration: ExporterConfiguration, logger: Logger) {
        guard configuration.attributionEnabled else { return }
        for (budget, kind) in ConfigurationLoader.unattributedBudgetKinds(configuration) {
            logger.warning(
                "a budget's match: names a workload kind that is not attributed; that matcher counts nothing",
                metadata: [
                    "budget": "\(budget)", "kind": "\(kind)",
                    "attribution_kinds": "\(configuration.attributionKinds.joined(separator: ","))",
                ])
        }
    }

    private static func saver(_ persistence: StatePersistence?) -> (@Sendable (SamplerState) -> Void)? {
        guard let persistence else { return nil }
        return { state in persistence.beforePublish(state) }
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
        // Read before the first sample, so that it is priced at the file's value.
        intensityFileWatcher.start()
    }

    /// The services to run in a `ServiceGroup`: sampling first, serving second (stopped in reverse order).
    public var services: [any Service] {
        [
            SamplerService(sampler: sampler) { [sampler, persistence] in
                persistence?.saveAtShutdown(sampler.currentState)
            },
            HTTPService(server: server, webWatcher: webWatcher),
            GridIntensityService(exporter: self),
            ReloadService(exporter: self),
        ]
    }
}

/// Why the exporter could not start serving, with the exit code docs/configuration.md ("Validation") gives it: 2 for
/// a bad web config file, like any other bad setting, and 1 when it cannot listen.
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
