import Foundation
import GridIntensity
import MetricsServer
import PowerSources
import XCTest

@testable import FootprintExporter

/// Replays every input the fuzzers keep (Fuzz/Corpus seeds and Fuzz/Regressions crashes) through the same parsers,
/// so a crash found once by `make fuzz` stays fixed.
final class FuzzRegressionTests: XCTestCase {
    private static let fuzzRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    /// Every kept input of `parser`. Its seed corpus must exist and hold inputs: a replay of nothing would pass
    /// whatever the parsers do. Regressions (crashes found later) are optional.
    private func inputs(_ parser: String, file: StaticString = #filePath, line: UInt = #line) throws -> [Data] {
        var found: [Data] = []
        for folder in ["Corpus", "Regressions"] {
            let directory = Self.fuzzRoot.appendingPathComponent(folder).appendingPathComponent(parser)
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            } catch {
                if folder == "Corpus" { XCTFail("no seed corpus at \(directory.path)", file: file, line: line) }
                continue
            }
            for name in names.sorted() where !name.hasPrefix(".") {
                found.append(try Data(contentsOf: directory.appendingPathComponent(name)))
            }
        }
        XCTAssertFalse(found.isEmpty, "the \(parser) corpus holds no inputs", file: file, line: line)
        return found
    }

    func testConfigInputs() throws {
        for data in try inputs("config") {
            var configuration = ExporterConfiguration()
            do {
                try ConfigurationLoader.apply(
                    fileText: String(decoding: data, as: UTF8.self), path: "fuzz.yml", to: &configuration)
            } catch {
                XCTAssertFalse(error.message.contains("\n"))
            }
        }
    }

    func testWebConfigInputs() throws {
        for data in try inputs("webconfig") {
            _ = try? WebConfigFile.parse(String(decoding: data, as: UTF8.self), path: "/nonexistent-fuzz-dir/web.yml")
        }
    }

    func testStateFileInputs() throws {
        for data in try inputs("state") { _ = try? StateFile.decode(data) }
    }

    func testSysfsInputs() throws {
        for data in try inputs("sysfs") {
            let text = String(decoding: data, as: UTF8.self)
            _ = ValueParser.unsigned(text)
            _ = CPUTimes.parse(text)
            _ = MemInfo.totalBytes(text)
        }
    }

    func testGridInputs() throws {
        for data in try inputs("grid") {
            let bytes = [UInt8](data)
            let now = 1_800_000_000.0
            var accepted: [IntensityReading] = []
            if case .success(let reading) = IntensityFileFormat.parse(bytes, nowUnixSeconds: now) {
                accepted.append(reading)
            }
            for result in [
                ElectricityMapsResponse.parse(bytes, requestedZone: "FR", nowUnixSeconds: now),
                UKCarbonIntensityResponse.parseNational(bytes, nowUnixSeconds: now),
                UKCarbonIntensityResponse.parseRegional(bytes, zone: "13", nowUnixSeconds: now),
            ] {
                if case .success(let reading) = result { accepted.append(reading) }
            }
            for reading in accepted {
                XCTAssertTrue(IntensityReading.plausibleGramsPerKilowattHour.contains(reading.gramsPerKilowattHour))
            }
            let text = String(decoding: bytes, as: UTF8.self)
            _ = GridTimestamp.parseRFC3339(text)
            _ = GridTimestamp.parseHTTPDate(text)
            _ = ProviderClient.retryAfterSeconds(text, nowUnixSeconds: now)
        }
    }
}
