import CMicroHTTPD
import Dispatch
import Glibc
import Synchronization

/// An HTTP/1.1 server on libmicrohttpd with its own threads: TLS, basic auth, connection and request limits, and a
/// graceful stop. It hands every authorised request to a handler and knows nothing of what it serves.
public final class HTTPServer: Sendable {
    public let configuration: HTTPServerConfiguration
    private let handler: any HTTPHandler
    private let state = Mutex(ServerState())
    private let reaper = Mutex<ReaperBox?>(nil)
    /// One bound on bcrypt work for every daemon, the draining ones after a certificate change included.
    private let gate: BcryptGate

    private struct ServerState: @unchecked Sendable {
        var current: DaemonInstance?
        var draining: [DaemonInstance] = []
        var security = WebSecurity.open
    }

    public init(configuration: HTTPServerConfiguration, handler: any HTTPHandler) {
        self.configuration = configuration
        self.handler = handler
        self.gate = BcryptGate(limit: configuration.concurrentPasswordChecks)
    }

    deinit { stop(gracePeriodSeconds: 0) }

    /// bcrypt checks running now, across every daemon.
    var passwordChecksRunning: Int { gate.inUse }

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
        let context = ServerContext(handler: handler, security: security, limits: configuration, gate: gate)
        var flags = MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_EPOLL.rawValue | MHD_USE_ITC.rawValue
        // Suspend and resume: a connection waits for its bcrypt check without holding one of the daemon's threads.
        flags |= MHD_USE_TURBO.rawValue | MHD_ALLOW_SUSPEND_RESUME.rawValue
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
            MHD_OptionItem(
                option: .URI_LOG_CALLBACK,
                value: unsafeBitCast(requestLineParsed as RequestLineCallback, to: Int.self),
                ptr_value: context.toOpaque()),
            MHD_OptionItem(
                option: .UNESCAPE_CALLBACK, value: unsafeBitCast(keepEscapes as UnescapeCallback, to: Int.self),
                ptr_value: nil),
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

    /// Every second, cuts off connections that have not sent a complete request (head and anything after it) in
    /// time.
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
        if let problem = tls.problem { throw .invalidTLS(problem) }
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

/// libmicrohttpd's `MHD_OPTION_URI_LOG_CALLBACK`: called with the request-target as sent; returns the request's
/// per-request pointer.
private typealias RequestLineCallback =
    @convention(c) (
        UnsafeMutableRawPointer?, UnsafePointer<CChar>?, OpaquePointer?
    ) -> UnsafeMutableRawPointer?

/// libmicrohttpd's `MHD_OPTION_UNESCAPE_CALLBACK`: decodes a string in place and returns its new length.
private typealias UnescapeCallback =
    @convention(c) (
        UnsafeMutableRawPointer?, OpaquePointer?, UnsafeMutablePointer<CChar>?
    ) -> Int

/// Dispatch timers are thread-safe but not marked Sendable.
private struct ReaperBox: @unchecked Sendable {
    let timer: any DispatchSourceTimer
}
