// Generated from SettingCatalogue by Tests/FootprintExporterTests/GeneratedFilesTests.swift; do not edit.
// After changing a setting: UPDATE_GOLDEN=1 swift test --filter GeneratedFilesTests
// swift-format-ignore-file
import ArgumentParser
import FootprintExporter

/// One command-line option per setting of `SettingCatalogue`, in its order.
struct CommandLineOptions: ParsableArguments {
    @Option(name: .customLong("web.listen-address"), help: help("web.listen-address"))
    var listenAddress: String?
    @Option(name: .customLong("web.telemetry-path"), help: help("web.telemetry-path"))
    var telemetryPath: String?
    @Option(name: .customLong("web.max-connections"), help: help("web.max-connections"))
    var maximumConnections: String?
    @Option(name: .customLong("web.max-connections-per-ip"), help: help("web.max-connections-per-ip"))
    var maximumConnectionsPerIP: String?
    @Option(name: .customLong("web.connection-timeout"), help: help("web.connection-timeout"))
    var connectionTimeout: String?
    @Option(name: .customLong("web.read-header-timeout"), help: help("web.read-header-timeout"))
    var readHeaderTimeout: String?
    @Option(name: .customLong("web.max-concurrent-requests"), help: help("web.max-concurrent-requests"))
    var maximumConcurrentRequests: String?
    @Option(name: .customLong("web.config.file"), help: help("web.config.file"))
    var webConfigFile: String?
    @Flag(name: .customLong("web.disable-ui"), inversion: .prefixedNo, help: help("web.disable-ui"))
    var disableUI: Bool?
    @Option(name: .customLong("config.file"), help: help("config.file"))
    var configFile: String?
    @Option(name: .customLong("path.sysfs"), help: help("path.sysfs"))
    var sysfsPath: String?
    @Option(name: .customLong("path.procfs"), help: help("path.procfs"))
    var procfsPath: String?
    @Option(name: .customLong("sample.interval"), help: help("sample.interval"))
    var sampleInterval: String?
    @Option(name: .customLong("pue"), help: help("pue"))
    var pue: String?
    @Option(name: .customLong("grid.intensity"), help: help("grid.intensity"))
    var gridGramsPerKilowattHour: String?
    @Option(name: .customLong("pue.preset"), help: help("pue.preset"))
    var puePreset: String?
    @Option(name: .customLong("grid.region"), help: help("grid.region"))
    var gridRegion: String?
    @Option(name: .customLong("grid.intensity.file"), help: help("grid.intensity.file"))
    var gridIntensityFile: String?
    @Option(name: .customLong("grid.provider"), help: help("grid.provider"))
    var gridProvider: String?
    @Option(name: .customLong("grid.zone"), help: help("grid.zone"))
    var gridZone: String?
    @Option(name: .customLong("grid.provider.token-file"), help: help("grid.provider.token-file"))
    var gridProviderTokenFile: String?
    @Option(name: .customLong("grid.provider.refresh"), help: help("grid.provider.refresh"))
    var gridProviderRefresh: String?
    @Option(name: .customLong("grid.provider.url"), help: help("grid.provider.url"))
    var gridProviderURL: String?
    @Option(name: .customLong("grid.provider.timeout"), help: help("grid.provider.timeout"))
    var gridProviderTimeout: String?
    @Option(name: .customLong("grid.provider.max-age"), help: help("grid.provider.max-age"))
    var gridProviderMaxAge: String?
    @Option(name: .customLong("embodied.kgco2e"), help: help("embodied.kgco2e"))
    var embodiedKilograms: String?
    @Option(name: .customLong("embodied.gpu-kgco2e"), help: help("embodied.gpu-kgco2e"))
    var embodiedGPUKilograms: String?
    @Option(name: .customLong("embodied.lifetime"), help: help("embodied.lifetime"))
    var embodiedLifetime: String?
    @Flag(name: .customLong("collector.rapl"), inversion: .prefixedNo, help: help("collector.rapl"))
    var raplEnabled: Bool?
    @Flag(name: .customLong("collector.nvml"), inversion: .prefixedNo, help: help("collector.nvml"))
    var nvmlEnabled: Bool?
    @Flag(name: .customLong("collector.hwmon"), inversion: .prefixedNo, help: help("collector.hwmon"))
    var hwmonEnabled: Bool?
    @Flag(name: .customLong("collector.estimate"), inversion: .prefixedNo, help: help("collector.estimate"))
    var estimateEnabled: Bool?
    @Option(name: .customLong("collector.nvml.library"), help: help("collector.nvml.library"))
    var nvmlLibrary: String?
    @Option(name: .customLong("rapl.max-watts"), help: help("rapl.max-watts"))
    var raplMaximumWatts: String?
    @Option(name: .customLong("max-watts.cpu"), help: help("max-watts.cpu"))
    var maximumWattsCPU: String?
    @Option(name: .customLong("max-watts.dram"), help: help("max-watts.dram"))
    var maximumWattsDRAM: String?
    @Option(name: .customLong("max-watts.gpu"), help: help("max-watts.gpu"))
    var maximumWattsGPU: String?
    @Option(name: .customLong("estimate.cpu-min-watts"), help: help("estimate.cpu-min-watts"))
    var estimateCPUMinimumWatts: String?
    @Option(name: .customLong("estimate.cpu-max-watts"), help: help("estimate.cpu-max-watts"))
    var estimateCPUMaximumWatts: String?
    @Option(name: .customLong("estimate.dram-watts-per-gb"), help: help("estimate.dram-watts-per-gb"))
    var estimateDRAMWattsPerGiB: String?
    @Flag(name: .customLong("attribution"), inversion: .prefixedNo, help: help("attribution"))
    var attributionEnabled: Bool?
    @Option(name: .customLong("attribution.kinds"), help: help("attribution.kinds"))
    var attributionKinds: String?
    @Option(name: .customLong("attribution.idle"), help: help("attribution.idle"))
    var attributionIdle: String?
    @Option(name: .customLong("attribution.retention"), help: help("attribution.retention"))
    var attributionRetention: String?
    @Option(name: .customLong("attribution.max-workloads"), help: help("attribution.max-workloads"))
    var attributionMaximumWorkloads: String?
    @Option(name: .customLong("path.cgroupfs"), help: help("path.cgroupfs"))
    var cgroupfsPath: String?
    @Option(name: .customLong("path.pod-logs"), help: help("path.pod-logs"))
    var podLogsPath: String?
    @Option(name: .customLong("state.file"), help: help("state.file"))
    var stateFile: String?
    @Option(name: .customLong("state.save-interval"), help: help("state.save-interval"))
    var stateSaveInterval: String?
    @Option(name: .customLong("log.level"), help: help("log.level"))
    var logLevel: String?
    @Option(name: .customLong("log.format"), help: help("log.format"))
    var logFormat: String?

    /// The settings given on the command line, by setting name.
    var given: [(name: String, value: String)] {
        let values: [(String, String?)] = [
            ("web.listen-address", listenAddress),
            ("web.telemetry-path", telemetryPath),
            ("web.max-connections", maximumConnections),
            ("web.max-connections-per-ip", maximumConnectionsPerIP),
            ("web.connection-timeout", connectionTimeout),
            ("web.read-header-timeout", readHeaderTimeout),
            ("web.max-concurrent-requests", maximumConcurrentRequests),
            ("web.config.file", webConfigFile),
            ("web.disable-ui", disableUI.map(String.init)),
            ("config.file", configFile),
            ("path.sysfs", sysfsPath),
            ("path.procfs", procfsPath),
            ("sample.interval", sampleInterval),
            ("pue", pue),
            ("grid.intensity", gridGramsPerKilowattHour),
            ("pue.preset", puePreset),
            ("grid.region", gridRegion),
            ("grid.intensity.file", gridIntensityFile),
            ("grid.provider", gridProvider),
            ("grid.zone", gridZone),
            ("grid.provider.token-file", gridProviderTokenFile),
            ("grid.provider.refresh", gridProviderRefresh),
            ("grid.provider.url", gridProviderURL),
            ("grid.provider.timeout", gridProviderTimeout),
            ("grid.provider.max-age", gridProviderMaxAge),
            ("embodied.kgco2e", embodiedKilograms),
            ("embodied.gpu-kgco2e", embodiedGPUKilograms),
            ("embodied.lifetime", embodiedLifetime),
            ("collector.rapl", raplEnabled.map(String.init)),
            ("collector.nvml", nvmlEnabled.map(String.init)),
            ("collector.hwmon", hwmonEnabled.map(String.init)),
            ("collector.estimate", estimateEnabled.map(String.init)),
            ("collector.nvml.library", nvmlLibrary),
            ("rapl.max-watts", raplMaximumWatts),
            ("max-watts.cpu", maximumWattsCPU),
            ("max-watts.dram", maximumWattsDRAM),
            ("max-watts.gpu", maximumWattsGPU),
            ("estimate.cpu-min-watts", estimateCPUMinimumWatts),
            ("estimate.cpu-max-watts", estimateCPUMaximumWatts),
            ("estimate.dram-watts-per-gb", estimateDRAMWattsPerGiB),
            ("attribution", attributionEnabled.map(String.init)),
            ("attribution.kinds", attributionKinds),
            ("attribution.idle", attributionIdle),
            ("attribution.retention", attributionRetention),
            ("attribution.max-workloads", attributionMaximumWorkloads),
            ("path.cgroupfs", cgroupfsPath),
            ("path.pod-logs", podLogsPath),
            ("state.file", stateFile),
            ("state.save-interval", stateSaveInterval),
            ("log.level", logLevel),
            ("log.format", logFormat),
        ]
        return values.compactMap { name, value in value.map { (name, $0) } }
    }

    private static func help(_ name: String) -> ArgumentHelp {
        ArgumentHelp(SettingCatalogue.helpLine(name), valueName: SettingCatalogue.placeholder(name))
    }
}
