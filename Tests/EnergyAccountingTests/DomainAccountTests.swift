import EnergyAccounting
import XCTest

final class DomainAccountTests: XCTestCase {
    private func counter(_ microjoules: UInt64, wrap: UInt64? = nil, ceiling: Double? = nil) -> EnergyObservation {
        .counter(microjoules: microjoules, wrapMicrojoules: wrap, ceilingWatts: ceiling)
    }

    func testFirstCounterObservationAddsNothing() {
        var account = DomainAccount()
        let result = account.observe(counter(5_000_000), at: 10)
        XCTAssertEqual(result.step, .baseline)
        XCTAssertEqual(result.addedMicrojoules, 0)
        XCTAssertEqual(account.microjoules, 0)
        XCTAssertNil(account.watts)
        XCTAssertEqual(account.lastCounterMicrojoules, 5_000_000)
        XCTAssertEqual(account.lastObservedSeconds, 10)
    }

    func testCounterDeltasAccumulateWithPower() {
        var account = DomainAccount()
        _ = account.observe(counter(1_000_000), at: 0)
        let result = account.observe(counter(51_000_000), at: 2)
        XCTAssertEqual(result.step, .advanced(microjoules: 50_000_000))
        XCTAssertEqual(result.addedMicrojoules, 50_000_000)
        XCTAssertEqual(account.joules, 50)
        XCTAssertEqual(account.watts, 25)
        _ = account.observe(counter(61_000_000), at: 3)
        XCTAssertEqual(account.joules, 60)
        XCTAssertEqual(account.watts, 10)
    }

    func testFailedReadKeepsTheBaselineAndTheNextGoodReadAddsEverything() {
        var account = DomainAccount()
        _ = account.observe(counter(1_000_000, ceiling: 2), at: 0)
        _ = account.observe(counter(2_000_000, ceiling: 2), at: 1)
        XCTAssertEqual(account.microjoules, 1_000_000)
        // t = 2: the read failed, so nothing is observed. The baseline stays at t = 1, 2 000 000 µJ.
        XCTAssertEqual(account.lastCounterMicrojoules, 2_000_000)
        XCTAssertEqual(account.lastObservedSeconds, 1)
        // t = 3: 3 J drawn over 2 s (1.5 W) is plausible under a 2 W ceiling; over 1 s it would not be.
        let result = account.observe(counter(5_000_000, ceiling: 2), at: 3)
        XCTAssertEqual(result.step, .advanced(microjoules: 3_000_000))
        XCTAssertEqual(account.microjoules, 4_000_000)
        XCTAssertEqual(account.watts, 1.5)
    }

    func testFailedReadAcrossAWrapAddsExactly() {
        var account = DomainAccount()
        let wrap: UInt64 = 10_000_000
        // At a 2 W ceiling the 10 J range takes 5 s, so one wrap over 3 s is unambiguous.
        _ = account.observe(counter(9_000_000, wrap: wrap, ceiling: 2), at: 0)
        // Reads at t = 1 and t = 2 failed; the counter wrapped meanwhile.
        let result = account.observe(counter(2_000_000, wrap: wrap, ceiling: 2), at: 3)
        XCTAssertEqual(result.step, .wrapped(microjoules: 3_000_000))
        XCTAssertEqual(account.microjoules, 3_000_000)
        XCTAssertEqual(account.watts, 1)
    }

    func testResetAddsNothingAndBecomesTheNewBaseline() {
        var account = DomainAccount()
        _ = account.observe(counter(10_000_000), at: 0)
        _ = account.observe(counter(12_000_000), at: 1)
        let reset = account.observe(counter(500_000), at: 2)
        XCTAssertEqual(reset.step, .reset)
        XCTAssertEqual(reset.addedMicrojoules, 0)
        XCTAssertEqual(account.microjoules, 2_000_000)
        XCTAssertEqual(account.lastCounterMicrojoules, 500_000)
        _ = account.observe(counter(1_500_000), at: 3)
        XCTAssertEqual(account.microjoules, 3_000_000)
    }

    func testImplausibleJumpAddsNothing() {
        var account = DomainAccount()
        _ = account.observe(counter(0, ceiling: 300), at: 0)
        let result = account.observe(counter(1_000_000_000, ceiling: 300), at: 1)  // 1000 W
        XCTAssertEqual(result.step, .reset)
        XCTAssertEqual(account.microjoules, 0)
    }

    func testFirstAveragePowerObservationAddsNothing() {
        var account = DomainAccount()
        let result = account.observe(.averagePower(watts: 100), at: 5)
        XCTAssertEqual(result.step, .baseline)
        XCTAssertEqual(result.addedMicrojoules, 0)
        XCTAssertEqual(account.microjoules, 0)
        XCTAssertEqual(account.watts, 100)
    }

    func testAveragePowerIntegratesWattsTimesElapsed() {
        var account = DomainAccount()
        _ = account.observe(.averagePower(watts: 10), at: 0)
        let first = account.observe(.averagePower(watts: 10), at: 2)
        XCTAssertEqual(first.addedMicrojoules, 20_000_000, accuracy: 1e-6)
        _ = account.observe(.averagePower(watts: 4), at: 2.5)
        XCTAssertEqual(account.joules, 22, accuracy: 1e-9)
        XCTAssertEqual(account.watts, 4)
        // A skipped sample: the next power covers the whole gap.
        _ = account.observe(.averagePower(watts: 3), at: 4.5)
        XCTAssertEqual(account.joules, 28, accuracy: 1e-9)
    }

    func testInvalidAveragePowerIsIgnored() {
        var account = DomainAccount()
        _ = account.observe(.averagePower(watts: 10), at: 0)
        XCTAssertEqual(account.observe(.averagePower(watts: .nan), at: 1).addedMicrojoules, 0)
        XCTAssertEqual(account.observe(.averagePower(watts: -5), at: 2).addedMicrojoules, 0)
        XCTAssertEqual(account.microjoules, 0)
        XCTAssertEqual(account.watts, 10)
        _ = account.observe(.averagePower(watts: 10), at: 3)
        XCTAssertEqual(account.joules, 30, accuracy: 1e-9)
    }
}
