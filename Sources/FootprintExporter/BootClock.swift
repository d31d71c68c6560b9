#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Clocks the sampler reads.
enum Clocks {
    /// Seconds since boot, counting suspend (CLOCK_BOOTTIME): monotonic, and comparable across exporter restarts within
    /// one boot, which lets a restarted exporter credit the energy drawn while it was down.
    static func bootSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_BOOTTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// Wall-clock seconds since the Unix epoch.
    static func unixSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
