import MetricsServer

/// One setting, as a flag `--name` and as the config file key path `name` split at dots.
public struct Setting: Sendable {
    public enum Kind: Sendable {
        /// Takes a value: `--name=value`.
        case value(placeholder: String)
        /// A switch with a `--no-` form; its value is `true` or `false`.
        case toggle
    }

    public let name: String
    public let kind: Kind
    public let help: String
    let apply: @Sendable (inout ExporterConfiguration, String) throws -> Void
}

/// The list of every setting: the single place flags and config keys are defined, parsed and validated.
public enum SettingCatalogue {
    public static let all: [Setting] = [
        value("web.listen-address", "address", "Address to listen on for the web interface and telemetry.") {
            guard let address = ListenAddress(parsing: $1) else {
                throw ConfigurationError("must be [host]:port, for example :9636")
            }
            $0.listenAddress = address
        },
        value("web.telemetry-path", "path", "Path under which to expose metrics.") {
            guard $1.hasPrefix("/"), $1.count > 1, !$1.hasPrefix("/-/"), !$1.contains(" ") else {
                throw ConfigurationError("must be an absolute path other than / and /-/…")
            }
            $0.telemetryPath = $1
        },
        value("web.max-connections", "count", "Connections served at once, across all clients.") {
            $0.maximumConnections = try integer($1, in: 1...65_536)
        },
        value("web.max-connections-per-ip", "count", "Connections served at once from one IP address.") {
            $0.maximumConnectionsPerIP = try integer($1, in: 1...65_536)
        },
        value("web.connection-timeout", "duration", "Idle time after which a connection is closed.") {
            let duration = try duration($1)
            guard duration >= .seconds(1) else { throw ConfigurationError("must be at least 1s") }
            $0.connectionTimeout = duration
        },
        value(
            "web.read-header-timeout", "duration", "Time a client has to send a request head (cuts off slow clients)."
        ) {
            let duration = try duration($1)
            guard duration >= .seconds(1) else { throw ConfigurationError("must be at least 1s") }
            $0.readHeaderTimeout = duration
        },
        value("web.max-concurrent-requests", "count", "Requests answered at once; more get 503 at once.") {
            $0.maximumConcurrentRequests = try integer($1, in: 1...65_536)
        },
        value(
            "web.config.file", "path",
            "exporter-toolkit web configuration: TLS, basic auth, headers (re-read on change)."
        ) {
            guard !$1.isEmpty else { throw ConfigurationError("must not be empty") }
            $0.webConfigFile = $1
        },
        value("config.file", "path", "YAML file with settings; flags given on the command line win over it.") {
            $0.configFile = $1
        },
        value("path.sysfs", "path", "sysfs mount point.") { $0.sysfsPath = try path($1) },
        value("path.procfs", "path", "procfs mount point.") { $0.procfsPath = try path($1) },
        value("sample.interval", "duration", "Interval between samples of every source (at least 100ms).") {
            let duration = try duration($1)
            guard duration >= .milliseconds(100) else { throw ConfigurationError("must be at least 100ms") }
            guard duration <= .seconds(3600) else { throw ConfigurationError("must be at most 1h") }
            $0.sampleInterval = duration
        },
        value("pue", "ratio", "Power Usage Effectiveness of the data centre: facility energy / IT energy (≥ 1).") {
            let pue = try number($1)
            guard pue >= 1, pue <= 10 else { throw ConfigurationError("PUE must be between 1 and 10") }
            $0.pue = pue
        },
        value("grid.intensity", "g/kWh", "Grid carbon intensity in grams of CO2e per kWh.") {
            let intensity = try number($1)
            guard intensity >= 0, intensity <= 10_000 else {
                throw ConfigurationError("must be between 0 and 10000 g/kWh")
            }
            $0.gridGramsPerKilowattHour = intensity
        },
        toggle("collector.rapl", "Read CPU and DRAM energy from RAPL powercap.") { $0.raplEnabled = $1 },
        toggle("collector.nvml", "Read NVIDIA GPU energy through NVML.") { $0.nvmlEnabled = $1 },
        toggle("collector.hwmon", "Read AMD and Intel GPU energy through hwmon.") { $0.hwmonEnabled = $1 },
        toggle("collector.estimate", "Estimate CPU and DRAM power where RAPL cannot be read.") {
            $0.estimateEnabled = $1
        },
        value("collector.nvml.library", "path", "NVML shared library to load.") {
            guard !$1.isEmpty else { throw ConfigurationError("must not be empty") }
            $0.nvmlLibrary = $1
        },
        value("rapl.max-watts", "watts", "Highest plausible power of one RAPL zone (0: twice its power limit).") {
            let watts = try number($1)
            guard watts >= 0 else { throw ConfigurationError("must not be negative") }
            $0.raplMaximumWatts = watts == 0 ? nil : watts
        },
        value("estimate.cpu-min-watts", "watts", "Estimate: watts per idle vCPU.") {
            $0.estimate.cpuMinimumWattsPerVCPU = try wattsPerUnit($1)
        },
        value("estimate.cpu-max-watts", "watts", "Estimate: watts per fully busy vCPU.") {
            $0.estimate.cpuMaximumWattsPerVCPU = try wattsPerUnit($1)
        },
        value("estimate.dram-watts-per-gb", "watts", "Estimate: watts per GiB of memory.") {
            $0.estimate.dramWattsPerGiB = try wattsPerUnit($1)
        },
        value("state.file", "path", "File that keeps the counters across restarts (written atomically).") {
            guard !$1.isEmpty else { throw ConfigurationError("must not be empty") }
            $0.stateFile = $1
        },
        value("state.save-interval", "duration", "How often the state file is written (and at shutdown).") {
            let duration = try duration($1)
            guard duration >= .seconds(1) else { throw ConfigurationError("must be at least 1s") }
            $0.stateSaveInterval = duration
        },
        value("log.level", "level", "Only log messages with this severity or above: debug, info, warn, error.") {
            let level = $1.lowercased()
            guard ["debug", "info", "warn", "error"].contains(level) else {
                throw ConfigurationError("must be one of debug, info, warn, error")
            }
            $0.logLevel = level
        },
        value("log.format", "format", "Output format of log messages: logfmt or json.") {
            guard ["logfmt", "json"].contains($1) else { throw ConfigurationError("must be logfmt or json") }
            $0.logFormat = $1
        },
    ]

    /// The setting called `name`, if any.
    public static func setting(named name: String) -> Setting? {
        all.first { $0.name == name }
    }

    /// The help text of the setting called `name`, for the flag parser.
    public static func help(_ name: String) -> String {
        setting(named: name)?.help ?? ""
    }

    // MARK: - Building blocks

    private static func value(
        _ name: String, _ placeholder: String, _ help: String,
        _ apply: @escaping @Sendable (inout ExporterConfiguration, String) throws -> Void
    ) -> Setting {
        Setting(name: name, kind: .value(placeholder: placeholder), help: help, apply: apply)
    }

    private static func toggle(
        _ name: String, _ help: String,
        _ apply: @escaping @Sendable (inout ExporterConfiguration, Bool) -> Void
    ) -> Setting {
        Setting(name: name, kind: .toggle, help: help) { configuration, text in
            switch text.lowercased() {
            case "true", "yes", "on", "1": apply(&configuration, true)
            case "false", "no", "off", "0": apply(&configuration, false)
            default: throw ConfigurationError("must be true or false")
            }
        }
    }

    static func number(_ text: String) throws(ConfigurationError) -> Double {
        guard let value = Double(text.trimmingCharacters(in: " ")), value.isFinite else {
            throw ConfigurationError("not a number")
        }
        return value
    }

    static func integer(_ text: String, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let value = Int(text) else { throw ConfigurationError("not a whole number") }
        guard range.contains(value) else {
            throw ConfigurationError("must be between \(range.lowerBound) and \(range.upperBound)")
        }
        return value
    }

    static func duration(_ text: String) throws(ConfigurationError) -> Duration {
        guard let duration = PrometheusDuration.parse(text) else {
            throw ConfigurationError("not a duration (use 100ms, 5s, 1m, 1h30m)")
        }
        guard duration > .zero else { throw ConfigurationError("must be greater than zero") }
        return duration
    }

    private static func path(_ text: String) throws(ConfigurationError) -> String {
        guard !text.isEmpty else { throw ConfigurationError("must not be empty") }
        return text
    }

    private static func wattsPerUnit(_ text: String) throws(ConfigurationError) -> Double {
        let watts = try number(text)
        guard watts >= 0, watts <= 1000 else { throw ConfigurationError("must be between 0 and 1000 W") }
        return watts
    }
}

extension String {
    fileprivate func trimmingCharacters(in character: Character) -> String {
        var text = Substring(self)
        while text.first == character { text = text.dropFirst() }
        while text.last == character { text = text.dropLast() }
        return String(text)
    }
}
