import Dispatch
import EnergyAccounting
import Logging
import PowerSources

/// Restores the sampler's counters at start and saves them every N samples and at shutdown, so that no joule is
/// lost or counted twice across restarts and crashes.
final class StatePersistence: Sendable {
    let path: String
    /// Save after every this many samples.
    let everySamples: Int
    private let bootID: String?
    private let logger: Logger
    private let clock: any SamplerClock
    private let queue = DispatchQueue(label: "footprint.state")

    init(path: String, everySamples: Int, procfs: ProcfsRoot, logger: Logger, clock: any SamplerClock = SystemClock()) {
        self.path = path
        self.clock = clock
        self.everySamples = max(1, everySamples)
        self.bootID = (try? AttributeFile.readString(procfs.resolve("sys/kernel/random/boot_id"))).flatMap {
            $0.isEmpty ? nil : $0
        }
        self.logger = logger
    }

    /// The state to start from: the saved one, or a fresh one (with a warning saying why) when it cannot be used.
    func restore() -> SamplerState {
        let saved: PersistedState
        do {
            saved = try StateFile.read(path)
        } catch {
            logger.warning(
                "ignoring the state file; counters start at zero", metadata: ["path": "\(path)", "reason": "\(error)"])
            return SamplerState()
        }
        let now = clock.bootSeconds()
        let sameBoot = bootID != nil && saved.bootID == bootID && saved.savedAtBootSeconds <= now
        var state = SamplerState()
        state.ledger = EnergyLedger(restoring: saved.ledger, sameBoot: sameBoot, nowBootSeconds: now)
        for (source, errors) in saved.sampleErrors {
            state.health[source, default: SourceHealth()].errors = errors
        }
        logger.info(
            "restored counters from the state file",
            metadata: [
                "path": "\(path)", "same_boot": "\(sameBoot)",
                "down_for_seconds": "\(max(0, clock.unixSeconds() - saved.savedAtUnixSeconds))",
            ])
        return state
    }

    /// Called after every sample; saves the first one (so a crash right after start, or a crash-looping pod, loses
    /// nothing counted since the start or the restore), then every `everySamples`-th one, off the sampler's queue.
    func afterSample(_ state: SamplerState) {
        guard state.samplesTaken == 1 || state.samplesTaken % everySamples == 0 else { return }
        let persisted = persistedState(state)
        queue.async { [self] in save(persisted) }
    }

    /// Waits until every save already queued has finished.
    func waitForQueuedSaves() {
        queue.sync {}
    }

    /// Saves now and waits for it (at shutdown).
    func saveNow(_ state: SamplerState) {
        let persisted = persistedState(state)
        queue.sync { save(persisted) }
    }

    private func persistedState(_ state: SamplerState) -> PersistedState {
        PersistedState(
            bootID: bootID, savedAtUnixSeconds: clock.unixSeconds(), savedAtBootSeconds: clock.bootSeconds(),
            ledger: state.ledger.snapshot(), sampleErrors: state.health.mapValues(\.errors))
    }

    private func save(_ state: PersistedState) {
        do {
            try StateFile.write(state, to: path)
        } catch {
            logger.warning("cannot save the state file", metadata: ["path": "\(path)", "reason": "\(error)"])
        }
    }
}
