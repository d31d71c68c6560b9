/// Why a fetch from a grid-intensity provider gave no usable value.
///
/// `reason` is the stable label of `footprint_grid_provider_errors_total{provider,reason}`; `description` is one line
/// for the log. Neither ever holds the provider token: the messages are built from statuses, libcurl's error text and
/// the parser's findings, never from request headers or response bodies, and `ProviderClient` also masks the token
/// in any message before it returns one.
public enum ProviderFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// 401 or 403: the token is missing, wrong, expired, or not allowed this zone.
    case unauthorized(status: Int)
    /// 429; `retryAfterSeconds` is the wait the provider asked for (from `Retry-After`, seconds from the time of the
    /// answer, never negative), nil when it did not say.
    case rateLimited(retryAfterSeconds: Double?)
    /// Any other status outside 200...299: 4xx, 5xx, and 1xx/3xx (redirects are not followed).
    case httpError(status: Int)
    /// No complete answer within the timeout.
    case timeout(String)
    /// No answer: refused, unresolvable, TLS failure, libcurl missing.
    case network(String)
    /// An answer that is not the JSON the provider documents: a proxy's HTML page, a truncated body, a field missing.
    case malformed(String)
    /// A value outside `IntensityReading.plausibleGramsPerKilowattHour`, or not finite.
    case outOfRange(Double)
    /// The token would have gone over plain `http://` to a host other than loopback; refused before sending.
    case insecureURL(host: String)
    /// The base URL is not one the HTTP client sends (no scheme, credentials inside); refused before sending.
    case invalidURL(String)

    /// Every `reason` label, in a fixed order: for declaring the counter's series before the first failure.
    public static let allReasons = [
        "unauthorized", "rate_limited", "http_error", "timeout", "network", "malformed", "out_of_range",
        "insecure_url", "invalid_url",
    ]

    /// The `reason` label of `footprint_grid_provider_errors_total`.
    public var reason: String {
        switch self {
        case .unauthorized: "unauthorized"
        case .rateLimited: "rate_limited"
        case .httpError: "http_error"
        case .timeout: "timeout"
        case .network: "network"
        case .malformed: "malformed"
        case .outOfRange: "out_of_range"
        case .insecureURL: "insecure_url"
        case .invalidURL: "invalid_url"
        }
    }

    /// The wait a 429 asked for; nil for every other failure and for a 429 without `Retry-After`.
    public var retryAfterSeconds: Double? {
        if case .rateLimited(let seconds) = self { return seconds }
        return nil
    }

    public var description: String {
        switch self {
        case .unauthorized(let status):
            "the provider refused the token (HTTP \(status)): check --grid.provider.token-file and the zone"
        case .rateLimited(let seconds?):
            "rate limited (HTTP 429), asked to wait \(Self.format(seconds)) s"
        case .rateLimited(nil):
            "rate limited (HTTP 429)"
        case .httpError(let status):
            "HTTP \(status)"
        case .timeout(let detail):
            "no answer in time: \(detail)"
        case .network(let detail):
            "no answer: \(detail)"
        case .malformed(let detail):
            "the answer is not the provider's JSON: \(detail)"
        case .outOfRange(let value):
            "the provider gave \(value) g/kWh, outside \(Self.format(IntensityReading.plausibleGramsPerKilowattHour.lowerBound))..."
                + "\(Self.format(IntensityReading.plausibleGramsPerKilowattHour.upperBound))"
        case .insecureURL(let host):
            "refusing to send the token over plain http to \(host): use https (plain http only to loopback)"
        case .invalidURL(let detail):
            "invalid provider URL: \(detail)"
        }
    }

    /// `3` rather than `3.0`; a fraction when there is one.
    private static func format(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }

    /// `self` with every occurrence of `secret` in its text replaced by `***`.
    func masking(_ secret: String?) -> ProviderFailure {
        guard let secret, !secret.isEmpty else { return self }
        func mask(_ text: String) -> String { text.replacing(secret, with: "***") }
        switch self {
        case .timeout(let detail): return .timeout(mask(detail))
        case .network(let detail): return .network(mask(detail))
        case .malformed(let detail): return .malformed(mask(detail))
        case .insecureURL(let host): return .insecureURL(host: mask(host))
        case .invalidURL(let detail): return .invalidURL(mask(detail))
        case .unauthorized, .rateLimited, .httpError, .outOfRange: return self
        }
    }
}
