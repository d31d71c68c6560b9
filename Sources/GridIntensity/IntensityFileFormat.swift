import FoundationEssentials

/// Why an intensity file's content was refused; the value in force stays. One line each, for the log.
public enum IntensityFileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Nothing but white space: a writer that truncated the file and has not written it yet.
    case empty
    /// Neither a number nor a JSON object; `excerpt` is the start of the content, control characters replaced.
    case notANumber(excerpt: String)
    /// Starts like a JSON object but is not one (cut short by a partial write, or broken).
    case invalidJSON(String)
    /// A JSON object without `intensity`.
    case missingIntensity
    /// A field of the wrong type or form.
    case invalidField(name: String, reason: String)
    /// The value overflows a double (`1e999`).
    case notFinite
    /// A value outside `IntensityReading.plausibleGramsPerKilowattHour`.
    case outOfRange(Double)

    /// The `reason` label of `footprint_grid_provider_errors_total{provider="file"}` for this refusal.
    public var reason: String {
        switch self {
        case .notFinite, .outOfRange: "out_of_range"
        case .empty, .notANumber, .invalidJSON, .missingIntensity, .invalidField: "malformed"
        }
    }

    /// Every `reason` label of the intensity file, with `unreadable` for a file that cannot be read at all.
    public static let allReasons = ["unreadable", "malformed", "out_of_range"]

    public var description: String {
        switch self {
        case .empty:
            "the file is empty (a writer that has not finished? write it to a temporary file and rename it)"
        case .notANumber(let excerpt):
            "the file holds neither a number nor a JSON object: \"\(excerpt)\""
        case .invalidJSON(let detail):
            "the file is not a valid JSON object (cut short?): \(detail)"
        case .missingIntensity:
            "the JSON object has no \"intensity\""
        case .invalidField(let name, let reason):
            "\"\(name)\" \(reason)"
        case .notFinite:
            "the intensity is not a finite number"
        case .outOfRange(let value):
            "the intensity \(value) g/kWh is outside \(Int(IntensityReading.plausibleGramsPerKilowattHour.lowerBound))...\(Int(IntensityReading.plausibleGramsPerKilowattHour.upperBound))"
        }
    }
}

/// The intensity file (`--grid.intensity.file`) that any external job may write, and that
/// `footprint_exporter intensity fetch` writes.
///
/// Either a plain decimal number of g/kWh, white space around it allowed:
///
///     412.5
///
/// or a JSON object:
///
///     {"intensity": 412.5, "valid_until": "2026-11-01T13:00:00Z", "zone": "FR"}
///
/// `intensity` (a number) is required. `valid_until` (RFC 3339, or a number of seconds since the Unix epoch) is
/// when the value stops holding. `zone` (a string) is shown in the metrics. `fetched_at` (RFC 3339, or seconds) is
/// when the value was obtained: the reading's age counts from it, from the time of reading when it is absent (a
/// job that stopped writing shows by its `valid_until`, which the exporter holds the file's value to). Other keys (`source`, anything else) are ignored.
public enum IntensityFileFormat {
    /// The reading in `bytes`, read at `nowUnixSeconds`, or why there is none.
    public static func parse(_ bytes: [UInt8], nowUnixSeconds: Double) -> Result<IntensityReading, IntensityFileError> {
        var content = bytes[...]
        if content.starts(with: [0xEF, 0xBB, 0xBF]) { content = content.dropFirst(3) }
        while let first = content.first, isSpace(first) { content = content.dropFirst() }
        while let last = content.last, isSpace(last) { content = content.dropLast() }
        guard let first = content.first else { return .failure(.empty) }
        if first == UInt8(ascii: "{") { return parseObject(Array(content), now: nowUnixSeconds) }
        guard isDecimal(content), let value = Double(String(decoding: content, as: UTF8.self)) else {
            return .failure(.notANumber(excerpt: excerpt(content)))
        }
        return checked(value).map {
            IntensityReading(gramsPerKilowattHour: $0, zone: "", obtainedAtUnixSeconds: nowUnixSeconds)
        }
    }

    /// The JSON object `intensity fetch` writes for `reading`, with a final line break: `intensity`,
    /// `valid_until` (when the reading has one), `zone` (when not empty), `source` and `fetched_at` (the
    /// reading's `obtainedAtUnixSeconds`). `parse` gives the reading back, times to the whole second.
    public static func render(_ reading: IntensityReading, source: String) -> [UInt8] {
        let file = WrittenFile(
            intensity: reading.gramsPerKilowattHour,
            validUntil: reading.validUntilUnixSeconds.map(GridTimestamp.formatRFC3339),
            zone: reading.zone.isEmpty ? nil : reading.zone, source: source,
            fetchedAt: GridTimestamp.formatRFC3339(reading.obtainedAtUnixSeconds))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding strings and finite numbers cannot fail; a reading is finite (the parsers and the range see to it).
        return ((try? encoder.encode(file)).map(Array.init) ?? Array("{}".utf8)) + [0x0a]
    }

    /// The object `render` writes, its keys in alphabetical order.
    private struct WrittenFile: Encodable {
        let intensity: Double
        let validUntil: String?
        let zone: String?
        let source: String
        let fetchedAt: String

        enum CodingKeys: String, CodingKey {
            case intensity, zone, source
            case validUntil = "valid_until"
            case fetchedAt = "fetched_at"
        }
    }

    private static func parseObject(_ bytes: [UInt8], now: Double) -> Result<IntensityReading, IntensityFileError> {
        let object: [String: FieldValue]
        do {
            object = try JSONDecoder().decode([String: FieldValue].self, from: Data(bytes))
        } catch {
            return .failure(.invalidJSON(describe(error)))
        }
        guard let intensityField = object["intensity"] else { return .failure(.missingIntensity) }
        guard case .number(let value) = intensityField else {
            return .failure(.invalidField(name: "intensity", reason: "must be a number of g/kWh"))
        }
        let intensity: Double
        switch checked(value) {
        case .success(let good): intensity = good
        case .failure(let error): return .failure(error)
        }
        var zone = ""
        switch object["zone"] {
        case nil, .null: break
        case .string(let text): zone = text
        default: return .failure(.invalidField(name: "zone", reason: "must be a string"))
        }
        let validUntil: Double?
        switch time(object["valid_until"], name: "valid_until") {
        case .success(let value): validUntil = value
        case .failure(let error): return .failure(error)
        }
        var obtainedAt = now
        switch time(object["fetched_at"], name: "fetched_at") {
        case .success(let value?): obtainedAt = min(value, now)
        case .success(nil): break
        case .failure(let error): return .failure(error)
        }
        return .success(
            IntensityReading(
                gramsPerKilowattHour: intensity, zone: zone, obtainedAtUnixSeconds: obtainedAt,
                validUntilUnixSeconds: validUntil))
    }

    /// A time field: RFC 3339 text or seconds since the Unix epoch; nil when absent or null.
    private static func time(_ field: FieldValue?, name: String) -> Result<Double?, IntensityFileError> {
        switch field {
        case nil, .null:
            return .success(nil)
        case .number(let seconds) where seconds.isFinite && seconds >= 0:
            return .success(seconds)
        case .string(let text):
            guard let seconds = GridTimestamp.parseRFC3339(text) else {
                return .failure(
                    .invalidField(
                        name: name, reason: "is not an RFC 3339 time such as 2026-11-01T13:00:00Z: \"\(clip(text))\""))
            }
            return .success(seconds)
        default:
            return .failure(
                .invalidField(name: name, reason: "must be an RFC 3339 time or a number of seconds since 1970"))
        }
    }

    private static func checked(_ value: Double) -> Result<Double, IntensityFileError> {
        guard value.isFinite else { return .failure(.notFinite) }
        guard IntensityReading.plausibleGramsPerKilowattHour.contains(value) else {
            return .failure(.outOfRange(value))
        }
        return .success(value == 0 ? 0 : value)  // no -0
    }

    /// `[+-]?(digits[.digits]|.digits)([eE][+-]?digits)?`: what `Double(String)` would also take as hex, `nan` or
    /// `inf` is refused.
    private static func isDecimal(_ bytes: ArraySlice<UInt8>) -> Bool {
        var index = bytes.startIndex
        func isDigit(_ i: Int) -> Bool { i < bytes.endIndex && (48...57).contains(bytes[i]) }
        if index < bytes.endIndex, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            index += 1
        }
        var mantissaDigits = 0
        while isDigit(index) {
            index += 1
            mantissaDigits += 1
        }
        if index < bytes.endIndex, bytes[index] == UInt8(ascii: ".") {
            index += 1
            while isDigit(index) {
                index += 1
                mantissaDigits += 1
            }
        }
        guard mantissaDigits > 0 else { return false }
        if index < bytes.endIndex, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.endIndex, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard isDigit(index) else { return false }
            while isDigit(index) { index += 1 }
        }
        return index == bytes.endIndex
    }

    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0a || byte == 0x0d }

    private static func excerpt(_ bytes: ArraySlice<UInt8>) -> String {
        clip(String(decoding: bytes.prefix(64), as: UTF8.self))
    }

    /// At most 40 characters, control characters and quotes replaced, for a one-line message.
    private static func clip(_ text: String) -> String {
        let cleaned = String(
            text.unicodeScalars.prefix(40).map { scalar -> Character in
                scalar.value < 0x20 || scalar.value == 0x7f || scalar == "\"" || scalar == "\\"
                    ? "?" : Character(scalar)
            })
        return text.unicodeScalars.count > 40 ? cleaned + "…" : cleaned
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.typeMismatch: "not an object"
        case DecodingError.dataCorrupted(let context):
            context.underlyingError.map { "\($0)".split(separator: "\n").first.map(String.init) ?? "" }
                ?? context.debugDescription
        default: "\(error)"
        }
    }

    /// One value of the object, whatever its JSON type.
    private enum FieldValue: Decodable {
        case number(Double)
        case string(String)
        case bool
        case null
        case other

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .null
            } else if let value = try? container.decode(Double.self) {
                self = .number(value)
            } else if let value = try? container.decode(String.self) {
                self = .string(value)
            } else if (try? container.decode(Bool.self)) != nil {
                self = .bool
            } else {
                self = .other
            }
        }
    }
}
