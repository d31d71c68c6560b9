/// Recognises a workload by its cgroup path alone, with the layouts the kubelet, Slurm and systemd create.
///
/// The discovery walks the tree from the root and stops at the first match, so the outermost match wins and no
/// cgroup is counted twice: a pod's containers belong to the pod, a job's steps to the job.
public enum WorkloadClassifier {
    /// The workload whose root cgroup is `components` (a relative path split at `/`), or nil.
    public static func classify(_ components: [Substring], kinds: Set<WorkloadKind>) -> DiscoveredWorkload? {
        guard let last = components.last else { return nil }
        let path = components.joined(separator: "/")
        if kinds.contains(.pod), let uid = podUID(last, ancestors: components.dropLast()) {
            return DiscoveredWorkload(id: WorkloadID(kind: .pod, name: uid), cgroupPath: path)
        }
        if kinds.contains(.slurmJob), let job = slurmJob(last, ancestors: components.dropLast()) {
            return DiscoveredWorkload(
                id: WorkloadID(kind: .slurmJob, name: job.id), cgroupPath: path, sluid: job.sluid,
                userID: job.userID)
        }
        if kinds.contains(.systemdUnit), let unit = systemdUnit(last, ancestors: components.dropLast()) {
            return DiscoveredWorkload(id: WorkloadID(kind: .systemdUnit, name: unit), cgroupPath: path)
        }
        return nil
    }

    /// Whether the discovery should look below `components` at all: a Slurm job's steps, a pod's containers and a
    /// service's own children hold no further workload.
    public static func mayContainWorkloads(_ components: [Substring]) -> Bool {
        components.count < 8
    }

    // MARK: Kubernetes

    /// `kubepods-burstable-pod<uid with _>.slice` or `kubepods-pod<uid>.slice` (systemd driver), `pod<uid>` below
    /// `kubepods` (cgroupfs driver).
    static func podUID(_ name: Substring, ancestors: ArraySlice<Substring>) -> String? {
        guard ancestors.contains(where: { $0.contains("kubepods") }) else { return nil }
        if name.hasSuffix(".slice") {
            // `kubepods[-<qos>]-pod<uid>.slice`, also under a kubelet cgroup root of its own (kind's
            // `kubelet-kubepods-burstable-pod<uid>.slice`): the UID's underscores never contain a dash.
            guard name.contains("kubepods"), let last = name.dropLast(".slice".count).split(separator: "-").last,
                last.hasPrefix("pod")
            else { return nil }
            return normalisedUID(last.dropFirst(3), separator: "_")
        }
        if name.hasPrefix("pod") {
            return normalisedUID(name.dropFirst(3), separator: "-")
        }
        return nil
    }

    /// A pod UID (8-4-4-4-12 hexadecimal digits) written with `separator`, returned with dashes; or a static pod's
    /// UID, which the kubelet makes from an md5 digest (32 hexadecimal digits, no separators), returned as it is;
    /// nil otherwise.
    static func normalisedUID(_ text: Substring, separator: Character) -> String? {
        if text.count == 32, text.allSatisfy({ $0.isHexDigit && ($0.isNumber || $0.isLowercase) }) {
            return String(text)
        }
        let groups = text.split(separator: separator, omittingEmptySubsequences: false)
        guard groups.map(\.count) == [8, 4, 4, 4, 12],
            groups.allSatisfy({ $0.allSatisfy { $0.isHexDigit && ($0.isNumber || $0.isLowercase) } })
        else { return nil }
        return groups.joined(separator: "-")
    }

    // MARK: Slurm

    /// `job_<id>` below `slurmstepd.scope` or `<node>_slurmstepd.scope` (cgroup v2), or below `uid_<n>` below
    /// `slurm` or `slurm_<node>` (cgroup v1). A job directory named by a SLUID (`CgroupJobIdPaths=no`) keeps the
    /// SLUID as its name until the job id is read from its processes' titles.
    static func slurmJob(_ name: Substring, ancestors: ArraySlice<Substring>) -> (
        id: String, sluid: String?, userID: UInt32?
    )? {
        guard name.hasPrefix("job_"), let parent = ancestors.last else { return nil }
        let token = name.dropFirst(4)
        guard !token.isEmpty, token.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else { return nil }
        var userID: UInt32?
        if parent == "slurmstepd.scope" || parent.hasSuffix("_slurmstepd.scope") {
            // cgroup v2: system.slice/[<node>_]slurmstepd.scope/job_<id>
        } else if parent.hasPrefix("uid_"), let uid = UInt32(parent.dropFirst(4)),
            let grandparent = ancestors.dropLast().last, grandparent == "slurm" || grandparent.hasPrefix("slurm_")
        {
            userID = uid
        } else {
            return nil
        }
        let numeric = token.allSatisfy(\.isNumber)
        return (String(token), numeric ? nil : String(token), userID)
    }

    // MARK: systemd

    /// `system.slice/<name>.service`, or a template instance `system.slice/system-<name>.slice/<name>@<i>.service`;
    /// transient `run-*` units are not workloads.
    static func systemdUnit(_ name: Substring, ancestors: ArraySlice<Substring>) -> String? {
        guard name.hasSuffix(".service"), !name.hasPrefix("run-"), let parent = ancestors.last else { return nil }
        if parent == "system.slice" && ancestors.count == 1 { return String(name) }
        if parent.hasPrefix("system-"), parent.hasSuffix(".slice"), ancestors.count == 2,
            ancestors.first == "system.slice"
        {
            return String(name)
        }
        return nil
    }
}
