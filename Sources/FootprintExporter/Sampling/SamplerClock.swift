import Glibc

/// The clocks the sampler and the state file read. The exporter uses `SystemClock`; tests inject a clock they move by
/// hand, so nothing that depends on time waits on it.
public protocol SamplerClock: Sendable {
    /// Seconds since boot, counting suspend: monotonic, and comparable across exporter restarts within one boot, which
    /// lets a restarted exporter credit the energy drawn while it was down.
    func bootSeconds() -> Double
    /// Wall-clock seconds since the Unix epoch.
    func unixSeconds() -> Double
}

/// The kernel's clocks: CLOCK_BOOTTIME and CLOCK_REALTIME.
public struct SystemClock: SamplerClock {
    public init() {}

    public func bootSeconds() -> Double { Self.read(CLOCK_BOOTTIME) }
    public func unixSeconds() -> Double { Self.read(CLOCK_REALTIME) }

    private static func read(_ clock: clockid_t) -> Double {
        var now = timespec()
        clock_gettime(clock, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
