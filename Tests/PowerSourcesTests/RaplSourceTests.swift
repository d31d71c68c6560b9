import PowerSources
import XCTest

final class RaplSourceTests: XCTestCase {
    private var tree: FixtureTree!

    /// Intel package range (≈ 262 kJ) and AMD's (≈ 65.7 kJ).
    private let intelRange: UInt64 = 262_143_328_850
    private let dramRange: UInt64 = 65_712_999_613
    private let amdRange: UInt64 = 65_712_999_613

    override func setUpWithError() throws {
        tree = try FixtureTree()
    }

    override func tearDown() {
        tree.remove()
        tree = nil
    }

    private var sysfs: SysfsRoot { SysfsRoot(tree.path) }

    private func zonePath(_ directory: String) -> String { "class/powercap/\(directory)" }

    /// Writes one zone's attributes; nil leaves the attribute out.
    private func writeZone(
        _ directory: String, name: String, energy: String? = "0", range: UInt64? = nil,
        constraintMicrowatts: [UInt64] = []
    ) throws {
        let base = zonePath(directory)
        try tree.write("\(base)/name", name + "\n")
        if let energy { try tree.write("\(base)/energy_uj", energy + "\n") }
        if let range { try tree.write("\(base)/max_energy_range_uj", "\(range)\n") }
        for (index, value) in constraintMicrowatts.enumerated() {
            try tree.write("\(base)/constraint_\(index)_max_power_uw", "\(value)\n")
        }
    }

    private func setEnergy(_ directory: String, _ value: String) throws {
        try tree.write("\(zonePath(directory))/energy_uj", value.isEmpty ? "" : value + "\n")
    }

    /// A two-socket Intel server with an MMIO duplicate of package-0 and a platform (psys) zone.
    private func writeTwoSocketIntelTree() throws {
        // The control-type directory itself is not a zone.
        try tree.write("class/powercap/intel-rapl/enabled", "1\n")
        try writeZone(
            "intel-rapl:0", name: "package-0", energy: "1000", range: intelRange,
            constraintMicrowatts: [150_000_000, 180_000_000])
        try writeZone("intel-rapl:0:0", name: "core", energy: "2000", range: intelRange, constraintMicrowatts: [0])
        try writeZone("intel-rapl:0:1", name: "uncore", energy: "3000", range: intelRange, constraintMicrowatts: [0])
        try writeZone(
            "intel-rapl:0:2", name: "dram", energy: "4000", range: dramRange, constraintMicrowatts: [40_000_000])
        try writeZone(
            "intel-rapl:1", name: "package-1", energy: "5000", range: intelRange, constraintMicrowatts: [150_000_000])
        try writeZone("intel-rapl:1:0", name: "core", energy: "6000", range: intelRange, constraintMicrowatts: [0])
        try writeZone(
            "intel-rapl:1:1", name: "dram", energy: "7000", range: dramRange, constraintMicrowatts: [40_000_000])
        try writeZone(
            "intel-rapl:2", name: "psys", energy: "8000", range: intelRange, constraintMicrowatts: [400_000_000])
        try writeZone(
            "intel-rapl-mmio:0", name: "package-0", energy: "9999", range: 1_000_000, constraintMicrowatts: [10_000_000]
        )
    }

    private func id(_ domain: Domain, _ device: String) -> DomainID {
        DomainID(source: "rapl", domain: domain, device: device)
    }

    private func readingsByID(_ sample: SourceSample) -> [DomainID: DomainReading] {
        Dictionary(uniqueKeysWithValues: sample.readings.map { ($0.id, $0) })
    }

    private func counter(_ reading: DomainReading?) -> (microjoules: UInt64, wrap: UInt64?)? {
        guard let reading, case .energyCounter(let microjoules, let wrap) = reading.measurement else { return nil }
        return (microjoules, wrap)
    }

    // MARK: - Discovery

    func testTwoSocketIntelDiscoveryDeduplicatesAndAssignsSockets() throws {
        try writeTwoSocketIntelTree()
        let zones = try RaplSource.discover(sysfs: sysfs)
        XCTAssertEqual(
            zones.map(\.id),
            [
                id(.core, "0"), id(.core, "1"), id(.dram, "0"), id(.dram, "1"), id(.package, "0"),
                id(.package, "1"), id(.psys, "0"), id(.uncore, "0"),
            ])
        let package0 = zones.filter { $0.domain == .package && $0.socket == "0" }
        XCTAssertEqual(package0.count, 1, "package-0 must be counted once")
        XCTAssertEqual(package0.first?.directory, "intel-rapl:0", "the MSR zone wins over its MMIO duplicate")
        XCTAssertEqual(zones.first { $0.domain == .psys }?.directory, "intel-rapl:2")
        XCTAssertEqual(zones.first { $0.domain == .dram && $0.socket == "1" }?.directory, "intel-rapl:1:1")
        XCTAssertEqual(zones.first { $0.domain == .core && $0.socket == "1" }?.directory, "intel-rapl:1:0")
        XCTAssertFalse(zones.contains { $0.directory.hasPrefix("intel-rapl-mmio") })
    }

    func testDiscoveryReadsRangeAndLargestConstraint() throws {
        try writeTwoSocketIntelTree()
        let zones = try RaplSource.discover(sysfs: sysfs)
        let package0 = try XCTUnwrap(zones.first { $0.id == id(.package, "0") })
        XCTAssertEqual(package0.maxEnergyRangeMicrojoules, intelRange)
        XCTAssertEqual(package0.maxConstraintWatts, 180)
        let core0 = try XCTUnwrap(zones.first { $0.id == id(.core, "0") })
        XCTAssertNil(core0.maxConstraintWatts, "a zero constraint is no constraint")
        let dram1 = try XCTUnwrap(zones.first { $0.id == id(.dram, "1") })
        XCTAssertEqual(dram1.maxEnergyRangeMicrojoules, dramRange)
    }

    func testMMIOZoneIsUsedWhenTheMSRZoneIsMissing() throws {
        try writeZone("intel-rapl-mmio:0", name: "package-0", energy: "42", range: intelRange)
        let source = RaplSource(sysfs: sysfs)
        let sample = source.sample()
        XCTAssertTrue(sample.failures.isEmpty, "\(sample.failures)")
        XCTAssertEqual(source.discoveredZones.map(\.directory), ["intel-rapl-mmio:0"])
        XCTAssertEqual(counter(readingsByID(sample)[id(.package, "0")])?.microjoules, 42)
    }

    func testAMDTreeHasPackageAndCoreOnly() throws {
        try writeZone("intel-rapl:0", name: "package-0", energy: "11", range: amdRange)
        try writeZone("intel-rapl:0:0", name: "core", energy: "7", range: amdRange)
        let source = RaplSource(sysfs: sysfs)
        let sample = source.sample()
        XCTAssertTrue(sample.failures.isEmpty, "\(sample.failures)")
        XCTAssertEqual(source.discoveredZones.map(\.id), [id(.core, "0"), id(.package, "0")])
        let readings = readingsByID(sample)
        XCTAssertEqual(counter(readings[id(.package, "0")])?.microjoules, 11)
        XCTAssertEqual(counter(readings[id(.package, "0")])?.wrap, amdRange)
        XCTAssertEqual(counter(readings[id(.core, "0")])?.microjoules, 7)
        XCTAssertNil(readings[id(.package, "0")]?.maximumPlausibleWatts, "no constraint files, no ceiling")
    }

    // MARK: - Readings

    func testReadingsCarryWrapAndCeiling() throws {
        try writeTwoSocketIntelTree()
        let source = RaplSource(sysfs: sysfs)
        let sample = source.sample()
        XCTAssertTrue(sample.failures.isEmpty, "\(sample.failures)")
        XCTAssertEqual(source.name, "rapl")
        let readings = readingsByID(sample)
        XCTAssertEqual(readings.count, 8)
        XCTAssertEqual(sample.readings.count, 8, "each (domain, socket) read once")

        let package0 = readings[id(.package, "0")]
        XCTAssertEqual(counter(package0)?.microjoules, 1000, "read from the MSR zone, not the MMIO copy")
        XCTAssertEqual(counter(package0)?.wrap, intelRange)
        XCTAssertEqual(package0?.maximumPlausibleWatts, 360, "twice the largest constraint")

        let package1 = readings[id(.package, "1")]
        XCTAssertEqual(counter(package1)?.microjoules, 5000)
        XCTAssertEqual(package1?.maximumPlausibleWatts, 300)

        let dram0 = readings[id(.dram, "0")]
        XCTAssertEqual(counter(dram0)?.microjoules, 4000)
        XCTAssertEqual(counter(dram0)?.wrap, dramRange)
        XCTAssertEqual(dram0?.maximumPlausibleWatts, 80)

        XCTAssertEqual(counter(readings[id(.dram, "1")])?.microjoules, 7000)
        XCTAssertEqual(counter(readings[id(.core, "0")])?.microjoules, 2000)
        XCTAssertEqual(counter(readings[id(.core, "1")])?.microjoules, 6000)
        XCTAssertEqual(counter(readings[id(.uncore, "0")])?.microjoules, 3000)
        XCTAssertNil(readings[id(.core, "0")]?.maximumPlausibleWatts)

        let psys = readings[id(.psys, "0")]
        XCTAssertEqual(counter(psys)?.microjoules, 8000)
        XCTAssertEqual(psys?.maximumPlausibleWatts, 800)
    }

    func testConfiguredMaximumOverridesConstraints() throws {
        try writeTwoSocketIntelTree()
        let source = RaplSource(sysfs: sysfs, maximumPlausibleWatts: 500)
        let sample = source.sample()
        XCTAssertEqual(sample.readings.count, 8)
        for reading in sample.readings {
            XCTAssertEqual(reading.maximumPlausibleWatts, 500, "\(reading.id)")
        }
    }

    func testMissingRangeGivesNilWrap() throws {
        try writeZone("intel-rapl:0", name: "package-0", energy: "123", range: nil, constraintMicrowatts: [100_000_000])
        let source = RaplSource(sysfs: sysfs)
        let sample = source.sample()
        XCTAssertTrue(sample.failures.isEmpty, "\(sample.failures)")
        let reading = try XCTUnwrap(sample.readings.first)
        XCTAssertEqual(counter(reading)?.microjoules, 123)
        let measured = try XCTUnwrap(counter(reading))
        XCTAssertNil(measured.wrap)
        XCTAssertEqual(reading.maximumPlausibleWatts, 200)
    }

    func testReadingsFollowTheCounter() throws {
        try writeTwoSocketIntelTree()
        let source = RaplSource(sysfs: sysfs)
        _ = source.sample()
        try setEnergy("intel-rapl:1", "987654321")
        let sample = source.sample()
        XCTAssertEqual(counter(readingsByID(sample)[id(.package, "1")])?.microjoules, 987_654_321)
    }

    // MARK: - Garbled values

    private func assertGarbled(_ value: String, file: StaticString = #filePath, line: UInt = #line) throws {
        try writeTwoSocketIntelTree()
        try setEnergy("intel-rapl:1", value)
        let source = RaplSource(sysfs: sysfs)
        let sample = source.sample()
        XCTAssertEqual(sample.failures.count, 1, "\(sample.failures)", file: file, line: line)
        let failure = try XCTUnwrap(sample.failures.first, file: file, line: line)
        XCTAssertEqual(failure.domain, id(.package, "1"), file: file, line: line)
        XCTAssertEqual(failure.error.kind, "garbled", "\(failure.error)", file: file, line: line)
        if case .garbled(let path, _) = failure.error {
            XCTAssertEqual(path, tree.resolve("class/powercap/intel-rapl:1/energy_uj"), file: file, line: line)
        }
        XCTAssertFalse(sample.succeeded, file: file, line: line)
        // The other zones are still read.
        XCTAssertEqual(sample.readings.count, 7, file: file, line: line)
        XCTAssertFalse(sample.readings.contains { $0.id == id(.package, "1") }, file: file, line: line)
        XCTAssertEqual(counter(readingsByID(sample)[id(.package, "0")])?.microjoules, 1000, file: file, line: line)
    }

    func testEmptyEnergyIsGarbled() throws { try assertGarbled("") }
    func testLettersInEnergyAreGarbled() throws { try assertGarbled("abc") }
    func testNegativeEnergyIsGarbled() throws { try assertGarbled("-5") }
    func testTwentyDigitEnergyIsGarbled() throws { try assertGarbled("99999999999999999999") }
    func testEnergyAboveRangeIsGarbled() throws { try assertGarbled(String(intelRange + 1)) }

    func testEnergyEqualToRangeIsAccepted() throws {
        try writeTwoSocketIntelTree()
        try setEnergy("intel-rapl:1", String(intelRange))
        let sample = RaplSource(sysfs: sysfs).sample()
        XCTAssertTrue(sample.failures.isEmpty, "\(sample.failures)")
        XCTAssertEqual(counter(readingsByID(sample)[id(.package, "1")])?.microjoules, intelRange)
    }

    func testGarbledZoneRecoversOnTheNextSample() throws {
        try writeTwoSocketIntelTree()
        let source = RaplSource(sysfs: sysfs)
        try setEnergy("intel-rapl:0:2", "abc")
        XCTAssertEqual(source.sample().failures.map(\.domain), [id(.dram, "0")])
        try setEnergy("intel-rapl:0:2", "4500")
        let sample = source.sample()
        XCTAssertTrue(sample.failures.isEmpty, "\(sample.failures)")
        XCTAssertEqual(counter(readingsByID(sample)[id(.dram, "0")])?.microjoules, 4500)
    }

    // MARK: - Vanishing zones and missing powercap

    func testVanishedZoneFailsUntilRecreated() throws {
        try writeTwoSocketIntelTree()
        let source = RaplSource(sysfs: sysfs)
        XCTAssertTrue(source.sample().succeeded)

        try tree.removeItem(zonePath("intel-rapl:0:2"))
        for round in 1...3 {
            let sample = source.sample()
            XCTAssertEqual(sample.failures.count, 1, "round \(round): \(sample.failures)")
            let failure = try XCTUnwrap(sample.failures.first)
            XCTAssertEqual(failure.domain, id(.dram, "0"), "round \(round)")
            XCTAssertEqual(failure.error.kind, "not_found", "round \(round): \(failure.error)")
            XCTAssertEqual(sample.readings.count, 7, "round \(round)")
            XCTAssertFalse(sample.readings.contains { $0.id == id(.dram, "0") }, "round \(round)")
        }

        try writeZone(
            "intel-rapl:0:2", name: "dram", energy: "4242", range: dramRange, constraintMicrowatts: [40_000_000])
        let sample = source.sample()
        XCTAssertTrue(sample.failures.isEmpty, "\(sample.failures)")
        XCTAssertEqual(sample.readings.count, 8)
        XCTAssertEqual(counter(readingsByID(sample)[id(.dram, "0")])?.microjoules, 4242)
    }

    func testNoPowercapDirectoryIsAbsenceNotFailure() throws {
        try tree.makeDirectory("class")
        let sample = RaplSource(sysfs: sysfs).sample()
        XCTAssertTrue(sample.readings.isEmpty)
        XCTAssertTrue(sample.failures.isEmpty)
        XCTAssertTrue(try XCTUnwrap(sample.absence).contains("no RAPL zones"))
    }

    func testEmptyPowercapDirectoryIsAbsent() throws {
        try tree.makeDirectory("class/powercap")
        let source = RaplSource(sysfs: sysfs)
        for _ in 0..<2 {
            let sample = source.sample()
            XCTAssertTrue(sample.readings.isEmpty)
            XCTAssertTrue(sample.isAbsent)
            XCTAssertTrue(sample.failures.isEmpty)
        }
    }

    func testPowercapAppearingLaterIsDiscovered() throws {
        let source = RaplSource(sysfs: sysfs)
        XCTAssertTrue(source.sample().isAbsent)
        try writeZone("intel-rapl:0", name: "package-0", energy: "5", range: intelRange)
        let sample = source.sample()
        XCTAssertTrue(sample.succeeded, "\(sample.failures)")
        XCTAssertEqual(sample.readings.map(\.id), [id(.package, "0")])
    }

    /// When the MSR zone vanishes, its MMIO duplicate stands in under its own counter identity (so the ledger
    /// re-baselines instead of booking the difference), and when the MSR zone returns it is used again.
    func testMMIOStandsInForAVanishedMSRZoneAndTheMSRZoneIsUsedAgainWhenItReturns() throws {
        try writeZone("intel-rapl:0", name: "package-0", energy: "1000", range: intelRange)
        try writeZone("intel-rapl-mmio:0", name: "package-0", energy: "900000", range: intelRange)
        let source = RaplSource(sysfs: sysfs)
        XCTAssertEqual(source.sample().readings.first?.counterIdentity, "intel-rapl:0")
        try tree.removeItem(zonePath("intel-rapl:0"))
        XCTAssertFalse(source.sample().succeeded, "the vanished zone is a failure once")
        let standIn = source.sample()
        XCTAssertTrue(standIn.succeeded, "\(standIn.failures)")
        XCTAssertEqual(standIn.readings.first?.counterIdentity, "intel-rapl-mmio:0")
        XCTAssertEqual(standIn.readings.first?.id, id(.package, "0"))
        try writeZone("intel-rapl:0", name: "package-0", energy: "2000", range: intelRange)
        var identities: [String?] = []
        for _ in 0...RaplSource.msrRecheckSamples {
            identities.append(source.sample().readings.first?.counterIdentity)
        }
        XCTAssertEqual(identities.last, "intel-rapl:0", "the MSR zone is read again after it returns")
    }

    /// A zone that stays garbled does not make every sample rescan the powercap class: rediscovery backs off.
    func testAPersistentlyGarbledZoneBacksRediscoveryOff() throws {
        try writeZone("intel-rapl:0", name: "package-0", energy: "abc", range: intelRange)
        try writeZone("intel-rapl:1", name: "package-1", energy: "5", range: intelRange)
        let source = RaplSource(sysfs: sysfs)
        _ = source.sample()
        // A zone added now is found only by a rediscovery: count the samples until it shows.
        try writeZone("intel-rapl:2", name: "package-2", energy: "7", range: intelRange)
        var gaps: [Int] = []
        var sinceLast = 0
        var lastCount = source.discoveredZones.count
        for _ in 0..<200 {
            _ = source.sample()
            sinceLast += 1
            if source.discoveredZones.count != lastCount {
                gaps.append(sinceLast)
                lastCount = source.discoveredZones.count
                break
            }
        }
        XCTAssertEqual(gaps.count, 1, "the new zone is found eventually")
        // After the back-off has grown, a further zone waits longer than one sample to be found.
        for _ in 0..<100 { _ = source.sample() }
        try writeZone("intel-rapl:3", name: "package-3", energy: "9", range: intelRange)
        var samples = 0
        while source.discoveredZones.count == lastCount && samples < 200 {
            _ = source.sample()
            samples += 1
        }
        XCTAssertGreaterThan(samples, 1, "rediscovery was not backed off")
        XCTAssertLessThanOrEqual(samples, 64, "back-off is bounded")
    }
}
