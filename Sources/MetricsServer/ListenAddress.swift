/// A `host:port` listen address in the Prometheus exporter form: `:9636`, `127.0.0.1:9636`, `[::1]:9636`.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// The host to bind; nil binds every address (IPv6 and IPv4).
    public let host: String?
    public let port: UInt16

    public init(host: String?, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses `text`; nil when it is not `[host]:port` with a port in 0…65535.
    public init?(parsing text: String) {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = String(text[..<colon])
        guard let port = UInt16(text[text.index(after: colon)...]) else { return nil }
        if host.hasPrefix("[") {
            guard host.hasSuffix("]"), host.count > 2 else { return nil }
            host = String(host.dropFirst().dropLast())
        } else if host.contains(":") {
            return nil  // an IPv6 literal must be bracketed
        }
        if host.contains(where: { $0 == " " || $0 == "/" }) { return nil }
        self.host = host.isEmpty ? nil : host
        self.port = port
    }

    public var description: String {
        guard let host else { return ":\(port)" }
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
