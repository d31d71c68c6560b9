import EnergyAccounting
import XCTest

final class CounterDeltaTests: XCTestCase {
    private let intelRange: UInt64 = 262_143_328_850

    func testFirstReadingIsTheBaseline() {
        let step = CounterDelta.step(
            previous: nil, current: 123_456, wrap: intelRange, elapsedSeconds: 1, ceilingWatts: 300)
        XCTAssertEqual(step, .baseline)
        XCTAssertEqual(step.microjoules, 0)
    }

    func testForwardMoveIsTheDelta() {
        let step = CounterDelta.step(
            previous: 1_000_000, current: 101_000_000, wrap: intelRange, elapsedSeconds: 1, ceilingWatts: 300)
        XCTAssertEqual(step, .advanced(microjoules: 100_000_000))
        XCTAssertEqual(step.microjoules, 100_000_000)
    }

    func testUnchangedCounterAdvancesByZero() {
        XCTAssertEqual(
            CounterDelta.step(previous: 5, current: 5, wrap: nil, elapsedSeconds: 1, ceilingWatts: nil),
            .advanced(microjoules: 0))
    }

    func testWrapAtTheZonesOwnMaximum() {
        let previous = intelRange - 40_000_000
        let step = CounterDelta.step(
            previous: previous, current: 60_000_000, wrap: intelRange, elapsedSeconds: 1, ceilingWatts: 300)
        XCTAssertEqual(step, .wrapped(microjoules: 100_000_000))
        XCTAssertEqual(step.microjoules, intelRange - previous + 60_000_000)
    }

    func testWrapUsesEachZonesOwnRange() {
        let amdRange: UInt64 = 65_712_999_613
        let step = CounterDelta.step(
            previous: amdRange - 1_000, current: 2_000, wrap: amdRange, elapsedSeconds: 1, ceilingWatts: nil)
        XCTAssertEqual(step, .wrapped(microjoules: 3_000))
    }

    func testSeveralWrapsOverARunSumExactly() {
        let wrap: UInt64 = 1_000_000
        let increments: [UInt64] = [300_001, 450_000, 10, 499_999, 123_457, 400_000, 333_333, 1, 250_000, 499_000]
        var counter: UInt64 = 777_777
        var previous: UInt64? = nil
        var added: UInt64 = 0
        var wraps = 0
        var drawn: UInt64 = 0
        for round in 0..<40 {
            let step = CounterDelta.step(
                previous: previous, current: counter, wrap: wrap, elapsedSeconds: 1, ceilingWatts: nil)
            if previous == nil {
                XCTAssertEqual(step, .baseline)
            } else if case .wrapped = step {
                wraps += 1
            } else {
                guard case .advanced = step else { return XCTFail("round \(round): \(step)") }
            }
            added += step.microjoules
            previous = counter
            let increment = increments[round % increments.count]
            drawn += increment
            counter = (counter + increment) % wrap
        }
        // The last increment was drawn after the last reading.
        XCTAssertEqual(added, drawn - increments[39 % increments.count])
        XCTAssertGreaterThan(wraps, 5)
    }

    func testDecreaseWithoutWrapIsAReset() {
        let step = CounterDelta.step(previous: 5_000, current: 4_000, wrap: nil, elapsedSeconds: 1, ceilingWatts: 300)
        XCTAssertEqual(step, .reset)
        XCTAssertEqual(step.microjoules, 0)
    }

    func testDecreaseFromAboveTheRangeIsAReset() {
        // A previous value beyond the range cannot have wrapped at it.
        XCTAssertEqual(
            CounterDelta.step(previous: 2_000, current: 10, wrap: 1_000, elapsedSeconds: 1, ceilingWatts: nil), .reset)
    }

    func testForwardDeltaAboveTheCeilingIsAReset() {
        // 500 J in one second against a 300 W ceiling.
        let step = CounterDelta.step(
            previous: 0, current: 500_000_000, wrap: intelRange, elapsedSeconds: 1, ceilingWatts: 300)
        XCTAssertEqual(step, .reset)
        XCTAssertEqual(step.microjoules, 0)
    }

    func testForwardDeltaAtTheCeilingIsKept() {
        XCTAssertEqual(
            CounterDelta.step(
                previous: 0, current: 300_000_000, wrap: intelRange, elapsedSeconds: 1, ceilingWatts: 300),
            .advanced(microjoules: 300_000_000))
    }

    func testCeilingScalesWithElapsedTime() {
        // 500 J over 2 s is 250 W: plausible under 300 W.
        XCTAssertEqual(
            CounterDelta.step(
                previous: 0, current: 500_000_000, wrap: intelRange, elapsedSeconds: 2, ceilingWatts: 300),
            .advanced(microjoules: 500_000_000))
    }

    func testWrapAboveTheCeilingIsAReset() {
        let step = CounterDelta.step(
            previous: intelRange - 400_000_000, current: 200_000_000, wrap: intelRange, elapsedSeconds: 1,
            ceilingWatts: 300)
        XCTAssertEqual(step, .reset)
    }

    func testWithoutCeilingAWrapOverMoreThanHalfTheRangeIsAReset() {
        let wrap: UInt64 = 1_000_000
        XCTAssertEqual(
            CounterDelta.step(previous: 600_000, current: 200_000, wrap: wrap, elapsedSeconds: 1, ceilingWatts: nil),
            .reset, "600 000 µJ of a 1 000 000 µJ range")
        XCTAssertEqual(
            CounterDelta.step(previous: 900_000, current: 100_000, wrap: wrap, elapsedSeconds: 1, ceilingWatts: nil),
            .wrapped(microjoules: 200_000))
    }

    func testWithACeilingALongPlausibleWrapIsKept() {
        // 600 J over an hour is below 0.2 W, and at 0.2 W the 1000 J range takes 5000 s: exactly one wrap fits.
        let wrap: UInt64 = 1_000_000_000
        XCTAssertEqual(
            CounterDelta.step(
                previous: 600_000_000, current: 200_000_000, wrap: wrap, elapsedSeconds: 3600, ceilingWatts: 0.2),
            .wrapped(microjoules: 600_000_000))
    }

    func testADeltaOverLongerThanTheRangeTimeIsAReset() {
        // At 300 W the 1000 J range takes 3.3 s; after an hour any number of wraps may hide in the delta.
        let wrap: UInt64 = 1_000_000_000
        XCTAssertEqual(
            CounterDelta.step(
                previous: 600_000_000, current: 200_000_000, wrap: wrap, elapsedSeconds: 3600, ceilingWatts: 300),
            .reset)
        XCTAssertEqual(
            CounterDelta.step(
                previous: 100_000_000, current: 200_000_000, wrap: wrap, elapsedSeconds: 3600, ceilingWatts: 300),
            .reset, "even a forward move: it may be a move plus whole wraps")
        XCTAssertEqual(
            CounterDelta.step(
                previous: 100_000_000, current: 200_000_000, wrap: wrap, elapsedSeconds: 3, ceilingWatts: 300),
            .advanced(microjoules: 100_000_000))
    }
}
