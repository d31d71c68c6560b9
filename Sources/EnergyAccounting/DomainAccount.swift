/// One raw observation of a domain, as the accounting consumes it.
public enum EnergyObservation: Sendable, Hashable {
    /// A cumulative counter in microjoules that wraps at `wrapMicrojoules` (nil: never wraps, a decrease is a reset),
    /// with the highest plausible power of the domain (nil: unknown). `identity` names the physical counter (RAPL's
    /// zone directory): when a domain's reading comes from another counter than before (an MSR zone replaced by its
    /// MMIO duplicate), the two counters' difference is not energy, so the new counter only sets a baseline.
    case counter(microjoules: UInt64, wrapMicrojoules: UInt64?, ceilingWatts: Double?, identity: String? = nil)
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
    /// Which physical counter `lastCounterMicrojoules` was read from; nil when unknown.
    public internal(set) var counterIdentity: String?

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
        case .counter(let current, let wrap, let ceiling, let identity):
            let sameCounter = identity == nil || counterIdentity == nil || identity == counterIdentity
            step =
                sameCounter
                ? CounterDelta.step(
                    previous: lastCounterMicrojoules, current: current, wrap: wrap, elapsedSeconds: elapsed,
                    ceilingWatts: ceiling)
                : .baseline
            added = Double(step.microjoules)
            lastCounterMicrojoules = current
            if identity != nil { counterIdentity = identity }
            if case .advanced = step, elapsed > 0 { watts = added / 1e6 / elapsed }
            if case .wrapped = step, elapsed > 0 { watts = added / 1e6 / elapsed }
        case .averagePower(let power):
            guard power.isFinite, power >= 0 else { return (.reset, 0) }
            if lastObservedSeconds == nil {
                step = .baseline
                added = 0
            } else {
                // Whole microjoules, like a counter's deltas: the attribution splits integers exactly.
                step = .advanced(microjoules: UInt64(saturating: power * max(elapsed, 0) * 1e6))
                added = Double(step.microjoules)
            }
            watts = power
        }
        microjoules += added
        lastObservedSeconds = seconds
        return (step, added)
    }
}

extension UInt64 {
    /// `value` rounded to the nearest integer and clamped to 0…UInt64.max: a total conversion, where `UInt64(_:)`
    /// traps on a value out of range (a reading of 1e19 µW integrated over a few seconds would stop the process).
    public init(saturating value: Double) {
        if !(value > 0) {
            self = 0
        } else if value >= 18_446_744_073_709_551_615.0 {
            self = .max
        } else {
            self = UInt64(value.rounded())
        }
    }

    /// `self + other`, or UInt64.max where the sum would overflow: for counters of events, which must never trap.
    public func saturatingAdd(_ other: UInt64) -> UInt64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }
}
