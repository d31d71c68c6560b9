/// The identity of this build, exported as `footprint_build_info`.
public enum BuildInfo {
    public static let version = "0.1.0"
    /// The git revision, set by `make` through the FOOTPRINT_REVISION environment variable of the build.
    public static let revision = "unknown"
}
