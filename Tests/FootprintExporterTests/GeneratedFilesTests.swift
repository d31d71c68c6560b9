import Foundation
import XCTest

@testable import FootprintExporter

/// Files generated from the setting and metric catalogues: the command line's options, docs/settings.md,
/// docs/metrics.md and the flag table of docs/configuration.md. Each test fails when a file disagrees with its
/// catalogue; `UPDATE_GOLDEN=1 swift test --filter GeneratedFilesTests` rewrites them for review.
final class GeneratedFilesTests: XCTestCase {
    private static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    func testCommandLineOptionsFollowTheSettingCatalogue() throws {
        try assertGenerated("Sources/footprint_exporter/CommandLineOptions.swift", Self.commandLineOptions())
    }

    func testSettingsReferenceFollowsTheSettingCatalogue() throws {
        try assertGenerated("docs/settings.md", Self.settingsDocument())
    }

    func testMetricsReferenceFollowsTheMetricCatalogue() throws {
        try assertGenerated("docs/metrics.md", Self.metricsDocument())
    }

    func testConfigurationFlagTableFollowsTheSettingCatalogue() throws {
        let path = Self.repository.appendingPathComponent("docs/configuration.md")
        let document = try String(contentsOf: path, encoding: .utf8)
        let begin = "<!-- settings table: generated from SettingCatalogue -->\n"
        let end = "<!-- end of settings table -->"
        let start = try XCTUnwrap(document.range(of: begin), "docs/configuration.md lacks the marker \(begin)")
        let stop = try XCTUnwrap(document.range(of: end, range: start.upperBound..<document.endIndex))
        let expected = Self.settingsTable()
        if document[start.upperBound..<stop.lowerBound] != expected {
            if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" {
                var updated = document
                updated.replaceSubrange(start.upperBound..<stop.lowerBound, with: expected)
                try updated.write(to: path, atomically: true, encoding: .utf8)
            } else {
                XCTFail(
                    "docs/configuration.md's flag table differs from the setting catalogue; run UPDATE_GOLDEN=1 swift test"
                )
            }
        }
    }

    func testEverySettingIsListedOnceWithAPropertyAndHelp() {
        let names = SettingCatalogue.all.map(\.name)
        XCTAssertEqual(Set(names).count, names.count, "setting names are unique")
        XCTAssertEqual(SettingCatalogue.propertyNames.count, names.count)
        XCTAssertGreaterThanOrEqual(names.count, 28)
        for setting in SettingCatalogue.all {
            XCTAssertFalse(setting.help.isEmpty, setting.name)
            XCTAssertFalse(setting.help.hasSuffix("."), "\(setting.name): help is a phrase; --help adds the default")
        }
    }

    // MARK: - Generators

    static func commandLineOptions() -> String {
        var lines = [
            "// Generated from SettingCatalogue by Tests/FootprintExporterTests/GeneratedFilesTests.swift; do not edit.",
            "// After changing a setting: UPDATE_GOLDEN=1 swift test --filter GeneratedFilesTests",
            "// swift-format-ignore-file",
            "import ArgumentParser",
            "import FootprintExporter",
            "",
            "/// One command-line option per setting of `SettingCatalogue`, in its order.",
            "struct CommandLineOptions: ParsableArguments {",
        ]
        var given: [String] = []
        for setting in SettingCatalogue.all where !setting.form.isFileOnly {
            let property = SettingCatalogue.propertyNames[setting.name]!
            let name = setting.name
            switch setting.form {
            case .toggle:
                lines.append(
                    "    @Flag(name: .customLong(\"\(name)\"), inversion: .prefixedNo, help: help(\"\(name)\"))")
                lines.append("    var \(property): Bool?")
                given.append("(\"\(name)\", \(property).map(String.init)),")
            default:
                lines.append("    @Option(name: .customLong(\"\(name)\"), help: help(\"\(name)\"))")
                lines.append("    var \(property): String?")
                given.append("(\"\(name)\", \(property)),")
            }
        }
        lines += [
            "",
            "    /// The settings given on the command line, by setting name.",
            "    var given: [(name: String, value: String)] {",
            "        let values: [(String, String?)] = [",
        ]
        lines += given.map { "            \($0)" }
        lines += [
            "        ]",
            "        return values.compactMap { name, value in value.map { (name, $0) } }",
            "    }",
            "",
            "    private static func help(_ name: String) -> ArgumentHelp {",
            "        ArgumentHelp(SettingCatalogue.helpLine(name), valueName: SettingCatalogue.placeholder(name))",
            "    }",
            "}",
            "",
        ]
        return lines.joined(separator: "\n")
    }

    static func settingsTable() -> String {
        var lines = ["| flag | config file key | default | reload | meaning |", "|---|---|---|---|---|"]
        for setting in SettingCatalogue.all {
            let flag: String
            switch setting.form {
            case .toggle: flag = "`--[no-]\(setting.name)`"
            case .value(let placeholder): flag = "`--\(setting.name)=<\(placeholder)>`"
            case .fileOnly: flag = "(file only)"
            }
            let key = setting.allowedInConfigFile ? "`\(setting.name)`" : "(flag only)"
            let reload = setting.appliesOnReload ? "applied" : "restart"
            lines.append(
                "| \(flag) | \(key) | `\(setting.defaultText)` | \(reload) | \(setting.help.replacingOccurrences(of: "|", with: "\\|")). |"
            )
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func settingsDocument() -> String {
        """
        # Settings

        Generated from `SettingCatalogue` (Sources/FootprintExporter/Configuration/SettingCatalogue.swift) by
        Tests/FootprintExporterTests/GeneratedFilesTests.swift; do not edit by hand.

        Every setting is a flag and a config-file key. In the YAML file (`--config.file`) a key's dots are nested
        mappings: `grid.intensity` is `grid: {intensity: 300}`. A setting whose name is also the start of other
        settings' names takes its own value under `value:` (or `enabled:` for an on/off switch) when the others sit
        beside it: `collector: {nvml: {enabled: true, library: /usr/lib/libnvidia-ml.so.1}}`. A flag given on the
        command line wins over the file; an unknown flag or key is a start-up error. SIGHUP (and `reload`) re-reads the
        file: settings marked *applied* change at once, for energy drawn afterwards; the others log a warning and
        wait for a restart. Durations use Prometheus notation (`100ms`, `5s`, `1m`, `1h30m`, `24h`, `7d`).

        \(settingsTable())
        """
    }

    static func metricsDocument() -> String {
        var lines = [
            "# Metrics", "",
            "Generated from `MetricCatalogue` (Sources/FootprintExporter/Rendering/MetricCatalogue.swift) by",
            "Tests/FootprintExporterTests/GeneratedFilesTests.swift; do not edit by hand. docs/design.md §3 says how",
            "the families relate, and [metrics-guide.md](metrics-guide.md) how to read them (label values, which series",
            "to sum, an example scrape); every name is prefixed `footprint_`.", "",
            "| metric | type | labels | meaning |", "|---|---|---|---|",
        ]
        for family in MetricCatalogue.all {
            let labels = family.labelNames.isEmpty ? "" : family.labelNames.map { "`\($0)`" }.joined(separator: ", ")
            lines.append("| `\(family.name)` | \(family.type.rawValue) | \(labels) | \(family.help) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: - Comparing

    private func assertGenerated(
        _ relativePath: String, _ expected: String, file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        let url = Self.repository.appendingPathComponent(relativePath)
        let actual = try? String(contentsOf: url, encoding: .utf8)
        guard actual != expected else { return }
        if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" {
            try expected.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        XCTFail(
            "\(relativePath) differs from what its catalogue generates; run UPDATE_GOLDEN=1 swift test --filter GeneratedFilesTests and review the diff",
            file: file, line: line)
    }
}
