import HTTPFetch

/// Asks one provider for one zone's intensity: one request per `fetch`, no retries, no logging, no state. The
/// caller keeps the last good reading, schedules the next fetch with `RefreshSchedule` and judges age with
/// `StalenessPolicy`.
///
/// The token is sent only in the provider's header (`auth-token` for Electricity Maps), only to https or to a
/// loopback host, and appears in no message, description or reflection of the client.
public struct ProviderClient: Sendable, CustomStringConvertible, CustomReflectable {
    /// A fetch function: `HTTPFetcher.get` in production.
    public typealias Fetch = @Sendable (HTTPFetchRequest) throws(HTTPFetchError) -> HTTPFetchResponse

    /// The answers above this are refused as malformed: both providers' answers are under 4 KiB.
    public static let maximumBodyBytes = 1 << 20

    public let provider: GridProvider
    public let zone: String
    /// The base URL in use, without a trailing `/`: `--grid.provider.url` or the provider's default.
    public let baseURL: String
    public let timeoutSeconds: Double
    public let userAgent: String
    private let token: Token?
    private let send: Fetch

    /// A client for `provider` and `zone` (already valid: `GridProvider.validateZone`). `baseURL` nil or empty
    /// uses the provider's default; `token` is sent only to providers that take one. `fetch` is
    /// `HTTPFetcher.get` in production.
    public init(
        provider: GridProvider, zone: String, baseURL: String? = nil, token: String?, timeoutSeconds: Double = 10,
        userAgent: String = "footprint_exporter", fetch: @escaping Fetch
    ) {
        self.provider = provider
        self.zone = zone
        var base = (baseURL?.isEmpty ?? true) ? provider.defaultBaseURL : baseURL!
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.timeoutSeconds = timeoutSeconds
        self.userAgent = userAgent
        self.token = provider.requiresToken ? token.map(Token.init) : nil
        self.send = fetch
    }

    /// The URL each fetch asks (it holds no secret: the token travels in a header).
    public var requestURL: String { baseURL + provider.path(zone: zone) }

    /// Why these settings cannot make a working client, in one line naming the flag; nil when they can. For the
    /// settings layer and `intensity fetch`, before any request: the zone's syntax, a token where one is required
    /// (and none where none is taken), the URL's syntax, and https for a token unless the host is loopback.
    public static func configurationProblem(
        provider: GridProvider, zone: String, baseURL: String?, tokenGiven: Bool
    ) -> String? {
        if let problem = provider.validateZone(zone) { return problem }
        if provider.requiresToken && !tokenGiven {
            return "--grid.provider=\(provider.rawValue) needs a token: give --grid.provider.token-file"
        }
        if !provider.requiresToken && tokenGiven {
            return "--grid.provider=\(provider.rawValue) takes no token: drop --grid.provider.token-file"
        }
        let base = (baseURL?.isEmpty ?? true) ? provider.defaultBaseURL : baseURL!
        do {
            _ = try HTTPFetchURL.validated(base)
        } catch {
            if case .invalidURL(_, let reason) = error {
                return "--grid.provider.url \(HTTPFetchURL.redacted(base)): \(reason)"
            }
            return "--grid.provider.url: \(error)"
        }
        if base.contains("?") || base.contains("#") {
            return "--grid.provider.url is a base URL: no query or fragment (the provider's path is appended to it)"
        }
        if tokenGiven, let host = insecureHost(base) {
            return
                "--grid.provider.url: the token would go over plain http to \(host); use https (plain http only to loopback)"
        }
        return nil
    }

    /// Asks the provider once. `nowUnixSeconds` is the reading's `obtainedAtUnixSeconds` and the time a
    /// `Retry-After` date is counted from.
    public func fetch(nowUnixSeconds: Double) -> Result<IntensityReading, ProviderFailure> {
        fetchUnmasked(nowUnixSeconds: nowUnixSeconds).mapError { $0.masking(token?.value) }
    }

    private func fetchUnmasked(nowUnixSeconds: Double) -> Result<IntensityReading, ProviderFailure> {
        let url = requestURL
        do {
            _ = try HTTPFetchURL.validated(baseURL)
        } catch {
            if case .invalidURL(_, let reason) = error { return .failure(.invalidURL(reason)) }
            return .failure(.invalidURL("\(error)"))
        }
        if token != nil, let host = Self.insecureHost(baseURL) { return .failure(.insecureURL(host: host)) }
        var headers: [(name: String, value: String)] = [("Accept", "application/json")]
        if let token, provider == .electricityMaps { headers.append(("auth-token", token.value)) }
        let request = HTTPFetchRequest(
            url: url, headers: headers, timeoutSeconds: timeoutSeconds,
            connectTimeoutSeconds: min(timeoutSeconds, 10), maximumBodyBytes: Self.maximumBodyBytes,
            userAgent: userAgent)
        let answer: HTTPFetchResponse
        do {
            answer = try send(request)
        } catch {
            return .failure(Self.failure(for: error))
        }
        switch answer.status {
        case 200...299:
            break
        case 401, 403:
            return .failure(.unauthorized(status: answer.status))
        case 429:
            let wait = answer.header("Retry-After").flatMap {
                Self.retryAfterSeconds($0, nowUnixSeconds: nowUnixSeconds)
            }
            return .failure(.rateLimited(retryAfterSeconds: wait))
        default:
            return .failure(.httpError(status: answer.status))
        }
        switch provider {
        case .electricityMaps:
            return ElectricityMapsResponse.parse(answer.body, requestedZone: zone, nowUnixSeconds: nowUnixSeconds)
        case .ukCarbonIntensity:
            if GridProvider.ukRegionID(zone) != nil {
                return UKCarbonIntensityResponse.parseRegional(answer.body, zone: zone, nowUnixSeconds: nowUnixSeconds)
            }
            return UKCarbonIntensityResponse.parseNational(answer.body, nowUnixSeconds: nowUnixSeconds)
        }
    }

    /// The failure for an `HTTPFetchError`: libcurl's timeouts are `timeout`, an oversized body is `malformed`.
    static func failure(for error: HTTPFetchError) -> ProviderFailure {
        switch error {
        case .libraryUnavailable(let reason):
            return .network("libcurl could not be loaded (install libcurl3-gnutls): \(reason)")
        case .invalidURL(_, let reason):
            return .invalidURL(reason)
        case .transport(_, let reason):
            let lowered = reason.lowercased()
            if lowered.contains("timeout") || lowered.contains("timed out") { return .timeout(reason) }
            return .network(reason)
        case .bodyTooLarge(_, let limit):
            return .malformed("the answer is larger than \(limit) bytes")
        }
    }

    /// The seconds a `Retry-After` value asks to wait from `nowUnixSeconds`: delay-seconds (`120`) or an HTTP date
    /// (`Wed, 21 Oct 2026 07:28:00 GMT`, counted in whole seconds, rounded up); a date in the past is 0. Nil when the
    /// value is neither.
    public static func retryAfterSeconds(_ value: String, nowUnixSeconds: Double) -> Double? {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        let trimmed = String(value.drop(while: isSpace).reversed().drop(while: isSpace).reversed())
        if !trimmed.isEmpty, trimmed.utf8.count <= 12,
            trimmed.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        {
            return Double(trimmed)
        }
        guard let date = GridTimestamp.parseHTTPDate(trimmed) else { return nil }
        return max(0, (date - nowUnixSeconds).rounded(.up))
    }

    /// The host of an absolute URL: without user information, port or IPv6 brackets, lower-cased.
    public static func host(ofURL url: String) -> String? {
        guard let schemeEnd = url.firstRange(of: "://") else { return nil }
        var authority = Substring(url[schemeEnd.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" })
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            return authority[authority.index(after: authority.startIndex)..<close].lowercased()
        }
        if let colon = authority.firstIndex(of: ":") { authority = authority[..<colon] }
        return authority.isEmpty ? nil : authority.lowercased()
    }

    /// Whether `host` is this machine: `localhost`, 127.0.0.0/8 in dotted-quad form, or `::1`.
    public static func isLoopback(host: String) -> Bool {
        var name = host.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        if name == "localhost" || name.hasSuffix(".localhost") { return true }
        if name == "::1" || name == "0:0:0:0:0:0:0:1" { return true }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return false }
        let values = octets.map { octet -> Int? in
            guard (1...3).contains(octet.count), octet.utf8.allSatisfy({ (48...57).contains($0) }) else { return nil }
            return Int(octet).flatMap { $0 <= 255 ? $0 : nil }
        }
        return values.allSatisfy { $0 != nil } && values[0] == 127
    }

    /// The host of `url` when it is plain http to a host other than loopback; nil otherwise.
    static func insecureHost(_ url: String) -> String? {
        guard url.lowercased().hasPrefix("http://") else { return nil }
        guard let host = host(ofURL: url) else { return "(no host)" }
        return isLoopback(host: host) ? nil : host
    }

    public var description: String {
        "ProviderClient(\(provider.rawValue), zone \(zone), \(requestURL), token \(token == nil ? "none" : "***"))"
    }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: ["provider": provider, "zone": zone, "baseURL": baseURL, "timeoutSeconds": timeoutSeconds],
            displayStyle: .struct)
    }

    /// The token, kept out of every description and reflection.
    private struct Token: Sendable, CustomStringConvertible, CustomReflectable {
        let value: String
        var description: String { "***" }
        var customMirror: Mirror { Mirror(self, children: [:]) }
    }
}
