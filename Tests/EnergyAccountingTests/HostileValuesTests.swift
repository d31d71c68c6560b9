import XCTest

@testable import EnergyAccounting

/// Values from outside (sysfs, NVML, the state file) that must never trap, invent energy or lose it.
final class HostileValuesTests: XCTestCase {
    func testSaturatingConversionIsTotal() {
        XCTAssertEqual(UInt64(saturating: 1e19 * 5 * 1e6), .max)
        XCTAssertEqual(UInt64(saturating: .infinity), .max)
        XCTAssertEqual(UInt64(saturating: .nan), 0)
        XCTAssertEqual(UInt64(saturating: -5), 0)
        XCTAssertEqual(UInt64(saturating: 2.6), 3)
        XCTAssertEqual(UInt64.max.saturatingAdd(1), .max)
        XCTAssertEqual(UInt64(5).saturatingAdd(7), 12)
    }

    /// A power of 1e19 µW over seconds once trapped in UInt64(Double): the exporter died with SIGILL.
    func testAHugeAveragePowerDoesNotTrap() {
        var account = DomainAccount()
        _ = account.observe(.averagePower(watts: 1e13), at: 0)
        let (step, _) = account.observe(.averagePower(watts: 1e13), at: 5)
        XCTAssertEqual(step, .advanced(microjoules: .max))
    }

    /// A counter read from another physical counter (an MSR zone replaced by its MMIO duplicate) sets a baseline:
    /// the two counters' difference is not energy.
    func testAChangeOfCounterIdentityReBaselines() {
        var account = DomainAccount()
        _ = account.observe(
            .counter(microjoules: 1_000_000, wrapMicrojoules: nil, ceilingWatts: 500, identity: "msr"), at: 0)
        var (step, added) = account.observe(
            .counter(microjoules: 2_000_000, wrapMicrojoules: nil, ceilingWatts: 500, identity: "msr"), at: 1)
        XCTAssertEqual(added, 1_000_000)
        (step, added) = account.observe(
            .counter(microjoules: 101_000_000, wrapMicrojoules: nil, ceilingWatts: 500, identity: "mmio"), at: 2)
        XCTAssertEqual(step, .baseline)
        XCTAssertEqual(added, 0, "100 J between two counters is not energy")
        (step, added) = account.observe(
            .counter(microjoules: 101_500_000, wrapMicrojoules: nil, ceilingWatts: 500, identity: "mmio"), at: 3)
        XCTAssertEqual(added, 500_000)
        XCTAssertEqual(account.microjoules, 1_500_000)
    }

    /// One glitched read of 2⁶⁴−1 from a counter without range added 1.8e13 J for good, because the next normal read
    /// was a reset. With a ceiling, the glitch is a reset that adds nothing, and so is the step back.
    func testAGlitchOnACounterWithoutRangeAddsNothingUnderACeiling() {
        var account = DomainAccount()
        let reads: [UInt64] = [5_000_000_000, 5_000_100_000, .max, 5_000_200_000, 5_000_300_000]
        for (second, value) in reads.enumerated() {
            _ = account.observe(
                .counter(microjoules: value, wrapMicrojoules: nil, ceilingWatts: 3000), at: Double(second))
        }
        XCTAssertEqual(account.microjoules, 200_000, "only the two plausible deltas")
    }

    func testASnapshotWithTooManyDomainsOrAbsurdTotalsIsInvalid() {
        let domain = LedgerSnapshot.Domain(
            source: "rapl", domain: "package", device: "0", microjoules: 5, counterMicrojoules: 1,
            observedBootSeconds: 10)
        let components = [
            LedgerSnapshot.ComponentEntry(component: "cpu", itMicrojoules: 5, facilityJoules: 0, co2eGrams: 0)
        ]
        XCTAssertTrue(LedgerSnapshot(domains: [domain], components: components, measuredComponents: []).isValid)
        let ghosts = (0...LedgerSnapshot.maximumDomains).map { index in
            LedgerSnapshot.Domain(
                source: "rapl", domain: "package", device: String(index), microjoules: 1, counterMicrojoules: nil,
                observedBootSeconds: nil)
        }
        XCTAssertFalse(LedgerSnapshot(domains: ghosts, components: components, measuredComponents: []).isValid)
        var absurd = domain
        absurd.microjoules = 1e30
        XCTAssertFalse(LedgerSnapshot(domains: [absurd], components: components, measuredComponents: []).isValid)
    }

    /// A same-boot file whose baseline lies in the future would make the first delta's elapsed time negative and
    /// skip the power ceiling (262,143 J booked): such a baseline is dropped.
    func testABaselineObservedInTheFutureIsNotRestored() {
        let snapshot = LedgerSnapshot(
            domains: [
                LedgerSnapshot.Domain(
                    source: "rapl", domain: "package", device: "0", microjoules: 5_000_000, counterMicrojoules: 1_000,
                    observedBootSeconds: 1e9)
            ], components: [], measuredComponents: [])
        let restored = EnergyLedger(restoring: snapshot, sameBoot: true, nowBootSeconds: 500)
        let key = DomainKey(source: "rapl", domain: "package", device: "0")
        XCTAssertNil(restored.domains[key]?.lastCounterMicrojoules)
        XCTAssertEqual(restored.domains[key]?.microjoules, 5_000_000, "the total is kept")
        let now = EnergyLedger(restoring: snapshot, sameBoot: true, nowBootSeconds: 2e9)
        XCTAssertEqual(now.domains[key]?.lastCounterMicrojoules, 1_000)
    }
}
