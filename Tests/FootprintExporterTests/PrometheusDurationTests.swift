import FootprintExporter
import XCTest

final class PrometheusDurationTests: XCTestCase {
    func testParseValidDurations() {
        XCTAssertEqual(PrometheusDuration.parse("100ms"), .milliseconds(100))
        XCTAssertEqual(PrometheusDuration.parse("1s"), .seconds(1))
        XCTAssertEqual(PrometheusDuration.parse("5s"), .seconds(5))
        XCTAssertEqual(PrometheusDuration.parse("1m"), .seconds(60))
        XCTAssertEqual(PrometheusDuration.parse("1h30m"), .seconds(5400))
        XCTAssertEqual(PrometheusDuration.parse("7d"), .seconds(7 * 86_400))
        XCTAssertEqual(PrometheusDuration.parse("1w"), .seconds(7 * 86_400))
        XCTAssertEqual(PrometheusDuration.parse("1y"), .seconds(365 * 86_400))
        XCTAssertEqual(PrometheusDuration.parse("1h2m3s4ms"), .milliseconds(3_723_004))
        XCTAssertEqual(PrometheusDuration.parse("1ms"), .milliseconds(1), "ms is not read as minutes")
    }

    func testZeroParsesToZero() {
        XCTAssertEqual(PrometheusDuration.parse("0s"), .zero)
        XCTAssertEqual(PrometheusDuration.parse("0ms"), .zero)
    }

    func testEmptyIsInvalid() { XCTAssertNil(PrometheusDuration.parse("")) }
    func testNumberWithoutUnitIsInvalid() { XCTAssertNil(PrometheusDuration.parse("1")) }
    func testUnitWithoutNumberIsInvalid() { XCTAssertNil(PrometheusDuration.parse("s")) }
    func testFractionIsInvalid() { XCTAssertNil(PrometheusDuration.parse("1.5s")) }
    func testNegativeIsInvalid() { XCTAssertNil(PrometheusDuration.parse("-1s")) }
    func testUnitsOutOfOrderAreInvalid() { XCTAssertNil(PrometheusDuration.parse("1s1m")) }
    func testRepeatedUnitIsInvalid() { XCTAssertNil(PrometheusDuration.parse("1m1m")) }
    func testUnknownUnitIsInvalid() { XCTAssertNil(PrometheusDuration.parse("5x")) }
    func testTrailingGarbageIsInvalid() { XCTAssertNil(PrometheusDuration.parse("5s ")) }
    func testSpacesAreInvalid() { XCTAssertNil(PrometheusDuration.parse(" 5s")) }

    func testFormat() {
        XCTAssertEqual(PrometheusDuration.format(.milliseconds(100)), "100ms")
        XCTAssertEqual(PrometheusDuration.format(.seconds(1)), "1s")
        XCTAssertEqual(PrometheusDuration.format(.seconds(5)), "5s")
        XCTAssertEqual(PrometheusDuration.format(.seconds(60)), "1m")
        XCTAssertEqual(PrometheusDuration.format(.seconds(5400)), "1h30m")
        XCTAssertEqual(PrometheusDuration.format(.seconds(90)), "1m30s")
        XCTAssertEqual(PrometheusDuration.format(.seconds(86_400)), "1d")
        XCTAssertEqual(PrometheusDuration.format(.seconds(7 * 86_400)), "1w")
        XCTAssertEqual(PrometheusDuration.format(.seconds(365 * 86_400)), "1y")
        XCTAssertEqual(PrometheusDuration.format(.zero), "0s")
        XCTAssertEqual(PrometheusDuration.format(.milliseconds(1500)), "1s500ms")
    }

    /// Prometheus' own spelling: weeks only when they divide the duration exactly ("30d", not "4w2d").
    func testFormatOfTheBudgetWindowsTheRulesKnow() {
        XCTAssertEqual(PrometheusDuration.format(.seconds(3600)), "1h")
        XCTAssertEqual(PrometheusDuration.format(.seconds(86_400)), "1d")
        XCTAssertEqual(PrometheusDuration.format(.seconds(7 * 86_400)), "1w")
        XCTAssertEqual(PrometheusDuration.format(.seconds(30 * 86_400)), "30d")
    }

    func testFormatThenParseRoundTrips() {
        for milliseconds: Int64 in [
            1, 100, 999, 1000, 61_000, 3_600_000, 5_400_000, 86_400_000, 864_000_000, 31_536_000_000, 33_000_000_123,
        ] {
            let duration = Duration.milliseconds(milliseconds)
            let text = PrometheusDuration.format(duration)
            XCTAssertEqual(PrometheusDuration.parse(text), duration, text)
        }
    }

    func testParseThenFormatRoundTrips() {
        for text in ["100ms", "1s", "5s", "1m", "1h30m", "1w", "1y", "1d1h"] {
            XCTAssertEqual(PrometheusDuration.parse(text).map(PrometheusDuration.format), text)
        }
    }
}
