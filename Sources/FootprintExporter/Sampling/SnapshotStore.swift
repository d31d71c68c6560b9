import Synchronization

/// Holds the latest rendered `/metrics` body. The sampler swaps in a new one each sample; every scrape takes the
/// current one without waiting on hardware.
public final class SnapshotStore: Sendable {
    private let latestBody = Mutex<[UInt8]?>(nil)

    public init() {}

    /// Replaces the served body.
    public func publish(_ body: [UInt8]) {
        latestBody.withLock { $0 = body }
    }

    /// The latest body, or nil before the first sample completed.
    public func latest() -> [UInt8]? {
        latestBody.withLock { $0 }
    }
}
