import Glibc
import PowerSources

/// What the processes of a cgroup tell about its workload: the PIDs (host view), a Slurm job's id from the
/// `slurmstepd: [<job>.<step>]` process title, and the owner of its task processes.
public enum ProcessIdentity {
    /// The PIDs listed in `cgroup.procs` of each directory (absolute paths), in the PID namespace of the reader.
    public static func pids(in directories: [String]) -> [UInt32] {
        var pids: [UInt32] = []
        for directory in directories {
            guard let bytes = try? AttributeFile.readWhole("\(directory)/cgroup.procs", limit: 1 << 22) else {
                continue
            }
            var value: UInt32 = 0
            var digits = 0
            for byte in bytes {
                if byte >= 0x30 && byte <= 0x39 {
                    let (next, overflow) = value.multipliedReportingOverflow(by: 10)
                    if overflow { value = 0; digits = 0; continue }
                    value = next + UInt32(byte - 0x30)
                    digits += 1
                } else {
                    if digits > 0 { pids.append(value) }
                    value = 0
                    digits = 0
                }
            }
            if digits > 0 { pids.append(value) }
        }
        return pids
    }

    /// The numeric job id in the title of a `slurmstepd` among `pids` (`slurmstepd: [4242.0]` → `4242`).
    public static func slurmJobID(pids: [UInt32], procfs: ProcfsRoot) -> String? {
        for pid in pids.prefix(64) {
            guard let bytes = try? AttributeFile.readWhole(procfs.resolve("\(pid)/cmdline"), limit: 4096) else {
                continue
            }
            let title = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            if let id = slurmJobID(title: title) { return id }
        }
        return nil
    }

    /// `4242` from `slurmstepd: [4242.0]`, `[4242.batch]` or `[4242.extern]`; nil for any other title.
    public static func slurmJobID(title: String) -> String? {
        guard title.hasPrefix("slurmstepd: [") else { return nil }
        let inside = title.dropFirst("slurmstepd: [".count).prefix { $0 != "]" }
        let job = inside.prefix { $0 != "." }
        guard !job.isEmpty, job.allSatisfy(\.isNumber) else { return nil }
        return String(job)
    }

    /// The user owning the first of `pids` that is not root's (a job's tasks run as the user; its slurmstepd as
    /// root).
    public static func owner(pids: [UInt32], procfs: ProcfsRoot) -> UInt32? {
        for pid in pids.prefix(256) {
            var status = stat()
            guard stat(procfs.resolve(String(pid)), &status) == 0 else { continue }
            if status.st_uid != 0 { return status.st_uid }
        }
        return nil
    }
}
