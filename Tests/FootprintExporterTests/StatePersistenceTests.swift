import EnergyAccounting
import Foundation
import Glibc
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

    func testEverySampleIsWrittenBeforeItIsPublished() throws {
        let saver = persistence(everySamples: 10, clock: ManualClock())
        saver.beforePublish(countedState(samplesTaken: 1))
        XCTAssertTrue(fileExists, "written synchronously: a crash right after the publish loses nothing")
        var state = countedState(samplesTaken: 2)
        _ = state.ledger.record(
            [(key, .counter(microjoules: 160_000_000, wrapMicrojoules: nil, ceilingWatts: nil), 102)], pue: 1.58,
            gramsPerKilowattHour: 432.7)
        saver.beforePublish(state)
        saver.waitForQueuedSaves()
        let saved = try StateFile.read(path)
        XCTAssertEqual(saved.ledger.components.first { $0.component == "cpu" }?.itMicrojoules, 110_000_000)
        XCTAssertEqual(saved.cleanShutdown, false)
    }

    func testAShutdownSaveIsMarkedClean() throws {
        persistence(clock: ManualClock()).saveAtShutdown(countedState(samplesTaken: 3))
        XCTAssertEqual(try StateFile.read(path).cleanShutdown, true)
    }

    func testRestoreInTheSameBootKeepsTotalsAndBaselines() throws {
        let clock = ManualClock()
        persistence(clock: clock).saveAtShutdown(countedState(samplesTaken: 1))
        clock.advance(seconds: 30)
        var restored = persistence(clock: clock).restore()
        XCTAssertEqual(restored.ledger.components[.cpu]?.itJoules, 100)
        // The counter moved 20 J while the exporter was down: the baseline credits it.
        _ = restored.ledger.record(
            [(key, .counter(microjoules: 170_000_000, wrapMicrojoules: nil, ceilingWatts: nil), 131)], pue: 1.58,
            gramsPerKilowattHour: 432.7)
        XCTAssertEqual(restored.ledger.components[.cpu]?.itJoules, 120)
    }

    func testEmbodiedCO2eSurvivesARestartAndAnInvalidFigureIsRefused() throws {
        let clock = ManualClock()
        var state = countedState(samplesTaken: 1)
        state.embodied = EmbodiedTotals(nodeGrams: 37.5, unattributedGrams: 12.25)
        persistence(clock: clock).saveAtShutdown(state)
        XCTAssertEqual(
            persistence(clock: clock).restore().embodied, EmbodiedTotals(nodeGrams: 37.5, unattributedGrams: 12.25))
        // More unattributed than the whole cannot be right: the file is refused.
        state.embodied = EmbodiedTotals(nodeGrams: 1, unattributedGrams: 2)
        persistence(clock: clock).saveAtShutdown(state)
        XCTAssertThrowsError(try StateFile.read(path))
        // A file of an earlier release has no embodied figure: it restores with none.
        persistence(clock: clock).saveAtShutdown(countedState(samplesTaken: 1))
        XCTAssertNil(try StateFile.read(path).embodied)
        XCTAssertEqual(persistence(clock: clock).restore().embodied, EmbodiedTotals())
    }

    func testRestoreAfterAReebootKeepsTotalsButNotBaselines() throws {
        let clock = ManualClock()
        persistence(clock: clock).saveAtShutdown(countedState(samplesTaken: 1))
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
        persistence(clock: clock).saveAtShutdown(countedState(samplesTaken: 1))
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

    /// After a reboot that did not follow a clean stop, the file may be older than what was served; restoring it would
    /// step the counters back (a false budget page), so they start at zero, a reset Prometheus handles.
    func testAfterAnUncleanRebootCountersStartAtZero() throws {
        let clock = ManualClock()
        persistence(clock: clock).beforePublish(countedState(samplesTaken: 1))
        try setBootID("boot-two")
        XCTAssertEqual(persistence(clock: clock).restore().ledger.components[.cpu]?.itJoules, 0)
        // The same file after a clean stop is restored.
        try setBootID("boot-one")
        persistence(clock: clock).saveAtShutdown(countedState(samplesTaken: 1))
        try setBootID("boot-two")
        XCTAssertEqual(persistence(clock: clock).restore().ledger.components[.cpu]?.itJoules, 100)
    }

    func testAFileOfAFollowingReleaseIsNeverOverwritten() throws {
        let newer = #"{"format":"footprint_exporter.state","version":99,"anything":[1,2,3]}"#
        try Data(newer.utf8).write(to: URL(fileURLWithPath: path))
        let saver = persistence(clock: ManualClock())
        XCTAssertEqual(saver.restore().ledger.components[.cpu]?.itJoules, 0)
        saver.beforePublish(countedState(samplesTaken: 1))
        saver.saveAtShutdown(countedState(samplesTaken: 2))
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), newer)
    }

    func testFilesAreToldOursEvenTruncatedFromForeignOnes() throws {
        persistence(clock: ManualClock()).saveAtShutdown(countedState(samplesTaken: 1))
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertTrue(whole.starts(with: StateFile.marker), "the marker comes first")
        try whole.prefix(20).write(to: URL(fileURLWithPath: path))
        guard case .unusable = StateFile.inspect(path) else { return XCTFail("a truncated state file is ours") }
        try Data("web:\n  listen-address: :9636\npue: 1.2\n".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(StateFile.inspect(path), .foreign)
        XCTAssertThrowsError(try StateFileGuard.acquire(for: path)) { error in
            XCTAssertTrue("\(error)".contains("not a footprint_exporter state file"), "\(error)")
        }
        // A file of an earlier release (sorted keys, the format's name inside) is still ours.
        let earlier = #"{"bootID":"b","format":"footprint_exporter.state","ledger":{"#
        try Data(earlier.utf8).write(to: URL(fileURLWithPath: path))
        guard case .unusable = StateFile.inspect(path) else { return XCTFail("an earlier release's file is ours") }
    }

    func testALinkPlantedAtTheTemporaryPathIsNeverFollowed() throws {
        let victim = directory.appendingPathComponent("victim").path
        try Data("precious\n".utf8).write(to: URL(fileURLWithPath: victim))
        XCTAssertEqual(symlink(victim, path + ".tmp"), 0)
        persistence(clock: ManualClock()).beforePublish(countedState(samplesTaken: 1))
        XCTAssertEqual(try String(contentsOfFile: victim, encoding: .utf8), "precious\n")
        XCTAssertNoThrow(try StateFile.read(path))
    }

    func testOneExporterPerStateFileAndNoDirectoryAnyoneMayWrite() throws {
        let first = try StateFileGuard.acquire(for: path)
        XCTAssertThrowsError(try StateFileGuard.acquire(for: path)) { error in
            XCTAssertTrue("\(error)".contains(".lock"), "\(error)")
        }
        _ = first
        let open = directory.appendingPathComponent("open", isDirectory: true)
        try FileManager.default.createDirectory(at: open, withIntermediateDirectories: true)
        XCTAssertEqual(chmod(open.path, 0o777), 0)
        XCTAssertThrowsError(try StateFileGuard.acquire(for: open.appendingPathComponent("state.json").path)) { error in
            XCTAssertTrue("\(error)".contains("writable by every user"), "\(error)")
        }
        XCTAssertEqual(chmod(open.path, 0o1777), 0, "with the sticky bit (like /tmp) it is accepted")
        XCTAssertNoThrow(try StateFileGuard.acquire(for: open.appendingPathComponent("state.json").path))
    }
}
