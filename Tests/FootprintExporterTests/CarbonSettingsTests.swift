import EnergyAccounting
import Foundation
import GridIntensity
import XCTest

@testable import FootprintExporter

/// The carbon-data settings (docs/carbon-data.md): presets, one intensity source, provider settings only with a
/// provider, the token only over a channel that protects it.
final class CarbonSettingsTests: XCTestCase {
    private func load(_ flags: [(String, String)]) throws -> ExporterConfiguration {
        try ConfigurationLoader.load(flags: flags.map { (name: $0.0, value: $0.1) })
    }

    private func error(_ flags: [(String, String)]) -> String {
        do {
            _ = try load(flags)
            return "no error"
        } catch let error as ConfigurationError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    private func tokenFile(_ text: String = "secret-token-123\n") throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID().uuidString)").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testARegionPresetSetsTheIntensityAndNamesItsSource() throws {
        let configuration = try load([("grid.region", "fr")])
        XCTAssertEqual(configuration.gridRegion, "FR")
        let france = try XCTUnwrap(RegionPresets.preset(named: "FR"))
        let inForce = configuration.intensityPlan.inForce(lastGood: nil, nowUnixSeconds: 0)
        XCTAssertEqual(
            inForce, IntensityInForce(gramsPerKilowattHour: france.gramsPerKilowattHour, source: .region, zone: "FR"))
        let cloud = try load([("grid.region", "aws:us-east-1")])
        XCTAssertEqual(cloud.gridRegion, "aws:us-east-1")
    }

    func testAnUnknownRegionSaysHowToListTheCodes() {
        XCTAssertEqual(
            error([("grid.region", "XX")]),
            #"invalid value "XX" for --grid.region: unknown region: footprint_exporter --grid.region=list prints the codes (docs/grid-regions.md)"#
        )
    }

    func testAPUEPresetSetsThePUEAndConflictsWithAnExplicitOne() throws {
        let configuration = try load([("pue.preset", "gcp")])
        XCTAssertEqual(configuration.effectivePUE, try XCTUnwrap(PUEPresets.preset(named: "gcp")).pue)
        XCTAssertEqual(AccountingSettings(configuration).pue, configuration.effectivePUE)
        XCTAssertEqual(
            error([("pue", "1.3"), ("pue.preset", "aws")]), "flags: pue and pue.preset both set the PUE; keep one")
    }

    func testOneSourceOfIntensityAtATime() throws {
        let token = try tokenFile()
        XCTAssertEqual(
            error([
                ("grid.provider", "electricitymaps"), ("grid.zone", "FR"), ("grid.provider.token-file", token),
                ("grid.intensity.file", "/run/intensity"),
            ]),
            "flags: grid.provider and grid.intensity.file both set the grid intensity; keep one (a region preset, grid.region, may be the fall-back of either)"
        )
        XCTAssertEqual(
            error([("grid.region", "PL"), ("grid.intensity", "300")]),
            "flags: grid.intensity and grid.region both set a fixed grid intensity; keep one")
        // A region is the fall-back of a file or a provider.
        let withFile = try load([("grid.intensity.file", "/run/intensity"), ("grid.region", "DE")])
        XCTAssertEqual(withFile.intensityPlan.live, .file(path: "/run/intensity"))
        XCTAssertEqual(withFile.intensityPlan.region?.code, "DE")
        let withProvider = try load([("grid.provider", "uk-carbon-intensity"), ("grid.region", "GB")])
        XCTAssertEqual(withProvider.intensityPlan.live, .provider(.ukCarbonIntensity, zone: "GB"))
        XCTAssertEqual(ProviderSettings(withProvider)?.zone, "GB")
    }

    func testProviderSettingsNeedAProviderAndAValidZoneAndToken() throws {
        XCTAssertEqual(error([("grid.zone", "FR")]), "flags: grid.zone is set but grid.provider is not")
        XCTAssertEqual(
            error([("grid.provider.refresh", "5m")]), "flags: grid.provider.refresh is set but grid.provider is not")
        XCTAssertTrue(
            error([("grid.provider", "electricitymaps"), ("grid.zone", "FR")]).contains("needs a token"),
            error([("grid.provider", "electricitymaps"), ("grid.zone", "FR")]))
        XCTAssertTrue(error([("grid.provider", "uk-carbon-intensity"), ("grid.zone", "18")]).contains("1 to 17"))
        let token = try tokenFile()
        let plain = error([
            ("grid.provider", "electricitymaps"), ("grid.zone", "FR"), ("grid.provider.token-file", token),
            ("grid.provider.url", "http://mirror.example.com"),
        ])
        XCTAssertTrue(plain.contains("plain http"), plain)
        XCTAssertFalse(plain.contains("secret-token"), plain)
        // Plain http to loopback (a local proxy, a test server) may carry the token.
        let loopback = try load([
            ("grid.provider", "electricitymaps"), ("grid.zone", "FR"), ("grid.provider.token-file", token),
            ("grid.provider.url", "http://127.0.0.1:8080"),
        ])
        XCTAssertEqual(ProviderSettings(loopback)?.baseURL, "http://127.0.0.1:8080")
        XCTAssertEqual(ProviderSettings(loopback)?.refreshSeconds, 900)
    }

    func testTheRefreshMustBeShorterThanTheStaleLimit() {
        XCTAssertEqual(
            error([("grid.provider", "uk-carbon-intensity"), ("grid.provider.refresh", "3h")]),
            "flags: grid.provider.refresh (3h) must be shorter than grid.provider.max-age (2h), or every value goes stale before the next fetch"
        )
    }

    func testTheTokenFileIsReadTrimmedAndNeverEchoed() throws {
        XCTAssertEqual(try ProviderPoller.readToken(try tokenFile("  abc-123 \n")), "abc-123")
        XCTAssertThrowsError(try ProviderPoller.readToken(try tokenFile(" \n"))) { error in
            XCTAssertTrue((error as? ConfigurationError)?.message.contains("is empty") ?? false)
        }
        XCTAssertThrowsError(try ProviderPoller.readToken(try tokenFile("one\ntwo-secret\n"))) { error in
            let message = (error as? ConfigurationError)?.message ?? ""
            XCTAssertTrue(message.contains("more than one line"), message)
            XCTAssertFalse(message.contains("two-secret"), message)
        }
        XCTAssertThrowsError(try ProviderPoller.readToken("/nonexistent/token"))
    }

    func testEmbodiedSettingsMakeTheProfile() throws {
        XCTAssertTrue(try load([]).embodied.isOff)
        let profile = try load([
            ("embodied.kgco2e", "1300"), ("embodied.lifetime", "4y"), ("embodied.gpu-kgco2e", "164"),
        ])
        .embodied
        XCTAssertEqual(
            profile, EmbodiedProfile(serverKilograms: 1300, gpuKilograms: 164, lifetimeSeconds: 4 * 365 * 86_400))
        XCTAssertTrue(error([("embodied.lifetime", "1h")]).contains("at least 1d"))
    }

    func testTheConfigFileHoldsEverySetting() throws {
        let token = try tokenFile()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString).yml").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        try Data(
            """
            pue: {preset: azure}
            grid:
              region: de
              provider:
                value: electricitymaps
                token-file: \(token)
                url: https://mirror.example.com/em
                refresh: 5m
                timeout: 3s
                max-age: 1h
              zone: DE
            embodied: {kgco2e: 1300, gpu-kgco2e: 150, lifetime: 5y}
            """.utf8
        ).write(to: URL(fileURLWithPath: path))
        let configuration = try load([("config.file", path)])
        XCTAssertEqual(configuration.effectivePUE, 1.185)
        XCTAssertEqual(
            configuration.intensityPlan,
            IntensityPlan(
                staticGramsPerKilowattHour: 432.7, region: RegionPresets.preset(named: "DE"),
                live: .provider(.electricityMaps, zone: "DE"), maximumAgeSeconds: 3600, refreshSeconds: 300))
        XCTAssertEqual(
            ProviderSettings(configuration),
            ProviderSettings(
                provider: .electricityMaps, zone: "DE", baseURL: "https://mirror.example.com/em", tokenFile: token,
                timeoutSeconds: 3, refreshSeconds: 300))
        XCTAssertEqual(configuration.embodied.lifetimeSeconds, 5 * 365 * 86_400)
    }

    func testBudgetsTakeIncludeEmbodied() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString).yml").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        try Data(
            """
            budgets:
              - {name: node, window: 24h, grams: 1000, include_embodied: true}
              - {name: plain, window: 24h, grams: 1000}
            """.utf8
        ).write(to: URL(fileURLWithPath: path))
        let budgets = try load([("config.file", path)]).budgets
        XCTAssertEqual(budgets.map(\.includeEmbodied), [true, false])
        // The rules measure a node budget with embodied CO2e by its own counter: its scope says so.
        XCTAssertEqual(budgets.map(\.scope), ["node_embodied", "node"])
        try Data("budgets: [{name: a, window: 24h, grams: 1, include_embodied: maybe}]".utf8).write(
            to: URL(fileURLWithPath: path))
        XCTAssertTrue(error([("config.file", path)]).contains("include_embodied must be true or false"))
    }
}

private enum EmbodiedProfileValues {
    static let expected = EmbodiedProfile(serverKilograms: 1300, gpuKilograms: 164, lifetimeSeconds: 4 * 365 * 86_400)
}
