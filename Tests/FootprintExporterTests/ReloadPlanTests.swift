import EnergyAccounting
import Logging
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

    func testOnlyAccountingCarbonDataBudgetsAndLogLevelApplyOnReload() {
        XCTAssertEqual(
            SettingCatalogue.all.filter(\.appliesOnReload).map(\.name),
            [
                "pue", "grid.intensity", "pue.preset", "grid.region", "grid.intensity.file", "grid.provider",
                "grid.zone", "grid.provider.token-file", "grid.provider.refresh", "grid.provider.url",
                "grid.provider.timeout", "grid.provider.max-age", "embodied.kgco2e", "embodied.gpu-kgco2e",
                "embodied.lifetime", "budgets", "log.level",
            ])
    }
}

private enum ListenAddressFixture {
    static var localhost: ListenAddress { ListenAddress(parsing: "127.0.0.1:9100")! }
}

/// The shipped defaults are the paper's: with them, its Table 3 row comes out of the accounting.
final class ShippedDefaultsTests: XCTestCase {
    func testTheShippedDefaultsReproduceThePapersTable3Row() {
        let defaults = ExporterConfiguration()
        var ledger = EnergyLedger()
        let key = DomainKey(source: "nvml", domain: "gpu", device: "0")
        for hour in 0...84 {
            ledger.record(
                [(key, .averagePower(watts: 1515.43), Double(hour) * 3600)], pue: defaults.pue,
                gramsPerKilowattHour: defaults.gridGramsPerKilowattHour)
        }
        let totals = ledger.components[.gpu]!
        XCTAssertEqual(totals.itJoules / 3.6e6, 127.296, accuracy: 0.0005)
        XCTAssertEqual(totals.facilityJoules / 3.6e6, 201.128, accuracy: 0.0005, "the paper: 201 kWh·PUE")
        XCTAssertEqual(totals.co2eGrams / 453.59237, 191.86, accuracy: 0.005, "the paper: 192 lbs")
    }

    func testTheExporterHandsItsSettingsToTheHTTPServer() throws {
        var configuration = ExporterConfiguration()
        configuration.maximumConnections = 77
        configuration.maximumConnectionsPerIP = 7
        configuration.connectionTimeout = .seconds(42)
        configuration.readHeaderTimeout = .seconds(13)
        configuration.maximumConcurrentRequests = 3
        configuration.raplEnabled = false
        configuration.nvmlEnabled = false
        configuration.hwmonEnabled = false
        let exporter = try Exporter(configuration: configuration, logger: Logger(label: "test"))
        let server = exporter.server.configuration
        XCTAssertEqual(server.maximumConnections, 77)
        XCTAssertEqual(server.maximumConnectionsPerIP, 7)
        XCTAssertEqual(server.connectionTimeoutSeconds, 42)
        XCTAssertEqual(server.requestHeaderTimeoutSeconds, 13)
        XCTAssertEqual(server.maximumConcurrentRequests, 3)
    }
}
