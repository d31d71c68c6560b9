import Dispatch
import EnergyAccounting
import Glibc
import GridIntensity
import Logging
import PowerSources
import Synchronization
import Workloads

/// The settings that may change while the exporter runs: they apply to energy drawn after the change.
public struct AccountingSettings: Sendable, Hashable {
    public var pue: Double
    public var gridGramsPerKilowattHour: Double
    public var budgets: [EmissionBudget]
    public var ceilings: PowerCeilings
    /// The embodied emissions amortised while the exporter runs (docs/embodied.md).
    public var embodied: EmbodiedProfile

    public init(
        pue: Double, gridGramsPerKilowattHour: Double, budgets: [EmissionBudget],
        ceilings: PowerCeilings = ExporterConfiguration().powerCeilings, embodied: EmbodiedProfile = .off
    ) {
        self.pue = pue
        self.gridGramsPerKilowattHour = gridGramsPerKilowattHour
        self.budgets = budgets
        self.ceilings = ceilings
        self.embodied = embodied
    }

    /// The accounting settings of `configuration`.
    public init(_ configuration: ExporterConfiguration) {
        self.init(
            pue: configuration.effectivePUE, gridGramsPerKilowattHour: configuration.gridGramsPerKilowattHour,
            budgets: configuration.budgets, ceilings: configuration.powerCeilings, embodied: configuration.embodied)
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
    private let beforePublish: (@Sendable (SamplerState) -> Void)?
    private let clock: any SamplerClock
    private let attribution:
        (reader: BackgroundReader<WorkloadReading>, monitor: WorkloadMonitor, settings: AttributionSettings)?
    private let wantsProcesses = Flag()
    /// The sample at which freed memory was last handed back (`releaseFreedMemory`).
    private let lastTrimSample = Mutex<Int?>(nil)
    /// The last hour of power for the live page; outside `state`, which is copied for the state file each sample.
    private let history: Mutex<PowerHistory>
    private let webConfigReloadFailures: @Sendable () -> UInt64
    /// The grid intensity in force, when a region, file or provider may set it; nil: the static figure of the settings.
    private let grid: GridIntensityControl?

    /// - Parameters:
    ///   - hardwareSources: sources that measure (RAPL, NVML, hwmon); sampled in parallel each interval.
    ///   - estimateSource: the estimate, sampled only while a component lacks a measuring source.
    ///   - clock: the clocks that time readings and stamp samples.
    ///   - webConfigReloadFailures: the web-config watcher's count of failed reloads, read for every sample.
    public init(
        hardwareSources: [any PowerSource], estimateSource: (any PowerSource)?, interval: Duration,
        settings: AccountingSettings, store: SnapshotStore, logger: Logger,
        clock: any SamplerClock = SystemClock(),
        attribution: (monitor: WorkloadMonitor, settings: AttributionSettings)? = nil,
        restoring restored: SamplerState = SamplerState(),
        beforePublish: (@Sendable (SamplerState) -> Void)? = nil,
        webConfigReloadFailures: @escaping @Sendable () -> UInt64 = { 0 },
        grid: GridIntensityControl? = nil
    ) {
        var restored = restored
        if attribution != nil && restored.attribution == nil {
            // Whatever the node counted before attribution was on is unattributed, so the invariant holds at once.
            var fresh = AttributionState()
            fresh.ledger.restore(
                workloads: [:], unattributed: [:], expired: [:], nodeMicrojoules: restored.ledger.componentMicrojoules)
            restored.attribution = fresh
        }
        _ = restored.ledger.takeUnsplit()
        self.state = Mutex(restored)
        self.beforePublish = beforePublish
        self.webConfigReloadFailures = webConfigReloadFailures
        self.grid = grid
        self.clock = clock
        self.history = Mutex(
            PowerHistory(
                intervalSeconds: Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18))
        self.hardwareWorkers = hardwareSources.map { SourceWorker(source: $0, clock: clock) }
        let wantsProcesses = self.wantsProcesses
        self.attribution = attribution.map { attribution in
            let monitor = attribution.monitor
            return (
                BackgroundReader(label: "workloads", clock: clock) {
                    monitor.read(processes: wantsProcesses.value)
                }, monitor, attribution.settings
            )
        }
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

    /// Stops sampling; returns once a sample in progress has been published, or after `waitingAtMost` seconds when
    /// one is held up by a hung source (its thread is left behind: shutdown must not wait on hardware).
    public func stop(waitingAtMost seconds: Double = 0.2) {
        let box = timer.withLock { current -> TimerBox? in
            defer { current = nil }
            return current
        }
        box?.timer.cancel()
        let drained = DispatchSemaphore(value: 0)
        queue.async { drained.signal() }
        _ = drained.wait(timeout: .now() + .milliseconds(Int(seconds * 1000)))
    }

    /// Takes one sample of every source, records it and publishes the exposition. Called on the sampler queue.
    public func sampleOnce() {
        var sampleSettings = accountingSettings
        // The energy this sample adds was drawn since the last one; it is priced at the intensity in force now, as a
        // PUE change applies only to energy drawn after it.
        let intensity =
            grid?.inForce(nowUnixSeconds: clock.unixSeconds())
            ?? IntensityInForce(gramsPerKilowattHour: sampleSettings.gridGramsPerKilowattHour, source: .static)
        sampleSettings.gridGramsPerKilowattHour = intensity.gramsPerKilowattHour
        let settings = sampleSettings
        let gridErrors = grid?.errorCounts() ?? []
        let deadline = DispatchTime.now() + .nanoseconds(readDeadlineNanoseconds)
        // A source with nothing to read on this node (no powercap, no NVML, no GPUs) is looked at again only every
        // `absentRecheckSamples` samples, so a VM does not rescan sysfs for hardware it lacks every interval.
        let absent = state.withLock { state in
            state.samplesTaken % Self.absentRecheckSamples == 0
                ? [] : Set(state.health.filter { !$0.value.present && $0.value.loggedAbsence }.keys)
        }
        let workloadRead = attribution?.reader.start()
        let reads = hardwareWorkers.filter { !absent.contains($0.source.name) }.map { worker in
            (worker.source.name, worker.start())
        }
        var completed: [(name: String, read: CompletedRead<SourceSample>?)] = []
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
        if let attribution {
            var reading = workloadRead?.wait(until: max(deadline, DispatchTime.now() + .milliseconds(50)))?.value
            if var complete = reading, !complete.processesMapped,
                state.withLock({ !($0.attribution?.gpuProcesses.isEmpty ?? true) })
            {
                // GPU processes appeared in this sample, after the workload read skipped them: map them now (the read
                // has finished, so the monitor is free), rather than leave this sample's GPU energy unattributed.
                complete.workloadOfPID = attribution.monitor.processMap()
                complete.processesMapped = true
                reading = complete
            }
            attribute(reading, settings: attribution.settings, accounting: settings)
        }
        let reloadFailures = webConfigReloadFailures()
        let (snapshot, budgetChanges) = state.withLock { state -> (SamplerState, [BudgetCounters.MatchChange]) in
            Self.amortiseEmbodied(settings.embodied, nowBootSeconds: clock.bootSeconds(), into: &state)
            let changes = countBudgets(settings.budgets, in: &state)
            state.lastSampleUnixSeconds = clock.unixSeconds()
            state.samplesTaken += 1
            return (state, changes)
        }
        for change in budgetChanges {
            logger.warning(
                "budget's match changed: its counter goes on from its value, but counts other workloads from now on",
                metadata: ["budget": "\(change.budget)", "old": "\(change.old)", "new": "\(change.new)"])
        }
        let recent = history.withLock { history in
            history.append(
                cpu: snapshot.ledger.watts(of: .cpu), dram: snapshot.ledger.watts(of: .dram),
                gpu: snapshot.ledger.watts(of: .gpu))
            return history
        }
        // Persisted first: a value once served must survive a crash, or a restart would step the counters back.
        beforePublish?(snapshot)
        store.publish(
            render: {
                MetricsRenderer.render(
                    state: snapshot, settings: settings, webConfigReloadFailures: reloadFailures,
                    grid: GridExposition(inForce: intensity, errors: gridErrors))
            },
            summary: LazySummary {
                Summary.make(state: snapshot, settings: settings, history: recent, intensity: intensity)
            })
    }

    /// Splits the energy this sample added between the workloads of `reading` (nil: it did not finish in time, and
    /// the sample's energy is unattributed).
    private func attribute(_ reading: WorkloadReading?, settings: AttributionSettings, accounting: AccountingSettings) {
        let (outcome, logOverflow, shrank) = state.withLock { state -> (Attributor.Outcome, Bool, Bool) in
            let unsplit = state.ledger.takeUnsplit()
            var attribution = state.attribution ?? AttributionState()
            let before = attribution.ledger.workloads.count
            let outcome = Attributor.apply(
                reading: reading, unsplit: unsplit, settings: settings, pue: accounting.pue,
                gramsPerKilowattHour: accounting.gridGramsPerKilowattHour, nowBootSeconds: clock.bootSeconds(),
                elapsedSeconds: intervalSeconds, into: &attribution)
            let logOverflow = outcome.overflowed && !attribution.loggedOverflow
            if logOverflow { attribution.loggedOverflow = true }
            wantsProcesses.value = !attribution.gpuProcesses.isEmpty
            state.attribution = attribution
            return (outcome, logOverflow, attribution.ledger.workloads.count < before)
        }
        if shrank { releaseFreedMemory() }
        if logOverflow {
            logger.warning(
                "more workloads than --attribution.max-workloads; the energy of those beyond it is unattributed",
                metadata: ["max_workloads": "\(settings.maximumWorkloads)"])
        }
        _ = outcome
    }

    /// Adds this sample's CO2e to the budget counters: the node's to budgets without `match:`, the matching
    /// workloads' to the others.
    private func countBudgets(_ budgets: [EmissionBudget], in state: inout SamplerState) -> [BudgetCounters.MatchChange]
    {
        let nodeGrams = state.ledger.takeCO2eGrams()
        let workloadGrams = state.attribution?.ledger.takeCO2eGrams() ?? [:]
        let nodeEmbodied = state.embodiedGramsSinceTake
        state.embodiedGramsSinceTake = 0
        let workloadEmbodied = state.attribution?.ledger.takeEmbodiedGrams() ?? [:]
        return state.budgets.record(
            budgets: budgets, nodeGrams: nodeGrams, workloadGrams: workloadGrams,
            embodied: (node: nodeEmbodied, workloads: workloadEmbodied),
            names: state.attribution?.names ?? [:], tracked: state.attribution?.ledger.workloads.count ?? 0)
    }

    /// Adds the embodied CO2e of the time since the last sample (docs/embodied.md): straight-line over the
    /// profile's lifetime, the node's and each GPU's, charged to the workloads by their share of the sample's energy.
    /// The first sample after a start adds nothing: only time the exporter runs is counted.
    static func amortiseEmbodied(_ profile: EmbodiedProfile, nowBootSeconds: Double, into state: inout SamplerState) {
        defer { state.embodiedBootSeconds = nowBootSeconds }
        guard !profile.isOff, let last = state.embodiedBootSeconds, nowBootSeconds > last else { return }
        let gpus = state.gpus.values.reduce(0) { $0 + $1.count }
        let grams = profile.grams(elapsedSeconds: nowBootSeconds - last, gpus: gpus)
        guard grams > 0, grams.isFinite else { return }
        state.embodiedGramsSinceTake += grams
        guard var attribution = state.attribution else {
            state.embodied.record(grams: grams, unattributed: grams)
            return
        }
        let (parts, unattributed) = EmbodiedSplit.split(
            grams: grams, energy: attribution.lastMicrojoules, nodeMicrojoules: attribution.lastNodeMicrojoules)
        attribution.ledger.recordEmbodied(parts)
        state.attribution = attribution
        state.embodied.record(grams: grams, unattributed: unattributed)
    }

    /// Hands memory freed by expired workloads back to the kernel, at most once every 10 samples. Under churn (pods
    /// created and removed by the hundred) freed chunks sit between live ones, in the arenas of the sampler's and
    /// the HTTP server's threads, and resident memory drifts up although nothing leaks (bench/ATTRIBUTION.md:
    /// +1.1 MiB from the first half of the churn run to the second without this). malloc_trim takes well under a
    /// millisecond here.
    private func releaseFreedMemory() {
        let sample = state.withLock { $0.samplesTaken }
        let due = lastTrimSample.withLock { last -> Bool in
            guard last.map({ sample >= $0 + 10 }) ?? true else { return false }
            last = sample
            return true
        }
        if due, let trim = Self.mallocTrim { _ = trim(0) }
    }

    /// glibc's malloc_trim, which the Glibc module does not import (it is declared in malloc.h).
    static let mallocTrim: (@convention(c) (Int) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }  // RTLD_DEFAULT
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
    }()

    /// A copy of the accumulated state, for the state file.
    var currentState: SamplerState {
        state.withLock { $0 }
    }

    private var intervalSeconds: Double {
        Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
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
        _ read: CompletedRead<SourceSample>?, of name: String, into state: inout SamplerState,
        settings: AccountingSettings
    ) {
        var health = state.health[name] ?? SourceHealth()
        defer { state.health[name] = health }
        guard let read else {
            health.present = true
            health.up = false
            health.errors = health.errors.saturatingAdd(1)
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
                health.errors = health.errors.saturatingAdd(1)
            }
            return
        }
        let (readings, implausible) = Self.plausible(read.sample.readings, ceilings: settings.ceilings)
        let failures = read.sample.failures + implausible
        health.present = true
        health.up = failures.isEmpty
        health.errors = health.errors.saturatingAdd(UInt64(failures.count))
        if failures.isEmpty {
            if !health.loggedErrorKinds.isEmpty {
                logger.info("source recovered", metadata: ["source": "\(name)"])
                health.loggedErrorKinds = []
            }
        } else {
            logFailures(failures, of: name, health: &health)
        }
        if !read.sample.gpus.isEmpty || state.gpus[name] != nil {
            state.gpus[name] = read.sample.gpus
        }
        if name == NvmlSource.sourceName { state.attribution?.gpuProcesses = read.sample.gpuProcesses }
        let seconds = read.finishedAtBootSeconds
        let observations = readings.map { reading in
            (
                key: DomainKey(reading: reading.id),
                observation: EnergyObservation(reading, ceilingWatts: settings.ceilings.watts(for: reading)),
                seconds: seconds
            )
        }
        let steps = state.ledger.record(
            observations, pue: settings.pue, gramsPerKilowattHour: settings.gridGramsPerKilowattHour)
        for (key, step) in steps where step == .reset {
            logger.warning(
                "energy counter went back or jumped implausibly; treated as a reset, nothing added",
                metadata: ["source": "\(key.source)", "domain": "\(key.domain)", "device": "\(key.device)"])
        }
    }

    /// Splits `readings` into those within their ceilings and failures for the average powers beyond them (a
    /// reading of 1e19 µW is a glitch: integrated, it would add more energy than a data centre draws).
    static func plausible(_ readings: [DomainReading], ceilings: PowerCeilings) -> ([DomainReading], [ReadFailure]) {
        var kept: [DomainReading] = []
        var failures: [ReadFailure] = []
        kept.reserveCapacity(readings.count)
        for reading in readings {
            if case .averagePower(let watts) = reading.measurement {
                let ceiling = ceilings.watts(for: reading.id.domain)
                guard watts.isFinite, watts >= 0, watts <= ceiling else {
                    failures.append(
                        ReadFailure(
                            domain: reading.id,
                            error: .garbled(
                                path: reading.id.description, value: "\(watts) W, above the \(ceiling) W ceiling")))
                    continue
                }
            }
            kept.append(reading)
        }
        return (kept, failures)
    }

    private func logFailures(_ failures: [ReadFailure], of name: String, health: inout SourceHealth) {
        for failure in failures where !health.loggedErrorKinds.contains(failure.error.kind) {
            health.loggedErrorKinds.insert(failure.error.kind)
            var metadata: Logger.Metadata = ["source": "\(name)", "error": "\(failure)"]
            if case .permissionDenied = failure.error, name == RaplSource.sourceName {
                metadata["fix"] =
                    "energy_uj is readable by root only since CVE-2020-8694: run as root, or grant read access at boot with a systemd-tmpfiles rule 'z /sys/class/powercap/intel-rapl:*/energy_uj 0444 - - -' (see docs/rapl-permissions.md); until then the estimate stands in for cpu and dram"
            }
            logger.warning("source read failed; marking it down until it recovers", metadata: metadata)
        }
    }

}

/// A flag shared between the sampler and a reader's queue.
private final class Flag: Sendable {
    private let storage = Mutex(false)
    var value: Bool {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}

/// Dispatch timers are thread-safe but not marked Sendable.
private struct TimerBox: @unchecked Sendable {
    let timer: any DispatchSourceTimer
}

/// Everything the sampler accumulates; rendered into the exposition after each sample.
public struct SamplerState: Sendable {
    var ledger = EnergyLedger()
    /// The split of the node's energy between workloads; nil while attribution is off.
    var attribution: AttributionState?
    /// The budgets' CO2e counters.
    var budgets = BudgetCounters()
    var health: [String: SourceHealth] = [:]
    var gpus: [String: [GPUIdentity]] = [:]
    var lastSampleUnixSeconds: Double?
    var samplesTaken = 0
    /// The node's embodied CO2e (docs/embodied.md).
    var embodied = EmbodiedTotals()
    /// Boot time of the last sample that amortised embodied CO2e; nil before the first since the start.
    var embodiedBootSeconds: Double?
    /// Embodied CO2e added since the budgets last counted, in grams.
    var embodiedGramsSinceTake: Double = 0

    public init() {}
}

extension DomainKey {
    init(reading id: DomainID) {
        self.init(source: id.source, domain: id.domain.rawValue, device: id.device)
    }
}

extension EnergyObservation {
    init(_ reading: DomainReading, ceilingWatts: Double) {
        switch reading.measurement {
        case .energyCounter(let microjoules, let wrap):
            self = .counter(
                microjoules: microjoules, wrapMicrojoules: wrap, ceilingWatts: ceilingWatts,
                identity: reading.counterIdentity)
        case .averagePower(let watts):
            self = .averagePower(watts: watts)
        }
    }
}
