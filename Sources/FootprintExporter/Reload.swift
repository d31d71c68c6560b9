import Logging
import ServiceLifecycle
import UnixSignals

/// Re-reads the configuration on SIGHUP, until graceful shutdown.
public struct ReloadService: Service {
    let exporter: Exporter

    public func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        for await _ in hangups.cancelOnGracefulShutdown() {
            exporter.reload()
        }
    }
}

extension Exporter {
    /// Re-reads the config file (flags still win over it) and applies what can change while running: PUE, grid
    /// intensity, budgets and log level. Counters never reset; a change affects energy drawn after it. A bad file
    /// keeps the running configuration and logs why.
    public func reload() {
        webWatcher.check()
        let next: ExporterConfiguration
        do {
            next = try ConfigurationLoader.load(flags: flags)
        } catch {
            logger.error("reload failed; keeping the running configuration", metadata: ["reason": "\(error.message)"])
            return
        }
        let running = runningConfiguration.withLock { $0 }
        var restartOnly = next
        restartOnly.pue = running.pue
        restartOnly.gridGramsPerKilowattHour = running.gridGramsPerKilowattHour
        restartOnly.budgets = running.budgets
        restartOnly.logLevel = running.logLevel
        if restartOnly != running {
            logger.warning(
                "some changed settings take effect only after a restart; applying PUE, intensity, budgets and log level"
            )
        }
        sampler.accountingSettings = AccountingSettings(
            pue: next.pue, gridGramsPerKilowattHour: next.gridGramsPerKilowattHour, budgets: next.budgets)
        logLevel.current = LogLevelControl.level(named: next.logLevel)
        var applied = running
        applied.pue = next.pue
        applied.gridGramsPerKilowattHour = next.gridGramsPerKilowattHour
        applied.budgets = next.budgets
        applied.logLevel = next.logLevel
        runningConfiguration.withLock { $0 = applied }
        logger.info(
            "configuration reloaded",
            metadata: [
                "pue": "\(next.pue)", "grid_intensity": "\(next.gridGramsPerKilowattHour)",
                "budgets": "\(next.budgets.count)", "log_level": "\(next.logLevel)",
            ])
    }
}
