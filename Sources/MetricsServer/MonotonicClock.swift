import Glibc

/// The server's clock for deadlines and ages (drain, stalled request heads, the credential cache): CLOCK_MONOTONIC,
/// which wall-clock steps do not move.
enum MonotonicClock {
    /// Seconds since an arbitrary fixed point.
    static func seconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
