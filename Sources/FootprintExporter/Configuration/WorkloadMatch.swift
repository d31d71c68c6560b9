import Glibc
import Workloads

/// Which workloads a budget counts (`match:` of a budget in the config file): a workload is counted when any of the
/// matchers holds for it, and a matcher holds when every one of its keys does. Values are exact strings or globs
/// with fnmatch(3) semantics (`nlp-*`, `job-[0-9]*`), compared case-sensitively.
public struct WorkloadMatch: Sendable, Hashable, CustomStringConvertible {
    /// The keys a matcher may hold, in the order they are described.
    public enum Key: String, Sendable, Hashable, CaseIterable {
        case kind, namespace, pod
        case jobID = "job_id"
        case user, unit

        /// Whether the key needs pod names from the kubelet's log directory (`--path.pod-logs`).
        public var needsPodNames: Bool { self == .namespace || self == .pod }
    }

    /// One matcher: every key it holds must hold.
    public struct Matcher: Sendable, Hashable, CustomStringConvertible {
        /// The workload kind required, if any.
        public var kind: WorkloadKind?
        /// The pattern each name must match, by key (never `.kind`).
        public var patterns: [Key: GlobPattern]

        public init(kind: WorkloadKind? = nil, patterns: [Key: GlobPattern] = [:]) {
            self.kind = kind
            self.patterns = patterns.filter { $0.key != .kind }
        }

        /// Whether a workload of `kind` with `names` satisfies every key.
        public func matches(kind: WorkloadKind, names: WorkloadNames) -> Bool {
            if let required = self.kind, required != kind { return false }
            for (key, pattern) in patterns where !pattern.matches(Self.value(of: key, in: names)) {
                return false
            }
            return true
        }

        /// Whether any key needs pod names.
        public var needsPodNames: Bool { patterns.keys.contains { $0.needsPodNames } }

        /// `{kind: pod, namespace: nlp-*}`: the keys in a fixed order.
        public var description: String {
            var parts: [String] = []
            if let kind { parts.append("kind: \(kind.rawValue)") }
            for key in Key.allCases {
                if let pattern = patterns[key] { parts.append("\(key.rawValue): \(pattern.text)") }
            }
            return "{\(parts.joined(separator: ", "))}"
        }

        static func value(of key: Key, in names: WorkloadNames) -> String {
            switch key {
            case .kind: ""
            case .namespace: names.namespace
            case .pod: names.pod
            case .jobID: names.jobID
            case .user: names.user
            case .unit: names.unit
            }
        }
    }

    /// The matchers; a workload is counted when any of them holds.
    public var anyOf: [Matcher]

    public init(anyOf: [Matcher]) {
        self.anyOf = anyOf
    }

    /// Whether a workload of `kind` with `names` is counted: any matcher holds for it.
    public func matches(kind: WorkloadKind, names: WorkloadNames) -> Bool {
        anyOf.contains { $0.matches(kind: kind, names: names) }
    }

    /// Whether any matcher needs pod names (`namespace` or `pod`).
    public var needsPodNames: Bool { anyOf.contains { $0.needsPodNames } }

    /// The match as the config file would write it, keys in a fixed order: `{kind: pod, namespace: nlp-*}`, or
    /// `[{…}, {…}]` for several matchers.
    public var description: String {
        anyOf.count == 1 ? anyOf[0].description : "[\(anyOf.map(\.description).joined(separator: ", "))]"
    }
}

/// A value of a matcher: an exact string, or a glob with fnmatch(3) semantics (`*`, `?`, `[…]`, `\` escapes), checked
/// when it is made so that a bad one is an error in the config file rather than a silent mismatch.
public struct GlobPattern: Sendable, Hashable {
    public let text: String
    /// True when the text holds no special character: it is compared as it is.
    private let isLiteral: Bool

    /// The pattern `text`; throws the reason when it is empty or not a well-formed glob (an unbalanced `[`, a
    /// trailing `\`).
    public init(_ text: String) throws(ConfigurationError) {
        guard !text.isEmpty else { throw ConfigurationError("must not be empty") }
        guard !text.utf8.contains(0) else { throw ConfigurationError("must not contain a NUL character") }
        self.text = text
        isLiteral = !text.utf8.contains {
            $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "\\")
        }
        if !isLiteral { try Self.check(Array(text.utf8)) }
    }

    /// Whether `value` matches: equal to a literal, or matched by fnmatch(3) without flags.
    public func matches(_ value: String) -> Bool {
        if isLiteral { return value == text }
        return fnmatch(text, value, 0) == 0
    }

    /// Checks the brackets and escapes of a glob the way fnmatch(3) reads them.
    private static func check(_ bytes: [UInt8]) throws(ConfigurationError) {
        var index = 0
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\\"):
                guard index + 1 < bytes.count else { throw ConfigurationError("glob ends in a lone \\") }
                index += 2
            case UInt8(ascii: "["):
                index = try closingBracket(bytes, openedAt: index) + 1
            default:
                index += 1
            }
        }
    }

    /// The index of the `]` that closes the bracket expression opened at `start`.
    private static func closingBracket(_ bytes: [UInt8], openedAt start: Int) throws(ConfigurationError) -> Int {
        var index = start + 1
        if index < bytes.count, bytes[index] == UInt8(ascii: "!") || bytes[index] == UInt8(ascii: "^") { index += 1 }
        // A `]` first in the set is a member, not the end.
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1 }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "]") { return index }
            if byte == UInt8(ascii: "\\") {
                index += 2
                continue
            }
            // A class `[:alpha:]`, an equivalence class `[=a=]` or a collating symbol `[.a.]` inside the set.
            if byte == UInt8(ascii: "["), index + 1 < bytes.count,
                let delimiter = [UInt8(ascii: ":"), UInt8(ascii: "="), UInt8(ascii: ".")].first(where: {
                    $0 == bytes[index + 1]
                })
            {
                var end = index + 2
                while end + 1 < bytes.count, !(bytes[end] == delimiter && bytes[end + 1] == UInt8(ascii: "]")) {
                    end += 1
                }
                guard end + 1 < bytes.count else { break }
                index = end + 2
                continue
            }
            index += 1
        }
        throw ConfigurationError("unbalanced [ in glob")
    }
}
