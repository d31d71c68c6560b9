import Foundation
import Glibc

/// A TCP server on 127.0.0.1 that answers each connection with a scripted reply and keeps the request heads it read,
/// so tests see exactly what the client sent.
final class ScriptedServer: @unchecked Sendable {
    enum Reply {
        /// Raw bytes, sent after the request head, then the connection is closed.
        case bytes([UInt8])
        /// Reads the head and never answers (until the server is stopped).
        case silence
    }

    let port: UInt16
    private let listener: Int32
    private let reply: Reply
    private let lock = NSLock()
    private var heads: [String] = []
    private var open: [Int32] = []
    private var stopped = false
    private let finished = DispatchSemaphore(value: 0)

    init(_ reply: Reply) throws {
        self.reply = reply
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(listener, generic, length) == 0 && listen(listener, 16) == 0
                    && getsockname(listener, generic, &length) == 0
            }
        }
        guard bound else {
            close(listener)
            throw POSIXError(.EADDRINUSE)
        }
        self.listener = listener
        port = UInt16(bigEndian: address.sin_port)
        Thread.detachNewThread { [self] in serve() }
    }

    /// The request heads received so far.
    var requests: [String] {
        lock.withLock { heads }
    }

    func stop() {
        lock.withLock {
            stopped = true
            for descriptor in open { shutdown(descriptor, Int32(SHUT_RDWR)) }
        }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        finished.wait()
    }

    private func serve() {
        defer { finished.signal() }
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 { return }
            let admitted = lock.withLock { () -> Bool in
                if stopped { return false }
                open.append(connection)
                return true
            }
            guard admitted else {
                close(connection)
                return
            }
            let head = readHead(connection)
            lock.withLock { heads.append(head) }
            switch reply {
            case .bytes(let bytes):
                _ = bytes.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                shutdown(connection, Int32(SHUT_WR))
            case .silence:
                var byte: UInt8 = 0
                _ = recv(connection, &byte, 1, 0)  // returns when the client gives up or the server stops
            }
        }
    }

    private func readHead(_ connection: Int32) -> String {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !received.ends(with: Array("\r\n\r\n".utf8)) {
            let count = recv(connection, &buffer, buffer.count, 0)
            if count <= 0 { break }
            received += buffer[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }

    static func response(status: String = "200 OK", headers: [String] = [], body: [UInt8]) -> Reply {
        let head =
            (["HTTP/1.1 \(status)", "Content-Length: \(body.count)", "Connection: close"] + headers)
            .joined(separator: "\r\n") + "\r\n\r\n"
        return .bytes(Array(head.utf8) + body)
    }
}

extension Array where Element == UInt8 {
    fileprivate func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix
    }
}
