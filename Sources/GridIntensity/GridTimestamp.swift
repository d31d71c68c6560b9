import FoundationEssentials

/// The timestamps the providers, the intensity file and `Retry-After` use, converted without Foundation's date
/// parsers: the providers write forms the strict RFC 3339 parsers refuse (`2026-11-01T12:30Z` without seconds, from
/// the UK API; `2026-11-01T12:00:00.000Z` with milliseconds, from Electricity Maps).
public enum GridTimestamp {
    /// Seconds since the Unix epoch for an RFC 3339 time, also accepting a missing seconds field, a fraction of any
    /// length, a lower-case `t`/`z`, and a space between date and time; nil for anything else.
    ///
    /// `2026-11-01T12:30Z`, `2026-11-01T12:30:00Z`, `2026-11-01T12:30:00.125+01:00`.
    public static func parseRFC3339(_ text: String) -> Double? {
        var scanner = Scanner(Array(text.utf8))
        guard let year = scanner.digits(4), scanner.take(UInt8(ascii: "-")),
            let month = scanner.digits(2), scanner.take(UInt8(ascii: "-")),
            let day = scanner.digits(2),
            scanner.take(UInt8(ascii: "T")) || scanner.take(UInt8(ascii: "t")) || scanner.take(UInt8(ascii: " ")),
            let hour = scanner.digits(2), scanner.take(UInt8(ascii: ":")),
            let minute = scanner.digits(2)
        else { return nil }
        var second = 0
        var fraction = 0.0
        if scanner.take(UInt8(ascii: ":")) {
            guard let whole = scanner.digits(2) else { return nil }
            second = whole
            if scanner.take(UInt8(ascii: ".")) {
                var scale = 0.1
                var any = false
                while let digit = scanner.digit() {
                    fraction += Double(digit) * scale
                    scale /= 10
                    any = true
                }
                guard any else { return nil }
            }
        }
        let offsetSeconds: Int
        if scanner.take(UInt8(ascii: "Z")) || scanner.take(UInt8(ascii: "z")) {
            offsetSeconds = 0
        } else if let sign = scanner.take(anyOf: [UInt8(ascii: "+"), UInt8(ascii: "-")]) {
            guard let offsetHours = scanner.digits(2), scanner.take(UInt8(ascii: ":")),
                let offsetMinutes = scanner.digits(2), offsetHours <= 23, offsetMinutes <= 59
            else { return nil }
            offsetSeconds = (offsetHours * 3600 + offsetMinutes * 60) * (sign == UInt8(ascii: "-") ? -1 : 1)
        } else {
            return nil
        }
        guard scanner.atEnd,
            let seconds = unixSeconds(
                year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        else { return nil }
        return Double(seconds - offsetSeconds) + fraction
    }

    /// RFC 3339 in UTC with whole seconds (`2026-11-01T12:30:00Z`); the fraction is dropped. Writing needs none of
    /// the leniency reading does, so Foundation's ISO 8601 format writes it.
    public static func formatRFC3339(_ unixSeconds: Double) -> String {
        Date(timeIntervalSince1970: unixSeconds.rounded(.down)).formatted(.iso8601)
    }

    /// Seconds since the Unix epoch for an HTTP date in the preferred form (`Sun, 06 Nov 1994 08:49:37 GMT`,
    /// RFC 9110 section 5.6.7), the form `Retry-After` uses; nil for anything else.
    public static func parseHTTPDate(_ text: String) -> Double? {
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 6, parts[0].hasSuffix(","), parts[5] == "GMT",
            let day = Int(parts[1]), parts[1].count == 2,
            let monthIndex = months.firstIndex(of: String(parts[2])),
            let year = Int(parts[3]), parts[3].count == 4
        else { return nil }
        let clock = parts[4].split(separator: ":", omittingEmptySubsequences: false)
        guard clock.count == 3, clock.allSatisfy({ $0.count == 2 }),
            let hour = Int(clock[0]), let minute = Int(clock[1]), let second = Int(clock[2]),
            let seconds = unixSeconds(
                year: year, month: monthIndex + 1, day: day, hour: hour, minute: minute, second: second)
        else { return nil }
        return Double(seconds)
    }

    /// Seconds since the Unix epoch of a UTC calendar time; nil when a field is out of its range. A leap second
    /// (second 60) counts as the next second, as POSIX time does.
    static func unixSeconds(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Int? {
        guard (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day), (0...23).contains(hour),
            (0...59).contains(minute), (0...60).contains(second)
        else { return nil }
        return daysSinceEpoch(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second
    }

    private static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date (the usual era-based conversion: eras of 400 years,
    /// years starting in March so that the leap day comes last).
    private static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

/// Reads ASCII fields off the front of a byte array.
private struct Scanner {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { position == bytes.count }

    mutating func take(_ byte: UInt8) -> Bool {
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    mutating func take(anyOf choices: [UInt8]) -> UInt8? {
        guard position < bytes.count, choices.contains(bytes[position]) else { return nil }
        position += 1
        return bytes[position - 1]
    }

    mutating func digit() -> Int? {
        guard position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) else {
            return nil
        }
        position += 1
        return Int(bytes[position - 1] - UInt8(ascii: "0"))
    }

    /// Exactly `count` digits as a number.
    mutating func digits(_ count: Int) -> Int? {
        let start = position
        var value = 0
        for _ in 0..<count {
            guard let digit = digit() else {
                position = start
                return nil
            }
            value = value * 10 + digit
        }
        return value
    }
}
