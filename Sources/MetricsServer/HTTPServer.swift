import CMicroHTTPD
import Dispatch
import Synchronization

import Glibc

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
    /// Seconds a client has to send a complete request head after connecting or after its previous response; a
    /// client trickling bytes (slowloris) is cut off then even though it never goes idle.
    public var requestHeaderTimeoutSeconds: Int
    /// Requests answered at once; more get 503 at once instead of a growing queue.
    public var maximumConcurrentRequests: Int
    /// Memory per connection; it bounds the request line and headers (larger requests get 431).
    public var connectionMemoryLimitBytes: Int
    /// Threads serving connections.
    public var threads: Int

    public init(
        address: ListenAddress, maximumConnections: Int = 1024, maximumConnectionsPerIP: Int = 64,
        connectionTimeoutSeconds: Int = 10, requestHeaderTimeoutSeconds: Int = 10, maximumConcurrentRequests: Int = 64,
        connectionMemoryLimitBytes: Int = 32 * 1024, threads: Int = 2
    ) {
        self.address = address
        self.maximumConnections = maximumConnections
        self.maximumConnectionsPerIP = maximumConnectionsPerIP
        self.connectionTimeoutSeconds = connectionTimeoutSeconds
        self.requestHeaderTimeoutSeconds = requestHeaderTimeoutSeconds
        self.maximumConcurrentRequests = maximumConcurrentRequests
        self.connectionMemoryLimitBytes = connectionMemoryLimitBytes
        self.threads = threads
    }
}

/// Why the server could not start or take new settings.
public enum HTTPServerError: Error, Sendable, CustomStringConvertible {
    case unresolvableHost(String)
    case cannotListen(ListenAddress, errno: Int32)
    case invalidTLS(String)

    public var description: String {
        switch self {
        case .unresolvableHost(let host): "cannot resolve listen host \(host.debugDescription)"
        case .cannotListen(let address, let code):
            "cannot listen on \(address): \(String(cString: strerror(code)))"
        case .invalidTLS(let reason): "invalid TLS settings: \(reason)"
        }
    }
}

/// An HTTP/1.1 server on libmicrohttpd with its own threads: TLS, basic auth, connection and request limits, and a
/// graceful stop. It hands every authorised request to a handler and knows nothing of what it serves.
public final class HTTPServer: Sendable {
    public let configuration: HTTPServerConfiguration
    private let handler: any HTTPHandler
    private let state = Mutex(ServerState())
    private let reaper = Mutex<ReaperBox?>(nil)

    private struct ServerState: @unchecked Sendable {
        var current: DaemonInstance?
        var draining: [DaemonInstance] = []
        var security = WebSecurity.open
    }

    public init(configuration: HTTPServerConfiguration, handler: any HTTPHandler) {
        self.configuration = configuration
        self.handler = handler
    }

    deinit { stop(gracePeriodSeconds: 0) }

    /// The port the server listens on (the real one when configured with port 0); 0 before start.
    public var boundPort: UInt16 {
        state.withLock { $0.current.map { footprint_mhd_bound_port($0.daemon) } ?? 0 }
    }

    /// Binds and starts serving with `security`.
    public func start(security: WebSecurity = .open) throws(HTTPServerError) {
        try Self.validate(security)
        let instance = try startInstance(security: security, listenSocket: nil)
        state.withLock {
            $0.current = instance
            $0.security = security
        }
        startReaper()
    }

    /// Applies new security settings without dropping the listening socket: basic auth and headers change in place;
    /// new TLS material starts a new daemon on the same socket while the old one finishes its requests. Invalid
    /// settings throw and leave the running ones in force.
    public func apply(security: WebSecurity) throws(HTTPServerError) {
        try Self.validate(security)
        let (current, old) = state.withLock { ($0.current, $0.security) }
        guard let current, security != old else { return }
        if security.tls == old.tls {
            current.context.update(security: security)
            state.withLock { $0.security = security }
            return
        }
        let socket = current.handOverListeningSocket()
        guard socket >= 0 else { throw .invalidTLS("cannot hand over the listening socket") }
        let replacement: DaemonInstance
        do {
            replacement = try startInstance(security: security, listenSocket: socket)
        } catch {
            // Keep serving with what worked before.
            if let fallback = try? startInstance(security: old, listenSocket: socket) {
                state.withLock {
                    $0.current = fallback; $0.draining.append(current)
                }
                drainInBackground(current)
            }
            throw error
        }
        state.withLock {
            $0.current = replacement
            $0.draining.append(current)
            $0.security = security
        }
        drainInBackground(current)
    }

    /// Stops accepting, lets in-flight requests finish for up to `gracePeriodSeconds`, then closes every connection.
    public func stop(gracePeriodSeconds: Double = 1.5) {
        reaper.withLock { box in
            box?.timer.cancel()
            box = nil
        }
        let instances = state.withLock { state -> [DaemonInstance] in
            defer {
                state.current = nil
                state.draining = []
            }
            return (state.current.map { [$0] } ?? []) + state.draining
        }
        // One deadline for all daemons (a draining one after a certificate change, and the current one).
        let deadline = MonotonicClock.seconds() + gracePeriodSeconds
        for instance in instances {
            instance.finish(deadline: deadline)
        }
    }

    // MARK: - Daemons

    private func startInstance(security: WebSecurity, listenSocket: Int32?) throws(HTTPServerError) -> DaemonInstance {
        let context = ServerContext(
            handler: handler, security: security, maximumConcurrentRequests: configuration.maximumConcurrentRequests)
        var flags = MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_EPOLL.rawValue | MHD_USE_ITC.rawValue
        flags |= MHD_USE_TURBO.rawValue
        var strings = CStrings()
        var tlsOptions: [MHD_OptionItem] = []
        if let tls = security.tls {
            flags |= MHD_USE_TLS.rawValue
            tlsOptions.append(MHD_OptionItem(option: .HTTPS_MEM_KEY, value: 0, ptr_value: strings.add(tls.keyPEM)))
            tlsOptions.append(
                MHD_OptionItem(option: .HTTPS_MEM_CERT, value: 0, ptr_value: strings.add(tls.certificatePEM)))
            if let ca = tls.clientCAPEM, tls.clientAuthentication != .noClientCert {
                tlsOptions.append(MHD_OptionItem(option: .HTTPS_MEM_TRUST, value: 0, ptr_value: strings.add(ca)))
            }
            tlsOptions.append(
                MHD_OptionItem(option: .HTTPS_PRIORITIES, value: 0, ptr_value: strings.add(tls.priorities)))
        }
        // Resolve before retaining the context, so a bad host leaks nothing.
        let addresses =
            listenSocket == nil
            ? try configuration.address.host.map { host throws(HTTPServerError) in
                try Self.resolve(host: host, port: configuration.address.port)
            } : nil
        let retained = Unmanaged.passRetained(context)
        var started: OpaquePointer?
        var lastErrno: Int32 = EADDRINUSE
        if let listenSocket {
            started = startDaemon(
                flags: flags, socketAddress: nil, listenSocket: listenSocket, extra: tlsOptions, context: retained)
        } else if let addresses {
            for var storage in addresses {
                let isIPv6 = storage.ss_family == sa_family_t(AF_INET6)
                started = withUnsafeMutablePointer(to: &storage) { pointer in
                    startDaemon(
                        flags: flags | (isIPv6 ? MHD_USE_IPv6.rawValue : 0),
                        socketAddress: UnsafeMutableRawPointer(pointer),
                        listenSocket: nil, extra: tlsOptions, context: retained)
                }
                if started != nil { break }
                lastErrno = errno
            }
        } else {
            // Every address: dual-stack IPv6 where the kernel has IPv6, plain IPv4 otherwise.
            started = startDaemon(
                flags: flags | MHD_USE_DUAL_STACK.rawValue, socketAddress: nil, listenSocket: nil, extra: tlsOptions,
                context: retained)
            if started == nil {
                lastErrno = errno
                started = startDaemon(
                    flags: flags, socketAddress: nil, listenSocket: nil, extra: tlsOptions, context: retained)
            }
        }
        guard let started else {
            retained.release()
            strings.free()
            if security.tls != nil && listenSocket != nil {
                throw .invalidTLS("libmicrohttpd refused the TLS settings")
            }
            throw .cannotListen(configuration.address, errno: lastErrno == 0 ? EADDRINUSE : lastErrno)
        }
        return DaemonInstance(daemon: started, context: retained, strings: strings)
    }

    private func startDaemon(
        flags: UInt32, socketAddress: UnsafeMutableRawPointer?, listenSocket: Int32?, extra: [MHD_OptionItem],
        context: Unmanaged<ServerContext>
    ) -> OpaquePointer? {
        var options: [MHD_OptionItem] = [
            MHD_OptionItem(option: .CONNECTION_LIMIT, value: configuration.maximumConnections, ptr_value: nil),
            MHD_OptionItem(
                option: .PER_IP_CONNECTION_LIMIT, value: configuration.maximumConnectionsPerIP, ptr_value: nil),
            MHD_OptionItem(option: .CONNECTION_TIMEOUT, value: configuration.connectionTimeoutSeconds, ptr_value: nil),
            MHD_OptionItem(
                option: .CONNECTION_MEMORY_LIMIT, value: configuration.connectionMemoryLimitBytes, ptr_value: nil),
            MHD_OptionItem(option: .THREAD_POOL_SIZE, value: max(1, configuration.threads), ptr_value: nil),
            MHD_OptionItem(
                option: .NOTIFY_COMPLETED,
                value: unsafeBitCast(requestCompleted as MHD_RequestCompletedCallback, to: Int.self),
                ptr_value: context.toOpaque()),
            MHD_OptionItem(
                option: .NOTIFY_CONNECTION,
                value: unsafeBitCast(connectionNotified as MHD_NotifyConnectionCallback, to: Int.self),
                ptr_value: context.toOpaque()),
        ]
        if let socketAddress {
            options.append(MHD_OptionItem(option: .SOCK_ADDR, value: 0, ptr_value: socketAddress))
        }
        if let listenSocket {
            options.append(MHD_OptionItem(option: .LISTEN_SOCKET, value: Int(listenSocket), ptr_value: nil))
        }
        options += extra
        options.append(MHD_OptionItem(option: .END, value: 0, ptr_value: nil))
        return options.withUnsafeMutableBufferPointer { buffer in
            footprint_mhd_start(
                flags, configuration.address.port, accessHandler, context.toOpaque(), buffer.baseAddress)
        }
    }

    private func drainInBackground(_ instance: DaemonInstance) {
        DispatchQueue.global().async { [self] in
            instance.finish(
                deadline: MonotonicClock.seconds() + Double(configuration.connectionTimeoutSeconds))
            state.withLock { $0.draining.removeAll { $0 === instance } }
        }
    }

    // MARK: - Slow clients

    /// Every second, cuts off connections that have not sent a complete request head in time.
    private func startReaper() {
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "footprint.http.reaper"))
        timer.schedule(deadline: .now() + 1, repeating: 1, leeway: .milliseconds(100))
        let timeout = Double(configuration.requestHeaderTimeoutSeconds)
        timer.setEventHandler { [weak self] in
            guard let self else { return }
            let instances = state.withLock { ($0.current.map { [$0] } ?? []) + $0.draining }
            for instance in instances { instance.context.connections.cutOffStalled(olderThan: timeout) }
        }
        reaper.withLock { $0 = ReaperBox(timer: timer) }
        timer.resume()
    }

    // MARK: - Validation and addresses

    static func validate(_ security: WebSecurity) throws(HTTPServerError) {
        guard let tls = security.tls else { return }
        if tls.clientAuthentication.verifiesCertificate && tls.clientCAPEM == nil {
            throw .invalidTLS("client_auth_type \(tls.clientAuthentication.rawValue) needs client_ca_file")
        }
        var failing: UnsafePointer<CChar>?
        let ca = tls.clientAuthentication == .noClientCert ? nil : tls.clientCAPEM
        let status: Int32 = ca.withOptionalCString { caPointer in
            footprint_tls_validate(tls.certificatePEM, tls.keyPEM, caPointer, tls.priorities, &failing)
        }
        guard status == 0 else {
            let part = failing.map { String(cString: $0) } ?? "TLS"
            throw .invalidTLS("\(part): \(String(cString: gnutls_strerror(status)))")
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
        MHD_stop_daemon(daemon)
        retainedContext.release()
        strings.free()
    }
}

/// What the callbacks of one daemon share: the handler, the security in force, and the connection bookkeeping.
final class ServerContext: Sendable {
    let handler: any HTTPHandler
    let maximumConcurrentRequests: Int
    let connections = ConnectionRegistry()
    private let inFlight = Atomic<Int>(0)
    private let policy: Mutex<SecurityPolicy>

    struct SecurityPolicy: Sendable {
        var security: WebSecurity
        var authenticator: BasicAuthenticator?
    }

    init(handler: any HTTPHandler, security: WebSecurity, maximumConcurrentRequests: Int) {
        self.handler = handler
        self.maximumConcurrentRequests = maximumConcurrentRequests
        self.policy = Mutex(Self.policy(for: security))
    }

    var inFlightRequests: Int { inFlight.load(ordering: .relaxed) }

    func update(security: WebSecurity) {
        let next = Self.policy(for: security)
        policy.withLock { $0 = next }
    }

    var currentPolicy: SecurityPolicy { policy.withLock { $0 } }

    /// Counts a request in; returns false when too many are being answered already.
    func admit() -> Bool {
        inFlight.add(1, ordering: .relaxed).newValue <= maximumConcurrentRequests
    }

    func release() {
        inFlight.subtract(1, ordering: .relaxed)
    }

    private static func policy(for security: WebSecurity) -> SecurityPolicy {
        SecurityPolicy(
            security: security,
            authenticator: security.basicAuthUsers.isEmpty ? nil : BasicAuthenticator(users: security.basicAuthUsers))
    }
}

/// Tracks each open connection's socket and whether it owes a request head, so stalled ones can be cut off.
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

    /// A request head arrived: the connection is busy until its response completes.
    func requestStarted(_ connection: OpaquePointer) {
        records.withLock { $0[Self.key(connection)]?.waitingSince = nil }
    }

    /// A response completed: the clock for the next request head starts.
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

    var count: Int { records.withLock { $0.count } }

    /// Whether a connection waiting for its next request head has bytes in its socket that libmicrohttpd has not
    /// read: a request that arrived but is not being answered yet. Connections cut off as stalled do not count.
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

/// C strings handed to libmicrohttpd, which may keep pointing at them until the daemon stops.
struct CStrings {
    private var pointers: [UnsafeMutablePointer<CChar>] = []

    mutating func add(_ text: String) -> UnsafeMutableRawPointer {
        let pointer = strdup(text)!
        pointers.append(pointer)
        return UnsafeMutableRawPointer(pointer)
    }

    mutating func free() {
        for pointer in pointers {
            memset(pointer, 0, strlen(pointer))  // key material does not linger in freed memory
            Glibc.free(pointer)
        }
        pointers = []
    }
}

private struct ReaperBox: @unchecked Sendable {
    let timer: any DispatchSourceTimer
}

extension Optional where Wrapped == String {
    fileprivate func withOptionalCString<Result>(_ body: (UnsafePointer<CChar>?) -> Result) -> Result {
        switch self {
        case .some(let text): text.withCString { body($0) }
        case .none: body(nil)
        }
    }
}

// MARK: - libmicrohttpd callbacks

// Free, nonisolated functions: libmicrohttpd calls them on its own threads, where a main-actor closure would trap.

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
    let context = Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue()
    if connectionContext?.pointee == nil {
        // First call for this request: its head is complete. Count it in once; completion counts it out. The
        // response waits for the next call: one queued now, before libmicrohttpd has read the (empty) body, would
        // make it close the connection instead of keeping it alive for the next scrape.
        connectionContext?.pointee = UnsafeMutableRawPointer(bitPattern: context.admit() ? 1 : 2)
        context.connections.requestStarted(connection)
        return .YES
    }
    if let size = uploadDataSize, size.pointee > 0 {
        size.pointee = 0  // a request body is never expected here: read and dropped
        return .YES
    }
    if connectionContext?.pointee == UnsafeMutableRawPointer(bitPattern: 2) {
        return queue(
            .text(503, "too many concurrent requests\n", headers: [("Retry-After", "1")]), on: connection,
            extraHeaders: [:])
    }
    let policy = context.currentPolicy
    if let tls = policy.security.tls, tls.clientAuthentication != .noClientCert {
        let status = footprint_mhd_client_certificate_status(connection)
        let refused =
            (status == 1 && tls.clientAuthentication.requiresCertificate)
            || (status == 2 && tls.clientAuthentication.verifiesCertificate)
        if refused {
            return queue(
                .text(403, "a valid client certificate is required\n"), on: connection,
                extraHeaders: policy.security.headers)
        }
    }
    if let authenticator = policy.authenticator {
        let header = MHD_lookup_connection_value(connection, .HEADER_KIND, "Authorization").map { String(cString: $0) }
        guard authenticator.authorizes(header) else {
            return queue(
                .text(401, "Unauthorized\n", headers: [("WWW-Authenticate", "Basic realm=\"footprint_exporter\"")]),
                on: connection, extraHeaders: policy.security.headers)
        }
    }
    var path = String(cString: url)
    if let query = path.firstIndex(of: "?") { path = String(path[..<query]) }
    let response = context.handler.respond(to: HTTPRequest(method: String(cString: method), path: path))
    return queue(response, on: connection, extraHeaders: policy.security.headers)
}

private func queue(_ response: HTTPResponse, on connection: OpaquePointer, extraHeaders: [String: String]) -> MHD_Result
{
    let created = response.body.withUnsafeBytes { bytes in
        MHD_create_response_from_buffer(
            bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress), .RESPMEM_MUST_COPY)
    }
    guard let created else { return .NO }
    defer { MHD_destroy_response(created) }
    for header in response.headers {
        _ = MHD_add_response_header(created, header.name, header.value)
    }
    for (name, value) in extraHeaders {
        _ = MHD_add_response_header(created, name, value)
    }
    return MHD_queue_response(connection, UInt32(response.status), created)
}

private func requestCompleted(
    cls: UnsafeMutableRawPointer?, connection: OpaquePointer?,
    connectionContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    code: MHD_RequestTerminationCode
) {
    guard let cls, let connection, connectionContext?.pointee != nil else { return }
    let context = Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue()
    connectionContext?.pointee = nil
    context.release()
    context.connections.requestCompleted(connection)
}

private func connectionNotified(
    cls: UnsafeMutableRawPointer?, connection: OpaquePointer?,
    socketContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    code: MHD_ConnectionNotificationCode
) {
    guard let cls, let connection else { return }
    let context = Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue()
    if code == .CONNECTION_NOTIFY_STARTED {
        context.connections.opened(connection, socket: footprint_mhd_connection_fd(connection))
    } else {
        context.connections.closed(connection)
    }
}
