import EnergyAccounting
import XCTest

@testable import FootprintExporter

/// The live page's last hour of power: a ring of fixed size.
final class PowerHistoryTests: XCTestCase {
    func testOnePointPerSampleAtOneSecondAndTheRingWraps() {
        var history = PowerHistory(intervalSeconds: 1, windowSeconds: 5)
        XCTAssertEqual(history.capacity, 5)
        XCTAssertEqual(history.secondsPerPoint, 1)
        for watts in 1...7 { history.append(cpu: Double(watts), dram: 0, gpu: Double(watts) * 10) }
        XCTAssertEqual(history.count, 5)
        XCTAssertEqual(history.points(.cpu), [3, 4, 5, 6, 7], "oldest first, the two oldest overwritten")
        XCTAssertEqual(history.points(.gpu), [30, 40, 50, 60, 70])
    }

    func testShortIntervalsAverageIntoABoundedNumberOfPoints() {
        var history = PowerHistory(intervalSeconds: 0.1)
        XCTAssertEqual(history.capacity, PowerHistory.maximumPoints, "an hour at 100 ms is 36,000 samples")
        XCTAssertEqual(history.samplesPerPoint, 10)
        XCTAssertEqual(history.secondsPerPoint, 1, accuracy: 1e-12)
        for sample in 0..<20 { history.append(cpu: Double(sample), dram: 1, gpu: 0) }
        XCTAssertEqual(history.points(.cpu), [4.5, 14.5], "each point is the mean of its ten samples")
        XCTAssertEqual(history.points(.dram), [1, 1])
    }

    func testEmptyUntilTheFirstPoint() {
        var history = PowerHistory(intervalSeconds: 0.5, windowSeconds: 60)
        XCTAssertEqual(history.points(.cpu), [])
        history.append(cpu: 1, dram: 1, gpu: 1)
        XCTAssertEqual(history.count, 1)
    }

    func testFormattingOfUnitsMatchesThePageScript() {
        XCTAssertEqual(Format.watts(999.94), "999.9 W")
        XCTAssertEqual(Format.watts(1515.43), "1.52 kW")
        XCTAssertEqual(Format.grams(87_028), "87.028 kg")
        XCTAssertEqual(Format.grams(2_500_000), "2.500 t")
        XCTAssertEqual(Format.grams(0.5), "0.50 g")
        XCTAssertEqual(Format.kwh(201.128), "201.128 kWh")
        XCTAssertEqual(Format.kwh(0.004), "4.00 Wh")
        XCTAssertEqual(Format.kwh(1270), "1.270 MWh")
        XCTAssertEqual(Format.clock(1_796_022_309), "2026-11-30 07:05:09 UTC")
    }
}

/// The server's rounding is JavaScript's toFixed: the page's script never changes a number it takes over.
final class PageFormatTests: XCTestCase {
    func testRoundingFollowsTheExactBinaryValueLikeToFixed() {
        // Values whose decimal spelling is a tie but whose binary value is not (toFixed rounds the binary value).
        XCTAssertEqual(Format.number(1.45, 1), "1.4", "1.45 is 1.44999… in binary")
        XCTAssertEqual(Format.number(2.675, 2), "2.67")
        XCTAssertEqual(Format.number(1.005, 2), "1.00")
        XCTAssertEqual(Format.number(0.125, 2), "0.13", "an exact binary tie goes to the larger")
        XCTAssertEqual(Format.number(2.5, 0), "3")
        XCTAssertEqual(Format.number(0, 3), "0.000")
        XCTAssertEqual(Format.number(999.95, 1), "1000.0", "999.95 is 999.9500000000000454… in binary")
        XCTAssertEqual(Format.number(1e15 + 0.5, 0), "1000000000000001")
        XCTAssertEqual(Format.number(-1.25, 1), "-1.3")
        XCTAssertEqual(Format.number(.infinity, 1), "–")
    }

    func testSmallEquivalentsKeepThreeSignificantDigits() {
        XCTAssertEqual(Format.significant(3.894e-9), "0.00000000389")
        XCTAssertEqual(Format.significant(0.0967), "0.0967")
        XCTAssertEqual(Format.significant(192), "192.00")
        XCTAssertEqual(Format.significant(0), "0")
    }
}
