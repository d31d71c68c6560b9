import Dispatch
import EnergyAccounting
import Logging
import PowerSources
import Synchronization

/// The settings that may change while the exporter runs: they apply to energy drawn after the change.
public struct AccountingSettings: Sendable, Hashable {
    public var pue: Double
    public var gridGramsPerKilowattHour: Double
    public var budgets: [EmissionBudget]

    public init(pue: Double, gridGramsPerKilowattHour: Double, budgets: [EmissionBudget]) {
        self.pue = pue
        self.gridGramsPerKilowattHour = gridGramsPerKilowattHour
        self.budgets = budgets
    }
}

/// Samples every source on a fixed interval of a monotonic clock, feeds the readings to the accounting, and publishes
/// the rendered exposition. Sampling runs on its own queue, independent of scrapes.
public final class Sampler: Sendable {
    private let hardwareWorkers: [SourceWorker]
    private let estimateWorker: SourceWorker?
    private let interval: Duration
    private let store: SnapshotStore
    private let logger: Logger
    private let settings: Mutex<AccountingSettings>
    private let state: Mutex<SamplerState>
    private let queue = DispatchQueue(label: "footprint.sampler")
    private let timer = Mutex<TimerBox?>(nil)
    private let afterSample: (@Sendable (SamplerState) -> Void)?
    private let clock: any SamplerClock
    private let webConfigReloadFailures: @Sendable () -> UInt64

    /// - Parameters:
    ///   - hardwareSources: sources that measure (RAPL, NVML, hwmon); sampled in parallel each interval.
    ///   - estimateSource: the estimate, sampled only while a component lacks a measuring source.
    ///   - clock: the clocks that time readings and stamp samples.
    ///   - webConfigReloadFailures: the web-config watcher's count of failed reloads, read for every sample.
    public init(
        hardwareSources: [any PowerSource], estimateSource: (any PowerSource)?, interval: Duration,
        settings: AccountingSettings, store: SnapshotStore, logger: Logger,
        clock: any SamplerClock = SystemClock(),
        restoring restored: SamplerState = SamplerState(),
        afterSample: (@Sendable (SamplerState) -> Void)? = nil,
        webConfigReloadFailures: @escaping @Sendable () -> UInt64 = { 0 }
    ) {
        self.state = Mutex(restored)
        self.webConfigReloadFailures = webConfigReloadFailures
        self.afterSample = afterSample
        self.clock = clock
        self.hardwareWorkers = hardwareSources.map { SourceWorker(source: $0, clock: clock) }
        self.estimateWorker = estimateSource.map { SourceWorker(source: $0, clock: clock) }
        self.interval = interval
        self.settings = Mutex(settings)
        self.store = store
        self.logger = logger
    }

    /// The settings in force.
    public var accountingSettings: AccountingSettings {
        get { settings.withLock { $0 } }
        set { settings.withLock { $0 = newValue } }
    }

    /// Starts sampling every interval, the first sample at once.
    public func start() {
        let source = DispatchSource.makeTimerSource(queue: queue)
        let nanoseconds =
            Int(interval.components.seconds) * 1_000_000_000
            + Int(interval.components.attoseconds / 1_000_000_000)
        source.schedule(
            deadline: .now(), repeating: .nanoseconds(nanoseconds), leeway: .nanoseconds(max(nanoseconds / 100, 1000)))
        source.setEventHandler { [weak self] in self?.sampleOnce() }
        timer.withLock { $0 = TimerBox(timer: source) }
        source.resume()
    }

    /// Stops sampling; returns after any sample in progress has been published.
    public func stop() {
        let box = timer.withLock { current -> TimerBox? in
            defer { current = nil }
            return current
        }
        box?.timer.cancel()
        queue.sync {}
    }

    /// Takes one sample of every source, records it and publishes the exposition. Called on the sampler queue.
    public func sampleOnce() {
        let settings = accountingSettings
        let deadline = DispatchTime.now() + .nanoseconds(readDeadlineNanoseconds)
        // A source with nothing to read on this node (no powercap, no NVML, no GPUs) is looked at again only every
        // `absentRecheckSamples` samples, so a VM does not rescan sysfs for hardware it lacks every interval.
        let absent = state.withLock { state in
            state.samplesTaken % Self.absentRecheckSamples == 0
                ? [] : Set(state.health.filter { !$0.value.present && $0.value.loggedAbsence }.keys)
        }
        let reads = hardwareWorkers.filter { !absent.contains($0.source.name) }.map { worker in
            (worker.source.name, worker.start())
        }
        var completed: [(name: String, read: CompletedRead?)] = []
        for (name, pending) in reads {
            completed.append((name, pending?.wait(until: deadline)))
        }
        state.withLock { state in
            for (name, read) in completed {
                record(read, of: name, into: &state, settings: settings)
            }
        }
        if let estimateWorker, needsEstimate() {
            // The estimate is a cheap procfs read; give it its own short deadline even when hardware used the budget.
            let estimateDeadline = max(deadline, DispatchTime.now() + .nanoseconds(readDeadlineNanoseconds / 4))
            let read = estimateWorker.start()?.wait(until: estimateDeadline)
            state.withLock { record(read, of: estimateWorker.source.name, into: &$0, settings: settings) }
        }
        let reloadFailures = webConfigReloadFailures()
        let (body, snapshot) = state.withLock { state -> ([UInt8], SamplerState) in
            state.lastSampleUnixSeconds = clock.unixSeconds()
            state.samplesTaken += 1
            return (
                MetricsRenderer.render(state: state, settings: settings, webConfigReloadFailures: reloadFailures),
                state
            )
        }
        store.publish(body)
        afterSample?(snapshot)
    }

    /// A copy of the accumulated state, for the state file.
    var currentState: SamplerState {
        state.withLock { $0 }
    }

    /// How many samples pass between two looks at a source that had nothing to read.
    static let absentRecheckSamples = 60

    /// How long a sample waits for its sources: most of the interval, so a hung source costs at most one interval.
    private var readDeadlineNanoseconds: Int {
        let nanoseconds =
            Int(interval.components.seconds) * 1_000_000_000
            + Int(interval.components.attoseconds / 1_000_000_000)
        return min(nanoseconds * 9 / 10, 5_000_000_000)
    }

    private func needsEstimate() -> Bool {
        let measured = state.withLock { $0.ledger.measuredComponents }
        return !measured.isSuperset(of: [.cpu, .dram])
    }

    private func record(
        _ read: CompletedRead?, of name: String, into state: inout SamplerState, settings: AccountingSettings
    ) {
        var health = state.health[name] ?? SourceHealth()
        defer { state.health[name] = health }
        guard let read else {
            health.present = true
            health.up = false
            health.errors += 1
            logFailures([ReadFailure(domain: nil, error: .timedOut)], of: name, health: &health)
            return
        }
        health.lastDurationSeconds = read.durationSeconds
        if let absence = read.sample.absence {
            if !health.loggedAbsence {
                logger.info(
                    "source has nothing to read on this node", metadata: ["source": "\(name)", "reason": "\(absence)"])
                health.loggedAbsence = true
            }
            // A source seen before keeps its series and shows as down; one never seen stays out of the exposition.
            if health.present {
                health.up = false
                health.errors += 1
            }
            return
        }
        health.present = true
        health.up = read.sample.succeeded
        health.errors += UInt64(read.sample.failures.count)
        if read.sample.succeeded {
            if !health.loggedErrorKinds.isEmpty {
                logger.info("source recovered", metadata: ["source": "\(name)"])
                health.loggedErrorKinds = []
            }
        } else {
            logFailures(read.sample.failures, of: name, health: &health)
        }
        if !read.sample.gpus.isEmpty || state.gpus[name] != nil {
            state.gpus[name] = read.sample.gpus
        }
        let seconds = read.finishedAtBootSeconds
        let observations = read.sample.readings.map { reading in
            (key: DomainKey(reading: reading.id), observation: EnergyObservation(reading), seconds: seconds)
        }
        let steps = state.ledger.record(
            observations, pue: settings.pue, gramsPerKilowattHour: settings.gridGramsPerKilowattHour)
        for (key, step) in steps where step == .reset {
            logger.warning(
                "energy counter went back or jumped implausibly; treated as a reset, nothing added",
                metadata: ["source": "\(key.source)", "domain": "\(key.domain)", "device": "\(key.device)"])
        }
    }

    private func logFailures(_ failures: [ReadFailure], of name: String, health: inout SourceHealth) {
        for failure in failures where !health.loggedErrorKinds.contains(failure.error.kind) {
            health.loggedErrorKinds.insert(failure.error.kind)
            var metadata: Logger.Metadata = ["source": "\(name)", "error": "\(failure)"]
            if case .permissionDenied = failure.error, name == RaplSource.sourceName {
                metadata["fix"] =
                    "energy_uj is readable by root only since CVE-2020-8694: run as root, or grant read access at boot with a systemd-tmpfiles rule 'z /sys/class/powercap/intel-rapl:*/energy_uj 0444 - - -' (see README); until then the estimate stands in for cpu and dram"
            }
            logger.warning("source read failed; marking it down until it recovers", metadata: metadata)
        }
    }

}

/// Dispatch timers are thread-safe but not marked Sendable.
private struct TimerBox: @unchecked Sendable {
    let timer: any DispatchSourceTimer
}

/// Everything the sampler accumulates; rendered into the exposition after each sample.
public struct SamplerState: Sendable {
    var ledger = EnergyLedger()
    var health: [String: SourceHealth] = [:]
    var gpus: [String: [GPUIdentity]] = [:]
    var lastSampleUnixSeconds: Double?
    var samplesTaken = 0

    public init() {}
}

extension DomainKey {
    init(reading id: DomainID) {
        self.init(source: id.source, domain: id.domain.rawValue, device: id.device)
    }
}

extension EnergyObservation {
    init(_ reading: DomainReading) {
        switch reading.measurement {
        case .energyCounter(let microjoules, let wrap):
            self = .counter(
                microjoules: microjoules, wrapMicrojoules: wrap, ceilingWatts: reading.maximumPlausibleWatts)
        case .averagePower(let watts):
            self = .averagePower(watts: watts)
        }
    }
}
