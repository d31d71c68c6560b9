import FileReading
import YAMLComposer

/// Reads a web configuration file in the exporter-toolkit format, so existing Prometheus setups reuse their files:
///
///     tls_server_config: {cert_file, key_file, client_auth_type, client_ca_file, min_version, max_version,
///                         cipher_suites, curve_preferences, prefer_server_cipher_suites}
///     http_server_config: {headers: {…}, http2: …}
///     basic_auth_users: {user: bcrypt hash}
///
/// Relative file paths are taken relative to the web configuration file. Unknown keys are errors.
public enum WebConfigFile {
    /// Response headers the file may set (the exporter-toolkit's list).
    static let allowedHeaders: Set<String> = [
        "Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "X-XSS-Protection",
        "Content-Security-Policy",
    ]

    /// The largest web configuration, certificate or key file read.
    static let maximumFileBytes = 1 << 20

    /// Loads the file at `path` and the TLS files it names.
    public static func load(_ path: String) throws(WebConfigError) -> WebSecurity {
        let text: String?
        do {
            text = try FileReader.readText(path, limit: maximumFileBytes)
        } catch {
            throw WebConfigError("cannot read web config file: \(error)")
        }
        guard let text else { throw WebConfigError("web config file \(path) is not UTF-8 text") }
        return try parse(text, path: path)
    }

    /// Parses the YAML `text` of the web configuration file at `path`.
    public static func parse(_ text: String, path: String) throws(WebConfigError) -> WebSecurity {
        func fail(_ message: String) -> WebConfigError { WebConfigError("web config file \(path): \(message)") }
        let root: YAMLNode?
        do {
            root = try YAMLDocument.compose(text)
        } catch {
            throw fail(
                "malformed YAML: \(String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " "))"
            )
        }
        guard let root else { return .open }
        guard let top = root.mapping else { throw fail("the top level must be a mapping") }
        var security = WebSecurity()
        let directory = FileReader.directory(of: path)
        for (keyNode, value) in top {
            let key = keyNode.string ?? ""
            switch key {
            case "tls_server_config":
                if value.null != nil { continue }
                security.tls = try parseTLS(value, directory: directory, fail: fail)
            case "http_server_config":
                if value.null != nil { continue }
                guard let mapping = value.mapping else { throw fail("http_server_config must be a mapping") }
                for (innerKey, innerValue) in mapping {
                    switch innerKey.string ?? "" {
                    case "http2":
                        // Accepted so existing files load; this server speaks HTTP/1.1 only.
                        guard innerValue.bool != nil else {
                            throw fail("http_server_config.http2 must be true or false")
                        }
                    case "headers":
                        guard let headers = innerValue.mapping else {
                            throw fail("http_server_config.headers must be a mapping")
                        }
                        for (name, headerValue) in headers {
                            guard let name = name.string, allowedHeaders.contains(name) else {
                                throw fail(
                                    "header \((name.string ?? "").debugDescription) may not be set; allowed: \(allowedHeaders.sorted().joined(separator: ", "))"
                                )
                            }
                            guard let text = headerValue.string, !text.contains("\n"), !text.contains("\r") else {
                                throw fail("header \(name) needs a single-line value")
                            }
                            security.headers[name] = text
                        }
                    default:
                        throw fail("unknown key \("http_server_config.\(innerKey.string ?? "")".debugDescription)")
                    }
                }
            case "basic_auth_users":
                if value.null != nil { continue }
                guard let users = value.mapping else {
                    throw fail("basic_auth_users must map user names to bcrypt hashes")
                }
                for (user, hash) in users {
                    guard let name = user.string, !name.isEmpty, !name.contains(":") else {
                        throw fail("basic_auth_users: user names must be non-empty and contain no colon")
                    }
                    guard let hash = hash.string, let cost = bcryptCost(hash) else {
                        throw fail(
                            "basic_auth_users: the password of \(name.debugDescription) must be a bcrypt hash ($2y$…)")
                    }
                    guard cost <= maximumBcryptCost else {
                        throw fail(
                            "basic_auth_users: the bcrypt cost of \(name.debugDescription) is \(cost); at most \(maximumBcryptCost) is accepted (each step doubles the work of every check)"
                        )
                    }
                    security.basicAuthUsers[name] = hash
                }
            default:
                throw fail("unknown key \(key.debugDescription)")
            }
        }
        return security
    }

    /// The highest bcrypt cost accepted. A check at cost c takes 2^c rounds: about a quarter of a second at 12 and
    /// four seconds at 16 on a current core; bcrypt allows up to 31, where one check would take days.
    static let maximumBcryptCost = 16

    /// The cost of a bcrypt hash (`$2a$`, `$2b$` or `$2y$`, cost 4 to 31, 53 characters of salt and hash), or nil
    /// when `hash` is not one.
    static func bcryptCost(_ hash: String) -> Int? {
        let fields = hash.split(separator: "$", omittingEmptySubsequences: false)
        guard fields.count == 4, fields[0].isEmpty, ["2a", "2b", "2y"].contains(fields[1]), fields[2].count == 2,
            let cost = Int(fields[2]), (4...31).contains(cost), fields[3].count == 53
        else { return nil }
        return cost
    }

    private static func parseTLS(
        _ node: YAMLNode, directory: String, fail: (String) -> WebConfigError
    ) throws(WebConfigError) -> TLSSettings {
        guard let mapping = node.mapping else { throw fail("tls_server_config must be a mapping") }
        var fields: [String: YAMLNode] = [:]
        for (key, value) in mapping {
            let name = key.string ?? ""
            guard TLSPolicy.knownKeys.contains(name) else {
                throw fail("unknown key \("tls_server_config.\(name)".debugDescription)")
            }
            fields[name] = value
        }
        func file(_ key: String) throws(WebConfigError) -> String? {
            guard let node = fields[key], let value = node.string, !value.isEmpty else { return nil }
            let resolved = value.hasPrefix("/") || directory.isEmpty ? value : "\(directory)/\(value)"
            let text: String?
            do {
                text = try FileReader.readText(resolved, limit: maximumFileBytes)
            } catch {
                throw fail("cannot read tls_server_config.\(key): \(error)")
            }
            guard let text else { throw fail("tls_server_config.\(key) \(resolved) is not PEM text") }
            return text
        }
        guard let certificate = try file("cert_file"), let key = try file("key_file") else {
            throw fail("tls_server_config needs cert_file and key_file")
        }
        let clientAuthName = fields["client_auth_type"]?.string ?? "NoClientCert"
        guard let clientAuth = ClientAuthentication(rawValue: clientAuthName) else {
            throw fail("unknown client_auth_type \(clientAuthName.debugDescription)")
        }
        let clientCA = try file("client_ca_file")
        if let sans = fields["client_allowed_sans"], sans.null == nil, !(sans.sequence?.isEmpty ?? true) {
            throw fail("tls_server_config.client_allowed_sans is not supported by this exporter")
        }
        let policy: TLSPolicy
        do {
            policy = try TLSPolicy(
                minimumVersion: fields["min_version"]?.string, maximumVersion: fields["max_version"]?.string,
                cipherSuites: fields["cipher_suites"]?.sequence?.compactMap(\.string) ?? [],
                curves: fields["curve_preferences"]?.sequence?.compactMap(\.string) ?? [],
                preferServerCipherSuites: fields["prefer_server_cipher_suites"]?.bool ?? false)
        } catch {
            throw fail(error.message)
        }
        let settings = TLSSettings(
            certificatePEM: certificate, keyPEM: key, clientCAPEM: clientCA, clientAuthentication: clientAuth,
            priorities: policy.gnutlsPriorities)
        if let problem = settings.problem { throw fail(problem) }
        return settings
    }
}
