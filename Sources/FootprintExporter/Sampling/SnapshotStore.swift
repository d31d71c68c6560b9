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
        /// Which forms a request asked for (building ahead does not count).
        let asked = ScrapeMarks()

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
    ///
    /// When a request asked for the snapshot being replaced, one will likely ask for this one (Prometheus at a short
    /// interval, a dashboard, a benchmark): the views it asked for are built here, before the swap, so that no
    /// scrape waits for a render (at 1,000 workloads, 700 kB and tens of milliseconds); until then, scrapes get the
    /// previous sample. Samples nobody scrapes are never rendered.
    func publish(render: @escaping @Sendable () -> [UInt8], summary: LazySummary) {
        let asked = current.withLock { current -> (plain: Bool, gzip: Bool) in
            (
                current?.asked.plain.load(ordering: .relaxed) ?? false,
                current?.asked.gzip.load(ordering: .relaxed) ?? false
            )
        }
        let next = Snapshot(metrics: LazyValue(render), summary: summary)
        if asked.plain || asked.gzip { _ = next.metrics.value }
        if asked.gzip { _ = next.compressedMetrics.value }
        current.withLock { $0 = next }
    }

    /// Whether the latest exposition (and its gzip form) have been built: for tests.
    var latestIsBuilt: (rendered: Bool, compressed: Bool) {
        guard let snapshot = current.withLock({ $0 }) else { return (false, false) }
        return (snapshot.metrics.isBuilt, snapshot.compressedMetrics.isBuilt)
    }

    /// Whether a sample has been published: readiness, without rendering anything.
    public var hasSample: Bool {
        current.withLock { $0 != nil }
    }

    /// The latest exposition (rendered now if no request has asked for it since the sample), or nil before the first
    /// sample completed.
    public func latest() -> [UInt8]? {
        guard let snapshot = current.withLock({ $0 }) else { return nil }
        snapshot.asked.plain.store(true, ordering: .relaxed)
        return snapshot.metrics.value
    }

    /// The latest exposition for one scrape: gzip-compressed when the client accepts it and compression worked.
    func latest(acceptingGzip: Bool) -> (body: [UInt8], gzip: Bool)? {
        guard let snapshot = current.withLock({ $0 }) else { return nil }
        if acceptingGzip {
            snapshot.asked.gzip.store(true, ordering: .relaxed)
            if let compressed = snapshot.compressedMetrics.value { return (compressed, true) }
        }
        snapshot.asked.plain.store(true, ordering: .relaxed)
        return (snapshot.metrics.value, false)
    }

    /// The latest exposition gzip-compressed (once per sample, by the first scrape that accepts gzip), or nil before
    /// the first sample or when compression failed.
    public func latestCompressed() -> [UInt8]? {
        guard let snapshot = current.withLock({ $0 }) else { return nil }
        snapshot.asked.gzip.store(true, ordering: .relaxed)
        return snapshot.compressedMetrics.value
    }

    /// The latest sample's summary and its JSON, or nil before the first sample completed.
    public func summary() -> (summary: Summary, json: [UInt8])? {
        current.withLock { $0?.summary }?.value
    }
}

/// Whether requests asked for a snapshot's plain and gzip exposition.
final class ScrapeMarks: Sendable {
    let plain = Atomic<Bool>(false)
    let gzip = Atomic<Bool>(false)
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

    /// Whether the value has been computed; false while it is being computed.
    var isBuilt: Bool {
        // A failed try means another thread holds the lock, computing it: not built yet.
        built.withLockIfAvailable { $0 != nil } ?? false
    }
}
