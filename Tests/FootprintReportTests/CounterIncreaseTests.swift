import XCTest

@testable import FootprintReport

final class CounterIncreaseTests: XCTestCase {
    private func samples(_ pairs: [(Double, Double)]) -> [CounterSample] {
        pairs.map { CounterSample(time: $0.0, value: $0.1) }
    }

    func testTheIncreaseIsTheSumOfStepsWithNothingExtrapolated() {
        let increase = CounterIncrease.over(samples([(100, 10), (115, 40), (130, 40), (145, 100)]))
        XCTAssertEqual(increase.amount, 90)
        XCTAssertEqual(increase.activeSeconds, 30, "the 115→130 interval drew nothing")
        XCTAssertEqual(increase.resets, 0)
        XCTAssertEqual(increase.firstSampleTime, 100)
        XCTAssertEqual(increase.lastSampleTime, 145)
    }

    func testAStepDownIsARestartFromZero() {
        // 10 → 50 (+40), restart: 5 counted from zero (+5), 5 → 25 (+20).
        let increase = CounterIncrease.over(samples([(0, 10), (15, 50), (30, 5), (45, 25)]))
        XCTAssertEqual(increase.amount, 65)
        XCTAssertEqual(increase.resets, 1)
        XCTAssertEqual(increase.activeSeconds, 45)
    }

    func testGarbageAndRepeatedTimesAreSkipped() {
        let increase = CounterIncrease.over(
            samples([(0, 10), (15, .nan), (15, 20), (15, 99), (10, 5), (30, -1), (30, .infinity), (45, 30)]))
        XCTAssertEqual(increase.amount, 20)
        XCTAssertEqual(increase.resets, 0)
    }

    func testFeedingChunksGivesTheSameAsTheWhole() {
        let all = (0..<100).map { index -> CounterSample in
            let value: Int = (index * 7) % 40 + index  // steps up and down: resets included
            return CounterSample(time: Double(index) * 15, value: Double(value))
        }
        var chunked = CounterIncrease()
        for chunk in stride(from: 0, to: all.count, by: 17) {
            for sample in all[chunk..<min(chunk + 17, all.count)] { chunked.add(sample) }
        }
        XCTAssertEqual(chunked, CounterIncrease.over(all))
    }

    func testNoSamplesOrOneSampleIsNothing() {
        XCTAssertEqual(CounterIncrease.over([]).amount, 0)
        let one = CounterIncrease.over(samples([(5, 42)]))
        XCTAssertEqual(one.amount, 0)
        XCTAssertEqual(one.firstSampleTime, 5)
    }
}
