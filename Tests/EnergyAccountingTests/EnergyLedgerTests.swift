import EnergyAccounting
import XCTest

final class EnergyLedgerTests: XCTestCase {
    typealias Entry = (key: DomainKey, observation: EnergyObservation, seconds: Double)

    private func key(_ source: String, _ domain: String, _ device: String = "0") -> DomainKey {
        DomainKey(source: source, domain: domain, device: device)
    }

    private func counter(_ key: DomainKey, _ microjoules: UInt64, at seconds: Double) -> Entry {
        (key, .counter(microjoules: microjoules, wrapMicrojoules: nil, ceilingWatts: nil), seconds)
    }

    private func power(_ key: DomainKey, _ watts: Double, at seconds: Double) -> Entry {
        (key, .averagePower(watts: watts), seconds)
    }

    private func itJoules(_ ledger: EnergyLedger, _ component: Component) -> Double {
        ledger.components[component]?.itJoules ?? -1
    }

    func testStartsWithZeroTotalsForEveryComponent() {
        let ledger = EnergyLedger()
        for component in Component.allCases {
            XCTAssertEqual(ledger.components[component], ComponentTotals())
            XCTAssertEqual(ledger.watts(of: component), 0)
        }
        XCTAssertTrue(ledger.measuredComponents.isEmpty)
    }

    func testPsysCoreAndUncoreCountTowardNoComponent() {
        var ledger = EnergyLedger()
        let overlapping = [key("rapl", "psys"), key("rapl", "core"), key("rapl", "uncore"), key("rapl", "core", "1")]
        ledger.record(overlapping.map { counter($0, 0, at: 0) }, pue: 1.5, gramsPerKilowattHour: 400)
        ledger.record(overlapping.map { counter($0, 50_000_000, at: 1) }, pue: 1.5, gramsPerKilowattHour: 400)
        for component in Component.allCases {
            XCTAssertEqual(ledger.components[component], ComponentTotals(), "\(component)")
            XCTAssertEqual(ledger.watts(of: component), 0, "\(component)")
        }
        // They are still measured and exported as domains.
        for domain in overlapping {
            XCTAssertEqual(ledger.domains[domain]?.joules, 50, "\(domain)")
            XCTAssertNil(ledger.componentOfDomain[domain], "\(domain)")
        }
    }

    func testDomainsMapToComponents() {
        var ledger = EnergyLedger()
        let package = key("rapl", "package"), dram = key("rapl", "dram"), gpu = key("nvml", "gpu")
        ledger.record(
            [counter(package, 0, at: 0), counter(dram, 0, at: 0), counter(gpu, 0, at: 0)], pue: 1,
            gramsPerKilowattHour: 0)
        ledger.record(
            [counter(package, 100_000_000, at: 1), counter(dram, 20_000_000, at: 1), counter(gpu, 300_000_000, at: 1)],
            pue: 1, gramsPerKilowattHour: 0)
        XCTAssertEqual(itJoules(ledger, .cpu), 100)
        XCTAssertEqual(itJoules(ledger, .dram), 20)
        XCTAssertEqual(itJoules(ledger, .gpu), 300)
        XCTAssertEqual(ledger.componentOfDomain[package], .cpu)
        XCTAssertEqual(ledger.componentOfDomain[dram], .dram)
        XCTAssertEqual(ledger.componentOfDomain[gpu], .gpu)
        XCTAssertEqual(ledger.measuredComponents, [.cpu, .dram, .gpu])
    }

    func testComponentSumsItsDomainsOnly() {
        // Two sockets plus the overlapping zones of a real Intel node: cpu = package-0 + package-1, nothing else.
        var ledger = EnergyLedger()
        let keys = [
            key("rapl", "package", "0"), key("rapl", "package", "1"), key("rapl", "core", "0"),
            key("rapl", "uncore", "0"), key("rapl", "psys", "0"), key("rapl", "dram", "0"), key("rapl", "dram", "1"),
        ]
        let energy: [UInt64] = [100_000_000, 80_000_000, 60_000_000, 5_000_000, 250_000_000, 10_000_000, 12_000_000]
        ledger.record(keys.map { counter($0, 1_000, at: 0) }, pue: 1, gramsPerKilowattHour: 0)
        ledger.record(
            zip(keys, energy).map { counter($0, 1_000 + $1, at: 2) }, pue: 1, gramsPerKilowattHour: 0)
        XCTAssertEqual(itJoules(ledger, .cpu), 180)
        XCTAssertEqual(itJoules(ledger, .dram), 22)
        XCTAssertEqual(itJoules(ledger, .gpu), 0)
        XCTAssertEqual(ledger.watts(of: .cpu), 50 + 40)
        XCTAssertEqual(ledger.watts(of: .dram), 5 + 6)
        XCTAssertEqual(ledger.watts(of: .gpu), 0)
    }

    func testEstimateCountsUntilAMeasuringSourceCoversTheComponent() {
        var ledger = EnergyLedger()
        let estimatePackage = key("estimate", "package"), estimateDRAM = key("estimate", "dram")
        let raplPackage = key("rapl", "package")

        ledger.record(
            [power(estimatePackage, 10, at: 0), power(estimateDRAM, 2, at: 0)], pue: 1, gramsPerKilowattHour: 0)
        ledger.record(
            [power(estimatePackage, 10, at: 1), power(estimateDRAM, 2, at: 1)], pue: 1, gramsPerKilowattHour: 0)
        XCTAssertEqual(itJoules(ledger, .cpu), 10, accuracy: 1e-9)
        XCTAssertEqual(itJoules(ledger, .dram), 2, accuracy: 1e-9)
        XCTAssertEqual(ledger.watts(of: .cpu), 10)
        XCTAssertTrue(ledger.measuredComponents.isEmpty, "the estimate measures nothing")

        // RAPL package appears: from now on the estimate steps aside for cpu, but still stands in for dram.
        ledger.record(
            [counter(raplPackage, 1_000_000, at: 2), power(estimatePackage, 10, at: 2), power(estimateDRAM, 2, at: 2)],
            pue: 1, gramsPerKilowattHour: 0)
        XCTAssertEqual(ledger.measuredComponents, [.cpu])
        ledger.record(
            [
                counter(raplPackage, 51_000_000, at: 3), power(estimatePackage, 10, at: 3),
                power(estimateDRAM, 2, at: 3),
            ],
            pue: 1, gramsPerKilowattHour: 0)
        XCTAssertEqual(itJoules(ledger, .cpu), 10 + 50, accuracy: 1e-9, "no double count of the estimate")
        XCTAssertEqual(itJoules(ledger, .dram), 2 + 2 + 2, accuracy: 1e-9)
        XCTAssertEqual(ledger.watts(of: .cpu), 50, "only RAPL's power, not RAPL's plus the estimate's")
        XCTAssertEqual(ledger.watts(of: .dram), 2)
        XCTAssertNil(ledger.componentOfDomain[estimatePackage])
        XCTAssertEqual(ledger.componentOfDomain[estimateDRAM], .dram)
        XCTAssertEqual(ledger.componentOfDomain[raplPackage], .cpu)

        // Later estimate observations of the covered component stay ignored.
        ledger.record([power(estimatePackage, 1000, at: 10)], pue: 1, gramsPerKilowattHour: 0)
        XCTAssertEqual(itJoules(ledger, .cpu), 60, accuracy: 1e-9)
    }

    func testEstimateInTheSameRecordAsTheMeasurementIsIgnored() {
        var ledger = EnergyLedger()
        let estimateDRAM = key("estimate", "dram"), raplDRAM = key("rapl", "dram")
        // The estimate comes first in the list; the measurement in the same record still wins.
        ledger.record([power(estimateDRAM, 5, at: 0), counter(raplDRAM, 0, at: 0)], pue: 1, gramsPerKilowattHour: 0)
        ledger.record(
            [power(estimateDRAM, 5, at: 1), counter(raplDRAM, 3_000_000, at: 1)], pue: 1, gramsPerKilowattHour: 0)
        XCTAssertEqual(itJoules(ledger, .dram), 3)
        XCTAssertEqual(ledger.watts(of: .dram), 3)
    }

    func testFacilityEnergyAndCO2ePerInterval() {
        var ledger = EnergyLedger()
        let package = key("rapl", "package")
        ledger.record([counter(package, 0, at: 0)], pue: 1.5, gramsPerKilowattHour: 400)
        ledger.record([counter(package, 3_600_000_000, at: 10)], pue: 1.5, gramsPerKilowattHour: 400)  // 3600 J
        let totals = ledger.components[.cpu]!
        XCTAssertEqual(totals.itJoules, 3600)
        XCTAssertEqual(totals.facilityJoules, 3600 * 1.5, accuracy: 1e-9)
        XCTAssertEqual(totals.co2eGrams, 3600 * 1.5 * 400 / 3.6e6, accuracy: 1e-12)
    }

    func testPUEAndIntensityChangesAffectOnlyLaterEnergy() {
        var ledger = EnergyLedger()
        let package = key("rapl", "package")
        ledger.record([counter(package, 0, at: 0)], pue: 1.5, gramsPerKilowattHour: 400)
        ledger.record([counter(package, 1_000_000_000, at: 10)], pue: 1.5, gramsPerKilowattHour: 400)  // 1000 J
        let before = ledger.components[.cpu]!
        XCTAssertEqual(before.facilityJoules, 1500, accuracy: 1e-9)

        // The settings change, but no energy is drawn: the counters do not jump.
        ledger.record([counter(package, 1_000_000_000, at: 11)], pue: 2.0, gramsPerKilowattHour: 100)
        XCTAssertEqual(ledger.components[.cpu], before)
        ledger.record([], pue: 3.0, gramsPerKilowattHour: 900)
        XCTAssertEqual(ledger.components[.cpu], before)

        ledger.record([counter(package, 2_000_000_000, at: 21)], pue: 2.0, gramsPerKilowattHour: 100)  // 1000 J more
        let after = ledger.components[.cpu]!
        XCTAssertEqual(after.itJoules, 2000)
        XCTAssertEqual(after.facilityJoules, 1500 + 2000, accuracy: 1e-9)
        XCTAssertEqual(after.co2eGrams, (1500 * 400 + 2000 * 100) / 3.6e6, accuracy: 1e-12)
        XCTAssertGreaterThanOrEqual(after.co2eGrams, before.co2eGrams)
    }

    func testFailedDomainKeepsItsBaselineInTheLedger() {
        var ledger = EnergyLedger()
        let package0 = key("rapl", "package", "0"), package1 = key("rapl", "package", "1")
        ledger.record([counter(package0, 0, at: 0), counter(package1, 0, at: 0)], pue: 1, gramsPerKilowattHour: 0)
        // package1 failed at t = 1.
        ledger.record([counter(package0, 10_000_000, at: 1)], pue: 1, gramsPerKilowattHour: 0)
        ledger.record(
            [counter(package0, 20_000_000, at: 2), counter(package1, 30_000_000, at: 2)], pue: 1,
            gramsPerKilowattHour: 0)
        XCTAssertEqual(ledger.domains[package1]?.joules, 30)
        XCTAssertEqual(itJoules(ledger, .cpu), 50)
        XCTAssertEqual(ledger.watts(of: .cpu), 10 + 15)
    }

    func testRecordReturnsEachDomainsStep() {
        var ledger = EnergyLedger()
        let package = key("rapl", "package")
        XCTAssertEqual(
            ledger.record([counter(package, 100, at: 0)], pue: 1, gramsPerKilowattHour: 0)[package], .baseline)
        XCTAssertEqual(
            ledger.record([counter(package, 300, at: 1)], pue: 1, gramsPerKilowattHour: 0)[package],
            .advanced(microjoules: 200))
        XCTAssertEqual(ledger.record([counter(package, 50, at: 2)], pue: 1, gramsPerKilowattHour: 0)[package], .reset)
        XCTAssertEqual(itJoules(ledger, .cpu), 0.0002, accuracy: 1e-15)
    }

    func testGPUEnergyOverManySamples() {
        var ledger = EnergyLedger()
        let gpus = (0..<8).map { key("nvml", "gpu", String($0)) }
        for second in 0...10 {
            ledger.record(gpus.map { power($0, 250, at: Double(second)) }, pue: 1.58, gramsPerKilowattHour: 432.7)
        }
        XCTAssertEqual(itJoules(ledger, .gpu), 8 * 250 * 10, accuracy: 1e-6)
        XCTAssertEqual(ledger.watts(of: .gpu), 2000)
        XCTAssertEqual(ledger.components[.gpu]!.facilityJoules, 20_000 * 1.58, accuracy: 1e-6)
    }
}
