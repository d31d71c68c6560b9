import Synchronization

/// Holds the latest rendered `/metrics` body and what the summary of the same sample is made from. The sampler swaps
/// in new ones each sample; every request takes the current ones without waiting on hardware.
public final class SnapshotStore: Sendable {
    /// One sample's views: the exposition, and the summary, built from the same sample on first request.
    public struct Snapshot: Sendable {
        public let metrics: [UInt8]
        let compressedMetrics: LazyValue<[UInt8]?>
        let summary: LazySummary?

        init(metrics: [UInt8], summary: LazySummary?) {
            self.metrics = metrics
            self.compressedMetrics = LazyValue { Gzip.compress(metrics) }
            self.summary = summary
        }
    }

    private let current = Mutex<Snapshot?>(nil)

    public init() {}

    /// Replaces the served exposition (and clears the summary).
    public func publish(_ body: [UInt8]) {
        current.withLock { $0 = Snapshot(metrics: body, summary: nil) }
    }

    /// Replaces everything served, from one sample.
    func publish(metrics: [UInt8], summary: LazySummary) {
        current.withLock { $0 = Snapshot(metrics: metrics, summary: summary) }
    }

    /// The latest exposition, or nil before the first sample completed.
    public func latest() -> [UInt8]? {
        current.withLock { $0?.metrics }
    }

    /// The latest exposition gzip-compressed (once per sample, by the first scrape that accepts gzip), or nil before
    /// the first sample or when compression failed.
    public func latestCompressed() -> [UInt8]? {
        current.withLock { $0 }?.compressedMetrics.value
    }

    /// The latest sample's summary and its JSON, or nil before the first sample completed.
    public func summary() -> (summary: Summary, json: [UInt8])? {
        current.withLock { $0?.summary }?.value
    }
}

/// A sample's summary, built when first asked for: most samples are never looked at, and encoding JSON every sample
/// would cost more than the sample itself.
final class LazySummary: Sendable {
    private let make: @Sendable () -> Summary
    private let built = Mutex<(summary: Summary, json: [UInt8])?>(nil)

    init(_ make: @escaping @Sendable () -> Summary) {
        self.make = make
    }

    var value: (summary: Summary, json: [UInt8]) {
        built.withLock { built in
            if let built { return built }
            let summary = make()
            let value = (summary, Summary.json(summary))
            built = value
            return value
        }
    }
}

/// A value computed once, when first asked for, by whichever thread asks first.
final class LazyValue<Value: Sendable>: Sendable {
    private let make: @Sendable () -> Value
    private let built = Mutex<Value?>(nil)

    init(_ make: @escaping @Sendable () -> Value) {
        self.make = make
    }

    var value: Value {
        built.withLock { built in
            if let built { return built }
            let value = make()
            built = value
            return value
        }
    }
}
