import FoundationEssentials

/// The report's range: RFC 3339 times or times relative to now (`-7d`, `now`), and durations (`30d`).
public enum ReportTime {
    /// Seconds since the Unix epoch for `text`, relative to `now`.
    public static func parse(_ text: String, now: Double) throws(ReportError) -> Double {
        if text == "now" { return now }
        if text.hasPrefix("-") {
            guard let seconds = duration(String(text.dropFirst())) else {
                throw .invalidArgument("\(text) is not a relative time such as -7d or -36h")
            }
            return now - seconds
        }
        if let date = try? Date(text, strategy: .iso8601) { return date.timeIntervalSince1970 }
        throw .invalidArgument("\(text) is not a time: give RFC 3339 (2026-11-01T00:00:00Z), -7d or now")
    }

    /// Seconds in a Prometheus-style duration (`90m`, `1h30m`, `30d`, `2w`); nil when it is not one or not positive.
    public static func duration(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800, "y": 31_536_000]
        var total = 0.0
        var digits = ""
        for character in text {
            if character.isASCII, character.isNumber {
                digits.append(character)
            } else if let unit = units[character], let value = Double(digits) {
                total += value * unit
                digits = ""
            } else {
                return nil
            }
        }
        return digits.isEmpty && total > 0 ? total : nil
    }

    /// RFC 3339 in UTC, whole seconds.
    public static func format(_ seconds: Double) -> String {
        Date(timeIntervalSince1970: seconds.rounded(.down)).formatted(.iso8601)
    }
}
