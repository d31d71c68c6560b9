import CMicroHTTPD

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Limits and address of the HTTP server. libmicrohttpd's own defaults (no timeout, no per-IP limit) are unsafe for
/// a daemon on every node, so each limit is set explicitly.
public struct HTTPServerConfiguration: Sendable, Hashable {
    public var address: ListenAddress
    /// Connections open at once, across all clients.
    public var maximumConnections: Int
    /// Connections open at once from one IP address.
    public var maximumConnectionsPerIP: Int
    /// Seconds a connection may stay idle before it is closed.
    public var connectionTimeoutSeconds: Int
    /// Memory per connection; it bounds the request line and headers (larger requests get 431).
    public var connectionMemoryLimitBytes: Int

    public init(
        address: ListenAddress, maximumConnections: Int = 512, maximumConnectionsPerIP: Int = 64,
        connectionTimeoutSeconds: Int = 10, connectionMemoryLimitBytes: Int = 32 * 1024
    ) {
        self.address = address
        self.maximumConnections = maximumConnections
        self.maximumConnectionsPerIP = maximumConnectionsPerIP
        self.connectionTimeoutSeconds = connectionTimeoutSeconds
        self.connectionMemoryLimitBytes = connectionMemoryLimitBytes
    }
}

/// Why the server could not start.
public enum HTTPServerError: Error, Sendable, CustomStringConvertible {
    case unresolvableHost(String)
    case cannotListen(ListenAddress, errno: Int32)

    public var description: String {
        switch self {
        case .unresolvableHost(let host): "cannot resolve listen host \(host.debugDescription)"
        case .cannotListen(let address, let code):
            "cannot listen on \(address): \(String(cString: strerror(code)))"
        }
    }
}

/// An HTTP/1.1 server on libmicrohttpd with an internal polling thread; it hands every request to a handler.
public final class HTTPServer: @unchecked Sendable {
    // Unchecked: `daemon` and `box` are written only by start() and stop(), which the owner calls in order.

    public let configuration: HTTPServerConfiguration
    private let handler: any HTTPHandler
    private var daemon: OpaquePointer?
    private var box: Unmanaged<HandlerBox>?

    public init(configuration: HTTPServerConfiguration, handler: any HTTPHandler) {
        self.configuration = configuration
        self.handler = handler
    }

    deinit { stop() }

    /// The port the server listens on (the real one when configured with port 0); 0 before start.
    public var boundPort: UInt16 {
        guard let daemon else { return 0 }
        return footprint_mhd_bound_port(daemon)
    }

    /// Binds and starts serving on libmicrohttpd's own thread.
    public func start() throws(HTTPServerError) {
        guard daemon == nil else { return }
        let retained = Unmanaged.passRetained(HandlerBox(handler))
        var baseFlags = MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_EPOLL.rawValue
        baseFlags |= MHD_USE_TURBO.rawValue
        var started: OpaquePointer?
        var lastErrno: Int32 = EADDRNOTAVAIL
        if let host = configuration.address.host {
            let addresses = try Self.resolve(host: host, port: configuration.address.port)
            for var storage in addresses {
                let isIPv6 = storage.ss_family == sa_family_t(AF_INET6)
                let flags = baseFlags | (isIPv6 ? MHD_USE_IPv6.rawValue : 0)
                started = withUnsafeMutablePointer(to: &storage) { pointer in
                    startDaemon(flags: flags, socketAddress: UnsafeMutableRawPointer(pointer), context: retained)
                }
                if started != nil { break }
                lastErrno = errno
            }
        } else {
            // Every address: dual-stack IPv6 where the kernel has IPv6, plain IPv4 otherwise.
            started = startDaemon(flags: baseFlags | MHD_USE_DUAL_STACK.rawValue, socketAddress: nil, context: retained)
            if started == nil {
                lastErrno = errno
                started = startDaemon(flags: baseFlags, socketAddress: nil, context: retained)
                if started == nil { lastErrno = errno }
            }
        }
        guard let started else {
            retained.release()
            throw .cannotListen(configuration.address, errno: lastErrno == 0 ? EADDRINUSE : lastErrno)
        }
        daemon = started
        box = retained
    }

    /// Stops listening, closes every connection and joins the server thread.
    public func stop() {
        if let daemon {
            MHD_stop_daemon(daemon)
            self.daemon = nil
        }
        box?.release()
        box = nil
    }

    private func startDaemon(flags: UInt32, socketAddress: UnsafeMutableRawPointer?, context: Unmanaged<HandlerBox>)
        -> OpaquePointer?
    {
        var options: [MHD_OptionItem] = [
            MHD_OptionItem(
                option: .CONNECTION_LIMIT, value: configuration.maximumConnections, ptr_value: nil),
            MHD_OptionItem(
                option: .PER_IP_CONNECTION_LIMIT, value: configuration.maximumConnectionsPerIP,
                ptr_value: nil),
            MHD_OptionItem(
                option: .CONNECTION_TIMEOUT, value: configuration.connectionTimeoutSeconds, ptr_value: nil),
            MHD_OptionItem(
                option: .CONNECTION_MEMORY_LIMIT, value: configuration.connectionMemoryLimitBytes,
                ptr_value: nil),
        ]
        if let socketAddress {
            options.append(MHD_OptionItem(option: .SOCK_ADDR, value: 0, ptr_value: socketAddress))
        }
        options.append(MHD_OptionItem(option: .END, value: 0, ptr_value: nil))
        return options.withUnsafeMutableBufferPointer { buffer in
            footprint_mhd_start(
                flags, configuration.address.port, accessHandler, context.toOpaque(), buffer.baseAddress)
        }
    }

    private static func resolve(host: String, port: UInt16) throws(HTTPServerError) -> [sockaddr_storage] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else {
            throw .unresolvableHost(host)
        }
        defer { freeaddrinfo(first) }
        var addresses: [sockaddr_storage] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let address = entry.pointee.ai_addr,
                entry.pointee.ai_family == AF_INET || entry.pointee.ai_family == AF_INET6
            {
                var storage = sockaddr_storage()
                withUnsafeMutableBytes(of: &storage) { target in
                    target.copyMemory(
                        from: UnsafeRawBufferPointer(start: address, count: Int(entry.pointee.ai_addrlen)))
                }
                addresses.append(storage)
            }
            cursor = entry.pointee.ai_next
        }
        if addresses.isEmpty { throw .unresolvableHost(host) }
        return addresses
    }
}

/// Carries the Swift handler through libmicrohttpd's `void *cls`.
final class HandlerBox: @unchecked Sendable {
    let handler: any HTTPHandler
    init(_ handler: any HTTPHandler) { self.handler = handler }
}

/// The libmicrohttpd access handler. A free, nonisolated function: libmicrohttpd calls it on its own thread, where a
/// main-actor closure would trap.
private func accessHandler(
    cls: UnsafeMutableRawPointer?,
    connection: OpaquePointer?,
    url: UnsafePointer<CChar>?,
    method: UnsafePointer<CChar>?,
    version: UnsafePointer<CChar>?,
    uploadData: UnsafePointer<CChar>?,
    uploadDataSize: UnsafeMutablePointer<Int>?,
    connectionContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> MHD_Result {
    guard let cls, let connection, let url, let method else { return .NO }
    let box = Unmanaged<HandlerBox>.fromOpaque(cls).takeUnretainedValue()
    var path = String(cString: url)
    if let query = path.firstIndex(of: "?") { path = String(path[..<query]) }
    let response = box.handler.respond(to: HTTPRequest(method: String(cString: method), path: path))
    // A request body (never expected here) is acknowledged as consumed; the response is queued on the first call.
    uploadDataSize?.pointee = 0
    return queue(response, on: connection)
}

private func queue(_ response: HTTPResponse, on connection: OpaquePointer) -> MHD_Result {
    let created = response.body.withUnsafeBytes { bytes in
        MHD_create_response_from_buffer(
            bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress), .RESPMEM_MUST_COPY)
    }
    guard let created else { return .NO }
    defer { MHD_destroy_response(created) }
    for header in response.headers {
        _ = MHD_add_response_header(created, header.name, header.value)
    }
    return MHD_queue_response(connection, UInt32(response.status), created)
}
