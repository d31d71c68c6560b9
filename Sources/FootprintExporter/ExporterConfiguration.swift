import MetricsServer
import PowerSources

/// An emission budget: at most `grams` of CO2e over every `window`.
public struct EmissionBudget: Sendable, Hashable {
    public var name: String
    public var window: Duration
    /// The window as the configuration spells it (`24h`), used as the `window` label so rules can match it.
    public var windowLabel: String
    public var grams: Double

    public init(name: String, window: Duration, windowLabel: String? = nil, grams: Double) {
        self.name = name
        self.window = window
        self.windowLabel = windowLabel ?? PrometheusDuration.format(window)
        self.grams = grams
    }
}

/// Every setting of the exporter, with the defaults of docs/design.md §4. Built from flags and the config file by
/// `ConfigurationLoader`, which validates each value.
public struct ExporterConfiguration: Sendable, Hashable {
    public var listenAddress = ListenAddress(host: nil, port: 9636)
    public var telemetryPath = "/metrics"
    public var maximumConnections = 1024
    public var maximumConnectionsPerIP = 64
    public var connectionTimeout: Duration = .seconds(10)
    public var readHeaderTimeout: Duration = .seconds(10)
    public var maximumConcurrentRequests = 64
    /// The exporter-toolkit web configuration (TLS, basic auth, headers); nil serves plain HTTP to anyone.
    public var webConfigFile: String?
    public var configFile: String?
    public var sysfsPath = "/sys"
    public var procfsPath = "/proc"
    public var sampleInterval: Duration = .seconds(1)
    public var pue = 1.58
    public var gridGramsPerKilowattHour = 432.7
    public var raplEnabled = true
    public var nvmlEnabled = true
    public var hwmonEnabled = true
    public var estimateEnabled = true
    public var nvmlLibrary = "libnvidia-ml.so.1"
    /// A ceiling on any one RAPL zone's power; nil derives it from the zone's constraints.
    public var raplMaximumWatts: Double?
    public var estimate = EstimateCoefficients.cloudCarbonFootprintAWS
    public var logLevel = "info"
    public var logFormat = "logfmt"
    public var budgets: [EmissionBudget] = []
    /// Where counters are persisted across restarts; nil keeps them in memory only.
    public var stateFile: String?
    public var stateSaveInterval: Duration = .seconds(10)

    public init() {}
}
