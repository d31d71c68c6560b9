/// The checks a URL passes before it is sent.
enum HTTPFetchURL {
    /// `url` when it is absolute http or https with a host and no credentials; credentials belong in files, where
    /// they do not show in process listings, logs or shell history.
    static func validated(_ url: String) throws(HTTPFetchError) -> String {
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
                url, reason: "credentials inside the URL are refused; give them in a file (password or token file)")
        }
        if url.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7f } ?? false }) {
            throw .invalidURL(url, reason: "spaces or control characters")
        }
        return url
    }
}
