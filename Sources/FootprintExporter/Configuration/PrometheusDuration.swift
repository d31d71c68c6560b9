/// Parses and prints durations in Prometheus' notation: `100ms`, `5s`, `1m`, `1h30m`, `7d`, `1w`, `1y`.
public enum PrometheusDuration {
    private static let units: [(suffix: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000),
        ("y", 31_536_000_000),
    ]

    /// The duration `text` denotes; nil when it is not a sequence of `<digits><unit>` in decreasing unit order.
    public static func parse(_ text: String) -> Duration? {
        var remaining = Substring(text)
        var total: Int64 = 0
        var lastUnitMilliseconds = Int64.max
        guard !remaining.isEmpty else { return nil }
        while !remaining.isEmpty {
            let digits = remaining.prefix(while: { $0.isASCII && $0.isNumber })
            guard !digits.isEmpty, digits.count <= 12, let number = Int64(digits) else { return nil }
            remaining = remaining.dropFirst(digits.count)
            // `units` lists "ms" before "m", so "100ms" is not read as 100 minutes.
            guard let unit = units.first(where: { remaining.hasPrefix($0.suffix) }) else { return nil }
            guard unit.milliseconds < lastUnitMilliseconds else { return nil }
            lastUnitMilliseconds = unit.milliseconds
            remaining = remaining.dropFirst(unit.suffix.count)
            let (product, overflow) = number.multipliedReportingOverflow(by: unit.milliseconds)
            let (sum, overflow2) = total.addingReportingOverflow(product)
            guard !overflow, !overflow2 else { return nil }
            total = sum
        }
        return .milliseconds(total)
    }

    /// Formats `duration` the way Prometheus does (`1h30m`, `100ms`, `30d`, `2w`, `0s`): weeks only when exact.
    public static func format(_ duration: Duration) -> String {
        var milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if milliseconds == 0 { return "0s" }
        var text = ""
        for unit in units.reversed() {
            if unit.suffix == "w" && milliseconds % unit.milliseconds != 0 { continue }
            let count = milliseconds / unit.milliseconds
            guard count > 0 else { continue }
            milliseconds -= count * unit.milliseconds
            text += "\(count)\(unit.suffix)"
        }
        return text
    }
}
