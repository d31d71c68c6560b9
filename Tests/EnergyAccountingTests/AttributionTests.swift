import XCTest

@testable import EnergyAccounting

/// The split of a sample's energy between workloads: whole microjoules, parts + remainder = the energy, always.
final class AttributionTests: XCTestCase {
    func testSharesOfTheWholeAndTheRemainder() {
        let (parts, remainder) = AttributionSplit.split(
            1_000_000, weights: [("a", 300), ("b", 100)], denominator: 1000)
        XCTAssertEqual(parts.map(\.microjoules), [300_000, 100_000])
        XCTAssertEqual(remainder, 600_000, "what the workloads did not use stays unattributed")
    }

    func testSharesAboveTheWholeAreNormalised() {
        let (parts, remainder) = AttributionSplit.split(
            1_000_000, weights: [("a", 750), ("b", 750)], denominator: 1000)
        XCTAssertEqual(parts.map(\.microjoules), [500_000, 500_000])
        XCTAssertEqual(remainder, 0)
    }

    func testRoundingNeverLosesOrInventsAMicrojoule() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let energy = UInt64.random(in: 0...5_000_000_000, using: &generator)
            let weights = (0..<Int.random(in: 0...40, using: &generator)).map {
                (key: $0, weight: UInt64.random(in: 0...10_000_000, using: &generator))
            }
            let denominator = UInt64.random(in: 0...200_000_000, using: &generator)
            let (parts, remainder) = AttributionSplit.split(energy, weights: weights, denominator: denominator)
            XCTAssertEqual(parts.reduce(0) { $0 + $1.microjoules } + remainder, energy)
        }
    }

    func testHugeProductsDoNotOverflow() {
        let (parts, remainder) = AttributionSplit.split(
            UInt64.max / 2, weights: [("a", UInt64.max / 4), ("b", UInt64.max / 4)], denominator: UInt64.max / 2)
        XCTAssertEqual(parts.reduce(0) { $0 + $1.microjoules } + remainder, UInt64.max / 2)
        XCTAssertEqual(parts[0].microjoules, parts[1].microjoules)
    }

    func testNothingToSplitByGoesToTheRemainder() {
        let (parts, remainder) = AttributionSplit.split(500, weights: [("a", 0)], denominator: 0)
        XCTAssertEqual(parts.map(\.microjoules), [0])
        XCTAssertEqual(remainder, 500)
    }

    func testLedgerInvariantThroughExpiryAndPricing() {
        var ledger = AttributionLedger<String>()
        ledger.record(
            .cpu, parts: [("a", 3_600_000), ("b", 1_000)], remainder: 500, pue: 2, gramsPerKilowattHour: 1000)
        ledger.record(.cpu, parts: [("a", 3_600_000)], remainder: 0, pue: 1, gramsPerKilowattHour: 0)
        XCTAssertEqual(ledger.accountedMicrojoules(.cpu), 7_201_500)
        XCTAssertEqual(ledger.workloads["a"]?.facilityJoules ?? 0, 7.2 + 3.6, accuracy: 1e-12)
        XCTAssertEqual(ledger.workloads["a"]?.co2eGrams ?? 0, 7.2 / 3.6e6 * 1000, accuracy: 1e-15)
        ledger.expire("a")
        XCTAssertNil(ledger.workloads["a"])
        XCTAssertEqual(ledger.expired[.cpu], 7_200_000)
        XCTAssertEqual(ledger.accountedMicrojoules(.cpu), 7_201_500, "expiry moves energy, never loses it")
    }

    func testRestoreCreditsWhatTheSavedTotalsDoNotAccountFor() {
        var ledger = AttributionLedger<String>()
        var a = WorkloadTotals()
        a.itMicrojoules["cpu"] = 40
        ledger.restore(
            workloads: ["a": a], unattributed: [.cpu: 10], expired: [:], nodeMicrojoules: [.cpu: 100, .gpu: 7])
        XCTAssertEqual(ledger.accountedMicrojoules(.cpu), 100)
        XCTAssertEqual(ledger.unattributed[.gpu], 7)
    }
}
