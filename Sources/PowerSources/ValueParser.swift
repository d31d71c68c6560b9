/// Strict parsers for the values sysfs and procfs hand out.
public enum ValueParser {
    /// Parses an unsigned decimal integer made only of ASCII digits (after trimming surrounding whitespace).
    ///
    /// Returns nil for an empty string, a sign, any other character, or a value beyond `UInt64.max` (a 20-digit
    /// garbage read must never become a huge energy delta).
    public static func unsigned(_ text: some StringProtocol) -> UInt64? {
        var value: UInt64 = 0
        var digits = 0
        var started = false
        var finished = false
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                if finished { return nil }
                started = true
                digits += 1
                let (multiplied, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (added, overflow2) = multiplied.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
                if overflow1 || overflow2 { return nil }
                value = added
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                if started { finished = true }
            default:
                return nil
            }
        }
        return digits > 0 ? value : nil
    }
}
