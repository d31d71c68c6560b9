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
}
