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
    /// Seconds a client has to send a whole request (its head, and anything after it) after connecting or after its
    /// previous response; a client trickling bytes (slowloris) is cut off then even though it never goes idle.
    public var requestHeaderTimeoutSeconds: Int
    /// Requests answered at once; more get 503 at once instead of a growing queue.
    public var maximumConcurrentRequests: Int
    /// Paths answered outside `maximumConcurrentRequests` (cheap probes such as `/-/healthy`), so a liveness probe
    /// still answers while every slot is busy. Matched against the path as sent, without the query.
    public var uncappedPaths: Set<String>
    /// The largest request head: request line and header fields, each field counted as "name: value" and CRLF, a
    /// Cookie header twice (libmicrohttpd copies it to parse it). Larger heads get 431.
    public var maximumHeadBytes: Int
    /// The most header fields, cookies and query arguments together in one request; more get 431.
    public var maximumHeaderFields: Int
    /// Memory per connection, which libmicrohttpd fills with the request head (its bytes, and a 64-byte record per
    /// field) and the response head. It must hold the largest accepted head and a response, so that a head over
    /// the limits is still answered 431 rather than closed for want of memory.
    public var connectionMemoryLimitBytes: Int
    /// bcrypt checks run at once; further requests that need one get 429 at once.
    public var concurrentPasswordChecks: Int
    /// Threads serving connections.
    public var threads: Int

    public init(
        address: ListenAddress, maximumConnections: Int, maximumConnectionsPerIP: Int,
        connectionTimeoutSeconds: Int, requestHeaderTimeoutSeconds: Int, maximumConcurrentRequests: Int,
        uncappedPaths: Set<String> = [], maximumHeadBytes: Int = 32 * 1024, maximumHeaderFields: Int = 100,
        connectionMemoryLimitBytes: Int = 48 * 1024, concurrentPasswordChecks: Int = 2, threads: Int = 2
    ) {
        self.address = address
        self.maximumConnections = maximumConnections
        self.maximumConnectionsPerIP = maximumConnectionsPerIP
        self.connectionTimeoutSeconds = connectionTimeoutSeconds
        self.requestHeaderTimeoutSeconds = requestHeaderTimeoutSeconds
        self.maximumConcurrentRequests = maximumConcurrentRequests
        self.uncappedPaths = uncappedPaths
        self.maximumHeadBytes = maximumHeadBytes
        self.maximumHeaderFields = maximumHeaderFields
        self.connectionMemoryLimitBytes = connectionMemoryLimitBytes
        self.concurrentPasswordChecks = concurrentPasswordChecks
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
