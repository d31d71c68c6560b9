import Glibc
import Synchronization

/// Tracks each open connection's socket and whether it owes the server a request, so stalled ones can be cut off.
///
/// The clock runs from connection (or from the previous response) until the request has been read completely: its
/// head and anything after it. A client that sends a head and then trickles a body is on the same clock as one that
/// trickles the head (slowloris).
final class ConnectionRegistry: Sendable {
    private struct Record {
        let socket: Int32
        var waitingSince: Double?
    }

    private let records = Mutex<[UInt: Record]>([:])

    func opened(_ connection: OpaquePointer, socket: Int32) {
        records.withLock { $0[Self.key(connection)] = Record(socket: socket, waitingSince: MonotonicClock.seconds()) }
    }

    func closed(_ connection: OpaquePointer) {
        records.withLock { $0[Self.key(connection)] = nil }
    }

    /// The request has been read completely: the connection is busy until its response completes.
    func requestRead(_ connection: OpaquePointer) {
        records.withLock { $0[Self.key(connection)]?.waitingSince = nil }
    }

    /// A response completed: the clock for the next request starts.
    func requestCompleted(_ connection: OpaquePointer) {
        records.withLock { $0[Self.key(connection)]?.waitingSince = MonotonicClock.seconds() }
    }

    /// Shuts down (but does not close: libmicrohttpd owns the descriptor) every connection waiting too long.
    func cutOffStalled(olderThan seconds: Double) {
        let now = MonotonicClock.seconds()
        records.withLock { records in
            for (key, record) in records {
                guard let since = record.waitingSince, now - since > seconds else { continue }
                shutdown(record.socket, Int32(SHUT_RDWR))
                records[key]?.waitingSince = .infinity
            }
        }
    }

    /// Whether a connection waiting for its next request has bytes in its socket that libmicrohttpd has not read: a
    /// request that arrived but is not being answered yet. Connections cut off as stalled do not count.
    var haveUnreadInput: Bool {
        records.withLock { records in
            records.values.contains { record in
                guard let since = record.waitingSince, since.isFinite else { return false }
                var pending: Int32 = 0
                let status = withUnsafeMutablePointer(to: &pending) { ioctl(record.socket, UInt(FIONREAD), $0) }
                return status == 0 && pending > 0
            }
        }
    }

    private static func key(_ connection: OpaquePointer) -> UInt {
        UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(connection)))
    }
}
