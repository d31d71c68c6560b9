import MetricsServer
import XCTest

@testable import FootprintExporter

/// What SIGHUP applies: the settings the catalogue marks `appliesOnReload`, and nothing else.
final class ReloadPlanTests: XCTestCase {
    func testUnchangedConfigurationChangesNothing() {
        var running = ExporterConfiguration()
        running.pue = 1.3
        let plan = ReloadPlan(running: running, next: running)
        XCTAssertEqual(plan.applied, running)
        XCTAssertEqual(plan.changes, [])
        XCTAssertEqual(plan.needRestart, [])
    }

    func testLiveSettingsApplyWithOldAndNewValues() {
        var running = ExporterConfiguration()
        running.pue = 1.3
        var next = running
        next.pue = 1.1
        next.gridGramsPerKilowattHour = 56
        next.logLevel = "debug"
        next.budgets = [EmissionBudget(name: "daily", window: .seconds(86_400), windowLabel: "24h", grams: 5000)]
        let plan = ReloadPlan(running: running, next: next)
        XCTAssertEqual(plan.applied, next)
        XCTAssertEqual(
            plan.changes,
            [
                .init(name: "pue", old: "1.3", new: "1.1"),
                .init(name: "grid.intensity", old: "432.7", new: "56"),
                .init(name: "budgets", old: "none", new: "1 budgets"),
                .init(name: "log.level", old: "info", new: "debug"),
            ])
        XCTAssertEqual(plan.needRestart, [])
    }

    func testRestartOnlySettingsAreNamedAndKeptAsTheyRun() {
        let running = ExporterConfiguration()
        var next = running
        next.sampleInterval = .seconds(5)
        next.listenAddress = ListenAddressFixture.localhost
        next.pue = 2
        let plan = ReloadPlan(running: running, next: next)
        XCTAssertEqual(plan.needRestart, ["web.listen-address", "sample.interval"])
        XCTAssertEqual(plan.applied.sampleInterval, .seconds(1), "a restart-only setting keeps its running value")
        XCTAssertEqual(plan.applied.listenAddress, running.listenAddress)
        XCTAssertEqual(plan.applied.pue, 2)
    }

    func testAFileEmptiedByMistakeShowsEveryLiveSettingGoingBackToItsDefault() {
        var running = ExporterConfiguration()
        running.pue = 1.2
        running.gridGramsPerKilowattHour = 56
        let plan = ReloadPlan(running: running, next: ExporterConfiguration())
        XCTAssertEqual(plan.changes.map(\.name), ["pue", "grid.intensity"])
        XCTAssertEqual(plan.changes.map(\.new), ["1.58", "432.7"])
    }

    func testOnlyAccountingBudgetsAndLogLevelApplyOnReload() {
        XCTAssertEqual(
            SettingCatalogue.all.filter(\.appliesOnReload).map(\.name), ["pue", "grid.intensity", "budgets", "log.level"])
    }
}

private enum ListenAddressFixture {
    static var localhost: ListenAddress { ListenAddress(parsing: "127.0.0.1:9100")! }
}
