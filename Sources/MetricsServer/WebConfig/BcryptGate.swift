import Dispatch
import Synchronization

/// Bounds how many bcrypt checks run at once, across every daemon of a server.
///
/// bcrypt is slow on purpose (about a quarter of a second at cost 12), so a flood of wrong or unknown credentials
/// could otherwise keep every CPU busy and delay each request behind the checks before it. A check that finds every
/// place taken is never queued: the server answers that request 429 at once. Checks run on the gate's own queue, not
/// on the server's request threads, so a request whose credentials are cached never waits for one.
final class BcryptGate: Sendable {
    /// Checks allowed at once.
    let limit: Int
    private let running = Atomic<Int>(0)
    private let queue = DispatchQueue(label: "footprint.http.bcrypt", attributes: .concurrent)

    init(limit: Int = 2) {
        self.limit = max(1, limit)
    }

    /// Checks running now.
    var inUse: Int { running.load(ordering: .relaxed) }

    /// Takes a place if one is free, without waiting; false when all `limit` are taken.
    func tryEnter() -> Bool {
        var current = running.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = running.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Gives a place back.
    func leave() {
        running.subtract(1, ordering: .releasing)
    }

    /// Runs `check` on the gate's queue, off the server's request threads. The caller has entered and `check` must
    /// leave.
    func async(_ check: @escaping @Sendable () -> Void) {
        queue.async(execute: check)
    }
}
