/// One GET request: where, with which credentials, and the bounds on waiting and on the body.
public struct HTTPFetchRequest: Sendable {
    public var url: String
    public var headers: [(name: String, value: String)]
    /// HTTP basic authentication; the password comes from a file the caller read, never from the URL.
    public var basicAuth: (user: String, password: String)?
    /// Sent as `Authorization: Bearer <token>`.
    public var bearerToken: String?
    /// PEM file of the certificate authorities to trust for HTTPS instead of the system's.
    public var caFile: String?
    /// The whole exchange, connection included, must end within this.
    public var timeoutSeconds: Double
    public var connectTimeoutSeconds: Double
    /// A longer body aborts the transfer with `HTTPFetchError.bodyTooLarge`.
    public var maximumBodyBytes: Int
    public var userAgent: String

    public init(
        url: String, headers: [(name: String, value: String)] = [], basicAuth: (user: String, password: String)? = nil,
        bearerToken: String? = nil, caFile: String? = nil, timeoutSeconds: Double = 30,
        connectTimeoutSeconds: Double = 10,
        maximumBodyBytes: Int = 64 << 20, userAgent: String = "footprint_exporter"
    ) {
        self.url = url
        self.headers = headers
        self.basicAuth = basicAuth
        self.bearerToken = bearerToken
        self.caFile = caFile
        self.timeoutSeconds = timeoutSeconds
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.maximumBodyBytes = maximumBodyBytes
        self.userAgent = userAgent
    }
}

/// What came back: the status and the body (decoded from gzip or deflate when the server compressed it).
public struct HTTPFetchResponse: Sendable, Equatable {
    public let status: Int
    public let body: [UInt8]
    /// The final response's header fields, names as sent, in order (`Retry-After` of a 429, say).
    public let headers: [HTTPHeaderField]

    public init(status: Int, body: [UInt8], headers: [HTTPHeaderField] = []) {
        self.status = status
        self.body = body
        self.headers = headers
    }

    /// The value of the first header field called `name`, compared without regard to case.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }
}

/// One header field of a response.
public struct HTTPHeaderField: Sendable, Equatable {
    public let name: String
    public let value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// Why no response came back; each says what to check in one line.
public enum HTTPFetchError: Error, Equatable, CustomStringConvertible {
    /// libcurl could not be loaded.
    case libraryUnavailable(String)
    /// The URL is not one this client sends (not http or https, or with credentials inside it).
    case invalidURL(String, reason: String)
    /// No response: refused, unresolvable, timed out, TLS failure.
    case transport(url: String, reason: String)
    case bodyTooLarge(url: String, limit: Int)

    public var description: String {
        switch self {
        case .libraryUnavailable(let reason):
            "libcurl could not be loaded (install libcurl3-gnutls): \(reason)"
        case .invalidURL(let url, let reason):
            "invalid URL \(url): \(reason)"
        case .transport(let url, let reason):
            "no response from \(url): \(reason)"
        case .bodyTooLarge(let url, let limit):
            "the response from \(url) is larger than \(limit) bytes"
        }
    }
}
