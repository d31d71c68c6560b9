import FoundationEssentials

/// Parses the answers of Great Britain's Carbon Intensity API (https://api.carbonintensity.org.uk).
///
/// National, `GET /intensity`, the current half hour:
///
/// ```json
/// {"data":[{"from":"2026-11-01T12:00Z","to":"2026-11-01T12:30Z",
///           "intensity":{"forecast":182,"actual":176,"index":"moderate"}}]}
/// ```
///
/// Regional, `GET /regional/regionid/<id>`:
///
/// ```json
/// {"data":[{"regionid":13,"dnoregion":"UKPN London","shortname":"London",
///           "data":[{"from":"2026-11-01T12:00Z","to":"2026-11-01T12:30Z",
///                    "intensity":{"forecast":164,"index":"moderate"},"generationmix":[{"fuel":"gas","perc":31.4}]}]}]}
/// ```
///
/// The value is `actual` when the API has one (national only, once the half hour has been measured), else
/// `forecast`; it is valid until the period's `to`.
public enum UKCarbonIntensityResponse {
    /// The national reading in `body` (zone `GB`), obtained at `nowUnixSeconds`.
    public static func parseNational(_ body: [UInt8], nowUnixSeconds: Double) -> Result<
        IntensityReading, ProviderFailure
    > {
        let answer: Envelope<Period>
        do {
            answer = try JSONDecoder().decode(Envelope<Period>.self, from: Data(body))
        } catch {
            return .failure(.malformed(ProviderJSON.describe(error, body: body)))
        }
        guard let period = answer.data.first else { return .failure(.malformed("data is empty")) }
        return reading(period, zone: "GB", now: nowUnixSeconds)
    }

    /// The regional reading in `body`, for `zone` (the region id asked for), obtained at `nowUnixSeconds`.
    public static func parseRegional(
        _ body: [UInt8], zone: String, nowUnixSeconds: Double
    ) -> Result<IntensityReading, ProviderFailure> {
        let answer: Envelope<Region>
        do {
            answer = try JSONDecoder().decode(Envelope<Region>.self, from: Data(body))
        } catch {
            return .failure(.malformed(ProviderJSON.describe(error, body: body)))
        }
        guard let region = answer.data.first else { return .failure(.malformed("data is empty")) }
        if let asked = GridProvider.ukRegionID(zone), let answered = region.regionid, answered != asked {
            return .failure(.malformed("the answer is for region \(answered), not \(asked)"))
        }
        guard let period = region.data.first else { return .failure(.malformed("data[0].data is empty")) }
        return reading(period, zone: zone, now: nowUnixSeconds)
    }

    private static func reading(_ period: Period, zone: String, now: Double) -> Result<
        IntensityReading, ProviderFailure
    > {
        guard let value = period.intensity.actual ?? period.intensity.forecast else {
            return .failure(.malformed("the period has neither an actual nor a forecast intensity"))
        }
        guard value.isFinite, IntensityReading.plausibleGramsPerKilowattHour.contains(value) else {
            return .failure(.outOfRange(value))
        }
        guard let end = GridTimestamp.parseRFC3339(period.to) else {
            return .failure(.malformed("the period's to is not a time"))
        }
        return .success(
            IntensityReading(
                gramsPerKilowattHour: value, zone: zone, obtainedAtUnixSeconds: now, validUntilUnixSeconds: end))
    }

    private struct Envelope<Element: Decodable>: Decodable {
        let data: [Element]
    }

    private struct Region: Decodable {
        let regionid: Int?
        let data: [Period]
    }

    private struct Period: Decodable {
        let to: String
        let intensity: Intensity
    }

    private struct Intensity: Decodable {
        let forecast: Double?
        let actual: Double?
    }
}
