/// One raw observation of a domain, as the accounting consumes it.
public enum EnergyObservation: Sendable, Hashable {
    /// A cumulative counter in microjoules that wraps at `wrapMicrojoules` (nil: never wraps, a decrease is a reset),
    /// with the highest plausible power of the domain (nil: unknown).
    case counter(microjoules: UInt64, wrapMicrojoules: UInt64?, ceilingWatts: Double?)
    /// The average power since the previous observation of the domain.
    case averagePower(watts: Double)
}

/// The running energy total of one measured domain, with the baseline its next delta is taken from.
public struct DomainAccount: Sendable, Hashable {
    /// Energy drawn since the exporter started, in microjoules (exact for integer deltas up to 2⁵³ µJ).
    public internal(set) var microjoules: Double = 0
    /// Power over the last interval with a delta; nil until there is one.
    public internal(set) var watts: Double?
    /// The last good counter reading: the baseline of the next delta. A failed read leaves it alone.
    public internal(set) var lastCounterMicrojoules: UInt64?
    /// When the last good observation was made, in seconds on the sampler's monotonic clock.
    public internal(set) var lastObservedSeconds: Double?

    public init() {}

    /// Energy drawn since the exporter started, in joules.
    public var joules: Double { microjoules / 1e6 }

    /// Applies one good observation made at `seconds`; returns the step taken and the microjoules added.
    public mutating func observe(_ observation: EnergyObservation, at seconds: Double) -> (
        step: CounterStep, addedMicrojoules: Double
    ) {
        let elapsed = lastObservedSeconds.map { seconds - $0 } ?? 0
        let step: CounterStep
        let added: Double
        switch observation {
        case .counter(let current, let wrap, let ceiling):
            step = CounterDelta.step(
                previous: lastCounterMicrojoules, current: current, wrap: wrap, elapsedSeconds: elapsed,
                ceilingWatts: ceiling)
            added = Double(step.microjoules)
            lastCounterMicrojoules = current
            if case .advanced = step, elapsed > 0 { watts = added / 1e6 / elapsed }
            if case .wrapped = step, elapsed > 0 { watts = added / 1e6 / elapsed }
        case .averagePower(let power):
            guard power.isFinite, power >= 0 else { return (.reset, 0) }
            if lastObservedSeconds == nil {
                step = .baseline
                added = 0
            } else {
                added = power * max(elapsed, 0) * 1e6
                step = .advanced(microjoules: UInt64(added.rounded()))
            }
            watts = power
        }
        microjoules += added
        lastObservedSeconds = seconds
        return (step, added)
    }
}
