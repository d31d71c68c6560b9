/// When to ask a provider next: every `refreshSeconds` while it answers, sooner but backing off exponentially with
/// jitter while it fails, and never before a `Retry-After`. A pure state machine: the caller passes the time and
/// sleeps until the time returned.
///
/// After the n-th consecutive failure the delay before jitter is
/// `min(firstRetry × 2^(n-1), backoffCapMultiple × refreshSeconds)`, with `firstRetry = min(30 s, refreshSeconds)`.
/// With the default 15 m refresh that is 30 s, 1 m, 2 m, 4 m, 8 m, 16 m, 32 m, then 60 m. The jitter then takes a
/// uniform fraction between one half and all of it (`delay × (0.5 + 0.5 × random())`), so that exporters that
/// failed together do not retry together, and a retry never comes later than the unjittered delay. A `Retry-After`
/// (up to `maximumRetryAfterSeconds`) is a floor under the result.
public struct RefreshSchedule: Sendable {
    /// The delay before the first retry, unless the refresh interval is shorter.
    public static let firstRetrySeconds = 30.0
    /// The backoff delay stops doubling at this many refresh intervals.
    public static let backoffCapMultiple = 4.0
    /// A longer `Retry-After` is taken as this: a provider's mistake must not stop the fetches for days (the
    /// stale limit covers the wait meanwhile).
    public static let maximumRetryAfterSeconds = 86_400.0

    public let refreshSeconds: Double
    /// Failures since the last success.
    public private(set) var consecutiveFailures = 0
    private let random: @Sendable () -> Double

    /// `random` returns a uniform value in `0..<1`; tests pass a fixed one.
    public init(refreshSeconds: Double, random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.refreshSeconds = refreshSeconds
        self.random = random
    }

    /// Records a success at `now` and returns the time of the next fetch: `now + refreshSeconds`.
    public mutating func succeeded(at now: Double) -> Double {
        consecutiveFailures = 0
        return now + refreshSeconds
    }

    /// Records a failure at `now` and returns the time of the next fetch, at least `retryAfterSeconds` later.
    public mutating func failed(at now: Double, retryAfterSeconds: Double?) -> Double {
        consecutiveFailures += 1
        let fraction = min(max(random(), 0), 1)
        var delay =
            Self.backoffSeconds(failures: consecutiveFailures, refreshSeconds: refreshSeconds)
            * (0.5 + 0.5 * fraction)
        if let retryAfterSeconds, retryAfterSeconds.isFinite, retryAfterSeconds > 0 {
            delay = max(delay, min(retryAfterSeconds, Self.maximumRetryAfterSeconds))
        }
        return now + delay
    }

    /// The delay before jitter after `failures` consecutive failures (at least 1).
    public static func backoffSeconds(failures: Int, refreshSeconds: Double) -> Double {
        let first = min(firstRetrySeconds, refreshSeconds)
        let cap = max(backoffCapMultiple * refreshSeconds, first)
        let doublings = min(max(failures - 1, 0), 62)
        return min(first * Double(1 << doublings), cap)
    }
}
