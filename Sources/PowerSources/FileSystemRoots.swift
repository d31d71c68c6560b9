/// The mount point of sysfs that every sysfs reader resolves its paths against.
///
/// Tests point it at a fixture tree; production uses `/sys` or `--path.sysfs`.
public struct SysfsRoot: Sendable, Hashable {
    /// Absolute or relative path of the sysfs mount.
    public let path: String

    public init(_ path: String = "/sys") {
        self.path = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
    }

    /// The absolute path of `relative` below this root.
    public func resolve(_ relative: String) -> String {
        path + "/" + relative
    }
}

/// The mount point of procfs that every procfs reader resolves its paths against.
public struct ProcfsRoot: Sendable, Hashable {
    /// Absolute or relative path of the procfs mount.
    public let path: String

    public init(_ path: String = "/proc") {
        self.path = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
    }

    /// The absolute path of `relative` below this root.
    public func resolve(_ relative: String) -> String {
        path + "/" + relative
    }
}
