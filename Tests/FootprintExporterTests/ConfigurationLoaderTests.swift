import Foundation
import MetricsServer
import PowerSources
import XCTest

@testable import FootprintExporter

final class ConfigurationLoaderTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("footprint-config-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
        directory = nil
    }

    /// Writes `yaml` to a config file and returns its path.
    private func configFile(_ yaml: String, name: String = "footprint.yml") throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(yaml.utf8).write(to: url)
        return url.path
    }

    private func load(_ flags: [(String, String)]) throws -> ExporterConfiguration {
        try ConfigurationLoader.load(flags: flags.map { (name: $0.0, value: $0.1) })
    }

    private func loadFile(_ yaml: String, flags: [(String, String)] = []) throws -> ExporterConfiguration {
        try load([("config.file", try configFile(yaml))] + flags)
    }

    /// Asserts that loading fails with one line that contains every one of `fragments`.
    private func assertRejected(
        _ flags: [(String, String)], mentioning fragments: [String], file: StaticString = #filePath, line: UInt = #line
    ) {
        do {
            let configuration = try load(flags)
            XCTFail("accepted \(flags): \(configuration)", file: file, line: line)
        } catch let error as ConfigurationError {
            XCTAssertFalse(error.message.isEmpty, file: file, line: line)
            XCTAssertFalse(error.message.contains("\n"), "not one line: \(error.message)", file: file, line: line)
            XCTAssertEqual(error.description, error.message, file: file, line: line)
            for fragment in fragments {
                XCTAssertTrue(
                    error.message.contains(fragment), "\(error.message.debugDescription) does not mention \(fragment)",
                    file: file, line: line)
            }
        } catch {
            XCTFail("unexpected error type \(type(of: error)): \(error)", file: file, line: line)
        }
    }

    private func assertFileRejected(
        _ yaml: String, mentioning fragments: [String], file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let path = try configFile(yaml)
        assertRejected([("config.file", path)], mentioning: [path] + fragments, file: file, line: line)
    }

    // MARK: - Defaults

    func testDefaultsMatchTheDesign() throws {
        let configuration = try load([])
        XCTAssertEqual(configuration, ExporterConfiguration())
        XCTAssertEqual(configuration.listenAddress, ListenAddress(host: nil, port: 9636))
        XCTAssertEqual(configuration.listenAddress.description, ":9636")
        XCTAssertEqual(configuration.telemetryPath, "/metrics")
        XCTAssertNil(configuration.configFile)
        XCTAssertEqual(configuration.sysfsPath, "/sys")
        XCTAssertEqual(configuration.procfsPath, "/proc")
        XCTAssertEqual(configuration.sampleInterval, .seconds(1))
        XCTAssertEqual(configuration.pue, 1.58)
        XCTAssertEqual(configuration.gridGramsPerKilowattHour, 432.7)
        XCTAssertEqual(configuration.nvmlLibrary, "libnvidia-ml.so.1")
        XCTAssertTrue(configuration.raplEnabled)
        XCTAssertTrue(configuration.nvmlEnabled)
        XCTAssertTrue(configuration.hwmonEnabled)
        XCTAssertTrue(configuration.estimateEnabled)
        XCTAssertEqual(configuration.logLevel, "info")
        XCTAssertEqual(configuration.logFormat, "logfmt")
        XCTAssertEqual(configuration.estimate.cpuMinimumWattsPerVCPU, 0.74)
        XCTAssertEqual(configuration.estimate.cpuMaximumWattsPerVCPU, 3.5)
        XCTAssertEqual(configuration.estimate.dramWattsPerGiB, 0.392)
        XCTAssertEqual(configuration.raplMaximumWatts, 0, "0: derived from each zone's power limit")
        XCTAssertTrue(configuration.budgets.isEmpty)
    }

    func testEveryFlagOfTheDesignExists() {
        for name in [
            "web.listen-address", "web.telemetry-path", "config.file", "path.sysfs", "path.procfs", "sample.interval",
            "pue", "grid.intensity", "collector.nvml.library", "collector.rapl", "collector.nvml", "collector.hwmon",
            "collector.estimate", "log.level", "log.format",
        ] {
            XCTAssertNotNil(SettingCatalogue.setting(named: name), name)
        }
    }

    // MARK: - Flags

    func testFlagsApply() throws {
        let configuration = try load([
            ("web.listen-address", "127.0.0.1:9100"), ("web.telemetry-path", "/m"), ("path.sysfs", "/host/sys"),
            ("path.procfs", "/host/proc"), ("sample.interval", "5s"), ("pue", "1.2"), ("grid.intensity", "300"),
            ("collector.rapl", "false"), ("collector.nvml", "false"), ("collector.hwmon", "false"),
            ("collector.estimate", "false"), ("collector.nvml.library", "/opt/nvml.so"), ("log.level", "debug"),
            ("log.format", "json"),
        ])
        XCTAssertEqual(configuration.listenAddress, ListenAddress(host: "127.0.0.1", port: 9100))
        XCTAssertEqual(configuration.telemetryPath, "/m")
        XCTAssertEqual(configuration.sysfsPath, "/host/sys")
        XCTAssertEqual(configuration.procfsPath, "/host/proc")
        XCTAssertEqual(configuration.sampleInterval, .seconds(5))
        XCTAssertEqual(configuration.pue, 1.2)
        XCTAssertEqual(configuration.gridGramsPerKilowattHour, 300)
        XCTAssertFalse(configuration.raplEnabled)
        XCTAssertFalse(configuration.nvmlEnabled)
        XCTAssertFalse(configuration.hwmonEnabled)
        XCTAssertFalse(configuration.estimateEnabled)
        XCTAssertEqual(configuration.nvmlLibrary, "/opt/nvml.so")
        XCTAssertEqual(configuration.logLevel, "debug")
        XCTAssertEqual(configuration.logFormat, "json")
    }

    func testIntervalBounds() throws {
        XCTAssertEqual(try load([("sample.interval", "100ms")]).sampleInterval, .milliseconds(100))
        XCTAssertEqual(try load([("sample.interval", "1m")]).sampleInterval, .seconds(60))
    }

    func testPUEOfOneAndZeroIntensityAreAllowed() throws {
        XCTAssertEqual(try load([("pue", "1")]).pue, 1)
        XCTAssertEqual(try load([("grid.intensity", "0")]).gridGramsPerKilowattHour, 0)
    }

    func testLastFlagWins() throws {
        XCTAssertEqual(try load([("pue", "1.2"), ("pue", "1.3")]).pue, 1.3)
    }

    func testNegativePUEIsRejected() { assertRejected([("pue", "-1.5")], mentioning: ["--pue", "-1.5"]) }
    func testPUEBelowOneIsRejected() { assertRejected([("pue", "0.9")], mentioning: ["--pue", "0.9"]) }
    func testNonNumericPUEIsRejected() { assertRejected([("pue", "high")], mentioning: ["--pue", "high"]) }
    func testNaNPUEIsRejected() { assertRejected([("pue", "nan")], mentioning: ["--pue", "nan"]) }

    func testNegativeIntensityIsRejected() {
        assertRejected([("grid.intensity", "-1")], mentioning: ["--grid.intensity", "-1"])
    }

    func testZeroIntervalIsRejected() {
        assertRejected([("sample.interval", "0s")], mentioning: ["--sample.interval", "0s"])
    }

    func testIntervalBelow100msIsRejected() {
        assertRejected([("sample.interval", "50ms")], mentioning: ["--sample.interval", "50ms"])
    }

    func testNonDurationIntervalIsRejected() {
        assertRejected([("sample.interval", "abc")], mentioning: ["--sample.interval", "abc"])
    }

    func testBareNumberIntervalIsRejected() {
        assertRejected([("sample.interval", "5")], mentioning: ["--sample.interval", "5"])
    }

    func testUnknownFlagIsRejected() {
        assertRejected([("collector.bogus", "1")], mentioning: ["--collector.bogus"])
    }

    func testBadListenAddressIsRejected() {
        assertRejected([("web.listen-address", "9636")], mentioning: ["--web.listen-address", "9636"])
    }

    func testBadToggleIsRejected() {
        assertRejected([("collector.rapl", "maybe")], mentioning: ["--collector.rapl", "maybe"])
    }

    func testBadLogLevelIsRejected() {
        assertRejected([("log.level", "loud")], mentioning: ["--log.level", "loud"])
    }

    func testEstimateMaximumBelowMinimumIsRejected() {
        assertRejected(
            [("estimate.cpu-min-watts", "5"), ("estimate.cpu-max-watts", "1")],
            mentioning: ["estimate.cpu-max-watts", "estimate.cpu-min-watts"])
    }

    func testEstimateCoefficientsApply() throws {
        let configuration = try load([
            ("estimate.cpu-min-watts", "1"), ("estimate.cpu-max-watts", "4"), ("estimate.dram-watts-per-gb", "0.5"),
        ])
        XCTAssertEqual(
            configuration.estimate,
            EstimateCoefficients(cpuMinimumWattsPerVCPU: 1, cpuMaximumWattsPerVCPU: 4, dramWattsPerGiB: 0.5))
    }

    // MARK: - Config file

    func testMissingConfigFileIsRejected() {
        let path = directory.appendingPathComponent("missing.yml").path
        assertRejected([("config.file", path)], mentioning: [path])
    }

    func testConfigFileThatIsADirectoryIsRejected() {
        assertRejected([("config.file", directory.path)], mentioning: [directory.path])
    }

    func testMalformedYAMLIsRejected() throws {
        try assertFileRejected("pue: [1.5\ngrid:\n  intensity: 300\n", mentioning: ["YAML"])
    }

    func testMalformedIndentationIsRejected() throws {
        try assertFileRejected("grid:\n    intensity: 300\n  pue: 1\n", mentioning: [])
    }

    func testUnknownKeyInTheFileIsRejected() throws {
        try assertFileRejected("pue: 1.2\nbogus: 1\n", mentioning: ["bogus"])
    }

    func testUnknownNestedKeyInTheFileIsRejected() throws {
        try assertFileRejected("grid:\n  intensity: 300\n  colour: green\n", mentioning: ["grid.colour"])
    }

    func testListValueIsRejected() throws {
        try assertFileRejected("pue: [1.2, 1.3]\n", mentioning: ["pue"])
    }

    func testBadValueInTheFileNamesTheKeyAndValue() throws {
        try assertFileRejected("pue: 0.9\n", mentioning: ["pue", "0.9"])
        try assertFileRejected("sample:\n  interval: 50ms\n", mentioning: ["sample.interval", "50ms"])
        try assertFileRejected("grid:\n  intensity: -3\n", mentioning: ["grid.intensity", "-3"])
    }

    func testConfigFileKeyInsideTheFileIsRejected() throws {
        try assertFileRejected("config:\n  file: /etc/other.yml\n", mentioning: ["config.file"])
    }

    func testTopLevelListIsRejected() throws {
        try assertFileRejected("- pue\n- 1.2\n", mentioning: [])
    }

    func testEmptyFileSetsNothing() throws {
        let path = try configFile("")
        var expected = ExporterConfiguration()
        expected.configFile = path
        XCTAssertEqual(try load([("config.file", path)]), expected)
    }

    func testFileValuesApply() throws {
        let configuration = try loadFile(
            """
            web:
              listen-address: "127.0.0.1:9200"
            pue: 1.3
            grid:
              intensity: 300
            sample:
              interval: 5s
            log:
              level: warn
            """)
        XCTAssertEqual(configuration.listenAddress, ListenAddress(host: "127.0.0.1", port: 9200))
        XCTAssertEqual(configuration.pue, 1.3)
        XCTAssertEqual(configuration.gridGramsPerKilowattHour, 300)
        XCTAssertEqual(configuration.sampleInterval, .seconds(5))
        XCTAssertEqual(configuration.logLevel, "warn")
        XCTAssertNotNil(configuration.configFile)
    }

    func testNestedCollectorKeysMirrorFlags() throws {
        let configuration = try loadFile(
            """
            collector:
              rapl: false
              nvml:
                enabled: false
                library: /x.so
            """)
        XCTAssertFalse(configuration.raplEnabled)
        XCTAssertFalse(configuration.nvmlEnabled)
        XCTAssertEqual(configuration.nvmlLibrary, "/x.so")
        XCTAssertTrue(configuration.hwmonEnabled)
        XCTAssertTrue(configuration.estimateEnabled)
    }

    func testASettingThatPrefixesOthersTakesItsValueUnderValueOrEnabled() throws {
        let configuration = try loadFile("grid:\n  intensity:\n    value: 300\ncollector: {nvml: {enabled: false}}\n")
        XCTAssertEqual(configuration.gridGramsPerKilowattHour, 300)
        XCTAssertFalse(configuration.nvmlEnabled)
        XCTAssertEqual(try loadFile("grid: {intensity: 300}\n"), try loadFile("grid: {intensity: {value: 300}}\n"))
        try assertFileRejected(
            "grid:\n  intensity:\n    value: 300\n    enabled: 200\n", mentioning: ["grid.intensity", "twice"])
        try assertFileRejected("grid: {intensity: {value: 300, colour: red}}\n", mentioning: ["grid.intensity.colour"])
    }

    func testHexadecimalInfiniteAndNaNNumbersAreRejected() {
        for text in ["0x1p0", "inf", "nan", "1_000", "", " "] {
            assertRejected([("pue", text)], mentioning: ["--pue", "not a number"])
        }
    }

    func testBudgetsAreFileOnlyNotAFlag() {
        assertRejected([("budgets", "x")], mentioning: ["unknown flag --budgets"])
    }

    func testFlowStyleNestedKeys() throws {
        let configuration = try loadFile("grid: {intensity: 300}\nsample: {interval: 5s}\n")
        XCTAssertEqual(configuration.gridGramsPerKilowattHour, 300)
        XCTAssertEqual(configuration.sampleInterval, .seconds(5))
    }

    func testFlagsWinOverTheFile() throws {
        let configuration = try loadFile(
            "pue: 1.3\ngrid:\n  intensity: 300\ncollector:\n  rapl: false\n",
            flags: [("pue", "1.1"), ("collector.rapl", "true")])
        XCTAssertEqual(configuration.pue, 1.1)
        XCTAssertTrue(configuration.raplEnabled)
        XCTAssertEqual(configuration.gridGramsPerKilowattHour, 300, "the file still applies where no flag is given")
    }

    func testFlagsWinOverTheFileWhenGivenBeforeConfigFile() throws {
        let path = try configFile("pue: 1.3\n")
        XCTAssertEqual(try load([("pue", "1.1"), ("config.file", path)]).pue, 1.1)
    }

    func testEstimateMaximumBelowMinimumInTheFileIsRejected() throws {
        try assertFileRejected(
            "estimate:\n  cpu-min-watts: 5\n  cpu-max-watts: 1\n",
            mentioning: ["estimate.cpu-max-watts", "estimate.cpu-min-watts"])
    }

    // MARK: - Budgets

    func testBudgetsParse() throws {
        let configuration = try loadFile(
            """
            budgets:
              - name: daily
                window: 24h
                grams: 5000
              - name: training
                window: 30d
                grams: 1.5e6
            """)
        XCTAssertEqual(
            configuration.budgets,
            [
                EmissionBudget(name: "daily", window: .seconds(86_400), windowLabel: "24h", grams: 5000),
                EmissionBudget(name: "training", window: .seconds(30 * 86_400), grams: 1_500_000),
            ])
    }

    func testEmptyBudgetListIsAllowed() throws {
        XCTAssertEqual(try loadFile("budgets: []\n").budgets, [])
    }

    func testBudgetsMustBeAList() throws {
        try assertFileRejected("budgets: 5000\n", mentioning: ["budgets"])
    }

    func testBudgetItemMustBeAMapping() throws {
        try assertFileRejected("budgets:\n  - 5000\n", mentioning: ["budgets[0]"])
    }

    func testBudgetUnknownKeyIsRejected() throws {
        try assertFileRejected(
            "budgets:\n  - name: daily\n    window: 24h\n    grams: 5\n    limit: 3\n",
            mentioning: ["limit", "budgets[0]"])
    }

    func testBudgetNeedsAName() throws {
        try assertFileRejected("budgets:\n  - window: 24h\n    grams: 5\n", mentioning: ["budgets[0]", "name"])
    }

    func testBudgetWindowMustBeAtLeastAMinute() throws {
        try assertFileRejected(
            "budgets:\n  - name: short\n    window: 30s\n    grams: 5\n", mentioning: ["budgets[0]", "short", "window"])
    }

    func testBudgetWindowMustBeADuration() throws {
        try assertFileRejected(
            "budgets:\n  - name: d\n    window: daily\n    grams: 5\n", mentioning: ["budgets[0]", "window"])
    }

    func testBudgetGramsMustBePositive() throws {
        try assertFileRejected(
            "budgets:\n  - name: d\n    window: 1d\n    grams: 0\n", mentioning: ["budgets[0]", "grams"])
        try assertFileRejected(
            "budgets:\n  - name: d\n    window: 1d\n    grams: -5\n", mentioning: ["budgets[0]", "grams"])
        try assertFileRejected(
            "budgets:\n  - name: d\n    window: 1d\n    grams: lots\n", mentioning: ["budgets[0]", "grams"])
    }

    func testSecondBudgetErrorNamesItsPosition() throws {
        try assertFileRejected(
            "budgets:\n  - name: a\n    window: 1d\n    grams: 5\n  - name: b\n    window: 1d\n",
            mentioning: ["budgets[1]"])
    }

    func testDuplicateBudgetIsRejected() throws {
        try assertFileRejected(
            "budgets:\n  - name: d\n    window: 24h\n    grams: 5\n  - name: d\n    window: 1d\n    grams: 6\n",
            mentioning: ["\"d\""])
    }
}
