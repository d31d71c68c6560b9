import Dispatch
import PowerSources
import Synchronization

/// Runs one source's reads on the source's own serial queue, so a read that hangs (an NVML call to a GPU in D-state,
/// a blocking sysfs driver) holds up only that source.
final class SourceWorker: Sendable {
    let source: any PowerSource
    private let clock: any SamplerClock
    private let queue: DispatchQueue
    private let busy = Mutex(false)

    init(source: any PowerSource, clock: any SamplerClock) {
        self.source = source
        self.clock = clock
        self.queue = DispatchQueue(label: "footprint.source.\(source.name)")
    }

    /// Starts a read, or returns nil while the previous read is still running (it hung past its deadline).
    func start() -> PendingRead? {
        let claimed = busy.withLock { isBusy in
            if isBusy { return false }
            isBusy = true
            return true
        }
        guard claimed else { return nil }
        let pending = PendingRead()
        queue.async { [self] in
            let began = clock.bootSeconds()
            let sample = source.sample()
            let ended = clock.bootSeconds()
            // Free the worker before waking the sampler: a sample that follows at once must find it idle, not "still
            // busy" (which would be booked as a timeout).
            busy.withLock { $0 = false }
            pending.complete(
                CompletedRead(sample: sample, finishedAtBootSeconds: ended, durationSeconds: ended - began))
        }
        return pending
    }
}

/// A finished read of one source.
struct CompletedRead: Sendable {
    let sample: SourceSample
    /// When the read finished, in seconds since boot; the time its readings are taken at.
    let finishedAtBootSeconds: Double
    let durationSeconds: Double
}

/// A read in flight; the sampler waits for it until its deadline and then gives up on it.
final class PendingRead: Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let result = Mutex<CompletedRead?>(nil)

    func complete(_ read: CompletedRead) {
        result.withLock { $0 = read }
        done.signal()
    }

    /// The read, or nil when it did not finish by `deadline`.
    func wait(until deadline: DispatchTime) -> CompletedRead? {
        guard done.wait(timeout: deadline) == .success else { return nil }
        return result.withLock { $0 }
    }
}
