/// A kind of mount the exporter reads, with its usual mount point.
public protocol MountKind: Sendable {
    static var defaultPath: String { get }
}

/// sysfs: RAPL under `class/powercap`, hwmon under `class/hwmon`.
public enum SysfsMount: MountKind {
    public static var defaultPath: String { "/sys" }
}

/// procfs: `stat`, `meminfo`, processes.
public enum ProcfsMount: MountKind {
    public static var defaultPath: String { "/proc" }
}

/// The cgroup filesystem: a v2 hierarchy at its root, or v1 controllers (and a v2 hierarchy at `unified/`) below it.
public enum CgroupfsMount: MountKind {
    public static var defaultPath: String { "/sys/fs/cgroup" }
}

/// The mount point every reader of one filesystem resolves its paths against. Tests point it at a fixture tree;
/// production uses the real mount or the `--path.*` flag.
public struct MountRoot<Kind: MountKind>: Sendable, Hashable {
    /// Absolute or relative path of the mount.
    public let path: String

    public init(_ path: String = Kind.defaultPath) {
        self.path = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
    }

    /// The absolute path of `relative` below this root.
    public func resolve(_ relative: String) -> String {
        relative.isEmpty ? path : path + "/" + relative
    }
}

public typealias SysfsRoot = MountRoot<SysfsMount>
public typealias ProcfsRoot = MountRoot<ProcfsMount>
public typealias CgroupRoot = MountRoot<CgroupfsMount>
