/// Turns the exporter-toolkit's TLS policy (Go's names for versions, cipher suites and curves) into a GnuTLS
/// priority string.
///
/// GnuTLS selects key exchanges, ciphers and MACs separately, not whole suites, so a `cipher_suites` list is
/// honoured as the union of its parts; a suite GnuTLS cannot express is an error. As in Go, `cipher_suites` does not
/// restrict TLS 1.3.
struct TLSPolicy: Equatable {
    static let knownKeys: Set<String> = [
        "cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version", "max_version", "cipher_suites",
        "curve_preferences", "prefer_server_cipher_suites", "client_allowed_sans",
    ]

    static let versions = ["TLS10": 0, "TLS11": 1, "TLS12": 2, "TLS13": 3]
    private static let gnutlsVersions = ["VERS-TLS1.0", "VERS-TLS1.1", "VERS-TLS1.2", "VERS-TLS1.3"]

    /// Go's suite name → (key exchange, cipher, MAC) in GnuTLS' names.
    static let suites: [String: (kx: String, cipher: String, mac: String)] = [
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": ("ECDHE-ECDSA", "AES-128-GCM", "AEAD"),
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": ("ECDHE-RSA", "AES-128-GCM", "AEAD"),
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": ("ECDHE-ECDSA", "AES-256-GCM", "AEAD"),
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": ("ECDHE-RSA", "AES-256-GCM", "AEAD"),
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": ("ECDHE-ECDSA", "CHACHA20-POLY1305", "AEAD"),
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": ("ECDHE-ECDSA", "CHACHA20-POLY1305", "AEAD"),
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": ("ECDHE-RSA", "CHACHA20-POLY1305", "AEAD"),
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": ("ECDHE-RSA", "CHACHA20-POLY1305", "AEAD"),
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": ("ECDHE-ECDSA", "AES-128-CBC", "SHA1"),
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": ("ECDHE-RSA", "AES-128-CBC", "SHA1"),
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": ("ECDHE-ECDSA", "AES-256-CBC", "SHA1"),
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": ("ECDHE-RSA", "AES-256-CBC", "SHA1"),
        "TLS_RSA_WITH_AES_128_GCM_SHA256": ("RSA", "AES-128-GCM", "AEAD"),
        "TLS_RSA_WITH_AES_256_GCM_SHA384": ("RSA", "AES-256-GCM", "AEAD"),
        "TLS_RSA_WITH_AES_128_CBC_SHA": ("RSA", "AES-128-CBC", "SHA1"),
        "TLS_RSA_WITH_AES_256_CBC_SHA": ("RSA", "AES-256-CBC", "SHA1"),
    ]

    static let curves = [
        "CurveP256": "GROUP-SECP256R1", "CurveP384": "GROUP-SECP384R1", "CurveP521": "GROUP-SECP521R1",
        "X25519": "GROUP-X25519",
    ]

    let gnutlsPriorities: String

    init(
        minimumVersion: String?, maximumVersion: String?, cipherSuites: [String], curves: [String],
        preferServerCipherSuites: Bool
    ) throws(WebConfigError) {
        let minimumName = minimumVersion ?? "TLS12"
        let maximumName = maximumVersion ?? "TLS13"
        guard let minimum = Self.versions[minimumName] else {
            throw WebConfigError("unknown min_version \(minimumName.debugDescription) (TLS10, TLS11, TLS12, TLS13)")
        }
        guard let maximum = Self.versions[maximumName] else {
            throw WebConfigError("unknown max_version \(maximumName.debugDescription) (TLS10, TLS11, TLS12, TLS13)")
        }
        guard minimum <= maximum else {
            throw WebConfigError("min_version \(minimumName) is above max_version \(maximumName)")
        }
        var parts = ["NORMAL", "-VERS-ALL"] + (minimum...maximum).map { "+" + Self.gnutlsVersions[$0] }
        if !cipherSuites.isEmpty {
            var kx: [String] = []
            var ciphers: [String] = []
            var macs: [String] = []
            for name in cipherSuites {
                guard let suite = Self.suites[name] else {
                    throw WebConfigError("cipher suite \(name.debugDescription) cannot be honoured with GnuTLS")
                }
                if !kx.contains(suite.kx) { kx.append(suite.kx) }
                if !ciphers.contains(suite.cipher) { ciphers.append(suite.cipher) }
                if !macs.contains(suite.mac) { macs.append(suite.mac) }
            }
            if maximum == 3 {
                // TLS 1.3 suites are not configurable (as in Go): keep its ciphers available.
                for cipher in ["AES-128-GCM", "AES-256-GCM", "CHACHA20-POLY1305"] where !ciphers.contains(cipher) {
                    ciphers.append(cipher)
                }
                if !macs.contains("AEAD") { macs.append("AEAD") }
            }
            parts += ["-KX-ALL"] + kx.map { "+\($0)" }
            parts += ["-CIPHER-ALL"] + ciphers.map { "+\($0)" }
            parts += ["-MAC-ALL"] + macs.map { "+\($0)" }
        }
        if !curves.isEmpty {
            var groups: [String] = []
            for name in curves {
                guard let group = Self.curves[name] else {
                    throw WebConfigError(
                        "curve \(name.debugDescription) is not supported (CurveP256, CurveP384, CurveP521, X25519)")
                }
                groups.append("+\(group)")
            }
            parts += ["-GROUP-ALL"] + groups
        }
        if preferServerCipherSuites { parts.append("%SERVER_PRECEDENCE") }
        gnutlsPriorities = parts.joined(separator: ":")
    }
}
