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
