import Glibc

/// Why a source, or one of its domains, could not be read.
public enum SourceError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file exists but this process may not read it (RAPL `energy_uj` since CVE-2020-8694).
    case permissionDenied(path: String)
    /// The file or directory does not exist (a vanished zone, a missing sysfs class).
    case notFound(path: String)
    /// The file held something that is not a value of the expected kind.
    case garbled(path: String, value: String)
    /// `open(2)` or `read(2)` failed with this errno.
    case io(path: String, errno: Int32)
    /// The read did not finish within the sampler's deadline.
    case timedOut
    /// A driver library that is installed failed as a whole (NVML that loads but whose `nvmlInit` fails, as after a
    /// driver upgrade without a reboot). Unlike absence, this is a failure: the source shows as down and is retried.
    case driver(String)
    /// A device-level failure reported by a driver library (for example NVML's GPU_IS_LOST).
    case device(String)

    public var description: String {
        switch self {
        case .permissionDenied(let path): "permission denied reading \(path)"
        case .notFound(let path): "\(path) does not exist"
        case .garbled(let path, let value): "unparsable value \(value.debugDescription) in \(path)"
        case .io(let path, let errno): "read of \(path) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        case .timedOut: "read did not finish before the sampling deadline"
        case .driver(let reason): reason
        case .device(let reason): reason
        }
    }

    /// A short, stable token naming the kind of error, for logs and comparisons.
    public var kind: String {
        switch self {
        case .permissionDenied: "permission_denied"
        case .notFound: "not_found"
        case .garbled: "garbled"
        case .io: "io"
        case .timedOut: "timeout"
        case .driver: "driver"
        case .device: "device"
        }
    }
}
