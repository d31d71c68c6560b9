import Glibc
import XCTest

@testable import MetricsServer

/// The clock that cuts off slow clients: it runs from connection (or the previous response) until the whole request
/// has been read, not only its head.
final class ConnectionRegistryTests: XCTestCase {
    private var sockets: [Int32] = []

    override func tearDown() {
        for socket in sockets { close(socket) }
        sockets = []
    }

    /// A connected pair: the registry may shut down the first; the second shows whether it did.
    private func socketPair() -> (server: Int32, client: Int32) {
        var pair: [Int32] = [-1, -1]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair), 0)
        sockets += pair
        return (pair[0], pair[1])
    }

    /// Whether the peer of `client` was shut down: a read returns end of file instead of "nothing yet".
    private func wasCutOff(_ client: Int32) -> Bool {
        var byte: UInt8 = 0
        return recv(client, &byte, 1, Int32(MSG_DONTWAIT)) == 0
    }

    private static func connection(_ value: Int) -> OpaquePointer {
        OpaquePointer(bitPattern: value)!
    }

    func testAConnectionThatSentNothingIsCutOff() {
        let registry = ConnectionRegistry()
        let (server, client) = socketPair()
        registry.opened(Self.connection(0x1000), socket: server)
        XCTAssertFalse(wasCutOff(client))
        registry.cutOffStalled(olderThan: -1)
        XCTAssertTrue(wasCutOff(client))
    }

    /// A complete head is not a complete request: a client that announced a body and trickles it (or anything else
    /// read after the head) stays on the clock until `requestRead`; then the response is not on it; after the
    /// response the next request is.
    func testTheClockRunsUntilTheWholeRequestIsRead() {
        let registry = ConnectionRegistry()
        let connection = Self.connection(0x2000)
        let (server, client) = socketPair()
        registry.opened(connection, socket: server)
        registry.requestRead(connection)
        registry.cutOffStalled(olderThan: -1)
        XCTAssertFalse(wasCutOff(client), "a request being answered is not stalled")
        registry.requestCompleted(connection)
        registry.cutOffStalled(olderThan: -1)
        XCTAssertTrue(wasCutOff(client), "after the response the clock for the next request runs")
    }
}
