/// Who may talk to the server and how: TLS, HTTP basic auth and extra response headers (the exporter-toolkit model).
public struct WebSecurity: Sendable, Hashable {
    public var tls: TLSSettings?
    /// User name → bcrypt hash (`$2y$…`/`$2b$…`). Empty: no authentication.
    public var basicAuthUsers: [String: String]
    /// Headers added to every response (Strict-Transport-Security and the like).
    public var headers: [String: String]

    public init(tls: TLSSettings? = nil, basicAuthUsers: [String: String] = [:], headers: [String: String] = [:]) {
        self.tls = tls
        self.basicAuthUsers = basicAuthUsers
        self.headers = headers
    }

    /// Plain HTTP, no authentication.
    public static let open = WebSecurity()

    /// What `next` would turn off that is in force now, as the end of a sentence ("would turn off TLS"), or nil
    /// when it keeps every protection.
    ///
    /// A reload may tighten or change the configuration but not drop a protection: an emptied or half-written file
    /// (an editor's save, a copy cut short) reads as no TLS or no users, and must not open a protected server. A
    /// restart, where the operator is present, applies such a file.
    public func weakening(to next: WebSecurity) -> String? {
        if let tls {
            guard let nextTLS = next.tls else { return "would turn off TLS" }
            if tls.clientAuthentication.requiresCertificate && !nextTLS.clientAuthentication.requiresCertificate {
                return "would stop requiring client certificates"
            }
            if tls.clientAuthentication.verifiesCertificate && !nextTLS.clientAuthentication.verifiesCertificate {
                return "would stop verifying client certificates"
            }
        }
        if !basicAuthUsers.isEmpty && next.basicAuthUsers.isEmpty {
            return "would turn off basic auth"
        }
        return nil
    }
}

/// What the server asks of a client's certificate.
public enum ClientAuthentication: String, Sendable, Hashable {
    case noClientCert = "NoClientCert"
    case requestClientCert = "RequestClientCert"
    case requireAnyClientCert = "RequireAnyClientCert"
    case verifyClientCertIfGiven = "VerifyClientCertIfGiven"
    case requireAndVerifyClientCert = "RequireAndVerifyClientCert"

    /// A certificate must be presented.
    var requiresCertificate: Bool { self == .requireAnyClientCert || self == .requireAndVerifyClientCert }
    /// A presented certificate must chain to the client CA.
    var verifiesCertificate: Bool { self == .verifyClientCertIfGiven || self == .requireAndVerifyClientCert }
}

/// A web configuration that cannot be used, with the one line that names the problem.
public struct WebConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// TLS material and policy, already read from disk (PEM text).
public struct TLSSettings: Sendable, Hashable {
    public var certificatePEM: String
    public var keyPEM: String
    public var clientCAPEM: String?
    public var clientAuthentication: ClientAuthentication
    /// The GnuTLS priority string that encodes versions, cipher suites and curves.
    public var priorities: String

    public init(
        certificatePEM: String, keyPEM: String, clientCAPEM: String? = nil,
        clientAuthentication: ClientAuthentication = .noClientCert, priorities: String = "NORMAL"
    ) {
        self.certificatePEM = certificatePEM
        self.keyPEM = keyPEM
        self.clientCAPEM = clientCAPEM
        self.clientAuthentication = clientAuthentication
        self.priorities = priorities
    }
}

extension TLSSettings {
    /// Why these settings cannot be served, or nil. The one statement of the rule that verifying client certificates
    /// needs a client CA, checked when the file is read and again when the server takes the settings.
    public var problem: String? {
        if clientAuthentication.verifiesCertificate && clientCAPEM == nil {
            return "client_auth_type \(clientAuthentication.rawValue) needs client_ca_file"
        }
        return nil
    }
}
