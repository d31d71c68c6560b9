import EnergyAccounting
import Glibc
import PowerSources
import Workloads

/// Splits one sample's energy between workloads (docs/design.md §8):
///
/// | component | a workload's weight | the whole its weight is a share of |
/// |---|---|---|
/// | `cpu` | CPU time over the interval (cgroup) | the node's busy CPU time (`share`), or all CPU time, idle included (`unattributed`) |
/// | `dram` | memory in use (cgroup) | the node's memory in use (`share`), or all its memory (`unattributed`) |
/// | `gpu` | per GPU, its processes' SM utilisation (NVML), summed by workload | all that GPU's processes |
///
/// Shares that add up to more than the whole are normalised; what no workload takes (system daemons, the kernel,
/// idle under `unattributed`, processes in no workload, GPUs without process data) is unattributed.
enum Attributor {
    /// Microseconds per `/proc/stat` tick.
    static let microsecondsPerTick: UInt64 = {
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        return ticks > 0 ? 1_000_000 / UInt64(ticks) : 10_000
    }()

    /// What happened in one sample that the exporter should say.
    struct Outcome {
        /// A new workload found no place below the maximum this sample.
        var overflowed = false
    }

    static func apply(
        reading: WorkloadReading?, unsplit: [DomainKey: (component: Component, microjoules: UInt64)],
        settings: AttributionSettings, pue: Double, gramsPerKilowattHour: Double, nowBootSeconds: Double,
        elapsedSeconds: Double = 1, into state: inout AttributionState
    ) -> Outcome {
        let before = state.ledger.workloads.mapValues { totals in
            Component.allCases.reduce(UInt64(0)) { $0 &+ totals.microjoules($1) }
        }
        defer {
            state.lastMicrojoules = [:]
            state.lastElapsedSeconds = elapsedSeconds
            for (id, totals) in state.ledger.workloads {
                let now = Component.allCases.reduce(UInt64(0)) { $0 &+ totals.microjoules($1) }
                state.lastMicrojoules[id] = now &- (before[id] ?? 0)
            }
        }
        var outcome = Outcome()
        var energy: [Component: UInt64] = [:]
        var gpuEnergy: [String: UInt64] = [:]  // by "source/device"
        for (key, entry) in unsplit {
            energy[entry.component, default: 0] &+= entry.microjoules
            if entry.component == .gpu { gpuEnergy["\(key.source)/\(key.device)", default: 0] &+= entry.microjoules }
        }
        state.lastNodeMicrojoules = energy.values.reduce(0, &+)
        guard let reading else {
            for (component, microjoules) in energy {
                state.ledger.record(
                    component, parts: [], remainder: microjoules, pue: pue, gramsPerKilowattHour: gramsPerKilowattHour)
            }
            return outcome
        }

        // Track new workloads up to the maximum; the ones beyond take no share (their energy stays unattributed).
        for id in reading.usage.keys.sorted() where state.ledger.workloads[id] == nil {
            if state.ledger.workloads.count < settings.maximumWorkloads {
                state.ledger.track(id)
            } else {
                outcome.overflowed = true
            }
        }
        if outcome.overflowed { state.overflowSamples &+= 1 }
        for (id, names) in reading.names where state.ledger.workloads[id] != nil { state.names[id] = names }

        // cpu: CPU time over the interval.
        var cpuWeights: [(key: WorkloadID, weight: UInt64)] = []
        for (id, usage) in reading.usage where state.ledger.workloads[id] != nil {
            guard let now = usage.cpuMicroseconds, let before = state.previousUsage[id]?.cpuMicroseconds, now >= before
            else { continue }
            cpuWeights.append((id, now - before))
        }
        var cpuWhole: UInt64 = 0
        if let now = reading.nodeCPU, let before = state.previousNodeCPU, now.busyTicks >= before.busyTicks,
            now.idleTicks >= before.idleTicks
        {
            let busy = (now.busyTicks - before.busyTicks).multipliedReportingOverflow(by: microsecondsPerTick)
                .partialValue
            let idle = (now.idleTicks - before.idleTicks).multipliedReportingOverflow(by: microsecondsPerTick)
                .partialValue
            cpuWhole = settings.idleFollowsShares ? busy : busy &+ idle
        } else {
            cpuWeights = []  // no node baseline yet: nothing to take shares of
        }
        record(.cpu, energy: energy[.cpu] ?? 0, weights: cpuWeights, whole: cpuWhole, pue, gramsPerKilowattHour, &state)

        // dram: memory in use.
        var dramWeights: [(key: WorkloadID, weight: UInt64)] = []
        for (id, usage) in reading.usage where state.ledger.workloads[id] != nil {
            if let bytes = usage.memoryBytes { dramWeights.append((id, bytes)) }
        }
        let dramWhole =
            reading.nodeMemory.map { settings.idleFollowsShares ? $0.usedBytes : $0.totalBytes } ?? 0
        if reading.nodeMemory == nil { dramWeights = [] }
        record(
            .dram, energy: energy[.dram] ?? 0, weights: dramWeights, whole: dramWhole, pue, gramsPerKilowattHour,
            &state)

        // gpu: per GPU, by its processes' SM utilisation.
        var gpuParts: [WorkloadID: UInt64] = [:]
        var gpuRemainder: UInt64 = 0
        for (gpu, microjoules) in gpuEnergy {
            let processes = state.gpuProcesses.filter { "\(PowerSources.NvmlSource.sourceName)/\($0.device)" == gpu }
            let measured = processes.contains { ($0.smPercent ?? 0) > 0 }
            let weights = processes.map { (key: $0.pid, weight: measured ? UInt64($0.smPercent ?? 0) : 1) }
            let (parts, remainder) = AttributionSplit.split(
                microjoules, weights: weights, denominator: weights.reduce(0) { $0 + $1.weight })
            gpuRemainder &+= remainder
            for part in parts {
                if let id = reading.workloadOfPID[part.key], state.ledger.workloads[id] != nil {
                    gpuParts[id, default: 0] &+= part.microjoules
                } else {
                    gpuRemainder &+= part.microjoules
                }
            }
        }
        state.ledger.record(
            .gpu, parts: gpuParts.map { ($0.key, $0.value) }, remainder: gpuRemainder, pue: pue,
            gramsPerKilowattHour: gramsPerKilowattHour)

        // Baselines for the next sample, and the retention of vanished workloads.
        if let cpu = reading.nodeCPU { state.previousNodeCPU = cpu }
        for (id, usage) in reading.usage where state.ledger.workloads[id] != nil {
            if usage.cpuMicroseconds != nil { state.previousUsage[id] = usage }
        }
        for id in Array(state.ledger.workloads.keys) {
            if reading.usage[id] != nil {
                state.vanishedAt[id] = nil
                continue
            }
            let since = state.vanishedAt[id] ?? nowBootSeconds
            state.vanishedAt[id] = since
            if nowBootSeconds - since >= settings.retentionSeconds {
                state.ledger.expire(id)
                state.names[id] = nil
                state.previousUsage[id] = nil
                state.vanishedAt[id] = nil
            }
        }
        return outcome
    }

    private static func record(
        _ component: Component, energy: UInt64, weights: [(key: WorkloadID, weight: UInt64)], whole: UInt64,
        _ pue: Double, _ gramsPerKilowattHour: Double, _ state: inout AttributionState
    ) {
        let (parts, remainder) = AttributionSplit.split(energy, weights: weights, denominator: whole)
        state.ledger.record(
            component, parts: parts, remainder: remainder, pue: pue, gramsPerKilowattHour: gramsPerKilowattHour)
    }
}
