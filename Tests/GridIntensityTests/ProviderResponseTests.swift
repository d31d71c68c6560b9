import Testing

@testable import GridIntensity

/// 2026-11-01T12:00:00Z, the hour the fixtures describe.
private let noon = 1_793_534_400.0

@Suite struct ProviderResponseTests {
    @Test func electricityMapsLatestGivesTheValueTheZoneAndTheEndOfTheHour() throws {
        let reading = try ElectricityMapsResponse.parse(
            GridFixtures.bytes("electricitymaps-latest-FR.json"), requestedZone: "FR", nowUnixSeconds: noon + 600
        ).get()
        #expect(
            reading
                == IntensityReading(
                    gramsPerKilowattHour: 38, zone: "FR", obtainedAtUnixSeconds: noon + 600,
                    validUntilUnixSeconds: noon + 3600))
    }

    @Test func electricityMapsPeriodFollowsTheGranularity() {
        let body =
            #"{"zone":"DE","carbonIntensity":312.5,"datetime":"2026-11-01T12:15:00.000Z","temporalGranularity":"15_minutes"}"#
        let reading = try? ElectricityMapsResponse.parse(Array(body.utf8), requestedZone: "DE", nowUnixSeconds: noon)
            .get()
        #expect(reading?.gramsPerKilowattHour == 312.5)
        #expect(reading?.validUntilUnixSeconds == noon + 900 + 900)
    }

    @Test func electricityMapsWithoutDatetimeHasNoValidity() {
        let body = #"{"carbonIntensity":120}"#
        let reading = try? ElectricityMapsResponse.parse(Array(body.utf8), requestedZone: "PL", nowUnixSeconds: noon)
            .get()
        #expect(reading == IntensityReading(gramsPerKilowattHour: 120, zone: "PL", obtainedAtUnixSeconds: noon))
    }

    @Test func ukNationalPrefersTheMeasuredValue() throws {
        let measured = try UKCarbonIntensityResponse.parseNational(
            GridFixtures.bytes("uk-national.json"), nowUnixSeconds: noon + 60
        ).get()
        #expect(
            measured
                == IntensityReading(
                    gramsPerKilowattHour: 176, zone: "GB", obtainedAtUnixSeconds: noon + 60,
                    validUntilUnixSeconds: noon + 1800))
        let forecast = try UKCarbonIntensityResponse.parseNational(
            GridFixtures.bytes("uk-national-forecast-only.json"), nowUnixSeconds: noon
        ).get()
        #expect(forecast.gramsPerKilowattHour == 182)
    }

    @Test func ukRegionalGivesTheRegionsForecast() throws {
        let reading = try UKCarbonIntensityResponse.parseRegional(
            GridFixtures.bytes("uk-regional-13.json"), zone: "13", nowUnixSeconds: noon
        ).get()
        #expect(
            reading
                == IntensityReading(
                    gramsPerKilowattHour: 164, zone: "13", obtainedAtUnixSeconds: noon,
                    validUntilUnixSeconds: noon + 1800))
        let other = UKCarbonIntensityResponse.parseRegional(
            try GridFixtures.bytes("uk-regional-13.json"), zone: "7", nowUnixSeconds: noon)
        #expect(other == .failure(.malformed("the answer is for region 13, not 7")))
    }

    @Test func valuesOutsideThePlausibleRangeAreRefused() throws {
        #expect(
            ElectricityMapsResponse.parse(
                try GridFixtures.bytes("electricitymaps-out-of-range.json"), requestedZone: "FR", nowUnixSeconds: noon)
                == .failure(.outOfRange(38000)))
        #expect(
            UKCarbonIntensityResponse.parseNational(
                try GridFixtures.bytes("uk-national-out-of-range.json"), nowUnixSeconds: noon)
                == .failure(.outOfRange(-12)))
    }

    @Test(arguments: [
        ("electricitymaps-malformed.json", "not JSON, or truncated"),
        ("uk-malformed.html", "HTML"),
        ("uk-error-400.json", "no data"),
    ])
    func malformedAnswersSayWhy(fixture: String, fragment: String) throws {
        let body = try GridFixtures.bytes(fixture)
        let failure: ProviderFailure?
        if fixture.hasPrefix("uk") {
            failure = UKCarbonIntensityResponse.parseNational(body, nowUnixSeconds: noon).failureValue
        } else {
            failure = ElectricityMapsResponse.parse(body, requestedZone: "FR", nowUnixSeconds: noon).failureValue
        }
        guard case .malformed(let detail) = failure else {
            Issue.record("\(String(describing: failure))")
            return
        }
        #expect(detail.contains(fragment), "\(detail)")
        #expect(failure?.reason == "malformed")
    }

    @Test(arguments: [
        (#"{"zone":"FR","carbonIntensity":null,"datetime":"2026-11-01T12:00:00.000Z"}"#, "carbonIntensity is null"),
        (#"{"zone":"FR","carbonIntensity":"38"}"#, "carbonIntensity is not a number"),
        (#"{"zone":"FR"}"#, "no carbonIntensity"),
        (#"{"zone":"FR","carbonIntensity":38,"datetime":"yesterday"}"#, "datetime is not an RFC 3339 time"),
        (#"[1,2]"#, "the top level is not an object"),
        ("", "the body is empty"),
    ])
    func electricityMapsFieldProblemsAreMalformed(body: String, fragment: String) {
        let failure = ElectricityMapsResponse.parse(Array(body.utf8), requestedZone: "FR", nowUnixSeconds: noon)
            .failureValue
        guard case .malformed(let detail) = failure else {
            Issue.record("\(String(describing: failure))")
            return
        }
        #expect(detail.contains(fragment), "\(detail)")
    }

    @Test(arguments: [
        (#"{"data":[]}"#, "data is empty"),
        (
            #"{"data":[{"from":"2026-11-01T12:00Z","to":"2026-11-01T12:30Z","intensity":{"forecast":null,"actual":null}}]}"#,
            "neither an actual nor a forecast"
        ),
        (#"{"data":[{"from":"2026-11-01T12:00Z","to":"soon","intensity":{"forecast":100}}]}"#, "to is not a time"),
        (#"{"data":[{"from":"2026-11-01T12:00Z","intensity":{"forecast":100}}]}"#, "no to in data[0]"),
        (
            #"{"data":[{"to":"2026-11-01T12:30Z","intensity":{"forecast":"high"}}]}"#,
            "data[0].intensity.forecast is not a number"
        ),
    ])
    func ukFieldProblemsAreMalformed(body: String, fragment: String) {
        let failure = UKCarbonIntensityResponse.parseNational(Array(body.utf8), nowUnixSeconds: noon).failureValue
        guard case .malformed(let detail) = failure else {
            Issue.record("\(String(describing: failure))")
            return
        }
        #expect(detail.contains(fragment), "\(detail)")
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
}
