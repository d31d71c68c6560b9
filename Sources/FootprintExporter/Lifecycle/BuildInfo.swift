import CBuildInfo

/// The identity of this build, exported as `footprint_build_info`.
public enum BuildInfo {
    public static let version = "0.1.0"
    /// The git revision (12 hex digits, "-dirty" for a modified tree) of a `make build-release` build, set at link
    /// time by scripts/release-flags.sh; "unknown" for builds linked without it (debug builds, a tree without git).
    public static let revision: String = {
        var buffer = [CChar](repeating: 0, count: 32)
        footprint_build_revision(&buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()
}
