import FoundationEssentials

/// Parses Electricity Maps' answer to `GET /v3/carbon-intensity/latest?zone=<zone>`:
///
/// ```json
/// {"zone":"FR","carbonIntensity":43,"datetime":"2026-11-01T12:00:00.000Z","updatedAt":"2026-11-01T11:49:27.155Z",
///  "createdAt":"2026-10-29T12:52:41.817Z","emissionFactorType":"lifecycle","isEstimated":true,
///  "estimationMethod":"TIME_SLICER_AVERAGE","temporalGranularity":"hourly"}
/// ```
///
/// `carbonIntensity` is the lifecycle average (consumption) intensity in gCO2eq/kWh of the period that starts at
/// `datetime` and lasts `temporalGranularity` (an hour unless it says otherwise); the reading is valid until the end
/// of that period. Fields other than `zone`, `carbonIntensity`, `datetime` and `temporalGranularity` are ignored.
public enum ElectricityMapsResponse {
    /// The reading in `body`, obtained at `nowUnixSeconds`, for `requestedZone` when the answer names none.
    public static func parse(
        _ body: [UInt8], requestedZone: String, nowUnixSeconds: Double
    ) -> Result<IntensityReading, ProviderFailure> {
        let latest: Latest
        do {
            latest = try JSONDecoder().decode(Latest.self, from: Data(body))
        } catch {
            return .failure(.malformed(ProviderJSON.describe(error, body: body)))
        }
        guard let value = latest.carbonIntensity else {
            return .failure(.malformed("carbonIntensity is null: the provider has no value for this zone now"))
        }
        guard value.isFinite, IntensityReading.plausibleGramsPerKilowattHour.contains(value) else {
            return .failure(.outOfRange(value))
        }
        var validUntil: Double?
        if let datetime = latest.datetime {
            guard let start = GridTimestamp.parseRFC3339(datetime) else {
                return .failure(.malformed("datetime is not an RFC 3339 time"))
            }
            validUntil = start + periodSeconds(latest.temporalGranularity)
        }
        return .success(
            IntensityReading(
                gramsPerKilowattHour: value, zone: latest.zone ?? requestedZone, obtainedAtUnixSeconds: nowUnixSeconds,
                validUntilUnixSeconds: validUntil))
    }

    /// The length of a `temporalGranularity`; an hour for `hourly` and for anything unknown or absent.
    static func periodSeconds(_ granularity: String?) -> Double {
        switch granularity {
        case "5_minutes": 300
        case "15_minutes": 900
        case "daily": 86_400
        default: 3600
        }
    }

    private struct Latest: Decodable {
        let zone: String?
        let carbonIntensity: Double?
        let datetime: String?
        let temporalGranularity: String?

        enum CodingKeys: String, CodingKey {
            case zone, carbonIntensity, datetime, temporalGranularity
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            guard container.contains(.carbonIntensity) else {
                throw DecodingError.keyNotFound(
                    CodingKeys.carbonIntensity, .init(codingPath: [], debugDescription: "no carbonIntensity"))
            }
            zone = try container.decodeIfPresent(String.self, forKey: .zone)
            carbonIntensity = try container.decodeIfPresent(Double.self, forKey: .carbonIntensity)
            datetime = try container.decodeIfPresent(String.self, forKey: .datetime)
            temporalGranularity = try container.decodeIfPresent(String.self, forKey: .temporalGranularity)
        }
    }
}

/// What the provider parsers share.
enum ProviderJSON {
    /// One line saying where a body stopped being the expected JSON; never the body's text itself, which a
    /// misbehaving proxy could fill with anything, the request's headers included.
    static func describe(_ error: any Error, body: [UInt8]) -> String {
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 }) { return "the body is empty" }
        if body.first == UInt8(ascii: "<") { return "the body is HTML or XML, not JSON (\(body.count) bytes)" }
        func path(_ codingPath: [any CodingKey]) -> String {
            var text = ""
            for key in codingPath {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += text.isEmpty ? key.stringValue : "." + key.stringValue
                }
            }
            return text.isEmpty ? "the top level" : text
        }
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            let parent = context.codingPath.isEmpty ? "" : " in \(path(context.codingPath))"
            return "no \(key.stringValue)\(parent)"
        case DecodingError.typeMismatch(let type, let context):
            return "\(path(context.codingPath)) is not \(expected(type))"
        case DecodingError.valueNotFound(let type, let context):
            return "\(path(context.codingPath)) is null, expected \(expected(type))"
        case DecodingError.dataCorrupted(let context) where !context.codingPath.isEmpty:
            return "\(path(context.codingPath)) is not valid"
        default:
            return "not JSON, or truncated (\(body.count) bytes)"
        }
    }

    private static func expected(_ type: Any.Type) -> String {
        switch type {
        case is Double.Type, is Int.Type: "a number"
        case is String.Type: "a string"
        case is [String: Any].Type: "an object"
        case is [Any].Type: "an array"
        default: "of the expected type"
        }
    }
}
