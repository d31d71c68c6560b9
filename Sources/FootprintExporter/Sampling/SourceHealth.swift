import PowerSources

/// The health of one source as `footprint_source_up`, `footprint_sample_errors_total` and the log show it.
struct SourceHealth: Sendable {
    /// False while the source has nothing to read on this node (no powercap, no NVML library, no GPUs); such a
    /// source exports no health series, so a VM without RAPL raises no alert.
    var present = false
    var up = false
    var errors: UInt64 = 0
    var lastDurationSeconds = 0.0
    /// Error kinds already logged, so that a persistent failure is logged once and not every sample.
    var loggedErrorKinds: Set<String> = []
    var loggedAbsence = false
}
