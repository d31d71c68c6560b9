import PowerSources

/// Finds the workloads in the cgroup tree: walks every hierarchy the layout has, classifies each directory by its
/// path, and stops descending at a match (the outermost match wins; a pod's containers are part of the pod).
public struct WorkloadDiscovery: Sendable {
    public let root: CgroupRoot
    public let hierarchy: CgroupHierarchy
    public let kinds: Set<WorkloadKind>
    /// The most directories one walk visits, so a runaway tree cannot stall sampling.
    public let maximumDirectories: Int

    public init(
        root: CgroupRoot, hierarchy: CgroupHierarchy, kinds: Set<WorkloadKind>, maximumDirectories: Int = 200_000
    ) {
        self.root = root
        self.hierarchy = hierarchy
        self.kinds = kinds
        self.maximumDirectories = maximumDirectories
    }

    /// Every workload under the root, by id; a workload found in several hierarchies (v1 controllers, hybrid) once,
    /// with the path of the first.
    public func discover() -> [WorkloadID: DiscoveredWorkload] {
        var found: [WorkloadID: DiscoveredWorkload] = [:]
        var visited = 0
        for top in hierarchy.walked {
            var pending: [[Substring]] = [[]]
            while let components = pending.popLast(), visited < maximumDirectories {
                visited += 1
                let relative = components.joined(separator: "/")
                if !components.isEmpty, let workload = WorkloadClassifier.classify(components, kinds: kinds) {
                    if found[workload.id] == nil { found[workload.id] = workload }
                    continue
                }
                guard WorkloadClassifier.mayContainWorkloads(components) else { continue }
                let directory = root.resolve([top, relative].filter { !$0.isEmpty }.joined(separator: "/"))
                for entry in (try? AttributeFile.listSubdirectories(directory)) ?? [] {
                    pending.append(components + [Substring(entry)])
                }
            }
        }
        return found
    }
}
