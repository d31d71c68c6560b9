import Dispatch
import PowerSources
import Synchronization

/// Runs reads on a serial queue of their own, so a read that hangs (an NVML call to a GPU in D-state, a blocking
/// sysfs driver, a cgroup file of a dying cgroup) holds up only its own reader.
final class BackgroundReader<Value: Sendable>: Sendable {
    private let read: @Sendable () -> Value
    private let clock: any SamplerClock
    private let queue: DispatchQueue
    private let busy = Mutex(false)

    init(label: String, clock: any SamplerClock, read: @escaping @Sendable () -> Value) {
        self.read = read
        self.clock = clock
        self.queue = DispatchQueue(label: "footprint.reader.\(label)")
    }

    /// Starts a read, or returns nil while the previous read is still running (it hung past its deadline).
    func start() -> PendingRead<Value>? {
        let claimed = busy.withLock { isBusy in
            if isBusy { return false }
            isBusy = true
            return true
        }
        guard claimed else { return nil }
        let pending = PendingRead<Value>()
        queue.async { [self] in
            let began = clock.bootSeconds()
            let value = read()
            let ended = clock.bootSeconds()
            // Free the reader before waking the sampler: a sample that follows at once must find it idle, not "still
            // busy" (which would be booked as a timeout).
            busy.withLock { $0 = false }
            pending.complete(CompletedRead(value: value, finishedAtBootSeconds: ended, durationSeconds: ended - began))
        }
        return pending
    }
}

/// The reader of one power source.
final class SourceWorker: Sendable {
    let source: any PowerSource
    private let reader: BackgroundReader<SourceSample>

    init(source: any PowerSource, clock: any SamplerClock) {
        self.source = source
        self.reader = BackgroundReader(label: source.name, clock: clock) { [source] in source.sample() }
    }

    /// Starts a read, or returns nil while the previous read is still running.
    func start() -> PendingRead<SourceSample>? { reader.start() }
}

/// A finished read.
struct CompletedRead<Value: Sendable>: Sendable {
    let value: Value
    /// When the read finished, in seconds since boot; the time its readings are taken at.
    let finishedAtBootSeconds: Double
    let durationSeconds: Double

    var sample: Value { value }
}

/// A read in flight; the sampler waits for it until its deadline and then gives up on it.
final class PendingRead<Value: Sendable>: Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let result = Mutex<CompletedRead<Value>?>(nil)

    func complete(_ read: CompletedRead<Value>) {
        result.withLock { $0 = read }
        done.signal()
    }

    /// The read, or nil when it did not finish by `deadline`.
    func wait(until deadline: DispatchTime) -> CompletedRead<Value>? {
        guard done.wait(timeout: deadline) == .success else { return nil }
        return result.withLock { $0 }
    }
}
