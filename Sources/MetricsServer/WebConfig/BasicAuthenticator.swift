import CMicroHTTPD
import Glibc
import Synchronization

/// Checks HTTP basic credentials against bcrypt hashes with libcrypt.
///
/// An unknown user is checked against a dummy hash whose cost is that of a real user, picked by a stable hash of the
/// name, so across names the time taken follows the same distribution as for real users and does not tell which
/// users exist; hashes are compared in constant time. Successful checks are remembered for a while, because bcrypt
/// is deliberately slow and Prometheus presents the same credentials on every scrape.
///
/// The server runs the bcrypt step (`check(_:)`) off its request threads; `verdict(for:)` is the cheap part that
/// answers cache hits and malformed headers at once.
final class BasicAuthenticator: Sendable {
    private let users: [String: String]
    /// The distinct bcrypt costs of the users, ascending.
    let costs: [UInt]
    /// One bcrypt setting ("$2b$<cost>$<salt>") per distinct cost, for unknown users.
    let dummyHashes: [UInt: String]
    private let accepted = Mutex<[String: Double]>([:])
    private let now: @Sendable () -> Double
    static let cacheSeconds = 300.0
    static let cacheLimit = 256

    /// What the cheap part of a check found.
    enum Verdict: Sendable {
        /// Credentials accepted within the last `cacheSeconds`: no bcrypt needed.
        case granted
        /// No usable `Authorization` header: refused without bcrypt (nothing about any user is involved).
        case denied
        /// A password to check with bcrypt; `check(_:)` does it.
        case needsCheck(PasswordCheck)
    }

    /// A password and the hash to check it against: the user's, or a dummy one for an unknown user.
    struct PasswordCheck: Sendable {
        let header: String
        let password: String
        let hash: String
        let knownUser: Bool
    }

    /// - Parameters:
    ///   - users: user name → bcrypt hash.
    ///   - now: a monotonic clock in seconds, for the cache of accepted credentials; tests move it by hand.
    init(users: [String: String], now: @escaping @Sendable () -> Double = MonotonicClock.seconds) {
        self.users = users
        self.now = now
        let costs = Set(users.values.compactMap(Self.cost(of:))).sorted()
        self.costs = costs.isEmpty ? [10] : costs
        // A bcrypt setting is enough to make crypt_r do the full work at that cost, so no hash is computed here
        // (at cost 16 that would take seconds); the result is never compared with anything that could match.
        var dummies: [UInt: String] = [:]
        for cost in self.costs {
            dummies[cost] = Self.setting(cost: cost) ?? "*"
        }
        self.dummyHashes = dummies
    }

    /// How many accepted credentials are remembered.
    var cachedCount: Int { accepted.withLock { $0.count } }

    /// Whether the `Authorization` header value grants access, running bcrypt on the calling thread if needed.
    func authorizes(_ header: String?) -> Bool {
        switch verdict(for: header) {
        case .granted: true
        case .denied: false
        case .needsCheck(let pending): check(pending)
        }
    }

    /// The cheap part of a check: a cache hit or a malformed header is decided at once; anything else needs bcrypt.
    func verdict(for header: String?) -> Verdict {
        guard let header, let (user, password) = Self.parse(header) else { return .denied }
        if let until = accepted.withLock({ $0[header] }), until > now() { return .granted }
        let known = users[user]
        return .needsCheck(
            PasswordCheck(
                header: header, password: password, hash: known ?? dummyHash(forUnknownUser: user),
                knownUser: known != nil))
    }

    /// The bcrypt part: verifies the password and remembers a success.
    func check(_ pending: PasswordCheck) -> Bool {
        let matches = Self.verify(password: pending.password, hash: pending.hash)
        guard pending.knownUser, matches else { return false }
        let now = self.now()
        accepted.withLock { cache in
            if cache.count >= Self.cacheLimit { cache.removeAll() }
            cache[pending.header] = now + Self.cacheSeconds
        }
        return true
    }

    /// The dummy hash an unknown user is checked against: the one of the cost `dummyCost` picks for the name.
    func dummyHash(forUnknownUser name: String) -> String {
        dummyHashes[Self.dummyCost(forUnknownUser: name, costs: costs)] ?? "*"
    }

    /// The cost an unknown user's check takes: one of the users' distinct `costs` (ascending), picked by a stable hash
    /// of the name. The same name always costs the same (retrying a name reveals nothing new), and over many names
    /// each cost is as likely as any other, as it is over the real users' distinct costs.
    static func dummyCost(forUnknownUser name: String, costs: [UInt]) -> UInt {
        guard !costs.isEmpty else { return 10 }
        // FNV-1a, 64 bits: stable across runs and builds, unlike Swift's seeded Hasher.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return costs[Int(hash % UInt64(costs.count))]
    }

    /// Splits `Basic base64(user:password)`; nil when malformed.
    static func parse(_ header: String) -> (user: String, password: String)? {
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
            let decoded = Base64.decode(parts[1].trimmingCharacters()),
            let text = String(validating: decoded, as: UTF8.self),
            let colon = text.firstIndex(of: ":"),
            !decoded.contains(0)  // crypt_r would stop at a NUL and ignore the rest of the password
        else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    static func verify(password: String, hash: String) -> Bool {
        var output = [CChar](repeating: 0, count: Int(CRYPT_OUTPUT_SIZE))
        guard footprint_crypt(password, hash, &output, output.count) == 0 else { return false }
        let computed = Array(output.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) })
        return constantTimeEqual(computed, Array(hash.utf8))
    }

    /// Compares without stopping at the first difference.
    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: lhs.count ^ rhs.count)
        for index in 0..<max(lhs.count, rhs.count) {
            let left = index < lhs.count ? lhs[index] : 0
            let right = index < rhs.count ? rhs[index] : 0
            difference |= left ^ right
        }
        return difference == 0
    }

    /// The cost of a bcrypt hash (`$2y$10$…` → 10).
    static func cost(of hash: String) -> UInt? {
        let fields = hash.split(separator: "$", omittingEmptySubsequences: true)
        guard fields.count >= 2, fields[0].hasPrefix("2") else { return nil }
        return UInt(fields[1])
    }

    /// A bcrypt setting ("$2b$<cost>$<salt>") with a fresh salt, or nil when libcrypt cannot make one.
    static func setting(cost: UInt) -> String? {
        var setting = [CChar](repeating: 0, count: Int(CRYPT_OUTPUT_SIZE))
        guard footprint_bcrypt_setting(cost, &setting, Int32(setting.count)) == 0 else { return nil }
        return String(decoding: setting.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A bcrypt hash of `password` at `cost` with a fresh salt, or nil when libcrypt cannot make one.
    static func hash(password: String, cost: UInt) -> String? {
        guard let settingText = setting(cost: cost) else { return nil }
        var output = [CChar](repeating: 0, count: Int(CRYPT_OUTPUT_SIZE))
        guard footprint_crypt(password, settingText, &output, output.count) == 0 else { return nil }
        return String(decoding: output.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Standard base64 decoding (RFC 4648), strict about the alphabet and padding.
enum Base64 {
    static func decode(_ text: some StringProtocol) -> [UInt8]? {
        var values: [UInt8] = []
        var padding = 0
        for byte in text.utf8 {
            let value: UInt8
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = byte - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = byte - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0") + 52
            case UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "/"): value = 63
            case UInt8(ascii: "="):
                padding += 1
                continue
            default: return nil
            }
            if padding > 0 { return nil }  // data after padding
            values.append(value)
        }
        guard (values.count + padding) % 4 == 0, padding <= 2 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 3 / 4)
        var index = 0
        while index + 1 < values.count {
            let chunk = values[index..<min(index + 4, values.count)]
            let a = chunk[chunk.startIndex]
            let b = chunk[chunk.startIndex + 1]
            bytes.append(a << 2 | b >> 4)
            if chunk.count > 2 {
                let c = chunk[chunk.startIndex + 2]
                bytes.append((b & 0x0F) << 4 | c >> 2)
                if chunk.count > 3 { bytes.append((c & 0x03) << 6 | chunk[chunk.startIndex + 3]) }
            }
            index += 4
        }
        return bytes
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> Substring {
        var text = self
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return text
    }
}
