import GridIntensity
import Synchronization

/// The one place that knows the grid intensity in force: the plan the configuration names, the live source's last
/// good value, and its failures by reason. The intensity-file watcher and the provider poller write it; every
/// sample reads it. Thread-safe.
public final class GridIntensityControl: Sendable {
    private let state: Mutex<State>

    struct State: Sendable {
        var plan: IntensityPlan
        var lastGood: IntensityReading?
        /// Failures of the live source by reason, by source (`footprint_grid_provider_errors_total`).
        var errors: [String: [String: UInt64]] = [:]
        /// Bumped by every plan change, so the live source's reader starts over.
        var generation = 0
    }

    public init(plan: IntensityPlan) {
        state = Mutex(State(plan: plan))
    }

    /// The plan in force.
    public var plan: IntensityPlan { state.withLock { $0.plan } }

    /// The plan and its generation.
    var planAndGeneration: (plan: IntensityPlan, generation: Int) {
        state.withLock { ($0.plan, $0.generation) }
    }

    /// Replaces the plan (a reload). A new live source forgets the old one's value; the same one keeps it.
    public func replacePlan(_ plan: IntensityPlan) {
        state.withLock { state in
            guard state.plan != plan else { return }
            if state.plan.live != plan.live { state.lastGood = nil }
            state.plan = plan
            state.generation += 1
        }
    }

    /// Records a good value of the live source of plan `generation`; ignored (false) when the plan changed
    /// meanwhile, and the reader should read again for the new plan.
    @discardableResult
    public func record(_ reading: IntensityReading, generation: Int? = nil) -> Bool {
        state.withLock { state in
            guard generation.map({ $0 == state.generation }) ?? true else { return false }
            state.lastGood = reading
            return true
        }
    }

    /// Counts a failure of the live source `source` (its `errorLabel`) for `reason`.
    public func recordFailure(source: String, reason: String) {
        state.withLock { $0.errors[source, default: [:]][reason, default: 0] &+= 1 }
    }

    /// The live source's last good value.
    public var lastGood: IntensityReading? { state.withLock { $0.lastGood } }

    /// The intensity in force at `nowUnixSeconds`.
    public func inForce(nowUnixSeconds: Double) -> IntensityInForce {
        state.withLock { $0.plan.inForce(lastGood: $0.lastGood, nowUnixSeconds: nowUnixSeconds) }
    }

    /// Failures by source and reason, with every reason of the live source in force present (at 0 until it fails),
    /// so an alert on `increase()` sees the first failure.
    public func errorCounts() -> [(source: String, reason: String, count: UInt64)] {
        state.withLock { state in
            var counts = state.errors
            if let live = state.plan.live {
                for reason in live.errorReasons { counts[live.errorLabel, default: [:]][reason, default: 0] += 0 }
            }
            return counts.sorted { $0.key < $1.key }.flatMap { source, reasons in
                reasons.sorted { $0.key < $1.key }.map { (source, $0.key, $0.value) }
            }
        }
    }
}
