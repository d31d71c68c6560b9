import XCTest

@testable import FootprintReport

/// Series from memory: each selector's metric name picks its series; matchers inside braces are ignored except kind.
private struct MemorySource: SeriesSource {
    var series: [String: [(labels: [String: String], samples: [CounterSample])]]

    func increases(_ selector: String, from: Double, to: Double) throws(ReportError) -> [SeriesIncrease] {
        let metric = String(selector.prefix { $0 != "{" })
        let kinds = selector.firstMatch(of: /kind=~"([^"]*)"/).map { $0.1.split(separator: "|").map(String.init) }
        return (series[metric] ?? []).compactMap { entry in
            if let kinds, let kind = entry.labels["kind"], !kinds.contains(kind) { return nil }
            let inRange = entry.samples.filter { $0.time >= from && $0.time <= to }
            return SeriesIncrease(labels: entry.labels, increase: CounterIncrease.over(inRange))
        }
    }
}

final class ReportBuilderTests: XCTestCase {
    /// A counter growing at `watts` from `start` to `end`, sampled every 15 s over [0, 7200].
    private func ramp(_ watts: Double, from start: Double = 0, to end: Double = 7200, offset: Double = 0)
        -> [CounterSample]
    {
        stride(from: 0.0, through: 7200, by: 15).map { time in
            CounterSample(time: time, value: offset + watts * (min(max(time, start), end) - start))
        }
    }

    private func workload(_ kind: String, _ id: String, _ extra: [String: String] = [:]) -> [String: String] {
        ["kind": kind, "workload": id].merging(extra) { $1 }
    }

    private typealias Entry = (labels: [String: String], samples: [CounterSample])

    private func with(_ labels: [String: String], component: String) -> [String: String] {
        labels.merging(["component": component]) { $1 }
    }

    private var source: MemorySource {
        let podA = workload("pod", "uid-a")
        let podB = workload("pod", "uid-b")
        let podC = workload("pod", "uid-c")
        let job = workload("slurm_job", "4242")
        let info: [Entry] = [
            (workload("pod", "uid-a", ["namespace": "nlp", "pod": "bert-0"]), ramp(0)),
            (workload("slurm_job", "4242", ["job_id": "4242", "user": "alice"]), ramp(0)),
        ]
        let kubePodInfo: [Entry] = [
            (["uid": "uid-b", "namespace": "nlp", "pod": "bert-1"], ramp(0)),
            (["uid": "uid-c", "namespace": "cv", "pod": "resnet"], ramp(0)),
        ]
        let energy: [Entry] = [
            (with(podA, component: "cpu"), ramp(100)),
            (with(podA, component: "gpu"), ramp(300, from: 0, to: 3600)),
            (with(podB, component: "cpu"), ramp(50, from: 3600, to: 7200)),
            (with(podC, component: "cpu"), ramp(10)),
            (with(job, component: "cpu"), ramp(20)),
        ]
        let facility: [Entry] = [
            (podA, ramp(600, from: 0, to: 3600)), (podB, ramp(75, from: 3600, to: 7200)), (podC, ramp(15)),
            (job, ramp(30)),
        ]
        let co2e: [Entry] = [(podA, ramp(0.1)), (podB, ramp(0.01)), (podC, ramp(0.001)), (job, ramp(0.002))]
        var series: [String: [Entry]] = [:]
        series["footprint_workload_info"] = info
        series["kube_pod_info"] = kubePodInfo
        series["footprint_workload_energy_joules_total"] = energy
        series["footprint_workload_facility_energy_joules_total"] = facility
        series["footprint_workload_co2e_grams_total"] = co2e
        return MemorySource(series: series)
    }

    func testANamespaceSumsItsPodsAndUnitesTheirHours() throws {
        let table = try ReportBuilder.table(
            for: ReportSelection(grouping: .namespace, from: 0, to: 7200), source: source)
        let rows = Dictionary(uniqueKeysWithValues: table.rows.map { ($0.name, $0) })
        XCTAssertEqual(Set(rows.keys), ["nlp", "cv"], "uid-b and uid-c named by kube_pod_info")
        let nlp = try XCTUnwrap(rows["nlp"])
        // pod A: 100 W × 2 h cpu + 300 W × 1 h gpu; pod B: 50 W × 1 h in the second hour.
        let joules: Double = 100.0 * 7200 + 300.0 * 3600 + 50.0 * 3600
        XCTAssertEqual(nlp.itKilowattHours, joules / 3.6e6, accuracy: 1e-12)
        // A's facility counter rose in the first hour, B's in the second: two hours together, not summed to three.
        XCTAssertEqual(nlp.hours, 2, accuracy: 1e-12)
        XCTAssertEqual(nlp.averageWatts["gpu"] ?? 0, 150, accuracy: 1e-9)
        let grams: Double = (0.1 + 0.01) * 7200
        XCTAssertEqual(nlp.co2eKilograms, grams / 1000, accuracy: 1e-12)
    }

    func testFiltersPickTheirWorkloads() throws {
        let namespace = try ReportBuilder.table(
            for: ReportSelection(grouping: .pod, namespace: "nlp", from: 0, to: 7200), source: source)
        XCTAssertEqual(Set(namespace.rows.map(\.name)), ["nlp/bert-0", "nlp/bert-1"])
        let job = try ReportBuilder.table(
            for: ReportSelection(grouping: .slurmJob, job: "4242", from: 0, to: 7200), source: source)
        XCTAssertEqual(job.rows.map(\.name), ["4242"])
        XCTAssertEqual(job.rows[0].itKilowattHours, 20.0 * 7200 / 3.6e6, accuracy: 1e-12)
        let user = try ReportBuilder.table(
            for: ReportSelection(grouping: .user, user: "alice", from: 0, to: 7200), source: source)
        XCTAssertEqual(user.rows.map(\.name), ["alice"])
    }

    func testNothingMatchedAndNoDataAreTheirOwnErrors() {
        XCTAssertThrowsError(
            try ReportBuilder.table(
                for: ReportSelection(grouping: .pod, namespace: "absent", from: 0, to: 7200), source: source)
        ) { error in
            XCTAssertEqual(error as? ReportError, .noMatch("no workload matched namespace absent"))
            XCTAssertEqual((error as? ReportError)?.exitCode, 1)
        }
        XCTAssertThrowsError(
            try ReportBuilder.table(for: ReportSelection(grouping: .unit, from: 0, to: 7200), source: source)
        ) { error in
            guard case .noData = error as? ReportError else { return XCTFail("\(error)") }
        }
    }

    func testASeriesStartingInsideTheRangeIsMarked() throws {
        var late = source
        late.series["footprint_workload_facility_energy_joules_total"]?.append(
            (workload("pod", "uid-late", ["namespace": "nlp"]), ramp(5).filter { $0.time >= 1800 }))
        late.series["footprint_workload_info"]?.append((workload("pod", "uid-late", ["namespace": "nlp"]), ramp(0)))
        let table = try ReportBuilder.table(for: ReportSelection(grouping: .namespace, from: 0, to: 7200), source: late)
        XCTAssertEqual(table.rows.first { $0.name == "nlp" }?.startedInsideRange, true)
        XCTAssertEqual(table.rows.first { $0.name == "cv" }?.startedInsideRange, false)
    }

    func testTimesAndDurationsParse() throws {
        XCTAssertEqual(try ReportTime.parse("-7d", now: 1_000_000), 1_000_000 - 7 * 86_400)
        XCTAssertEqual(try ReportTime.parse("now", now: 5), 5)
        XCTAssertEqual(try ReportTime.parse("2026-11-01T00:00:00Z", now: 0), 1_793_491_200)
        XCTAssertEqual(ReportTime.duration("1h30m"), 5400)
        XCTAssertNil(ReportTime.duration("30"))
        XCTAssertNil(ReportTime.duration("-1d"))
        XCTAssertThrowsError(try ReportTime.parse("yesterday", now: 0))
        XCTAssertEqual(ReportTime.format(1_793_491_200), "2026-11-01T00:00:00Z")
    }
}

/// The embodied column: read from the embodied counters when a matched series has them, and absent otherwise.
final class ReportBuilderEmbodiedTests: XCTestCase {
    private typealias Entry = (labels: [String: String], samples: [CounterSample])

    /// A counter growing at `rate` per second from `start` to `end`, sampled every 15 s over [0, 7200]; from
    /// `restart` on it counts again from zero (an exporter restart without its state file).
    private func ramp(_ rate: Double, from start: Double = 0, to end: Double = 7200, restart: Double? = nil)
        -> [CounterSample]
    {
        stride(from: 0.0, through: 7200, by: 15).map { time in
            let origin = restart.map { time >= $0 ? max($0, start) : start } ?? start
            return CounterSample(time: time, value: rate * max(0, min(time, end) - origin))
        }
    }

    private func workload(_ kind: String, _ id: String, _ extra: [String: String] = [:]) -> [String: String] {
        ["kind": kind, "workload": id].merging(extra) { $1 }
    }

    private func node(_ name: String, _ extra: [String: String] = [:]) -> [String: String] {
        ["node": name, "instance": "\(name):9636"].merging(extra) { $1 }
    }

    /// Pods a and b (namespace nlp) and c (cv), Slurm job 4242, nodes n1 and n2; embodied counters for pods a and b,
    /// the job, and node n1 only.
    private var source: MemorySource {
        let podA = workload("pod", "uid-a", ["namespace": "nlp", "pod": "bert-0"])
        let podB = workload("pod", "uid-b", ["namespace": "nlp", "pod": "bert-1"])
        let podC = workload("pod", "uid-c", ["namespace": "cv", "pod": "resnet"])
        let job = workload("slurm_job", "4242", ["job_id": "4242", "user": "alice"])
        var series: [String: [Entry]] = [:]
        series["footprint_workload_info"] = [podA, podB, podC, job].map { ($0, ramp(0)) }
        series["footprint_workload_energy_joules_total"] = [podA, podB, podC, job].map {
            ($0.merging(["component": "cpu"]) { $1 }, ramp(10))
        }
        series["footprint_workload_facility_energy_joules_total"] = [podA, podB, podC, job].map { ($0, ramp(15)) }
        series["footprint_workload_co2e_grams_total"] = [
            (podA, ramp(0.1)), (podB, ramp(0.01)), (podC, ramp(0.001)), (job, ramp(0.002)),
        ]
        series["footprint_workload_embodied_co2e_grams_total"] = [
            (podA, ramp(0.02)), (podB, ramp(0.004, from: 3600, restart: 5400)), (job, ramp(0.5)),
        ]
        series["footprint_energy_joules_total"] = [
            (node("n1", ["component": "cpu"]), ramp(200)), (node("n2", ["component": "cpu"]), ramp(150)),
        ]
        series["footprint_facility_energy_joules_total"] = [
            (node("n1", ["component": "cpu"]), ramp(300)), (node("n2", ["component": "cpu"]), ramp(225)),
        ]
        series["footprint_co2e_grams_total"] = [
            (node("n1", ["component": "cpu"]), ramp(0.03)), (node("n2", ["component": "cpu"]), ramp(0.02)),
        ]
        // 1300 kg over 4 × 365 days, and a restart without the state file at 3600 s.
        series["footprint_embodied_co2e_grams_total"] = [(node("n1"), ramp(1_300_000 / 126_144_000, restart: 3600))]
        series["footprint_budget_co2e_grams_total"] = [(["budget": "team-nlp", "node": "n1"], ramp(0.2))]
        return MemorySource(series: series)
    }

    func testAWorkloadGroupSumsItsEmbodiedCountersExactlyAcrossARestart() throws {
        let table = try ReportBuilder.table(
            for: ReportSelection(grouping: .namespace, from: 0, to: 7200), source: source)
        XCTAssertTrue(table.hasEmbodied)
        let rows = Dictionary(uniqueKeysWithValues: table.rows.map { ($0.name, $0) })
        let nlp = try XCTUnwrap(rows["nlp"])
        // Pod a: 0.02 g/s for 2 h. Pod b: 0.004 g/s from 3600 s, restarted at 5400 s: the step ending there is lost.
        let podA: Double = 0.02 * 7200
        let podB: Double = 0.004 * (5400 - 15 - 3600) + 0.004 * (7200 - 5400)
        let grams = podA + podB
        XCTAssertEqual(try XCTUnwrap(nlp.embodiedCo2eKilograms), grams / 1000, accuracy: 1e-12)
        XCTAssertEqual(nlp.co2eKilograms, (0.1 + 0.01) * 7200 / 1000, accuracy: 1e-12, "operational, unchanged")
        XCTAssertEqual(try XCTUnwrap(nlp.totalCo2eKilograms), ((0.1 + 0.01) * 7200 + grams) / 1000, accuracy: 1e-12)
        let cv = try XCTUnwrap(rows["cv"])
        XCTAssertNil(cv.embodiedCo2eKilograms, "resnet has no embodied counter: not measured, not zero")
        XCTAssertEqual(try XCTUnwrap(cv.totalCo2eKilograms), cv.co2eKilograms, accuracy: 0)
        XCTAssertEqual(try XCTUnwrap(table.total.embodiedCo2eKilograms), grams / 1000, accuracy: 1e-12)
        XCTAssertEqual(
            try XCTUnwrap(table.total.totalCo2eKilograms), table.total.co2eKilograms + grams / 1000, accuracy: 1e-12)
        XCTAssertEqual(table.total.co2eKilograms, (0.1 + 0.01 + 0.001) * 7200 / 1000, accuracy: 1e-12)
        let markdown = table.render(.markdown)
        XCTAssertTrue(markdown.hasPrefix("| namespace | hours |"), markdown)
        XCTAssertTrue(markdown.contains("| car lifetimes | embodied CO2e kg | total CO2e kg |\n"), markdown)
        XCTAssertTrue(markdown.contains("| 0.158 | 0.950 |\n"), markdown)
        XCTAssertTrue(markdown.contains("| – | 0.007 |\n"), markdown)
    }

    func testOnlyMatchedSeriesBringTheColumn() throws {
        // cv's pod has no embodied counter; nlp's do, but the filter leaves them out.
        let cv = try ReportBuilder.table(
            for: ReportSelection(grouping: .pod, namespace: "cv", from: 0, to: 7200), source: source)
        XCTAssertFalse(cv.hasEmbodied)
        XCTAssertNil(cv.total.embodiedCo2eKilograms)
        XCTAssertNil(cv.total.totalCo2eKilograms)
        XCTAssertFalse(cv.render(.markdown).contains("embodied"))
        XCTAssertFalse(cv.render(.csv).contains("embodied"))
        XCTAssertFalse(cv.render(.json).contains("embodied"))
        XCTAssertFalse(cv.render(.json).contains("total_co2e"))
        // A range the embodied counters have no samples in.
        var before = source
        before.series["footprint_workload_embodied_co2e_grams_total"] = before.series[
            "footprint_workload_embodied_co2e_grams_total"]?
            .map { ($0.labels, $0.samples.filter { $0.time > 3600 }) }
        let early = try ReportBuilder.table(
            for: ReportSelection(grouping: .namespace, from: 0, to: 1800), source: before)
        XCTAssertFalse(early.hasEmbodied)
        let job = try ReportBuilder.table(
            for: ReportSelection(grouping: .slurmJob, job: "4242", from: 0, to: 7200), source: source)
        XCTAssertEqual(try XCTUnwrap(job.rows.first?.embodiedCo2eKilograms), 0.5 * 7200 / 1000, accuracy: 1e-12)
    }

    func testANodeReadsTheNodeCounterExactlyAcrossARestart() throws {
        let table = try ReportBuilder.table(for: ReportSelection(grouping: .node, from: 0, to: 7200), source: source)
        let rows = Dictionary(uniqueKeysWithValues: table.rows.map { ($0.name, $0) })
        let rate = 1_300_000.0 / 126_144_000
        // Restarted at 3600 s without its state file: counted from zero there, the 15 s step before is lost.
        let grams: Double = rate * (3600 - 15) + rate * (7200 - 3600)
        XCTAssertEqual(try XCTUnwrap(rows["n1"]?.embodiedCo2eKilograms), grams / 1000, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(rows["n1"]?.co2eKilograms), 0.03 * 7200 / 1000, accuracy: 1e-12)
        XCTAssertNil(rows["n2"]?.embodiedCo2eKilograms)
        XCTAssertEqual(try XCTUnwrap(table.total.embodiedCo2eKilograms), grams / 1000, accuracy: 1e-12)
        XCTAssertEqual(
            try XCTUnwrap(table.total.totalCo2eKilograms), (0.05 * 7200 + grams) / 1000, accuracy: 1e-12)
    }

    func testBudgetsHaveNoEmbodiedColumn() throws {
        let table = try ReportBuilder.table(
            for: ReportSelection(grouping: .budget, from: 0, to: 7200), source: source)
        XCTAssertFalse(table.hasEmbodied, "a budget's counter already holds embodied CO2e with include_embodied")
        XCTAssertEqual(table.rows.map(\.name), ["team-nlp"])
        XCTAssertEqual(table.rows[0].co2eKilograms, 0.2 * 7200 / 1000, accuracy: 1e-12)
    }
}
