import PowerSources
import XCTest

final class EstimateSourceTests: XCTestCase {
    private var tree: FixtureTree!

    override func setUpWithError() throws {
        tree = try FixtureTree()
    }

    override func tearDown() {
        tree.remove()
        tree = nil
    }

    private var procfs: ProcfsRoot { ProcfsRoot(tree.path) }

    /// A `/proc/stat` with `cpus` per-CPU lines whose aggregate line has the given busy (all in `user`) and idle ticks.
    private func writeStat(busy: UInt64, idle: UInt64, cpus: Int = 4) throws {
        var text = "cpu  \(busy) 0 0 \(idle) 0 0 0 0 0 0\n"
        for index in 0..<cpus {
            text += "cpu\(index) \(busy / UInt64(cpus)) 0 0 \(idle / UInt64(cpus)) 0 0 0 0 0 0\n"
        }
        text += "intr 12345 0 0\nctxt 999\nbtime 1700000000\nprocesses 42\n"
        try tree.write("stat", text)
    }

    private func writeMeminfo(kibibytes: UInt64) throws {
        try tree.write(
            "meminfo", "MemTotal:       \(kibibytes) kB\nMemFree:         1000 kB\nMemAvailable:    2000 kB\n")
    }

    private func watts(_ sample: SourceSample, _ id: DomainID) -> Double? {
        guard let reading = sample.readings.first(where: { $0.id == id }),
            case .averagePower(let watts) = reading.measurement
        else { return nil }
        return watts
    }

    private let min = 0.74
    private let max = 3.5

    func testDomainsAndName() throws {
        XCTAssertEqual(EstimateSource.packageID, DomainID(source: "estimate", domain: .package, device: "0"))
        XCTAssertEqual(EstimateSource.dramID, DomainID(source: "estimate", domain: .dram, device: "0"))
        XCTAssertEqual(EstimateSource(procfs: procfs).name, "estimate")
    }

    func testFirstSampleIsIdlePower() throws {
        try writeStat(busy: 1000, idle: 9000, cpus: 4)
        try writeMeminfo(kibibytes: 16 * 1024 * 1024)
        let sample = EstimateSource(procfs: procfs).sample()
        XCTAssertTrue(sample.failures.isEmpty, "\(sample.failures)")
        XCTAssertEqual(sample.readings.count, 2)
        XCTAssertEqual(try XCTUnwrap(watts(sample, EstimateSource.packageID)), 4 * min, accuracy: 1e-9)
    }

    func testUtilisationFromStatDeltas() throws {
        try writeStat(busy: 1000, idle: 9000, cpus: 4)
        try writeMeminfo(kibibytes: 16 * 1024 * 1024)
        let source = EstimateSource(procfs: procfs)
        _ = source.sample()
        try writeStat(busy: 1300, idle: 9100, cpus: 4)  // busy +300, idle +100: utilisation 0.75
        let sample = source.sample()
        let expected = 4 * (min + 0.75 * (max - min))
        XCTAssertEqual(try XCTUnwrap(watts(sample, EstimateSource.packageID)), expected, accuracy: 1e-9)
        XCTAssertEqual(expected, 11.24, accuracy: 1e-9)
    }

    func testIdenticalStatKeepsTheLastUtilisation() throws {
        try writeStat(busy: 1000, idle: 9000, cpus: 2)
        try writeMeminfo(kibibytes: 1024)
        let source = EstimateSource(procfs: procfs)
        _ = source.sample()
        try writeStat(busy: 1300, idle: 9100, cpus: 2)
        let busy = try XCTUnwrap(watts(source.sample(), EstimateSource.packageID))
        let again = try XCTUnwrap(watts(source.sample(), EstimateSource.packageID))
        XCTAssertEqual(again, busy)
        XCTAssertEqual(again, 2 * (min + 0.75 * (max - min)), accuracy: 1e-9)
    }

    func testFullyIdleAndFullyBusyIntervals() throws {
        try writeStat(busy: 0, idle: 0, cpus: 8)
        try writeMeminfo(kibibytes: 1024)
        let source = EstimateSource(procfs: procfs)
        _ = source.sample()
        try writeStat(busy: 800, idle: 0, cpus: 8)
        XCTAssertEqual(try XCTUnwrap(watts(source.sample(), EstimateSource.packageID)), 8 * max, accuracy: 1e-9)
        try writeStat(busy: 800, idle: 800, cpus: 8)
        XCTAssertEqual(try XCTUnwrap(watts(source.sample(), EstimateSource.packageID)), 8 * min, accuracy: 1e-9)
    }

    func testDRAMFromMemTotal() throws {
        try writeStat(busy: 1, idle: 1)
        try writeMeminfo(kibibytes: 16 * 1024 * 1024)  // 16 GiB
        let sample = EstimateSource(procfs: procfs).sample()
        XCTAssertEqual(try XCTUnwrap(watts(sample, EstimateSource.dramID)), 16 * 0.392, accuracy: 1e-9)
    }

    func testCustomCoefficients() throws {
        try writeStat(busy: 0, idle: 0, cpus: 2)
        try writeMeminfo(kibibytes: 2 * 1024 * 1024)
        let coefficients = EstimateCoefficients(
            cpuMinimumWattsPerVCPU: 1, cpuMaximumWattsPerVCPU: 5, dramWattsPerGiB: 0.5)
        let source = EstimateSource(procfs: procfs, coefficients: coefficients)
        let first = source.sample()
        XCTAssertEqual(try XCTUnwrap(watts(first, EstimateSource.packageID)), 2, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(watts(first, EstimateSource.dramID)), 1, accuracy: 1e-12)
        try writeStat(busy: 50, idle: 50, cpus: 2)
        XCTAssertEqual(try XCTUnwrap(watts(source.sample(), EstimateSource.packageID)), 2 * 3, accuracy: 1e-12)
    }

    func testGarbledStatFailsThePackageDomainOnly() throws {
        try tree.write("stat", "intr 1 2 3\nctxt 5\n")
        try writeMeminfo(kibibytes: 1024 * 1024)
        let sample = EstimateSource(procfs: procfs).sample()
        XCTAssertEqual(sample.failures.count, 1)
        XCTAssertEqual(sample.failures.first?.domain, EstimateSource.packageID)
        XCTAssertEqual(sample.failures.first?.error.kind, "garbled")
        XCTAssertEqual(sample.readings.map(\.id), [EstimateSource.dramID])
        XCTAssertEqual(try XCTUnwrap(watts(sample, EstimateSource.dramID)), 0.392, accuracy: 1e-12)
    }

    func testGarbledStatFieldFailsThePackageDomain() throws {
        try tree.write("stat", "cpu  10 x 10 10 0 0 0 0\ncpu0 10 0 10 10 0 0 0 0\n")
        try writeMeminfo(kibibytes: 1024 * 1024)
        let sample = EstimateSource(procfs: procfs).sample()
        XCTAssertEqual(sample.failures.map(\.domain), [EstimateSource.packageID])
        XCTAssertEqual(sample.readings.map(\.id), [EstimateSource.dramID])
    }

    func testMissingMeminfoFailsTheDRAMDomainOnly() throws {
        try writeStat(busy: 1, idle: 1, cpus: 1)
        let sample = EstimateSource(procfs: procfs).sample()
        XCTAssertEqual(sample.failures.count, 1)
        XCTAssertEqual(sample.failures.first?.domain, EstimateSource.dramID)
        XCTAssertEqual(sample.failures.first?.error.kind, "not_found")
        XCTAssertEqual(sample.readings.map(\.id), [EstimateSource.packageID])
    }

    func testGarbledStatAfterAGoodOneKeepsTheBaseline() throws {
        try writeStat(busy: 1000, idle: 1000, cpus: 1)
        try writeMeminfo(kibibytes: 1024)
        let source = EstimateSource(procfs: procfs)
        _ = source.sample()
        try tree.write("stat", "garbage\n")
        XCTAssertEqual(source.sample().failures.map(\.domain), [EstimateSource.packageID])
        try writeStat(busy: 1100, idle: 1300, cpus: 1)  // +100 busy, +300 idle since the last good read: 0.25
        XCTAssertEqual(
            try XCTUnwrap(watts(source.sample(), EstimateSource.packageID)), min + 0.25 * (max - min), accuracy: 1e-9)
    }
}
