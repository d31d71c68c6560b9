import Dispatch
import EnergyAccounting
import Logging
import PowerSources
import Synchronization
import Workloads

/// Restores the sampler's counters at start and persists them so that no joule is lost or counted twice across
/// restarts and crashes, and no served counter is ever higher than what a restart restores.
///
/// Prometheus reads any decrease of a counter as a reset to zero, so a restart that restored less than was already
/// scraped would count the whole restored total again (a false budget page). Therefore every sample is written
/// (and renamed into place, without fsync: the page cache survives a crash of the process) before it is published;
/// the file is flushed to disk on the save interval and at a clean shutdown. After a reboot that did not follow a
/// clean shutdown, the file may be older than what was published, so the counters start at zero instead, a reset
/// Prometheus handles correctly.
final class StatePersistence: Sendable {
    let path: String
    /// Flush to disk after every this many samples.
    let everySamples: Int
    private let bootID: String?
    private let logger: Logger
    private let clock: any SamplerClock
    private let guardian: StateFileGuard?
    private let queue = DispatchQueue(label: "footprint.state")
    private let status = Mutex(Status())

    private struct Status {
        /// False once the file must not be written (a newer release's file).
        var writable = true
        /// A flush is queued or running: further ones coalesce into it.
        var syncPending = false
        /// The last write's failure, logged once until a write succeeds again.
        var lastFailure: String?
    }

    /// - Parameter guardian: the start-up checks and the lock, held for the life of this object.
    init(
        path: String, everySamples: Int, procfs: ProcfsRoot, logger: Logger, clock: any SamplerClock = SystemClock(),
        guardian: StateFileGuard? = nil
    ) {
        self.path = path
        self.clock = clock
        self.guardian = guardian
        self.everySamples = max(1, everySamples)
        self.bootID = (try? AttributeFile.readString(procfs.resolve("sys/kernel/random/boot_id"))).flatMap {
            $0.isEmpty ? nil : $0
        }
        self.logger = logger
    }

    /// The state to start from: the saved one, or a fresh one (saying why) when it cannot be used.
    func restore() -> SamplerState {
        let saved: PersistedState
        switch StateFile.inspect(path) {
        case .missing:
            logger.info("no state file yet; counters start at zero", metadata: ["path": "\(path)"])
            return SamplerState()
        case .usable(let state):
            saved = state
        case .unusable(let reason):
            logger.warning(
                "ignoring the state file; counters start at zero", metadata: ["path": "\(path)", "reason": "\(reason)"])
            return SamplerState()
        case .newer(let version):
            status.withLock { $0.writable = false }
            logger.error(
                "the state file was written by a newer release; counters start at zero and the file is left as it is",
                metadata: ["path": "\(path)", "version": "\(version)"])
            return SamplerState()
        case .foreign:
            status.withLock { $0.writable = false }
            logger.error(
                "the state file is not a footprint_exporter state file; it is left as it is",
                metadata: ["path": "\(path)"])
            return SamplerState()
        }
        let now = clock.bootSeconds()
        let sameBoot = bootID != nil && saved.bootID == bootID && saved.savedAtBootSeconds <= now
        if !sameBoot && saved.cleanShutdown == false {
            logger.warning(
                "the node rebooted without a clean stop of the exporter: the state file may hold less than was already published, so counters start at zero (a reset Prometheus handles) instead of stepping back",
                metadata: ["path": "\(path)"])
            return SamplerState()
        }
        var state = SamplerState()
        state.ledger = EnergyLedger(restoring: saved.ledger, sameBoot: sameBoot, nowBootSeconds: now)
        for (source, errors) in saved.sampleErrors {
            state.health[source, default: SourceHealth()].errors = errors
        }
        if let attribution = saved.attribution {
            state.attribution = AttributionState(restoring: attribution, node: state.ledger)
        }
        if let budgets = saved.budgets { state.budgets = BudgetCounters(restoring: budgets) }
        if let embodied = saved.embodied { state.embodied = embodied }
        logger.info(
            "restored counters from the state file",
            metadata: [
                "path": "\(path)", "same_boot": "\(sameBoot)",
                "down_for_seconds": "\(max(0, clock.unixSeconds() - saved.savedAtUnixSeconds))",
            ])
        return state
    }

    /// Called on the sampler's queue before each sample is published: writes it in place, and flushes it to disk
    /// after the first sample and then every `everySamples` samples, off the sampler's queue and coalesced (a slow
    /// disk never queues flushes, nor holds up sampling).
    func beforePublish(_ state: SamplerState) {
        guard status.withLock({ $0.writable }) else { return }
        write(persistedState(state, clean: false), sync: false)
        guard state.samplesTaken == 1 || state.samplesTaken % everySamples == 0 else { return }
        let alreadyPending = status.withLock { status -> Bool in
            defer { status.syncPending = true }
            return status.syncPending
        }
        guard !alreadyPending else { return }
        queue.async { [self] in
            status.withLock { $0.syncPending = false }
            StateFile.sync(path)
        }
    }

    /// Writes the final state, flushed and marked clean, at shutdown; waits for it at most `seconds`, so a disk that
    /// hangs cannot break the promise to stop within 2 s.
    func saveAtShutdown(_ state: SamplerState, waitingAtMost seconds: Double = 0.25) {
        guard status.withLock({ $0.writable }) else { return }
        let persisted = persistedState(state, clean: true)
        let done = DispatchSemaphore(value: 0)
        queue.async { [self] in
            write(persisted, sync: true)
            done.signal()
        }
        if done.wait(timeout: .now() + .milliseconds(Int(seconds * 1000))) == .timedOut {
            logger.warning("the final save of the state file did not finish in time", metadata: ["path": "\(path)"])
        }
    }

    /// Waits until every flush already queued has finished.
    func waitForQueuedSaves() {
        queue.sync {}
    }

    private func persistedState(_ state: SamplerState, clean: Bool) -> PersistedState {
        PersistedState(
            bootID: bootID, savedAtUnixSeconds: clock.unixSeconds(), savedAtBootSeconds: clock.bootSeconds(),
            ledger: state.ledger.snapshot(), sampleErrors: state.health.mapValues(\.errors), cleanShutdown: clean,
            attribution: state.attribution.map(PersistedAttribution.init),
            budgets: state.budgets.counters.isEmpty ? nil : state.budgets.persisted,
            embodied: state.embodied.nodeGrams > 0 ? state.embodied : nil)
    }

    private func write(_ state: PersistedState, sync: Bool) {
        do {
            try StateFile.write(state, to: path, sync: sync)
            let recovered = status.withLock { status -> Bool in
                defer { status.lastFailure = nil }
                return status.lastFailure != nil
            }
            if recovered { logger.info("the state file is written again", metadata: ["path": "\(path)"]) }
        } catch {
            let reason = error.description
            let isNew = status.withLock { status -> Bool in
                defer { status.lastFailure = reason }
                return status.lastFailure != reason
            }
            if isNew {
                logger.error("cannot save the state file", metadata: ["path": "\(path)", "reason": "\(reason)"])
            }
        }
    }
}
