import EnergyAccounting
import GridIntensity
import MetricsServer
import PowerSources

/// Every setting of the exporter, each declared once: name, type, default, validation, help, and whether a reload
/// applies it. `ExporterConfiguration` reads values through these declarations (`configuration.pue`), the command
/// line's options are generated from them (Sources/footprint_exporter/CommandLineOptions.swift), and so are `--help`,
/// the config-file keys and docs/settings.md. Adding a setting is one `let` here plus its use.
public struct SettingCatalogue: Sendable {
    // MARK: Web

    public let listenAddress = Setting<ListenAddress>.value(
        "web.listen-address", "address", default: ListenAddress(host: nil, port: 9636),
        help: "Address to listen on for the web interface and telemetry: [host]:port, no host for every address",
        describe: \.description
    ) { text throws(ConfigurationError) in
        guard let address = ListenAddress(parsing: text) else {
            throw ConfigurationError("must be [host]:port, for example :9636")
        }
        return address
    }
    public let telemetryPath = Setting<String>.value(
        "web.telemetry-path", "path", default: "/metrics",
        help: "Path under which to expose metrics: an absolute path other than / and /-/…", describe: { $0 }
    ) { text throws(ConfigurationError) in
        let allowed = text.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && !"?#%<>\"'&\\".utf8.contains($0) }
        guard text.hasPrefix("/"), text.count > 1, !text.hasPrefix("/-/"), allowed else {
            throw ConfigurationError("must be an absolute path other than / and /-/…, without spaces, ?, # or %")
        }
        return text
    }
    public let maximumConnections = Setting<Int>.integer(
        "web.max-connections", default: 1024, in: 1...65_536, help: "Connections served at once, across all clients")
    public let maximumConnectionsPerIP = Setting<Int>.integer(
        "web.max-connections-per-ip", default: 64, in: 1...65_536,
        help: "Connections served at once from one IP address")
    public let connectionTimeout = Setting<Duration>.duration(
        "web.connection-timeout", default: .seconds(10), in: .seconds(1)...(.seconds(3600)),
        help: "Idle time after which a connection is closed")
    public let readHeaderTimeout = Setting<Duration>.duration(
        "web.read-header-timeout", default: .seconds(10), in: .seconds(1)...(.seconds(3600)),
        help: "Time a client has to send a whole request, head and anything after it; cuts off slow clients")
    public let maximumConcurrentRequests = Setting<Int>.integer(
        "web.max-concurrent-requests", default: 64, in: 1...65_536,
        help: "Requests answered at once, /-/healthy and /-/ready not counted; more get 503 at once")
    public let webConfigFile = Setting<String?>.optionalPath(
        "web.config.file",
        help: "exporter-toolkit web configuration: TLS, basic auth, headers; re-read on change and on SIGHUP")

    public let disableUI = Setting<Bool>.toggle(
        "web.disable-ui", default: false,
        help: "Serve a plain list of links at / instead of the live page of power, energy and CO2e")

    // MARK: Files

    public let configFile = Setting<String?>.optionalPath(
        "config.file", help: "YAML file with settings; flags given on the command line win over it",
        allowedInConfigFile: false)
    public let sysfsPath = Setting<String>.path(
        "path.sysfs", default: "/sys", help: "sysfs mount point (RAPL under class/powercap, hwmon under class/hwmon)")
    public let procfsPath = Setting<String>.path(
        "path.procfs", default: "/proc", help: "procfs mount point (stat and meminfo for the estimate)")

    // MARK: Accounting

    public let sampleInterval = Setting<Duration>.duration(
        "sample.interval", default: .seconds(1), in: .milliseconds(100)...(.seconds(3600)),
        help: "Interval between samples of every source")
    public let pue = Setting<Double>.number(
        "pue", "ratio", default: Emissions.defaultPUE, in: 1...10,
        help: "Power Usage Effectiveness of the data centre: facility energy / IT energy", appliesOnReload: true)
    public let gridGramsPerKilowattHour = Setting<Double>.number(
        "grid.intensity", "g/kWh", default: Emissions.defaultGramsPerKilowattHour, in: 0...10_000,
        help: "Grid carbon intensity in grams of CO2e per kWh", appliesOnReload: true)
    public let puePreset = Setting<String?>.optionalChoice(
        "pue.preset", "cloud", PUEPresets.all.map(\.name),
        help: "Take the PUE of a cloud provider's data centres from Cloud Carbon Footprint's figures instead of --pue",
        appliesOnReload: true)
    public let gridRegion = Setting<String?>.value(
        "grid.region", "code", default: nil,
        help:
            "Take the grid intensity from a shipped preset: a country (FR, PL, US) or a cloud region (aws:us-east-1); --grid.region=list prints them. With a file or provider, the fall-back when its value goes stale",
        appliesOnReload: true, describe: { $0 ?? "none" }
    ) { text throws(ConfigurationError) in
        guard let preset = RegionPresets.preset(named: text) else {
            throw ConfigurationError(
                "unknown region: footprint_exporter --grid.region=list prints the codes (docs/grid-regions.md)")
        }
        return preset.code
    }
    public let gridIntensityFile = Setting<String?>.optionalPath(
        "grid.intensity.file",
        help:
            "File holding the grid intensity in force (a number, or JSON {intensity, valid_until}) that an external job writes; re-read on change",
        appliesOnReload: true)
    public let gridProvider = Setting<String?>.optionalChoice(
        "grid.provider", "name", GridProvider.allCases.map(\.rawValue),
        help: "Fetch the live average grid intensity from this provider", appliesOnReload: true)
    public let gridZone = Setting<String>.value(
        "grid.zone", "zone", default: "",
        help:
            "The provider's zone: an Electricity Maps zone (FR, DE, US-CAL-CISO), or GB or a region id 1–17 for uk-carbon-intensity",
        appliesOnReload: true, describe: { $0.isEmpty ? "none" : $0 }
    ) { text throws(ConfigurationError) in text }
    public let gridProviderTokenFile = Setting<String?>.optionalPath(
        "grid.provider.token-file",
        help: "File holding the provider's API token (never a flag value); re-read on reload", appliesOnReload: true)
    public let gridProviderRefresh = Setting<Duration>.duration(
        "grid.provider.refresh", default: .seconds(900), in: .seconds(1)...(.seconds(86_400)),
        help: "Interval between fetches of the provider's value", appliesOnReload: true)
    public let gridProviderURL = Setting<String?>.value(
        "grid.provider.url", "url", default: nil,
        help: "The provider's base URL, for proxies, mirrors and tests; none: the provider's own",
        appliesOnReload: true, describe: { $0 ?? "none" }
    ) { text throws(ConfigurationError) in
        let lower = text.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://"), text.count > 8,
            !text.contains(where: { $0 == " " || $0 == "@" || $0 == "?" || $0 == "#" })
        else {
            throw ConfigurationError("must be an http:// or https:// base URL without credentials, query or spaces")
        }
        return text
    }
    public let gridProviderTimeout = Setting<Duration>.duration(
        "grid.provider.timeout", default: .seconds(10), in: .seconds(1)...(.seconds(300)),
        help: "Time one fetch may take", appliesOnReload: true)
    public let gridProviderMaxAge = Setting<Duration>.duration(
        "grid.provider.max-age", default: .seconds(7200), in: .seconds(1)...(.seconds(30 * 86_400)),
        help:
            "Age after which the provider's last value is stale: the --grid.region preset stands in, or the value stays, marked stale",
        appliesOnReload: true)
    public let embodiedKilograms = Setting<Double>.number(
        "embodied.kgco2e", "kg", default: 0, in: 0...1_000_000,
        help: "Embodied emissions of the server (manufacturing), amortised over --embodied.lifetime; 0 is off",
        appliesOnReload: true)
    public let embodiedGPUKilograms = Setting<Double>.number(
        "embodied.gpu-kgco2e", "kg", default: 0, in: 0...100_000,
        help: "Embodied emissions of each GPU the exporter sees, amortised over --embodied.lifetime; 0 is off",
        appliesOnReload: true)
    public let embodiedLifetime = Setting<Duration>.duration(
        "embodied.lifetime", default: .seconds(4 * 365 * 86_400), in: .seconds(86_400)...(.seconds(50 * 365 * 86_400)),
        help: "Service life over which embodied emissions are amortised", appliesOnReload: true)
    public let budgets = Setting<[EmissionBudget]>(
        "budgets", form: .fileOnly(shape: "a list of {name, window, grams, match, include_embodied}"), default: [],
        help:
            "Emission budgets: at most `grams` of CO2e over every `window`, of the workloads `match` selects (none: the whole node), exported for the budget alerts",
        appliesOnReload: true, describe: { $0.isEmpty ? "none" : "\($0.count) budgets" }
    ) { input throws(ConfigurationError) in
        guard case .node(let node, _) = input else { throw ConfigurationError("can only be set in the config file") }
        return try BudgetParser.parse(node)
    }

    // MARK: Collectors

    public let raplEnabled = Setting<Bool>.toggle(
        "collector.rapl", help: "Read CPU and DRAM energy from RAPL powercap")
    public let nvmlEnabled = Setting<Bool>.toggle("collector.nvml", help: "Read NVIDIA GPU energy through NVML")
    public let hwmonEnabled = Setting<Bool>.toggle(
        "collector.hwmon", help: "Read AMD and Intel GPU energy through hwmon")
    public let estimateEnabled = Setting<Bool>.toggle(
        "collector.estimate", help: "Estimate CPU and DRAM power where RAPL cannot be read")
    public let nvmlLibrary = Setting<String>.path(
        "collector.nvml.library", default: "libnvidia-ml.so.1", help: "NVML shared library to load")
    public let raplMaximumWatts = Setting<Double>.number(
        "rapl.max-watts", "watts", default: 0, in: 0...100_000,
        help: "Highest plausible power of one RAPL zone; 0 takes twice its power limit")
    public let maximumWattsCPU = Setting<Double>.number(
        "max-watts.cpu", "watts", default: 2000, in: 1...100_000,
        help: "Highest plausible power of one CPU package, core, uncore or psys domain; beyond it a reading is a glitch"
    )
    public let maximumWattsDRAM = Setting<Double>.number(
        "max-watts.dram", "watts", default: 1000, in: 1...100_000,
        help: "Highest plausible power of one DRAM domain; beyond it a reading is a glitch")
    public let maximumWattsGPU = Setting<Double>.number(
        "max-watts.gpu", "watts", default: 3000, in: 1...100_000,
        help: "Highest plausible power of one GPU; beyond it a reading is a glitch")
    public let estimateCPUMinimumWatts = Setting<Double>.number(
        "estimate.cpu-min-watts", "watts", default: EstimateCoefficients.cloudCarbonFootprintAWS.cpuMinimumWattsPerVCPU,
        in: 0...1000, help: "Estimate: watts per idle vCPU")
    public let estimateCPUMaximumWatts = Setting<Double>.number(
        "estimate.cpu-max-watts", "watts", default: EstimateCoefficients.cloudCarbonFootprintAWS.cpuMaximumWattsPerVCPU,
        in: 0...1000, help: "Estimate: watts per fully busy vCPU")
    public let estimateDRAMWattsPerGiB = Setting<Double>.number(
        "estimate.dram-watts-per-gb", "watts", default: EstimateCoefficients.cloudCarbonFootprintAWS.dramWattsPerGiB,
        in: 0...1000, help: "Estimate: watts per GiB of memory")

    // MARK: Workload attribution

    public let attributionEnabled = Setting<Bool>.toggle(
        "attribution", help: "Split each component's energy between workloads (pods, Slurm jobs, systemd units)")
    public let attributionKinds = Setting<[String]>.value(
        "attribution.kinds", "kinds", default: ["pod", "slurm_job"],
        help: "Workload kinds to attribute, comma-separated: pod, slurm_job, systemd_unit",
        describe: { $0.joined(separator: ",") }
    ) { text throws(ConfigurationError) in
        let kinds = text.split(separator: ",", omittingEmptySubsequences: false).map {
            String($0.filter { $0 != " " })
        }
        for kind in kinds where !["pod", "slurm_job", "systemd_unit"].contains(kind) {
            throw ConfigurationError("unknown kind \(kind.debugDescription): use pod, slurm_job, systemd_unit")
        }
        guard !kinds.isEmpty, Set(kinds).count == kinds.count else {
            throw ConfigurationError("must name each kind once")
        }
        return kinds
    }
    public let attributionIdle = Setting<String>.choice(
        "attribution.idle", "mode", default: "share", ["share", "unattributed"],
        help: "Idle CPU and DRAM energy: share follows the busy shares; unattributed keeps it out of workloads")
    public let attributionRetention = Setting<Duration>.duration(
        "attribution.retention", default: .seconds(300), in: .seconds(0)...(.seconds(86_400)),
        help: "How long a vanished workload keeps its series, so Prometheus scrapes its final value")
    public let attributionMaximumWorkloads = Setting<Int>.integer(
        "attribution.max-workloads", default: 1000, in: 1...100_000,
        help: "Workloads tracked at once; beyond it new workloads' energy is unattributed")
    public let cgroupfsPath = Setting<String>.value(
        "path.cgroupfs", "path", default: "", help: "cgroup filesystem mount point; empty: <path.sysfs>/fs/cgroup",
        describe: { $0.isEmpty ? "<path.sysfs>/fs/cgroup" : $0 }
    ) { text throws(ConfigurationError) in text }
    public let podLogsPath = Setting<String?>.optionalPath(
        "path.pod-logs",
        help: "The kubelet's pod log directory (/var/log/pods), to read pod names from its directory names")

    // MARK: State and logs

    public let stateFile = Setting<String?>.optionalPath(
        "state.file", help: "File that keeps the counters across restarts (written atomically)")
    public let stateSaveInterval = Setting<Duration>.duration(
        "state.save-interval", default: .seconds(10), in: .seconds(1)...(.seconds(86_400)),
        help: "How often the state file is written, besides after the first sample and at shutdown")
    public let logLevel = Setting<String>.choice(
        "log.level", "level", default: "info", ["debug", "info", "warn", "error"],
        help: "Only log messages with this severity or above", appliesOnReload: true)
    public let logFormat = Setting<String>.choice(
        "log.format", "format", default: "logfmt", ["logfmt", "json"], help: "Output format of log messages")

    /// The catalogue; every setting's declaration is a property of it.
    public static let shared = SettingCatalogue()

    /// Every setting, in declaration order.
    public static let all: [any AnySetting] = Mirror(reflecting: shared).children.compactMap {
        $0.value as? any AnySetting
    }

    /// The Swift property of each setting, by setting name (for the generated command-line options).
    static let propertyNames: [String: String] = Dictionary(
        uniqueKeysWithValues: Mirror(reflecting: shared).children.compactMap { child in
            guard let label = child.label, let setting = child.value as? any AnySetting else { return nil }
            return (setting.name, label)
        })

    /// The setting called `name`, if any.
    public static func setting(named name: String) -> (any AnySetting)? {
        all.first { $0.name == name }
    }

    private init() {}
}

extension SettingCatalogue {
    /// The line `--help` prints for the setting called `name`: its help and its default.
    public static func helpLine(_ name: String) -> String {
        guard let setting = setting(named: name) else { return "" }
        return "\(setting.help) (default: \(setting.defaultText))"
    }

    /// The placeholder `--help` prints for the value of the setting called `name`.
    public static func placeholder(_ name: String) -> String? {
        guard case .value(let placeholder) = setting(named: name)?.form else { return nil }
        return placeholder
    }
}
