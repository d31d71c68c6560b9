import Testing

@testable import GridIntensity

private let now = 1_793_534_400.0  // 2026-11-01T12:00:00Z

private func parse(_ text: String) -> Result<IntensityReading, IntensityFileError> {
    IntensityFileFormat.parse(Array(text.utf8), nowUnixSeconds: now)
}

@Suite struct IntensityFileFormatTests {
    @Test(arguments: [
        ("412.5", 412.5), ("412.5\n", 412.5), ("  \t 98 \r\n", 98), ("0", 0), ("2000", 2000), ("+7", 7), (".5", 0.5),
        ("3.", 3), ("1e2", 100), ("-0", 0), ("\u{FEFF}250\n", 250),
    ])
    func aPlainNumber(text: String, value: Double) {
        #expect(
            parse(text) == .success(IntensityReading(gramsPerKilowattHour: value, zone: "", obtainedAtUnixSeconds: now))
        )
    }

    @Test func aJSONObject() throws {
        #expect(
            parse(#"{"intensity": 233, "valid_until": "2026-11-01T13:00:00Z", "zone": "DE", "note": [1, {"x": 2}]}"#)
                == .success(
                    IntensityReading(
                        gramsPerKilowattHour: 233, zone: "DE", obtainedAtUnixSeconds: now,
                        validUntilUnixSeconds: now + 3600)))
        #expect(
            parse(#"{"intensity":233.5,"valid_until":1793538000}"#)
                == .success(
                    IntensityReading(
                        gramsPerKilowattHour: 233.5, zone: "", obtainedAtUnixSeconds: now,
                        validUntilUnixSeconds: 1_793_538_000)))
        #expect(
            parse("{\"intensity\":10,\"valid_until\":null,\"zone\":null}\n")
                == .success(IntensityReading(gramsPerKilowattHour: 10, zone: "", obtainedAtUnixSeconds: now)))
        // fetched_at gives the age; one in the future counts as now.
        #expect(
            try parse(#"{"intensity":10,"fetched_at":"2026-11-01T11:00:00+00:00"}"#).get().obtainedAtUnixSeconds == now
                - 3600)
        #expect(try parse(#"{"intensity":10,"fetched_at":"2027-01-01T00:00:00Z"}"#).get().obtainedAtUnixSeconds == now)
    }

    @Test(arguments: [
        ("", IntensityFileError.empty), (" \n\t", .empty),
        ("abc", .notANumber(excerpt: "abc")), ("412 g/kWh", .notANumber(excerpt: "412 g/kWh")),
        ("nan", .notANumber(excerpt: "nan")), ("inf", .notANumber(excerpt: "inf")),
        ("0x10", .notANumber(excerpt: "0x10")),
        ("1e", .notANumber(excerpt: "1e")), ("\"412\"", .notANumber(excerpt: "?412?")),
        ("4 1 2", .notANumber(excerpt: "4 1 2")),
        ("1e999", .notFinite), ("-1", .outOfRange(-1)), ("2000.5", .outOfRange(2000.5)),
        (#"{"intensity":5000}"#, .outOfRange(5000)), (#"{"zone":"DE"}"#, .missingIntensity),
        (#"{"intensity":"412"}"#, .invalidField(name: "intensity", reason: "must be a number of g/kWh")),
        (#"{"intensity":null}"#, .invalidField(name: "intensity", reason: "must be a number of g/kWh")),
        (#"{"intensity":1,"zone":5}"#, .invalidField(name: "zone", reason: "must be a string")),
        (
            #"{"intensity":1,"valid_until":"tomorrow"}"#,
            .invalidField(
                name: "valid_until", reason: "is not an RFC 3339 time such as 2026-11-01T13:00:00Z: \"tomorrow\"")
        ),
        (
            #"{"intensity":1,"valid_until":true}"#,
            .invalidField(name: "valid_until", reason: "must be an RFC 3339 time or a number of seconds since 1970")
        ),
        (
            #"{"intensity":1,"valid_until":-5}"#,
            .invalidField(name: "valid_until", reason: "must be an RFC 3339 time or a number of seconds since 1970")
        ),
    ])
    func refusals(text: String, expected: IntensityFileError) {
        #expect(parse(text) == .failure(expected))
    }

    @Test(arguments: [
        #"{"intensity": 41"#, #"{"intensity": 412.5, "valid_until": "2026-11-"#, "{", #"{"intensity":1}}"#,
        "{intensity: 1}",
    ])
    func aPartialOrBrokenObjectIsInvalidJSON(text: String) {
        guard case .failure(.invalidJSON(let detail)) = parse(text) else {
            Issue.record("\(parse(text))")
            return
        }
        #expect(!detail.isEmpty && !detail.contains("\n"))
        #expect(!"\(IntensityFileError.invalidJSON(detail))".contains("\n"))
    }

    @Test func garbageIsQuotedOnOneLine() {
        let binary: [UInt8] =
            [0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0x0a] + Array(repeating: 0x41, count: 100)
        guard case .failure(let error) = IntensityFileFormat.parse(binary, nowUnixSeconds: now) else {
            Issue.record("garbage accepted")
            return
        }
        #expect(!"\(error)".contains("\n"))
        #expect("\(error)".hasSuffix("…\""))
    }

    @Test func whatIntensityFetchWritesParsesBack() throws {
        let reading = IntensityReading(
            gramsPerKilowattHour: 176, zone: "GB \"south\"", obtainedAtUnixSeconds: now + 12.7,
            validUntilUnixSeconds: now + 1800)
        let bytes = IntensityFileFormat.render(reading, source: "uk-carbon-intensity")
        #expect(
            String(decoding: bytes, as: UTF8.self)
                == #"{"fetched_at":"2026-11-01T12:00:12Z","intensity":176,"source":"uk-carbon-intensity","valid_until":"2026-11-01T12:30:00Z","zone":"GB \"south\""}"#
                + "\n")
        let back = try IntensityFileFormat.parse(bytes, nowUnixSeconds: now + 60).get()
        #expect(
            back
                == IntensityReading(
                    gramsPerKilowattHour: 176, zone: "GB \"south\"", obtainedAtUnixSeconds: now + 12,
                    validUntilUnixSeconds: now + 1800))
        let fraction = IntensityReading(gramsPerKilowattHour: 38.25, zone: "", obtainedAtUnixSeconds: now)
        #expect(
            try IntensityFileFormat.parse(IntensityFileFormat.render(fraction, source: "x\n"), nowUnixSeconds: now)
                .get()
                == fraction)
    }

    @Test func errorsAreOneLine() {
        for error in [
            IntensityFileError.empty, .notANumber(excerpt: "x"), .invalidJSON("y"), .missingIntensity,
            .invalidField(name: "zone", reason: "must be a string"), .notFinite, .outOfRange(3000),
        ] {
            #expect(!"\(error)".isEmpty && !"\(error)".contains("\n"))
        }
    }
}

@Suite struct GridTimestampTests {
    @Test(arguments: [
        ("2026-11-01T12:00:00Z", 1_793_534_400.0), ("2026-11-01T12:00Z", 1_793_534_400),
        ("2026-11-01t12:00:00z", 1_793_534_400),
        ("2026-11-01 12:00:00Z", 1_793_534_400), ("2026-11-01T12:00:00.250Z", 1_793_534_400.25),
        ("2026-11-01T13:30:00+01:30", 1_793_534_400), ("2026-11-01T10:00:00-02:00", 1_793_534_400),
        ("1970-01-01T00:00:00Z", 0), ("2024-02-29T00:00:00Z", 1_709_164_800), ("1969-12-31T23:59:59Z", -1),
        ("2016-12-31T23:59:60Z", 1_483_228_800),
    ])
    func rfc3339(text: String, seconds: Double) {
        #expect(GridTimestamp.parseRFC3339(text) == seconds)
    }

    @Test(arguments: [
        "", "2026-11-01", "2026-11-01T12:00:00", "2026-11-01T12:00:00.Z", "2026-13-01T00:00:00Z",
        "2025-02-29T00:00:00Z",
        "2026-11-01T24:00:00Z", "2026-11-01T12:00:00+0100", "2026-11-01T12:00:00Z ", "26-11-01T12:00:00Z",
    ])
    func notRFC3339(text: String) {
        #expect(GridTimestamp.parseRFC3339(text) == nil)
    }

    @Test func formatting() {
        #expect(GridTimestamp.formatRFC3339(1_793_534_400.9) == "2026-11-01T12:00:00Z")
        #expect(GridTimestamp.formatRFC3339(0) == "1970-01-01T00:00:00Z")
        #expect(GridTimestamp.formatRFC3339(-1) == "1969-12-31T23:59:59Z")
        #expect(GridTimestamp.formatRFC3339(1_709_164_800) == "2024-02-29T00:00:00Z")
        for seconds in stride(from: -100_000_000.0, to: 4_000_000_000, by: 12_345_677) {
            #expect(GridTimestamp.parseRFC3339(GridTimestamp.formatRFC3339(seconds)) == seconds)
        }
    }

    @Test func httpDates() {
        #expect(GridTimestamp.parseHTTPDate("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(GridTimestamp.parseHTTPDate("Sun, 06 Nov 1994 08:49:37 UTC") == nil)
        #expect(GridTimestamp.parseHTTPDate("Sun, 6 Nov 1994 08:49:37 GMT") == nil)
        #expect(GridTimestamp.parseHTTPDate("Sun, 31 Nov 1994 08:49:37 GMT") == nil)
        #expect(GridTimestamp.parseHTTPDate("120") == nil)
    }
}
