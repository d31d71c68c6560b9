import EnergyAccounting
import Foundation
import Logging
import PowerSources
import Synchronization
import Workloads
import XCTest

@testable import FootprintExporter

/// `footprint_budget_co2e_grams_total`: the CO2e of the workloads a budget's `match:` selects, or of the whole node
/// without one; through the sampler and the attribution over a fixture node, and across reloads and restarts.
final class BudgetCounterTests: XCTestCase {
    private var directory: URL!
    private let interval = 1.0

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("footprint-budget-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
        directory = nil
    }

    // MARK: - A fixture node: cgroup v2 pods, procfs, the kubelet's pod logs

    private struct Pod {
        let uid: String
        let namespace: String
        let name: String
    }

    private let pods = [
        Pod(uid: "0a1b2c3d-0000-4000-8000-000000000001", namespace: "nlp-train", name: "bert-0"),
        Pod(uid: "0a1b2c3d-0000-4000-8000-000000000002", namespace: "nlp-serve", name: "api-7f9c"),
        Pod(uid: "0a1b2c3d-0000-4000-8000-000000000003", namespace: "cv", name: "resnet-0"),
        Pod(uid: "0a1b2c3d-0000-4000-8000-000000000004", namespace: "NLP-upper", name: "x-0"),
    ]

    private func write(_ relative: String, _ text: String) throws {
        let url = directory.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    private func podPath(_ pod: Pod) -> String {
        "cgroup/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(pod.uid.replacingOccurrences(of: "-", with: "_")).slice"
    }

    /// Writes frame `step`: each pod's CPU time and memory, and the node's CPU ticks and memory.
    private func writeFrame(_ step: Int) throws {
        try write("cgroup/cgroup.controllers", "cpu memory\n")
        for (index, pod) in pods.enumerated() {
            let usage = UInt64(step) * UInt64(index + 1) * 70_001
            try write("\(podPath(pod))/cpu.stat", "usage_usec \(usage)\nuser_usec \(usage)\nsystem_usec 0\n")
            try write("\(podPath(pod))/memory.current", "\((index + 1) * 100 << 20 + step * 4096)\n")
        }
        let busy = 1000 + step * 100
        try write("proc/stat", "cpu  \(busy) 0 0 \(9000 + step * 50) 0 0 0 0 0 0\ncpu0 \(busy) 0 0 9000 0 0 0 0 0 0\n")
        try write(
            "proc/meminfo", "MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:    8000000 kB\n")
        for pod in pods {
            try FileManager.default.createDirectory(
                at: directory.appendingPathComponent("pods/\(pod.namespace)_\(pod.name)_\(pod.uid)/app"),
                withIntermediateDirectories: true)
        }
    }

    private func raplSample(_ step: Int) -> SourceSample {
        func counter(_ domain: Domain, _ microjoules: UInt64) -> DomainReading {
            DomainReading(
                id: DomainID(source: "rapl", domain: domain, device: "0"),
                measurement: .energyCounter(microjoules: microjoules, wrapMicrojoules: 262_143_328_850))
        }
        let step = UInt64(step)
        return SourceSample(readings: [
            counter(.package, 1_000_000 + step * 123_456_789 + step * step * 7),
            counter(.dram, 2_000_000 + step * 9_876_543),
        ])
    }

    private static let teamMatch = WorkloadMatch(anyOf: [
        .init(kind: .pod, patterns: [.namespace: try! GlobPattern("nlp-*")])
    ])

    private let budgets = [
        EmissionBudget(name: "team-nlp", window: .seconds(86_400), grams: 5000, match: teamMatch),
        EmissionBudget(name: "team-nlp", window: .seconds(30 * 86_400), grams: 120_000, match: teamMatch),
        EmissionBudget(name: "node", window: .seconds(86_400), grams: 9000),
    ]

    private func makeSampler(
        steps: Int, settings: AccountingSettings,
        logger: Logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
    ) throws -> (Sampler, SnapshotStore, ManualClock) {
        try writeFrame(0)
        let rapl = ScriptedSource(name: "rapl", (0...steps).map(raplSample))
        let monitor = WorkloadMonitor(
            cgroupRoot: CgroupRoot(directory.appendingPathComponent("cgroup").path),
            procfs: ProcfsRoot(directory.appendingPathComponent("proc").path), kinds: [.pod, .slurmJob],
            podLogs: directory.appendingPathComponent("pods").path, rescanEverySamples: 1)
        let store = SnapshotStore()
        let clock = ManualClock()
        let sampler = Sampler(
            hardwareSources: [rapl], estimateSource: nil, interval: .seconds(1), settings: settings, store: store,
            logger: logger, clock: clock,
            attribution: (
                monitor, AttributionSettings(idleFollowsShares: true, retentionSeconds: 300, maximumWorkloads: 100)
            ))
        return (sampler, store, clock)
    }

    /// Takes samples for frames `range`, each seen whole.
    private func run(_ sampler: Sampler, _ clock: ManualClock, frames range: ClosedRange<Int>) throws {
        for step in range {
            try writeFrame(step)
            clock.advance(seconds: interval)
            sampler.sampleOnce()
        }
    }

    private func value(_ store: SnapshotStore, _ series: String) -> Double? {
        let text = String(decoding: store.latest() ?? [], as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    private func series(_ store: SnapshotStore, _ name: String) -> [String] {
        String(decoding: store.latest() ?? [], as: UTF8.self).split(separator: "\n").map(String.init).filter {
            $0.hasPrefix(name + "{")
        }
    }

    private func workloadGrams(_ state: SamplerState, namespaces: (String) -> Bool) -> Double {
        var total = 0.0
        for (id, totals) in state.attribution?.ledger.workloads ?? [:]
        where namespaces(state.attribution?.names[id]?.namespace ?? "") {
            total += totals.co2eGrams
        }
        return total
    }

    private func nodeGrams(_ state: SamplerState) -> Double {
        Component.allCases.reduce(0) { $0 + (state.ledger.components[$1]?.co2eGrams ?? 0) }
    }

    private func assertClose(
        _ actual: Double?, _ expected: Double, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let actual = try XCTUnwrap(actual, file: file, line: line)
        XCTAssertEqual(actual, expected, accuracy: max(abs(expected), 1) * 1e-12, file: file, line: line)
    }

    // MARK: - Through the sampler

    func testATeamBudgetCountsOnlyItsPodsAndANodeBudgetTheWholeNode() throws {
        let settings = AccountingSettings(pue: 1.58, gridGramsPerKilowattHour: 432.7, budgets: budgets)
        let (sampler, store, clock) = try makeSampler(steps: 4, settings: settings)
        sampler.sampleOnce()  // baselines
        try run(sampler, clock, frames: 1...2)
        sampler.accountingSettings.pue = 1.2  // drawn at another PUE from now on: the workloads' grams follow it
        sampler.accountingSettings.gridGramsPerKilowattHour = 250
        try run(sampler, clock, frames: 3...4)

        let state = sampler.currentState
        let team = workloadGrams(state) { $0.hasPrefix("nlp-") }
        let others = workloadGrams(state) { !$0.hasPrefix("nlp-") }
        XCTAssertGreaterThan(team, 0)
        XCTAssertGreaterThan(others, 0, "pods outside the team took a share: the match must leave them out")
        XCTAssertEqual(state.attribution?.names.count, 4)
        try assertClose(state.budgets.counters["team-nlp"]?.grams, team)
        try assertClose(state.budgets.counters["node"]?.grams, nodeGrams(state))
        XCTAssertLessThan(team + others, nodeGrams(state), "the system's part stays unattributed")

        // One series per budget name, whatever its windows; the exposition rounds nothing away.
        XCTAssertEqual(series(store, "footprint_budget_co2e_grams_total").count, 2)
        try assertClose(value(store, #"footprint_budget_co2e_grams_total{budget="team-nlp"}"#), team)
        try assertClose(value(store, #"footprint_budget_co2e_grams_total{budget="node"}"#), nodeGrams(state))
        XCTAssertEqual(series(store, "footprint_co2e_budget_grams").count, 3)
    }

    func testWithoutBudgetsNothingIsExported() throws {
        let (sampler, store, clock) = try makeSampler(
            steps: 1, settings: AccountingSettings(pue: 1.58, gridGramsPerKilowattHour: 432.7, budgets: []))
        sampler.sampleOnce()
        try run(sampler, clock, frames: 1...1)
        XCTAssertFalse(String(decoding: store.latest() ?? [], as: UTF8.self).contains("footprint_budget_co2e"))
    }

    func testAReloadThatChangesAMatchKeepsCountingAndOneThatRemovesABudgetDropsIt() throws {
        let recorder = LineRecorder()
        let settings = AccountingSettings(pue: 1.58, gridGramsPerKilowattHour: 432.7, budgets: budgets)
        let (sampler, store, clock) = try makeSampler(steps: 4, settings: settings, logger: recorder.logger)
        sampler.sampleOnce()
        try run(sampler, clock, frames: 1...2)
        let before = try XCTUnwrap(value(store, #"footprint_budget_co2e_grams_total{budget="team-nlp"}"#))
        let cvBefore = workloadGrams(sampler.currentState) { $0 == "cv" }
        XCTAssertTrue(recorder.messages.filter { $0.contains("match changed") }.isEmpty)

        let cv = WorkloadMatch(anyOf: [.init(patterns: [.namespace: try GlobPattern("cv")])])
        sampler.accountingSettings.budgets = [
            EmissionBudget(name: "team-nlp", window: .seconds(86_400), grams: 5000, match: cv)
        ]
        try run(sampler, clock, frames: 3...4)
        let after = try XCTUnwrap(value(store, #"footprint_budget_co2e_grams_total{budget="team-nlp"}"#))
        let cvAfter = workloadGrams(sampler.currentState) { $0 == "cv" }
        XCTAssertGreaterThan(cvAfter, cvBefore)
        try assertClose(after, before + (cvAfter - cvBefore))
        XCTAssertNil(value(store, #"footprint_budget_co2e_grams_total{budget="node"}"#), "removed by the reload")
        XCTAssertNil(sampler.currentState.budgets.counters["node"])
        let warnings = recorder.lines.filter { $0.message.contains("match changed") }
        XCTAssertEqual(warnings.count, 1, "said once, at the reload")
        XCTAssertEqual(warnings.first?.metadata["budget"], "team-nlp")
        XCTAssertEqual(warnings.first?.metadata["old"], "match: {kind: pod, namespace: nlp-*}")
        XCTAssertEqual(warnings.first?.metadata["new"], "match: {namespace: cv}")
        XCTAssertEqual(warnings.first?.level, .warning)
    }

    // MARK: - The counters alone

    private func id(_ name: String, _ kind: WorkloadKind = .pod) -> WorkloadID { WorkloadID(kind: kind, name: name) }

    private func names(namespace: String) -> WorkloadNames {
        var names = WorkloadNames()
        names.namespace = namespace
        return names
    }

    func testExactSumsOfOneSample() {
        var counters = BudgetCounters()
        let increments = [id("a"): 0.25, id("b"): 0.5, id("c"): 0.125, id("j", .slurmJob): 1]
        let names = [
            id("a"): names(namespace: "nlp-a"), id("b"): names(namespace: "nlp-b"), id("c"): names(namespace: "cv"),
        ]
        counters.record(budgets: budgets, nodeGrams: 4, workloadGrams: increments, names: names, tracked: 4)
        XCTAssertEqual(counters.counters["team-nlp"]?.grams, 0.75)
        XCTAssertEqual(counters.counters["node"]?.grams, 4)
        counters.record(budgets: budgets, nodeGrams: 2, workloadGrams: [id("a"): 1], names: names, tracked: 4)
        XCTAssertEqual(counters.counters["team-nlp"]?.grams, 1.75)
        XCTAssertEqual(counters.counters["node"]?.grams, 6)
    }

    func testMatchResultsAreCachedUntilTheNamesChangeOrTheBudgetsDo() {
        var counters = BudgetCounters()
        var names = [id("a"): WorkloadNames()]  // no pod names yet
        counters.record(budgets: budgets, nodeGrams: 1, workloadGrams: [id("a"): 1], names: names, tracked: 1)
        XCTAssertEqual(counters.counters["team-nlp"]?.grams, 0)
        names[id("a")] = self.names(namespace: "nlp-a")  // the pod's names arrived
        counters.record(budgets: budgets, nodeGrams: 1, workloadGrams: [id("a"): 1], names: names, tracked: 1)
        XCTAssertEqual(counters.counters["team-nlp"]?.grams, 1)
        XCTAssertEqual(counters.cachedWorkloads, 1)
        // Names gone (the workload expired this sample): its cached result stands.
        counters.record(budgets: budgets, nodeGrams: 1, workloadGrams: [id("a"): 1], names: [:], tracked: 1)
        XCTAssertEqual(counters.counters["team-nlp"]?.grams, 2)
        // Workloads that are no longer tracked are forgotten.
        counters.record(
            budgets: budgets, nodeGrams: 1, workloadGrams: [id("b"): 1], names: [id("b"): WorkloadNames()], tracked: 1)
        XCTAssertEqual(counters.cachedWorkloads, 1)
    }

    func testARestartWithAChangedMatchSaysSo() {
        var counters = BudgetCounters(restoring: [
            "team-nlp": .init(grams: 10, match: "{namespace: nlp}"), "gone": .init(grams: 3, match: nil),
        ])
        let changes = counters.record(budgets: budgets, nodeGrams: 1, workloadGrams: [:], names: [:], tracked: 0)
        XCTAssertEqual(
            changes,
            [.init(budget: "team-nlp", old: "match: {namespace: nlp}", new: "match: {kind: pod, namespace: nlp-*}")])
        XCTAssertEqual(counters.counters["team-nlp"]?.grams, 10, "kept: a counter never steps back")
        XCTAssertNil(counters.counters["gone"])
        XCTAssertEqual(counters.counters["node"]?.grams, 1, "a new budget starts at zero")
        XCTAssertTrue(
            counters.record(budgets: budgets, nodeGrams: 1, workloadGrams: [:], names: [:], tracked: 0).isEmpty)
    }

    // MARK: - The state file

    private func persistence(clock: ManualClock) throws -> StatePersistence {
        try write("proc/sys/kernel/random/boot_id", "boot-one\n")
        return StatePersistence(
            path: directory.appendingPathComponent("state.json").path, everySamples: 1,
            procfs: ProcfsRoot(directory.appendingPathComponent("proc").path),
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }, clock: clock)
    }

    func testCountersSurviveARestart() throws {
        var state = SamplerState()
        state.budgets.record(
            budgets: budgets, nodeGrams: 12.5, workloadGrams: [id("a"): 2.25],
            names: [id("a"): names(namespace: "nlp-a")],
            tracked: 1)
        let clock = ManualClock()
        try persistence(clock: clock).saveAtShutdown(state)
        let saved = try StateFile.read(directory.appendingPathComponent("state.json").path)
        XCTAssertEqual(
            saved.budgets,
            [
                PersistedBudget(name: "node", co2eGrams: 12.5, match: nil),
                PersistedBudget(name: "team-nlp", co2eGrams: 2.25, match: "{kind: pod, namespace: nlp-*}"),
            ])
        clock.advance(seconds: 5)
        var restored = try persistence(clock: clock).restore()
        XCTAssertEqual(
            restored.budgets.counters["team-nlp"], .init(grams: 2.25, match: "{kind: pod, namespace: nlp-*}"))
        XCTAssertEqual(restored.budgets.counters["node"]?.grams, 12.5)
        XCTAssertTrue(
            restored.budgets.record(budgets: budgets, nodeGrams: 1, workloadGrams: [:], names: [:], tracked: 0).isEmpty)
        XCTAssertEqual(restored.budgets.counters["node"]?.grams, 13.5)
    }

    func testAStateFileWithoutBudgetsStillLoads() throws {
        let clock = ManualClock()
        try persistence(clock: clock).saveAtShutdown(SamplerState())
        let path = directory.appendingPathComponent("state.json").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertFalse(text.contains("budgets"), "nothing to save: the file is as an earlier release wrote it")
        XCTAssertNil(try StateFile.read(path).budgets)
        XCTAssertTrue(try persistence(clock: clock).restore().budgets.counters.isEmpty)
    }

    func testRestoredBudgetValuesAreRangeChecked() throws {
        func file(_ budgets: String) -> Data {
            Data(
                """
                {"format":"footprint_exporter.state","version":1,"savedAtUnixSeconds":1,"savedAtBootSeconds":1,
                "ledger":{"domains":[],"components":[],"measuredComponents":[]},"sampleErrors":{},"budgets":\(budgets)}
                """.utf8)
        }
        XCTAssertNoThrow(try StateFile.decode(file(#"[{"name":"a","co2eGrams":5}]"#)))
        for bad in [
            #"[{"name":"a","co2eGrams":-1}]"#, #"[{"name":"a","co2eGrams":1e300}]"#,
            #"[{"name":"a","co2eGrams":1},{"name":"a","co2eGrams":2}]"#, #"[{"name":"a"}]"#,
        ] {
            XCTAssertThrowsError(try StateFile.decode(file(bad)), bad)
        }
    }
}
