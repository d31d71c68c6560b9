import EnergyAccounting
import PowerSources
import Workloads

/// Everything the attribution carries from sample to sample.
struct AttributionState: Sendable {
    var ledger = AttributionLedger<WorkloadID>()
    /// Names of the tracked workloads, for `footprint_workload_info`.
    var names: [WorkloadID: WorkloadNames] = [:]
    /// Each tracked workload's counters at the previous sample: the baselines of this sample's CPU time.
    var previousUsage: [WorkloadID: WorkloadUsage] = [:]
    var previousNodeCPU: CPUTimes?
    /// When each tracked workload was first missing from the cgroup tree, in seconds since boot.
    var vanishedAt: [WorkloadID: Double] = [:]
    /// Samples in which a workload found no place below `--attribution.max-workloads`.
    var overflowSamples: UInt64 = 0
    var loggedOverflow = false
    /// The GPU processes of the last NVML read.
    var gpuProcesses: [GPUProcessShare] = []
    /// Each workload's IT energy in the last sample, all components together, in microjoules: its power on the live
    /// page, and its share of the sample's embodied CO2e.
    var lastMicrojoules: [WorkloadID: UInt64] = [:]
    /// The node's IT energy in the last sample, in microjoules.
    var lastNodeMicrojoules: UInt64 = 0
    /// The length of the last sample's interval, in seconds.
    var lastElapsedSeconds: Double = 0

    /// A workload's IT power over the last sample, all components together.
    func lastWatts(of id: WorkloadID) -> Double {
        lastElapsedSeconds > 0 ? Double(lastMicrojoules[id] ?? 0) / 1e6 / lastElapsedSeconds : 0
    }
}

extension AttributionState {
    /// The attribution saved in the state file, checked against the node's restored totals.
    init(restoring saved: PersistedAttribution, node: EnergyLedger) {
        self.init()
        var workloads: [WorkloadID: WorkloadTotals] = [:]
        for entry in saved.workloads {
            guard let kind = WorkloadKind(rawValue: entry.kind) else { continue }
            let id = WorkloadID(kind: kind, name: entry.name)
            workloads[id] = entry.totals
            names[id] = entry.names
        }
        func byComponent(_ values: [String: UInt64]) -> [Component: UInt64] {
            Dictionary(
                uniqueKeysWithValues: values.compactMap { key, value in Component(rawValue: key).map { ($0, value) } })
        }
        ledger.restore(
            workloads: workloads, unattributed: byComponent(saved.unattributedMicrojoules),
            expired: byComponent(saved.expiredMicrojoules), nodeMicrojoules: node.componentMicrojoules)
        names = names.filter { ledger.workloads[$0.key] != nil }
        overflowSamples = saved.overflowSamples
    }
}

extension PersistedAttribution {
    init(_ state: AttributionState) {
        workloads = state.ledger.workloads.keys.sorted().map { id in
            Workload(
                kind: id.kind.rawValue, name: id.name, totals: state.ledger.workloads[id]!,
                names: state.names[id] ?? WorkloadNames())
        }
        unattributedMicrojoules = Dictionary(
            uniqueKeysWithValues: state.ledger.unattributed.map { ($0.key.rawValue, $0.value) })
        expiredMicrojoules = Dictionary(uniqueKeysWithValues: state.ledger.expired.map { ($0.key.rawValue, $0.value) })
        overflowSamples = state.overflowSamples
    }
}
