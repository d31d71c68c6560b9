/// What a workload is: a Kubernetes pod, a Slurm job or a systemd service.
public enum WorkloadKind: String, Sendable, Hashable, CaseIterable, Comparable {
    case pod
    case slurmJob = "slurm_job"
    case systemdUnit = "systemd_unit"

    public static func < (lhs: WorkloadKind, rhs: WorkloadKind) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// One workload: its kind and its name within the kind (a pod's UID with dashes, a Slurm job's id, a unit's name).
public struct WorkloadID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let kind: WorkloadKind
    public let name: String

    public init(kind: WorkloadKind, name: String) {
        self.kind = kind
        self.name = name
    }

    public static func < (lhs: WorkloadID, rhs: WorkloadID) -> Bool { (lhs.kind, lhs.name) < (rhs.kind, rhs.name) }

    public var description: String { "\(kind.rawValue)/\(name)" }
}

/// A workload found in the cgroup tree: where its cgroup is, and what its path says about it.
public struct DiscoveredWorkload: Sendable, Hashable {
    public var id: WorkloadID
    /// The cgroup's path relative to the hierarchy root, for example `kubepods.slice/kubepods-pod…slice`.
    public var cgroupPath: String
    /// A Slurm job's SLUID, when its directory is named by one (`CgroupJobIdPaths=no`).
    public var sluid: String?
    /// A Slurm job's user id, when the path carries it (cgroup v1's `uid_<n>`).
    public var userID: UInt32?

    public init(id: WorkloadID, cgroupPath: String, sluid: String? = nil, userID: UInt32? = nil) {
        self.id = id
        self.cgroupPath = cgroupPath
        self.sluid = sluid
        self.userID = userID
    }
}

/// What a workload used over one sample: CPU time and memory, read from its cgroup.
public struct WorkloadUsage: Sendable, Hashable {
    /// Cumulative CPU time in microseconds (v2 `cpu.stat` `usage_usec`, v1 `cpuacct.usage` / 1000); nil when unread.
    public var cpuMicroseconds: UInt64?
    /// Memory in use, in bytes (v2 `memory.current`, v1 `memory.usage_in_bytes`); nil when unread.
    public var memoryBytes: UInt64?

    public init(cpuMicroseconds: UInt64?, memoryBytes: UInt64?) {
        self.cpuMicroseconds = cpuMicroseconds
        self.memoryBytes = memoryBytes
    }
}

/// Names that identify a workload to people, exported as `footprint_workload_info` labels.
public struct WorkloadNames: Sendable, Hashable, Codable {
    public var namespace = ""
    public var pod = ""
    public var jobID = ""
    public var user = ""
    public var unit = ""
    public var sluid = ""

    public init() {}
}
