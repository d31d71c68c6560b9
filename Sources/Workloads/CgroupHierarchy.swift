import PowerSources

/// How the cgroup filesystem under a root is laid out, and where each counter of a workload's cgroup is read.
///
/// - **v2** (unified at the root): `cpu.stat` `usage_usec` and `memory.current` in every cgroup.
/// - **hybrid** (systemd's default on older distributions): a v2 hierarchy at `unified/`, v1 controllers beside it.
///   CPU time comes from v2 `cpu.stat` where the cgroup exists there (it always has `usage_usec`), else from v1;
///   memory from v1.
/// - **v1**: controllers mounted separately (`cpuacct`, `cpu,cpuacct`, `cpu` and `cpuacct` apart, `memory`).
public struct CgroupHierarchy: Sendable, Hashable {
    public enum Version: String, Sendable, Hashable {
        case v2, hybrid, v1
    }

    public let version: Version
    /// Relative to the cgroupfs root: the v2 hierarchy (`""` or `unified`), if any.
    public let unified: String?
    /// Relative to the cgroupfs root: the v1 hierarchy with `cpuacct`, if any.
    public let cpuacct: String?
    /// Relative to the cgroupfs root: the v1 `memory` hierarchy, if any.
    public let memory: String?

    /// The hierarchies the discovery walks: each workload cgroup is found in at least one.
    public var walked: [String] {
        var roots: [String] = []
        for root in [unified, cpuacct, memory].compactMap({ $0 }) where !roots.contains(root) { roots.append(root) }
        return roots
    }

    public init(version: Version, unified: String?, cpuacct: String?, memory: String?) {
        self.version = version
        self.unified = unified
        self.cpuacct = cpuacct
        self.memory = memory
    }

    /// Probes the layout under `root`; nil when nothing there is a cgroup hierarchy.
    public static func detect(_ root: CgroupRoot) -> CgroupHierarchy? {
        if AttributeFile.exists(root.resolve("cgroup.controllers")) {
            return CgroupHierarchy(version: .v2, unified: "", cpuacct: nil, memory: nil)
        }
        let unified = AttributeFile.exists(root.resolve("unified/cgroup.controllers")) ? "unified" : nil
        let cpuacct = ["cpuacct", "cpu,cpuacct", "cpuacct,cpu", "cpu"].first {
            AttributeFile.exists(root.resolve("\($0)/cpuacct.usage"))
        }
        let memory = AttributeFile.exists(root.resolve("memory/memory.usage_in_bytes")) ? "memory" : nil
        guard unified != nil || cpuacct != nil || memory != nil else { return nil }
        let version: Version = (cpuacct != nil || memory != nil) ? (unified != nil ? .hybrid : .v1) : .v2
        return CgroupHierarchy(version: version, unified: unified, cpuacct: cpuacct, memory: memory)
    }

    /// Reads the CPU time and memory of the cgroup at `path` (relative to a hierarchy root). A cgroup that vanished
    /// or cannot be read gives nil counters, never an error: its usage since the last read stays unattributed.
    public func usage(of path: String, under root: CgroupRoot) -> WorkloadUsage {
        var cpu: UInt64?
        if let unified, let text = try? AttributeFile.readString(root.resolve(join(unified, path, "cpu.stat"))) {
            cpu = Self.usageMicroseconds(cpuStat: text)
        }
        if cpu == nil, let cpuacct,
            let nanoseconds = try? AttributeFile.readUnsigned(root.resolve(join(cpuacct, path, "cpuacct.usage")))
        {
            cpu = nanoseconds / 1000
        }
        var memory: UInt64?
        if let v1 = self.memory {
            memory = try? AttributeFile.readUnsigned(root.resolve(join(v1, path, "memory.usage_in_bytes")))
        } else if let unified {
            memory = try? AttributeFile.readUnsigned(root.resolve(join(unified, path, "memory.current")))
        }
        return WorkloadUsage(cpuMicroseconds: cpu, memoryBytes: memory)
    }

    /// The directories of the cgroup at `path` and of every cgroup below it, in each walked hierarchy where it
    /// exists, as absolute paths: where its processes are listed (`cgroup.procs` holds only a cgroup's own).
    public func subtree(of path: String, under root: CgroupRoot, limit: Int = 4096) -> [String] {
        var found: [String] = []
        for hierarchy in walked {
            let top = root.resolve(join(hierarchy, path))
            guard AttributeFile.exists(top) else { continue }
            var pending = [top]
            while let directory = pending.popLast(), found.count < limit {
                found.append(directory)
                for entry in (try? AttributeFile.listSubdirectories(directory)) ?? [] {
                    pending.append(directory + "/" + entry)
                }
            }
            if !found.isEmpty { break }  // one hierarchy lists the processes
        }
        return found
    }

    /// `usage_usec` from the text of a v2 `cpu.stat`.
    /// The kernel writes it on the first line, so the scan stops there instead of splitting the whole file.
    static func usageMicroseconds(cpuStat text: String) -> UInt64? {
        var rest = text[...]
        while !rest.isEmpty {
            let end = rest.firstIndex(of: "\n") ?? rest.endIndex
            let line = rest[..<end]
            if line.hasPrefix("usage_usec ") { return UInt64(line.dropFirst("usage_usec ".count)) }
            rest = end == rest.endIndex ? rest[end...] : rest[rest.index(after: end)...]
        }
        return nil
    }

    private func join(_ parts: String...) -> String {
        parts.filter { !$0.isEmpty }.joined(separator: "/")
    }
}
