import Foundation
import Workloads
import XCTest

@testable import FootprintExporter

/// Budgets with `match:` in the config file: parsed into the budgets, and every mistake one line naming the budget.
final class BudgetMatchConfigurationTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("footprint-budget-match-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
        directory = nil
    }

    private func configFile(_ yaml: String) throws -> String {
        let url = directory.appendingPathComponent("footprint.yml")
        try Data(yaml.utf8).write(to: url)
        return url.path
    }

    private func load(_ yaml: String, flags: [(String, String)] = [("path.pod-logs", "/var/log/pods")]) throws
        -> ExporterConfiguration
    {
        try ConfigurationLoader.load(
            flags: [(name: "config.file", value: try configFile(yaml))] + flags.map { (name: $0.0, value: $0.1) })
    }

    /// Asserts that loading fails with one line that names the config file and holds every one of `fragments`.
    private func assertRejected(
        _ yaml: String, flags: [(String, String)] = [("path.pod-logs", "/var/log/pods")],
        mentioning fragments: [String],
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        do {
            let configuration = try load(yaml, flags: flags)
            XCTFail("accepted: \(configuration)", file: file, line: line)
        } catch let error as ConfigurationError {
            XCTAssertFalse(error.message.contains("\n"), "not one line: \(error.message)", file: file, line: line)
            for fragment in [try configFile(yaml)] + fragments {
                XCTAssertTrue(
                    error.message.contains(fragment), "\(error.message.debugDescription) does not mention \(fragment)",
                    file: file, line: line)
            }
        }
    }

    func testTheExampleOfTheIssueParses() throws {
        let configuration = try load(
            """
            budgets:
              - {name: team-nlp, window: 30d, grams: 120000, match: {kind: pod, namespace: "nlp-*"}}
              - {name: team-nlp, window: 24h, grams: 5000, match: {namespace: "nlp-*", kind: pod}}
              - {name: alice-slurm, window: 7d, grams: 20000, match: [{kind: slurm_job, user: alice}, {kind: systemd_unit, unit: "alice-*"}]}
              - {name: node, window: 24h, grams: 9000}
            """)
        let budgets = configuration.budgets
        XCTAssertEqual(budgets.map(\.name), ["team-nlp", "team-nlp", "alice-slurm", "node"])
        XCTAssertEqual(budgets[0].match?.description, "{kind: pod, namespace: nlp-*}")
        XCTAssertEqual(budgets[0].match, budgets[1].match, "the keys' order does not matter")
        XCTAssertEqual(budgets[2].match?.anyOf.count, 2)
        XCTAssertNil(budgets[3].match, "no match: the whole node, as before")
        var names = WorkloadNames()
        names.namespace = "nlp-train"
        XCTAssertEqual(budgets[0].match?.matches(kind: .pod, names: names), true)
        XCTAssertEqual(budgets[0].match?.matches(kind: .slurmJob, names: names), false)
    }

    func testBlockStyleParses() throws {
        let configuration = try load(
            """
            budgets:
              - name: team
                window: 7d
                grams: 1000
                match:
                  - kind: slurm_job
                    user: alice
            """, flags: [])
        XCTAssertEqual(configuration.budgets.first?.match?.description, "{kind: slurm_job, user: alice}")
    }

    func testUnknownMatchKeyNamesTheBudget() throws {
        try assertRejected(
            "budgets:\n  - {name: team-nlp, window: 30d, grams: 5, match: {kind: pod, namspace: nlp}}\n",
            mentioning: ["budgets[0] (team-nlp)", "match:", "unknown key \"namspace\""])
    }

    func testUnknownKindNamesTheBudget() throws {
        try assertRejected(
            "budgets:\n  - {name: a, window: 1d, grams: 5}\n  - {name: gpu-team, window: 1d, grams: 5, match: {kind: container}}\n",
            mentioning: ["budgets[1] (gpu-team)", "unknown kind \"container\""])
    }

    func testBadGlobNamesTheBudget() throws {
        try assertRejected(
            "budgets:\n  - {name: team-nlp, window: 1d, grams: 5, match: {namespace: \"nlp-[ab\"}}\n",
            mentioning: ["budgets[0] (team-nlp)", "namespace", "unbalanced ["])
    }

    func testEmptyMatcherNamesTheBudget() throws {
        try assertRejected(
            "budgets:\n  - {name: team-nlp, window: 1d, grams: 5, match: {}}\n",
            mentioning: ["budgets[0] (team-nlp)", "empty matcher"])
        try assertRejected(
            "budgets:\n  - {name: team-nlp, window: 1d, grams: 5, match: []}\n",
            mentioning: ["budgets[0] (team-nlp)", "empty list"])
    }

    func testOneNameWithDifferentMatchesIsRejected() throws {
        try assertRejected(
            """
            budgets:
              - {name: team-nlp, window: 24h, grams: 5, match: {namespace: "nlp-*"}}
              - {name: team-nlp, window: 30d, grams: 50, match: {namespace: "nlp"}}
            """, mentioning: ["budgets[1] (team-nlp)", "same match:", "{namespace: nlp-*}", "{namespace: nlp}"])
        try assertRejected(
            """
            budgets:
              - {name: team-nlp, window: 24h, grams: 5}
              - {name: team-nlp, window: 30d, grams: 50, match: {user: alice}}
            """, mentioning: ["budgets[1] (team-nlp)", "no match", "{user: alice}"])
    }

    func testNamespaceOrPodMatcherNeedsPodLogs() throws {
        try assertRejected(
            "budgets:\n  - {name: team-nlp, window: 30d, grams: 5, match: {kind: pod, namespace: \"nlp-*\"}}\n",
            flags: [], mentioning: ["budget \"team-nlp\"", "--path.pod-logs"])
        try assertRejected(
            "budgets:\n  - {name: web, window: 30d, grams: 5, match: [{user: a}, {pod: \"web-*\"}]}\n",
            flags: [], mentioning: ["budget \"web\"", "--path.pod-logs"])
        // The flag, or the key in the file, provides them.
        XCTAssertNoThrow(
            try load(
                "budgets:\n  - {name: team-nlp, window: 30d, grams: 5, match: {namespace: \"nlp-*\"}}\n",
                flags: [("path.pod-logs", "/var/log/pods")]))
        XCTAssertNoThrow(
            try load(
                "path:\n  pod-logs: /var/log/pods\nbudgets:\n  - {name: t, window: 30d, grams: 5, match: {pod: x}}\n",
                flags: []))
        // Other keys need no pod names.
        XCTAssertNoThrow(
            try load("budgets:\n  - {name: a, window: 30d, grams: 5, match: {kind: pod, user: a}}\n", flags: []))
    }

    func testMatchNeedsAttribution() throws {
        try assertRejected(
            "budgets:\n  - {name: alice, window: 30d, grams: 5, match: {user: alice}}\n",
            flags: [("attribution", "false")], mentioning: ["budget \"alice\"", "--no-attribution"])
        XCTAssertNoThrow(
            try load("budgets:\n  - {name: node, window: 30d, grams: 5}\n", flags: [("attribution", "false")]))
    }

    func testMatchersOfKindsNotAttributedAreFound() throws {
        let yaml = """
            budgets:
              - {name: alice, window: 7d, grams: 5, match: [{kind: slurm_job, user: alice}, {kind: systemd_unit, unit: "alice-*"}]}
              - {name: alice, window: 30d, grams: 50, match: [{kind: slurm_job, user: alice}, {kind: systemd_unit, unit: "alice-*"}]}
              - {name: any, window: 7d, grams: 5, match: {user: bob}}
            """
        let found = ConfigurationLoader.unattributedBudgetKinds(try load(yaml, flags: []))
        XCTAssertEqual(found.map(\.budget), ["alice"], "once per budget and kind; a matcher without kind is not one")
        XCTAssertEqual(found.map(\.kind), ["systemd_unit"])
        XCTAssertTrue(
            ConfigurationLoader.unattributedBudgetKinds(
                try load(yaml, flags: [("attribution.kinds", "pod,slurm_job,systemd_unit")])
            ).isEmpty)
    }

    func testAReloadThatDropsPodNamesIsCheckedToo() throws {
        var running = try load(
            "budgets:\n  - {name: a, window: 30d, grams: 5, match: {user: a}}\n", flags: [])
        running.podLogsPath = nil
        var next = running
        next.budgets = [
            EmissionBudget(
                name: "team", window: .seconds(86_400), grams: 5,
                match: WorkloadMatch(anyOf: [.init(patterns: [.namespace: try GlobPattern("nlp-*")])]))
        ]
        next.podLogsPath = "/var/log/pods"  // needs a restart: not applied by the reload
        let plan = ReloadPlan(running: running, next: next)
        XCTAssertNil(plan.applied.podLogsPath)
        XCTAssertThrowsError(try ConfigurationLoader.validateBudgets(plan.applied, origin: "budgets")) { error in
            XCTAssertTrue("\(error)".contains("--path.pod-logs"), "\(error)")
        }
    }
}
