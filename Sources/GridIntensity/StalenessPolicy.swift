/// How old a reading is, and whether it may still stand.
public struct IntensityFreshness: Sendable, Equatable {
    /// Seconds since the reading was obtained (0 when the clock went back).
    public var ageSeconds: Double
    /// The reading is older than the stale limit, or its source's validity ended more than the grace ago.
    public var isStale: Bool

    public init(ageSeconds: Double, isStale: Bool) {
        self.ageSeconds = ageSeconds
        self.isStale = isStale
    }
}

/// When a reading is stale (`--grid.provider.max-age`): a pure function of the reading and the time.
public enum StalenessPolicy {
    /// The reading's age at `now`, and whether it is stale: older than `maxAgeSeconds`, or past its
    /// `validUntilUnixSeconds` by more than `validityGraceSeconds`.
    ///
    /// The grace is for providers whose periods end before the next refresh can replace them: the UK API's value
    /// holds for a half hour, and a 15 m refresh fetches the next one up to 15 m after it ends. The poller should pass
    /// its refresh interval (the intensity file's reader, its own check interval), so that only a value a refresh
    /// should already have replaced is stale.
    public static func assess(
        _ reading: IntensityReading, now: Double, maxAgeSeconds: Double, validityGraceSeconds: Double = 0
    ) -> IntensityFreshness {
        let age = max(0, now - reading.obtainedAtUnixSeconds)
        var stale = age > maxAgeSeconds
        if let validUntil = reading.validUntilUnixSeconds, now > validUntil + max(0, validityGraceSeconds) {
            stale = true
        }
        return IntensityFreshness(ageSeconds: age, isStale: stale)
    }
}
