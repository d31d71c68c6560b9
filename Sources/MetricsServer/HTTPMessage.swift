/// A request as the server hands it to a handler: only what routing and content negotiation need.
public struct HTTPRequest: Sendable {
    public let method: String
    public let path: String
    /// The `Accept-Encoding` header, if any.
    public let acceptEncoding: String?

    public init(method: String, path: String, acceptEncoding: String? = nil) {
        self.method = method
        self.path = path
        self.acceptEncoding = acceptEncoding
    }

    /// Whether the client takes a gzip-compressed body: `gzip` (or `*`) listed without `q=0` (RFC 9110 §12.5.3).
    public var acceptsGzip: Bool {
        guard let acceptEncoding else { return false }
        for element in acceptEncoding.split(separator: ",") {
            let parts = element.split(separator: ";").map { $0.filter { $0 != " " && $0 != "\t" }.lowercased() }
            guard let coding = parts.first, coding == "gzip" || coding == "x-gzip" || coding == "*" else { continue }
            let refused = parts.dropFirst().contains {
                $0 == "q=0" || $0 == "q=0.0" || $0 == "q=0.00" || $0 == "q=0.000"
            }
            if !refused { return true }
        }
        return false
    }
}

/// A complete response: status, headers and body bytes.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A plain-text response.
    public static func text(_ status: Int, _ text: String, headers: [(name: String, value: String)] = [])
        -> HTTPResponse
    {
        HTTPResponse(
            status: status, headers: [("Content-Type", "text/plain; charset=utf-8")] + headers, body: Array(text.utf8))
    }
}

/// Answers requests. Called on the server's own thread, so it must not block.
public protocol HTTPHandler: Sendable {
    func respond(to request: HTTPRequest) -> HTTPResponse
}
