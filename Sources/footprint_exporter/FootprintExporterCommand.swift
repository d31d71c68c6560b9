import ArgumentParser
import Dispatch
import FootprintExporter
import Glibc
import GridIntensity
import Logging
import ServiceLifecycle

/// The command line: parses flags, loads the configuration, starts the exporter. Nothing else.
@main
struct FootprintExporterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "footprint_exporter",
        abstract: "Prometheus exporter of node power, PUE-adjusted energy and CO2e.",
        version: BuildInfo.version,
        subcommands: [ReportCommand.self, IntensityCommand.self])

    /// One option per setting, generated from the setting catalogue.
    @OptionGroup var options: CommandLineOptions

    /// Parses the command line itself so that every mistake is reported as one line, not a usage screen.
    ///
    /// A synchronous main that parks the main thread until the services stop: an `async` main ends the main thread
    /// with `pthread_exit`, whose forced unwind maps the executable's unwind tables for nothing (0.5 MiB of resident
    /// memory for the life of the process; bench/analysis.md).
    static func main() {
        // A write to a closed socket or to a standard error whose reader is gone must fail with EPIPE, not kill the
        // exporter (SIGPIPE's default action).
        signal(SIGPIPE, SIG_IGN)
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
        if command.options.given.contains(where: { $0.name == "grid.region" && $0.value.lowercased() == "list" }) {
            // Not a setting: prints the region presets and exits.
            print(RegionPresets.listing(), terminator: "")
            Glibc.exit(0)
        }
        let configuration: ExporterConfiguration
        do {
            configuration = try ConfigurationLoader.load(flags: command.options.given)
        } catch {
            fail(error.message, code: 2)
        }
        let flags = command.options.given
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
        let exporter: Exporter
        do {
            exporter = try Exporter(configuration: configuration, flags: flags, logger: logger, logLevel: control)
        } catch {
            fail(error.message, code: 2)
        }
        do {
            try exporter.listen()
        } catch {
            fail(error.description, code: error.exitCode)
        }
        // The intensity file has been read by now; a provider's first value comes with the services.
        let startIntensity = exporter.grid.inForce(nowUnixSeconds: SystemClock().unixSeconds())
        logger.info(
            "listening",
            metadata: [
                "address":
                    "\(configuration.listenAddress.host.map { $0.contains(":") ? "[\($0)]" : $0 } ?? ""):\(exporter.server.boundPort)",
                "telemetry_path": "\(configuration.telemetryPath)",
                "sample_interval": "\(PrometheusDuration.format(configuration.sampleInterval))",
                "pue": "\(configuration.effectivePUE)", "grid_intensity": "\(startIntensity.gramsPerKilowattHour)",
                "grid_source": "\(startIntensity.source.rawValue)",
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
