import CMicroHTTPD
import Synchronization

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
