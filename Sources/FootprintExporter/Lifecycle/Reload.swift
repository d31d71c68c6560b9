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

/// What a reload does with a newly read configuration: which settings it applies, which wait for a restart.
struct ReloadPlan: Equatable {
    /// The running configuration with every changed setting that a reload applies.
    var applied: ExporterConfiguration
    /// Changed settings that a reload applies: name, old value, new value.
    var changes: [Change]
    /// Changed settings that take effect only after a restart.
    var needRestart: [String]

    struct Change: Equatable {
        let name: String
        let old: String
        let new: String
    }

    /// Compares `running` with `next`, setting by setting, as the catalogue declares them.
    init(running: ExporterConfiguration, next: ExporterConfiguration) {
        applied = running
        changes = []
        needRestart = []
        for setting in SettingCatalogue.all where setting.differs(running, next) {
            if setting.appliesOnReload {
                setting.copy(from: next, to: &applied)
                changes.append(Change(name: setting.name, old: setting.text(in: running), new: setting.text(in: next)))
            } else {
                needRestart.append(setting.name)
            }
        }
    }
}

extension Exporter {
    /// Re-reads the config file (flags still win over it) and applies the settings a reload may change (PUE, grid
    /// intensity and its sources, embodied emissions, budgets, log level: `appliesOnReload` in the catalogue), and
    /// re-reads the provider's token file. Counters never reset; a change affects
    /// energy drawn after it. A bad file keeps the running configuration and logs why.
    public func reload() {
        webWatcher.check()
        let next: ExporterConfiguration
        do {
            next = try ConfigurationLoader.load(flags: flags)
        } catch {
            logger.error("reload failed; keeping the running configuration", metadata: ["reason": "\(error.message)"])
            return
        }
        let plan = ReloadPlan(running: runningConfiguration.withLock { $0 }, next: next)
        do {
            // The budgets apply now, but settings they depend on (--path.pod-logs, attribution) only after a restart.
            try ConfigurationLoader.validateBudgets(plan.applied, origin: "budgets")
        } catch {
            logger.error(
                "reload failed; keeping the running configuration",
                metadata: ["reason": "\(error.message) (that setting takes effect only after a restart)"])
            return
        }
        do {
            // The token file is re-read on every reload, changed settings or not; one that cannot be read fails it.
            if let path = ProviderSettings(plan.applied)?.tokenFile { _ = try ProviderPoller.readToken(path) }
        } catch {
            logger.error("reload failed; keeping the running configuration", metadata: ["reason": "\(error.message)"])
            return
        }
        if !plan.needRestart.isEmpty {
            logger.warning(
                "changed settings take effect only after a restart",
                metadata: ["settings": "\(plan.needRestart.joined(separator: ","))"])
        }
        for change in plan.changes {
            // A warning, so that a file emptied by mistake, which silently returns settings to their defaults, shows.
            logger.warning(
                "setting changed by reload",
                metadata: ["setting": "\(change.name)", "old": "\(change.old)", "new": "\(change.new)"])
        }
        let applied = plan.applied
        if plan.changes.contains(where: { $0.name == SettingCatalogue.shared.budgets.name }) {
            Self.warnAboutUnattributedBudgetKinds(applied, logger: logger)
        }
        sampler.accountingSettings = AccountingSettings(applied)
        grid.replacePlan(applied.intensityPlan)
        intensityFileWatcher.planChanged()
        do {
            try providerPoller.reload(ProviderSettings(applied))
        } catch {
            logger.error(
                "cannot read the provider's token; the previous one stays", metadata: ["reason": "\(error.message)"])
        }
        logLevel.current = LogLevelControl.level(named: applied.logLevel)
        runningConfiguration.withLock { $0 = applied }
        logger.info("configuration reloaded", metadata: ["changed": "\(plan.changes.count)"])
    }
}
