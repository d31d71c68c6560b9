import ArgumentParser
import Dispatch
import FootprintExporter
import Logging
import ServiceLifecycle

import Glibc

/// The command line: parses flags, loads the configuration, starts the exporter. Nothing else.
@main
struct FootprintExporterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "footprint_exporter",
        abstract: "Prometheus exporter of node power, PUE-adjusted energy and CO2e.",
        version: BuildInfo.version)

    @Option(name: .customLong("web.listen-address"), help: help("web.listen-address")) var webListenAddress: String?
    @Option(name: .customLong("web.telemetry-path"), help: help("web.telemetry-path")) var webTelemetryPath: String?
    @Option(name: .customLong("web.max-connections"), help: help("web.max-connections")) var webMaxConnections: String?
    @Option(name: .customLong("web.max-connections-per-ip"), help: help("web.max-connections-per-ip"))
    var webMaxConnectionsPerIP: String?
    @Option(name: .customLong("web.connection-timeout"), help: help("web.connection-timeout"))
    var webConnectionTimeout: String?
    @Option(name: .customLong("web.read-header-timeout"), help: help("web.read-header-timeout"))
    var webReadHeaderTimeout: String?
    @Option(name: .customLong("web.max-concurrent-requests"), help: help("web.max-concurrent-requests"))
    var webMaxConcurrentRequests: String?
    @Option(name: .customLong("web.config.file"), help: help("web.config.file")) var webConfigFile: String?
    @Option(name: .customLong("config.file"), help: help("config.file")) var configFile: String?
    @Option(name: .customLong("path.sysfs"), help: help("path.sysfs")) var pathSysfs: String?
    @Option(name: .customLong("path.procfs"), help: help("path.procfs")) var pathProcfs: String?
    @Option(name: .customLong("sample.interval"), help: help("sample.interval")) var sampleInterval: String?
    @Option(name: .customLong("pue"), help: help("pue")) var pue: String?
    @Option(name: .customLong("grid.intensity"), help: help("grid.intensity")) var gridIntensity: String?
    @Flag(name: .customLong("collector.rapl"), inversion: .prefixedNo, help: help("collector.rapl"))
    var collectorRapl: Bool?
    @Flag(name: .customLong("collector.nvml"), inversion: .prefixedNo, help: help("collector.nvml"))
    var collectorNvml: Bool?
    @Flag(name: .customLong("collector.hwmon"), inversion: .prefixedNo, help: help("collector.hwmon"))
    var collectorHwmon: Bool?
    @Flag(name: .customLong("collector.estimate"), inversion: .prefixedNo, help: help("collector.estimate"))
    var collectorEstimate: Bool?
    @Option(name: .customLong("collector.nvml.library"), help: help("collector.nvml.library"))
    var collectorNvmlLibrary: String?
    @Option(name: .customLong("rapl.max-watts"), help: help("rapl.max-watts")) var raplMaxWatts: String?
    @Option(name: .customLong("estimate.cpu-min-watts"), help: help("estimate.cpu-min-watts"))
    var estimateCPUMinWatts: String?
    @Option(name: .customLong("estimate.cpu-max-watts"), help: help("estimate.cpu-max-watts"))
    var estimateCPUMaxWatts: String?
    @Option(name: .customLong("estimate.dram-watts-per-gb"), help: help("estimate.dram-watts-per-gb"))
    var estimateDRAMWattsPerGB: String?
    @Option(name: .customLong("state.file"), help: help("state.file")) var stateFile: String?
    @Option(name: .customLong("state.save-interval"), help: help("state.save-interval")) var stateSaveInterval: String?
    @Option(name: .customLong("log.level"), help: help("log.level")) var logLevel: String?
    @Option(name: .customLong("log.format"), help: help("log.format")) var logFormat: String?

    private static func help(_ name: String) -> ArgumentHelp {
        ArgumentHelp(SettingCatalogue.help(name))
    }

    /// The settings given on the command line, by setting name.
    var givenSettings: [(name: String, value: String)] {
        let values: [(String, String?)] = [
            ("web.listen-address", webListenAddress), ("web.telemetry-path", webTelemetryPath),
            ("web.max-connections", webMaxConnections), ("web.max-connections-per-ip", webMaxConnectionsPerIP),
            ("web.connection-timeout", webConnectionTimeout), ("web.read-header-timeout", webReadHeaderTimeout),
            ("web.max-concurrent-requests", webMaxConcurrentRequests), ("web.config.file", webConfigFile),
            ("config.file", configFile),
            ("path.sysfs", pathSysfs), ("path.procfs", pathProcfs), ("sample.interval", sampleInterval),
            ("pue", pue), ("grid.intensity", gridIntensity),
            ("collector.rapl", collectorRapl.map(String.init)), ("collector.nvml", collectorNvml.map(String.init)),
            ("collector.hwmon", collectorHwmon.map(String.init)),
            ("collector.estimate", collectorEstimate.map(String.init)),
            ("collector.nvml.library", collectorNvmlLibrary), ("rapl.max-watts", raplMaxWatts),
            ("estimate.cpu-min-watts", estimateCPUMinWatts), ("estimate.cpu-max-watts", estimateCPUMaxWatts),
            ("estimate.dram-watts-per-gb", estimateDRAMWattsPerGB), ("state.file", stateFile),
            ("state.save-interval", stateSaveInterval), ("log.level", logLevel),
            ("log.format", logFormat),
        ]
        return values.compactMap { name, value in value.map { (name, $0) } }
    }

    /// Parses the command line itself so that every mistake is reported as one line, not a usage screen.
    ///
    /// A synchronous main that parks the main thread until the services stop: an `async` main ends the main thread
    /// with `pthread_exit`, whose forced unwind maps the executable's unwind tables for nothing (0.5 MiB of resident
    /// memory for the life of the process; bench/analysis.md).
    static func main() {
        let command: FootprintExporterCommand
        do {
            var parsed = try parseAsRoot()
            guard let ours = parsed as? FootprintExporterCommand else {
                try parsed.run()  // the built-in help command
                Glibc.exit(0)
            }
            command = ours
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }  // --help, --version
            fail(message(for: error), code: 2)
        }
        let configuration: ExporterConfiguration
        do {
            configuration = try ConfigurationLoader.load(flags: command.givenSettings)
        } catch {
            fail(error.message, code: 2)
        }
        let flags = command.givenSettings
        let stopped = DispatchSemaphore(value: 0)
        Task.detached {
            await run(configuration, flags: flags)
            stopped.signal()
        }
        stopped.wait()
    }

    private static func run(_ configuration: ExporterConfiguration, flags: [(name: String, value: String)]) async {
        let control = LogLevelControl(LogLevelControl.level(named: configuration.logLevel))
        let format = LogFormat(rawValue: configuration.logFormat) ?? .logfmt
        LoggingSystem.bootstrap { LineLogHandler(label: $0, format: format, control: control) }
        let logger = Logger(label: "footprint_exporter")
        let exporter = Exporter(configuration: configuration, flags: flags, logger: logger, logLevel: control)
        do {
            try exporter.listen()
        } catch {
            fail(error.description, code: 1)
        }
        logger.info(
            "listening",
            metadata: [
                "address":
                    "\(configuration.listenAddress.host.map { $0.contains(":") ? "[\($0)]" : $0 } ?? ""):\(exporter.server.boundPort)",
                "telemetry_path": "\(configuration.telemetryPath)",
                "sample_interval": "\(PrometheusDuration.format(configuration.sampleInterval))",
                "pue": "\(configuration.pue)", "grid_intensity": "\(configuration.gridGramsPerKilowattHour)",
                "version": "\(BuildInfo.version)",
            ])
        var groupLogger = logger
        groupLogger.logLevel = .warning
        let group = ServiceGroup(
            services: exporter.services, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [],
            logger: groupLogger)
        do {
            try await group.run()
            logger.info("stopped")
        } catch {
            logger.error("stopped on error", metadata: ["error": "\(error)"])
            fail("\(error)", code: 1)
        }
    }

    private static func fail(_ message: String, code: Int32) -> Never {
        let line = "footprint_exporter: \(message.split(whereSeparator: \.isNewline).joined(separator: " "))\n"
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
        Glibc.exit(code)
    }
}
