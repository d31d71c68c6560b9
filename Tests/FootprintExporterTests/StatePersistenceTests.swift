import EnergyAccounting
import Foundation
import Logging
import PowerSources
import XCTest

@testable import FootprintExporter

/// When the state file is written, and what a restart takes back from it, with the boot id and the clocks injected.
final class StatePersistenceTests: XCTestCase {
    private var directory: URL!
    private var procfs: ProcfsRoot!
    private let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
    private let key = DomainKey(source: "rapl", domain: "package", device: "0")

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("footprint-state-tests-\(UUID().uuidString)", isDirectory: true)
        let kernel = directory.appendingPathComponent("proc/sys/kernel/random", isDirectory: true)
        try FileManager.default.createDirectory(at: kernel, withIntermediateDirectories: true)
        try setBootID("boot-one")
        procfs = ProcfsRoot(directory.appendingPathComponent("proc").path)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    private func setBootID(_ id: String) throws {
        try Data("\(id)\n".utf8).write(to: directory.appendingPathComponent("proc/sys/kernel/random/boot_id"))
    }

    private var path: String { directory.appendingPathComponent("state.json").path }

    private func persistence(everySamples: Int = 10, clock: ManualClock) -> StatePersistence {
        StatePersistence(path: path, everySamples: everySamples, procfs: procfs, logger: logger, clock: clock)
    }

    /// A state that has counted 100 J on a RAPL counter now reading 150 J.
    private func countedState(samplesTaken: Int) -> SamplerState {
        var state = SamplerState()
        _ = state.ledger.record(
            [(key, .counter(microjoules: 50_000_000, wrapMicrojoules: nil, ceilingWatts: nil), 100)], pue: 1.58,
            gramsPerKilowattHour: 432.7)
        _ = state.ledger.record(
            [(key, .counter(microjoules: 150_000_000, wrapMicrojoules: nil, ceilingWatts: nil), 101)], pue: 1.58,
            gramsPerKilowattHour: 432.7)
        state.samplesTaken = samplesTaken
        return state
    }

    private var fileExists: Bool { FileManager.default.fileExists(atPath: path) }

    func testTheFirstSampleIsSavedAtOnceThenEveryNth() throws {
        let saver = persistence(everySamples: 10, clock: ManualClock())
        saver.afterSample(countedState(samplesTaken: 1))
        saver.waitForQueuedSaves()
        XCTAssertTrue(fileExists, "a crash right after start must not lose what the first sample counted")
        try FileManager.default.removeItem(atPath: path)
        for taken in 2...9 {
            saver.afterSample(countedState(samplesTaken: taken))
        }
        saver.waitForQueuedSaves()
        XCTAssertFalse(fileExists)
        saver.afterSample(countedState(samplesTaken: 10))
        saver.waitForQueuedSaves()
        XCTAssertTrue(fileExists)
    }

    func testRestoreInTheSameBootKeepsTotalsAndBaselines() throws {
        let clock = ManualClock()
        persistence(clock: clock).saveNow(countedState(samplesTaken: 1))
        clock.advance(seconds: 30)
        var restored = persistence(clock: clock).restore()
        XCTAssertEqual(restored.ledger.components[.cpu]?.itJoules, 100)
        // The counter moved 20 J while the exporter was down: the baseline credits it.
        _ = restored.ledger.record(
            [(key, .counter(microjoules: 170_000_000, wrapMicrojoules: nil, ceilingWatts: nil), 131)], pue: 1.58,
            gramsPerKilowattHour: 432.7)
        XCTAssertEqual(restored.ledger.components[.cpu]?.itJoules, 120)
    }

    func testRestoreAfterAReebootKeepsTotalsButNotBaselines() throws {
        let clock = ManualClock()
        persistence(clock: clock).saveNow(countedState(samplesTaken: 1))
        try setBootID("boot-two")
        var restored = persistence(clock: clock).restore()
        XCTAssertEqual(restored.ledger.components[.cpu]?.itJoules, 100)
        _ = restored.ledger.record(
            [(key, .counter(microjoules: 5_000_000, wrapMicrojoules: nil, ceilingWatts: nil), 10)], pue: 1.58,
            gramsPerKilowattHour: 432.7)
        XCTAssertEqual(restored.ledger.components[.cpu]?.itJoules, 100, "a counter of another boot is a new baseline")
    }

    func testAStateSavedInTheFutureOfThisBootIsNotTakenForTheSameBoot() throws {
        let clock = ManualClock()
        clock.advance(seconds: 1000)
        persistence(clock: clock).saveNow(countedState(samplesTaken: 1))
        let earlier = ManualClock()  // the same boot id, but boot time now is before the save
        var restored = persistence(clock: earlier).restore()
        _ = restored.ledger.record(
            [(key, .counter(microjoules: 170_000_000, wrapMicrojoules: nil, ceilingWatts: nil), 101)], pue: 1.58,
            gramsPerKilowattHour: 432.7)
        XCTAssertEqual(restored.ledger.components[.cpu]?.itJoules, 100, "no baseline from an impossible time")
    }

    func testAMissingOrCorruptFileStartsFresh() throws {
        XCTAssertEqual(persistence(clock: ManualClock()).restore().ledger.components[.cpu]?.itJoules, 0)
        try Data("{\"format\": \"footprint_exporter.state\", \"version\": 1, \"ledg".utf8).write(
            to: URL(fileURLWithPath: path))
        XCTAssertEqual(persistence(clock: ManualClock()).restore().ledger.components[.cpu]?.itJoules, 0)
    }
}
