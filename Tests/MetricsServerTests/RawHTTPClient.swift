import Glibc

/// A minimal blocking HTTP/1.1 client over a POSIX socket, so that tests see exactly what goes over the wire.
enum RawHTTPClient {
    struct Response {
        let statusLine: String
        let headers: [(name: String, value: String)]
        let body: [UInt8]

        var status: Int? { statusLine.split(separator: " ").dropFirst().first.flatMap { Int($0) } }

        func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }

        var bodyText: String { String(decoding: body, as: UTF8.self) }
    }

    enum Failure: Error, CustomStringConvertible {
        case connect(errno: Int32)
        case io(String)
        case malformed(String)

        var description: String {
            switch self {
            case .connect(let code): "connect failed: \(String(cString: strerror(code)))"
            case .io(let what): "i/o failed: \(what)"
            case .malformed(let what): "malformed response: \(what)"
            }
        }
    }

    /// Connects to 127.0.0.1:`port`; returns the socket.
    static func connect(port: UInt16) throws(Failure) -> Int32 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw .connect(errno: errno) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            close(descriptor)
            throw .connect(errno: code)
        }
        return descriptor
    }

    /// Sends `method path` with `Connection: close` and reads the whole response.
    static func request(_ method: String, _ path: String, port: UInt16, extraHeaders: String = "") throws(Failure)
        -> Response
    {
        try exchange(
            "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUser-Agent: footprint-tests\r\n\(extraHeaders)Connection: close\r\n\r\n",
            port: port)
    }

    /// Sends `raw` bytes and reads until the server closes the connection.
    static func exchange(_ raw: String, port: UInt16) throws(Failure) -> Response {
        let descriptor = try connect(port: port)
        defer { close(descriptor) }
        var bytes = Array(raw.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeMutableBytes { send(descriptor, $0.baseAddress! + sent, $0.count - sent, 0) }
            guard count > 0 else { throw .io("send: \(String(cString: strerror(errno)))") }
            sent += count
        }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .io("recv: \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            received.append(contentsOf: chunk[0..<count])
        }
        bytes = received
        return try parse(bytes)
    }

    static func parse(_ bytes: [UInt8]) throws(Failure) -> Response {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard
            let end = (0...max(bytes.count - 4, 0)).first(where: {
                bytes.count >= 4 && Array(bytes[$0..<$0 + 4]) == separator
            })
        else { throw .malformed("no end of headers in \(bytes.count) bytes") }
        let head = String(decoding: bytes[0..<end], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst()
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { throw .malformed("header line \(line)") }
            let value = line[line.index(after: colon)...].drop { $0 == " " }
            headers.append((String(line[..<colon]), String(value)))
        }
        return Response(statusLine: statusLine, headers: headers, body: Array(bytes[(end + 4)...]))
    }
}

extension String {
    fileprivate func components(separatedBy separator: String) -> [String] {
        var parts: [String] = []
        var rest = Substring(self)
        while let range = rest.firstRange(of: separator) {
            parts.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}
