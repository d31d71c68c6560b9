import Foundation
import PowerSources
import XCTest

@testable import FootprintExporter

/// Replays every input the fuzzers keep (Fuzz/Corpus seeds and Fuzz/Regressions crashes) through the same parsers,
/// so a crash found once by `make fuzz` stays fixed.
final class FuzzRegressionTests: XCTestCase {
    private static let fuzzRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    private func inputs(_ parser: String) throws -> [Data] {
        var found: [Data] = []
        for folder in ["Corpus", "Regressions"] {
            let directory = Self.fuzzRoot.appendingPathComponent(folder).appendingPathComponent(parser)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            for name in names.sorted() where !name.hasPrefix(".") {
                found.append(try Data(contentsOf: directory.appendingPathComponent(name)))
            }
        }
        return found
    }

    func testConfigInputs() throws {
        let all = try inputs("config")
        XCTAssertFalse(all.isEmpty)
        for data in all {
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
        let all = try inputs("state")
        XCTAssertFalse(all.isEmpty)
        for data in all { _ = try? StateFile.decode(data) }
    }

    func testSysfsInputs() throws {
        for data in try inputs("sysfs") {
            let text = String(decoding: data, as: UTF8.self)
            _ = ValueParser.unsigned(text)
            _ = CPUTimes.parse(text)
            _ = MemInfo.totalBytes(text)
        }
    }
}
