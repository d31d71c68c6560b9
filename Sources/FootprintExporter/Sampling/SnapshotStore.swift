import Synchronization

/// Holds what the latest sample is served from: its `/metrics` body and its summary. The sampler swaps in a new
/// snapshot each sample; every request takes the current one without waiting on hardware.
///
/// The body is rendered (and compressed) by the first request that wants it, not by the sampler: most samples are
/// never scraped (a sample every second, a scrape every 15 s), and at 1,000 workloads rendering is about half of a
/// sample's cost (bench/ATTRIBUTION.md).
public final class SnapshotStore: Sendable {
    /// One sample's views: the exposition, its gzip form, and the summary, each built from the same sample on first
    /// request.
    struct Snapshot: Sendable {
        let metrics: LazyValue<[UInt8]>
        let compressedMetrics: LazyValue<[UInt8]?>
        let summary: LazySummary?

        init(metrics: LazyValue<[UInt8]>, summary: LazySummary?) {
            self.metrics = metrics
            self.compressedMetrics = LazyValue { Gzip.compress(metrics.value) }
            self.summary = summary
        }
    }

    private let current = Mutex<Snapshot?>(nil)

    public init() {}

    /// Replaces the served exposition (and clears the summary).
    public func publish(_ body: [UInt8]) {
        current.withLock { $0 = Snapshot(metrics: LazyValue { body }, summary: nil) }
    }

    /// Replaces everything served, from one sample; `render` runs when the exposition is first asked for.
    func publish(render: @escaping @Sendable () -> [UInt8], summary: LazySummary) {
        current.withLock { $0 = Snapshot(metrics: LazyValue(render), summary: summary) }
    }

    /// Whether a sample has been published: readiness, without rendering anything.
    public var hasSample: Bool {
        current.withLock { $0 != nil }
    }

    /// The latest exposition (rendered now if no request has asked for it since the sample), or nil before the first
    /// sample completed.
    public func latest() -> [UInt8]? {
        current.withLock { $0 }?.metrics.value
    }

    /// The latest exposition for one scrape: gzip-compressed when the client accepts it and compression worked.
    func latest(acceptingGzip: Bool) -> (body: [UInt8], gzip: Bool)? {
        guard let snapshot = current.withLock({ $0 }) else { return nil }
        if acceptingGzip, let compressed = snapshot.compressedMetrics.value { return (compressed, true) }
        return (snapshot.metrics.value, false)
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
