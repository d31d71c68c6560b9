import PowerSources
import Synchronization

/// The node's memory, from `/proc/meminfo`.
public struct NodeMemory: Sendable, Hashable {
    public let totalBytes: UInt64
    public let availableBytes: UInt64

    /// Memory in use: total less available (what the kernel could hand out without swapping).
    public var usedBytes: UInt64 { totalBytes > availableBytes ? totalBytes - availableBytes : 0 }
}

/// What one sample read of the workloads and of the node they share.
public struct WorkloadReading: Sendable {
    /// Every workload the cgroup tree holds now, with its counters (nil where a read failed: it vanished mid-read).
    public var usage: [WorkloadID: WorkloadUsage] = [:]
    /// Names for people, by workload.
    public var names: [WorkloadID: WorkloadNames] = [:]
    /// The node's CPU time, for the busy share.
    public var nodeCPU: CPUTimes?
    public var nodeMemory: NodeMemory?
    /// Which workload each process belongs to, in the host PID view; filled only when asked for (GPU attribution).
    public var workloadOfPID: [UInt32: WorkloadID] = [:]
    /// Whether `workloadOfPID` was filled (an empty map then means no workload has a process).
    public var processesMapped = false
    /// Whether a cgroup hierarchy was found at all.
    public var cgroupsFound = false

    public init() {}
}

/// Watches the workloads of one node: rescans the cgroup tree now and then (and when a known cgroup vanishes),
/// and reads every known workload's CPU time and memory each sample.
///
/// Called from one worker thread at a time, which confines its mutable state.
public final class WorkloadMonitor: @unchecked Sendable {
    private let cgroupRoot: CgroupRoot
    private let procfs: ProcfsRoot
    private let kinds: Set<WorkloadKind>
    private let podLogs: String?
    private let rescanEverySamples: Int
    private let userNames: UserNames
    private var hierarchy: CgroupHierarchy?
    private var known: [WorkloadID: DiscoveredWorkload] = [:]
    private var names: [WorkloadID: WorkloadNames] = [:]
    private var samplesSinceRescan = Int.max

    /// - Parameters:
    ///   - rescanEverySamples: how often the tree is walked again; known cgroups are read every sample.
    ///   - podLogs: the kubelet's log directory to read pod names from, or nil (pods carry their UID only).
    public init(
        cgroupRoot: CgroupRoot, procfs: ProcfsRoot, kinds: Set<WorkloadKind>, podLogs: String?,
        rescanEverySamples: Int, userNames: UserNames = UserNames()
    ) {
        self.cgroupRoot = cgroupRoot
        self.procfs = procfs
        self.kinds = kinds
        self.podLogs = podLogs
        self.rescanEverySamples = max(1, rescanEverySamples)
        self.userNames = userNames
    }

    /// Which known workload each process belongs to, from the workloads' `cgroup.procs` (host PID view). `read` calls
    /// it when asked to; the sampler calls it alone, after a `read` without it, in the sample where GPU processes
    /// first appear, so that sample's GPU energy is split too.
    public func processMap() -> [UInt32: WorkloadID] {
        guard let hierarchy else { return [:] }
        var map: [UInt32: WorkloadID] = [:]
        for (id, workload) in known {
            for pid in ProcessIdentity.pids(in: hierarchy.subtree(of: workload.cgroupPath, under: cgroupRoot)) {
                map[pid] = id
            }
        }
        return map
    }

    /// Reads the workloads once; `processes` also maps every workload's processes (for the GPU split).
    public func read(processes: Bool) -> WorkloadReading {
        var reading = WorkloadReading()
        reading.nodeCPU = (try? AttributeFile.readWhole(procfs.resolve("stat"), limit: 1 << 20)).flatMap {
            CPUTimes.parse(String(decoding: $0, as: UTF8.self))
        }
        if let bytes = try? AttributeFile.readWhole(procfs.resolve("meminfo"), limit: 1 << 20) {
            let text = String(decoding: bytes, as: UTF8.self)
            if let total = MemInfo.bytes(of: "MemTotal", in: text),
                let available = MemInfo.bytes(of: "MemAvailable", in: text)
            {
                reading.nodeMemory = NodeMemory(totalBytes: total, availableBytes: available)
            }
        }
        if hierarchy == nil || samplesSinceRescan >= rescanEverySamples { rescan() }
        samplesSinceRescan += 1
        guard let hierarchy else { return reading }
        reading.cgroupsFound = true
        var vanished = false
        for (id, workload) in known {
            let usage = hierarchy.usage(of: workload.cgroupPath, under: cgroupRoot)
            if usage.cpuMicroseconds == nil { vanished = true }
            reading.usage[id] = usage
        }
        if processes {
            reading.workloadOfPID = processMap()
            reading.processesMapped = true
        }
        // A cgroup gone between two rescans: look again at the next sample.
        if vanished { samplesSinceRescan = rescanEverySamples }
        for (id, var workloadNames) in names {
            if let uid = known[id]?.userID ?? UInt32(workloadNames.user) {
                workloadNames.user = userNames.name(of: uid)
            }
            reading.names[id] = workloadNames
        }
        return reading
    }

    private func rescan() {
        samplesSinceRescan = 0
        if hierarchy == nil { hierarchy = CgroupHierarchy.detect(cgroupRoot) }
        guard let hierarchy else { return }
        let found = WorkloadDiscovery(root: cgroupRoot, hierarchy: hierarchy, kinds: kinds).discover()
        let pods = podLogs.map { PodNames.read(directory: $0) } ?? [:]
        var resolved: [WorkloadID: DiscoveredWorkload] = [:]
        var newNames: [WorkloadID: WorkloadNames] = [:]
        let knownByPath = Dictionary(known.values.map { ($0.cgroupPath, $0) }, uniquingKeysWith: { first, _ in first })
        for (_, var workload) in found {
            // A workload seen before keeps what was worked out for it (a SLUID's job id, a user); a SLUID job whose
            // id could not be read yet (slurmstepd had not moved in) is looked at again.
            if let previous = knownByPath[workload.cgroupPath],
                previous.sluid == nil || previous.id.name != previous.sluid
            {
                resolved[previous.id] = previous
                newNames[previous.id] = names[previous.id]
                continue
            }
            var workloadNames = WorkloadNames()
            switch workload.id.kind {
            case .pod:
                if let pod = pods[workload.id.name] {
                    workloadNames.namespace = pod.namespace
                    workloadNames.pod = pod.pod
                }
            case .slurmJob:
                let pids = ProcessIdentity.pids(in: hierarchy.subtree(of: workload.cgroupPath, under: cgroupRoot))
                if let sluid = workload.sluid {
                    workloadNames.sluid = sluid
                    if let job = ProcessIdentity.slurmJobID(pids: pids, procfs: procfs) {
                        workload.id = WorkloadID(kind: .slurmJob, name: job)
                    }
                }
                workloadNames.jobID = workload.id.name
                if workload.userID == nil { workload.userID = ProcessIdentity.owner(pids: pids, procfs: procfs) }
                if let uid = workload.userID { workloadNames.user = String(uid) }
            case .systemdUnit:
                workloadNames.unit = workload.id.name
            }
            resolved[workload.id] = workload
            newNames[workload.id] = workloadNames
        }
        known = resolved
        names = newNames
    }
}
