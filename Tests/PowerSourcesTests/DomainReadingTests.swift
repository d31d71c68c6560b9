import PowerSources
import XCTest

final class DomainReadingTests: XCTestCase {
    func testDomainIDOrdersDevicesNumerically() {
        let ids = ["10", "2", "1", "0"].map { DomainID(source: "nvml", domain: .gpu, device: $0) }
        XCTAssertEqual(ids.sorted().map(\.device), ["0", "1", "2", "10"])
        XCTAssertLessThan(
            DomainID(source: "rapl", domain: .dram, device: "9"),
            DomainID(source: "rapl", domain: .package, device: "0"))
        XCTAssertEqual(DomainID(source: "rapl", domain: .package, device: "1").description, "rapl/package/1")
    }

    func testFailedSampleIsOneSourceLevelFailure() {
        let sample = SourceSample.failed(.driver("nvmlInit failed"))
        XCTAssertTrue(sample.readings.isEmpty)
        XCTAssertEqual(sample.failures, [ReadFailure(domain: nil, error: .driver("nvmlInit failed"))])
        XCTAssertFalse(sample.succeeded)
        XCTAssertFalse(sample.isAbsent, "a failure of something present is not absence")
        XCTAssertTrue(SourceSample().succeeded)
    }

    func testAbsentSampleIsNeitherSuccessNorFailure() {
        let sample = SourceSample.absent("no zones")
        XCTAssertTrue(sample.isAbsent)
        XCTAssertEqual(sample.absence, "no zones")
        XCTAssertTrue(sample.failures.isEmpty)
        XCTAssertFalse(sample.succeeded)
        XCTAssertFalse(SourceSample().isAbsent)
    }

    func testFailureDescriptionNamesTheDomain() {
        let failure = ReadFailure(
            domain: DomainID(source: "rapl", domain: .package, device: "0"), error: .notFound(path: "/sys/x"))
        XCTAssertEqual(failure.description, "rapl/package/0: /sys/x does not exist")
        XCTAssertEqual(ReadFailure(domain: nil, error: .timedOut).description, SourceError.timedOut.description)
    }

    func testErrorKindsAreDistinctTokens() {
        let errors: [SourceError] = [
            .permissionDenied(path: "p"), .notFound(path: "p"), .garbled(path: "p", value: "v"),
            .io(path: "p", errno: 5),
            .timedOut, .driver("r"), .device("d"),
        ]
        XCTAssertEqual(
            errors.map(\.kind), ["permission_denied", "not_found", "garbled", "io", "timeout", "driver", "device"])
        for error in errors {
            XCTAssertFalse(error.description.isEmpty)
            XCTAssertFalse(error.description.contains("\n"))
        }
        XCTAssertTrue(SourceError.permissionDenied(path: "/sys/e").description.contains("/sys/e"))
        XCTAssertTrue(SourceError.garbled(path: "/sys/e", value: "abc").description.contains("\"abc\""))
    }

    func testFileSystemRootsResolve() {
        XCTAssertEqual(SysfsRoot().resolve("class/powercap"), "/sys/class/powercap")
        XCTAssertEqual(SysfsRoot("/host/sys/").resolve("class/powercap"), "/host/sys/class/powercap")
        XCTAssertEqual(ProcfsRoot().resolve("stat"), "/proc/stat")
        XCTAssertEqual(ProcfsRoot("/host/proc/").resolve("stat"), "/host/proc/stat")
    }

    func testEstimateCoefficients() {
        let coefficients = EstimateCoefficients.cloudCarbonFootprintAWS
        XCTAssertEqual(coefficients.cpuMinimumWattsPerVCPU, 0.74)
        XCTAssertEqual(coefficients.cpuMaximumWattsPerVCPU, 3.5)
        XCTAssertEqual(coefficients.dramWattsPerGiB, 0.392)
        XCTAssertEqual(coefficients.cpuWatts(vcpus: 4, utilisation: 0), 2.96, accuracy: 1e-12)
        XCTAssertEqual(coefficients.cpuWatts(vcpus: 4, utilisation: 1), 14, accuracy: 1e-12)
        XCTAssertEqual(coefficients.dramWatts(memoryBytes: 1 << 30), 0.392, accuracy: 1e-12)
    }
}
