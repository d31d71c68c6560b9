/// The checks a URL passes before it is sent.
public enum HTTPFetchURL {
    /// `url` when it is absolute http or https with a host and no credentials; credentials belong in files, where
    /// they do not show in process listings, logs or shell history.
    public static func validated(_ url: String) throws(HTTPFetchError) -> String {
        let lowered = url.lowercased()
        let scheme: String
        if lowered.hasPrefix("http://") {
            scheme = "http://"
        } else if lowered.hasPrefix("https://") {
            scheme = "https://"
        } else {
            throw .invalidURL(url, reason: "only http:// and https:// URLs are supported")
        }
        let rest = url.dropFirst(scheme.count)
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if authority.isEmpty { throw .invalidURL(url, reason: "no host") }
        if authority.contains("@") {
            throw .invalidURL(
                redacted(url),
                reason: "credentials inside the URL are refused; give them in a file (password or token file)")
        }
        if url.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7f } ?? false }) {
            throw .invalidURL(url, reason: "spaces or control characters")
        }
        return url
    }

    /// `url` with anything before an `@` in its authority replaced by `***`, for messages.
    public static func redacted(_ url: String) -> String {
        guard let schemeEnd = url.firstRange(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard let at = authority.lastIndex(of: "@") else { return url }
        return String(url[..<schemeEnd.upperBound]) + "***" + String(url[at...])
    }
}
