import CMicroHTTPD
import Glibc
import Synchronization

/// What the callbacks of one daemon share: the handler, the limits, the security in force, the connection
/// bookkeeping and the requests waiting for a bcrypt check.
final class ServerContext: Sendable {
    let handler: any HTTPHandler
    let limits: HTTPServerConfiguration
    let gate: BcryptGate
    let connections = ConnectionRegistry()
    /// Requests holding one of `maximumConcurrentRequests` slots.
    private let slots = Atomic<Int>(0)
    /// Requests between their complete head and their completion, slot or not: what a graceful stop waits for.
    private let active = Atomic<Int>(0)
    private let policy: Mutex<SecurityPolicy>
    /// Requests whose connection is suspended while bcrypt checks their password, and whether the daemon is
    /// stopping (then no connection may be suspended any more).
    private let verifying = Mutex(Verifying())

    private struct Verifying {
        var records: [ObjectIdentifier: RequestRecord] = [:]
        var stopping = false
    }

    /// A class, so that each request takes the policy in force with one retain instead of copying its fields.
    final class SecurityPolicy: Sendable {
        let security: WebSecurity
        let authenticator: BasicAuthenticator?
        /// `security.headers` as libmicrohttpd takes them, converted once per policy instead of once per response.
        let headers: [(name: ContiguousArray<CChar>, value: ContiguousArray<CChar>)]

        init(security: WebSecurity, authenticator: BasicAuthenticator?) {
            self.security = security
            self.authenticator = authenticator
            self.headers = security.headers.sorted { $0.key < $1.key }.map {
                ($0.key.utf8CString, $0.value.utf8CString)
            }
        }
    }

    /// Whether `path` (the target as sent) is one of the paths answered outside the request cap.
    func isUncapped(_ path: UnsafePointer<CChar>) -> Bool {
        uncappedPaths.contains { candidate in candidate.withUnsafeBufferPointer { strcmp($0.baseAddress!, path) == 0 } }
    }

    /// `limits.uncappedPaths` as C strings, compared without building a String per request.
    private let uncappedPaths: [ContiguousArray<CChar>]

    init(handler: any HTTPHandler, security: WebSecurity, limits: HTTPServerConfiguration, gate: BcryptGate) {
        self.handler = handler
        self.limits = limits
        self.uncappedPaths = limits.uncappedPaths.map(\.utf8CString)
        self.gate = gate
        self.policy = Mutex(Self.policy(for: security))
    }

    /// Requests being answered now (with or without a slot, waiting for bcrypt included).
    var inFlightRequests: Int { active.load(ordering: .relaxed) }

    func update(security: WebSecurity) {
        let next = Self.policy(for: security)
        policy.withLock { $0 = next }
    }

    var currentPolicy: SecurityPolicy { policy.withLock { $0 } }

    func requestBegan() {
        active.add(1, ordering: .relaxed)
    }

    func requestEnded() {
        active.subtract(1, ordering: .relaxed)
    }

    /// Takes a concurrent-request slot; false, taking nothing, when all are in use.
    func takeSlot() -> Bool {
        if slots.add(1, ordering: .relaxed).newValue <= limits.maximumConcurrentRequests { return true }
        slots.subtract(1, ordering: .relaxed)
        return false
    }

    func releaseSlot() {
        slots.subtract(1, ordering: .relaxed)
    }

    /// Checks a password with bcrypt off the daemon's thread: suspends `connection`, runs the check on the gate's
    /// queue, stores the result in `record` and resumes the connection, whose request is then answered. Returns false,
    /// doing nothing, when the gate has no free place (the caller answers 429).
    func verifyInBackground(
        _ pending: BasicAuthenticator.PasswordCheck, with authenticator: BasicAuthenticator, record: RequestRecord,
        connection: OpaquePointer
    ) -> Bool {
        guard gate.tryEnter() else { return false }
        let address = UInt(bitPattern: Int(bitPattern: connection))
        // Registered and suspended under one lock, so that `abandonVerifications` either sees the connection
        // suspended or stops it from being suspended at all: libmicrohttpd cannot stop with a suspended connection,
        // and resuming one that is not suspended is undefined.
        let suspended = verifying.withLock { verifying -> Bool in
            guard !verifying.stopping else { return false }
            record.verification.withLock { $0 = .running(connection: address) }
            verifying.records[ObjectIdentifier(record)] = record
            MHD_suspend_connection(OpaquePointer(bitPattern: address))
            return true
        }
        guard suspended else {
            gate.leave()
            return false
        }
        gate.async { [self, gate] in
            let granted = authenticator.check(pending)
            gate.leave()
            // Resumed before it is forgotten: until then `abandonVerifications` can still find it.
            record.finishVerification(granted: granted)
            verifying.withLock { _ = $0.records.removeValue(forKey: ObjectIdentifier(record)) }
        }
        return true
    }

    /// Resumes every connection still waiting for bcrypt, their requests to be closed unanswered, and suspends no
    /// more: libmicrohttpd must not be stopped while a connection is suspended. The checks finish in the background;
    /// their results are dropped.
    func abandonVerifications() {
        let waiting = verifying.withLock { verifying -> [RequestRecord] in
            verifying.stopping = true
            defer { verifying.records = [:] }
            return Array(verifying.records.values)
        }
        for record in waiting { record.abandonVerification() }
    }

    private static func policy(for security: WebSecurity) -> SecurityPolicy {
        SecurityPolicy(
            security: security,
            authenticator: security.basicAuthUsers.isEmpty ? nil : BasicAuthenticator(users: security.basicAuthUsers))
    }
}

/// One request as the server follows it between libmicrohttpd's calls: made when the request line has been parsed
/// (keeping the request-target as sent), handed to every later callback as libmicrohttpd's per-request pointer, and
/// released when the request completes.
///
/// Unchecked Sendable: libmicrohttpd calls every callback of a connection on the one thread that serves it, so the
/// plain fields are only touched there; `verification`, which the bcrypt queue also touches, is locked.
final class RequestRecord: @unchecked Sendable {
    /// The request-target as sent (path and query, nothing decoded) holds a percent-encoded NUL.
    let hasEncodedNUL: Bool
    /// Where the target starts in libmicrohttpd's buffer and how long it was when the request line was parsed.
    let rawTargetStart: UnsafeRawPointer
    let rawTargetLength: Int
    /// The access handler has seen the complete head.
    var started = false
    /// The request holds a concurrent-request slot (given back at completion).
    var holdsSlot = false
    /// Every slot was taken when the head arrived: the request is answered 503.
    var overCap = false
    let verification = Mutex(Verification.none)

    /// Where the bcrypt check of this request's password stands.
    enum Verification: Sendable {
        case none
        /// Checking; the connection (its address) is suspended until then.
        case running(connection: UInt)
        case done(granted: Bool)
        /// The daemon is stopping: the connection was resumed without a result.
        case abandoned
    }

    init(rawTarget start: UnsafePointer<CChar>) {
        self.rawTargetStart = UnsafeRawPointer(start)
        self.rawTargetLength = strlen(start)
        self.hasEncodedNUL = strstr(start, "%00") != nil
    }

    func finishVerification(granted: Bool) {
        verification.withLock { state in
            guard case .running(let connection) = state else { return }  // abandoned: the connection is gone
            state = .done(granted: granted)
            MHD_resume_connection(OpaquePointer(bitPattern: connection))
        }
    }

    func abandonVerification() {
        verification.withLock { state in
            guard case .running(let connection) = state else { return }
            state = .abandoned
            MHD_resume_connection(OpaquePointer(bitPattern: connection))
        }
    }
}
