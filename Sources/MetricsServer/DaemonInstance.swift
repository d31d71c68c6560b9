import CMicroHTTPD
import Glibc
import Synchronization

/// One running libmicrohttpd daemon with the context its callbacks use.
final class DaemonInstance: @unchecked Sendable {
    // Unchecked: `daemon` is only stopped once, by finish(), guarded by `finished`.
    let daemon: OpaquePointer
    private let retainedContext: Unmanaged<ServerContext>
    private var strings: CStrings
    private let finished = Mutex(false)
    /// Set once the listening socket was given to a new daemon: it is no longer this instance's to close.
    private let handedOver = Mutex(false)

    /// Stops accepting and gives up the listening socket, which the caller passes to a new daemon.
    func handOverListeningSocket() -> Int32 {
        handedOver.withLock { $0 = true }
        return MHD_quiesce_daemon(daemon)
    }

    var context: ServerContext { retainedContext.takeUnretainedValue() }

    init(daemon: OpaquePointer, context: Unmanaged<ServerContext>, strings: CStrings) {
        self.daemon = daemon
        self.retainedContext = context
        self.strings = strings
    }

    /// Stops accepting, waits until `deadline` (seconds on the monotonic clock) at most for in-flight requests, then
    /// stops the daemon.
    func finish(deadline: Double) {
        let first = finished.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        guard first else { return }
        // After a hand-over the socket belongs to the new daemon (a second quiesce would return it again).
        if !handedOver.withLock({ $0 }) {
            let listening = MHD_quiesce_daemon(daemon)
            if listening >= 0 { close(listening) }
        }
        // Drained when no request is in flight and no open connection holds bytes libmicrohttpd has not read yet (a
        // scrape that arrived on a keep-alive connection just before the signal), twice in a row: between reading
        // a request head and calling the access handler the daemon's thread shows neither, for microseconds.
        var quietChecks = 0
        while MonotonicClock.seconds() < deadline {
            let busy = context.inFlightRequests > 0 || context.connections.haveUnreadInput
            quietChecks = busy ? 0 : quietChecks + 1
            if quietChecks >= 2 { break }
            usleep(10_000)
        }
        // Connections still waiting for a bcrypt check are suspended, and libmicrohttpd must not stop with any.
        context.abandonVerifications()
        MHD_stop_daemon(daemon)
        retainedContext.release()
        strings.free()
    }
}
