/// What one new reading of a cumulative energy counter means, given the previous good reading.
public enum CounterStep: Sendable, Hashable {
    /// The first reading: it only sets the baseline.
    case baseline
    /// The counter moved forward by this many microjoules.
    case advanced(microjoules: UInt64)
    /// The counter wrapped at its range; this many microjoules were drawn.
    case wrapped(microjoules: UInt64)
    /// The counter went back (or jumped implausibly): a reset. Nothing is added; the reading is the new baseline.
    case reset

    /// The energy this step adds, in microjoules.
    public var microjoules: UInt64 {
        switch self {
        case .advanced(let value), .wrapped(let value): value
        case .baseline, .reset: 0
        }
    }
}

/// The wrap- and reset-safe delta rule for cumulative energy counters (RAPL `energy_uj`, NVML total energy).
public enum CounterDelta {
    /// Interprets `current` given the `previous` good reading.
    ///
    /// - A forward move is a delta. A decrease with a known `wrap` is a wrap (`wrap − previous + current`), else a
    ///   reset.
    /// - A delta that implies more than `ceilingWatts` over `elapsedSeconds` is a reset: adding it would invent
    ///   energy. Without a ceiling, a wrap that covers more than half the range is a reset, because a counter that
    ///   moved that far in one interval cannot be told apart from one that restarted.
    /// - With both a range and a ceiling, a delta taken over longer than the counter needs to cover its whole range
    ///   at the ceiling (`wrap / ceiling`, about 11 minutes for an Intel package) is a reset too: more than one wrap
    ///   may hide in it (a long outage, a restart), and guessing would invent or lose a whole range.
    public static func step(
        previous: UInt64?, current: UInt64, wrap: UInt64?, elapsedSeconds: Double, ceilingWatts: Double?
    ) -> CounterStep {
        guard let previous else { return .baseline }
        if let wrap, let ceilingWatts, ceilingWatts > 0, elapsedSeconds > Double(wrap) / 1e6 / ceilingWatts {
            return .reset
        }
        let candidate: CounterStep
        if current >= previous {
            candidate = .advanced(microjoules: current - previous)
        } else if let wrap, wrap >= previous {
            candidate = .wrapped(microjoules: (wrap - previous) + current)
        } else {
            return .reset
        }
        let microjoules = candidate.microjoules
        if let ceilingWatts, elapsedSeconds > 0, Double(microjoules) / 1e6 / elapsedSeconds > ceilingWatts {
            return .reset
        }
        if ceilingWatts == nil, case .wrapped = candidate, let wrap, microjoules > wrap / 2 {
            return .reset
        }
        return candidate
    }
}
