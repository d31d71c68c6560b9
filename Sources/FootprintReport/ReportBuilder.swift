/// What the report is grouped by: one row per value.
public enum ReportGrouping: String, Sendable, CaseIterable {
    case namespace, pod
    case slurmJob = "slurm_job"
    case user, unit, node, budget
}

/// Which workloads (or nodes, or budgets) the report covers, and when.
public struct ReportSelection: Sendable, Hashable {
    public var grouping: ReportGrouping
    public var namespace: String?
    /// A Slurm job: its numeric id or its SLUID.
    public var job: String?
    public var user: String?
    /// Extra PromQL label matchers for every series read, without braces (`node="gpu-7",cluster="eu"`).
    public var matchers: String?
    /// Seconds since the Unix epoch.
    public var from: Double
    public var to: Double

    public init(
        grouping: ReportGrouping, namespace: String? = nil, job: String? = nil, user: String? = nil,
        matchers: String? = nil, from: Double, to: Double
    ) {
        self.grouping = grouping
        self.namespace = namespace
        self.job = job
        self.user = user
        self.matchers = matchers
        self.from = from
        self.to = to
    }

    /// The filters in words, for "no workload matched …".
    var filterDescription: String {
        var parts: [String] = []
        if let namespace { parts.append("namespace \(namespace)") }
        if let job { parts.append("Slurm job \(job)") }
        if let user { parts.append("user \(user)") }
        if let matchers { parts.append("{\(matchers)}") }
        return parts.isEmpty ? "the selection" : parts.joined(separator: ", ")
    }
}

/// Builds the report's table from counters: pure arithmetic over what a `SeriesSource` returns.
public enum ReportBuilder {
    /// A series whose first sample is this much later than the start of the range began inside it (Prometheus'
    /// lookback: a series scraped before the range has a sample within 5 minutes of its start).
    static let lateStartSeconds = 300.0

    public static func table(
        for selection: ReportSelection, source: some SeriesSource, prices: ReportPrices? = nil
    ) throws(ReportError) -> ReportTable {
        guard selection.to > selection.from else {
            throw .invalidArgument("the range is empty: --to must be after --from")
        }
        let inputs: [ReportInput]
        switch selection.grouping {
        case .node: inputs = try nodes(selection, source)
        case .budget: inputs = try budgets(selection, source)
        default: inputs = try workloads(selection, source)
        }
        let rows = inputs.map { ReportRow($0, prices: prices, isNode: selection.grouping == .node) }
        // Rows run side by side: the total's hours are their time together, so its power is the set's power.
        let together = ActiveInterval.unionSeconds(inputs.flatMap(\.activeIntervals)) / 3600
        return ReportTable(
            groupedBy: selection.grouping.rawValue, rows: rows, from: selection.from, to: selection.to,
            currency: prices?.currency, totalHours: together)
    }

    // MARK: - Workloads

    private struct Group {
        var joules: [String: Double] = [:]
        var facility = 0.0
        var co2e = 0.0
        /// nil until an embodied series of the group is read.
        var embodied: Double?
        var intervals: [ActiveInterval] = []
        var startedInside = false

        func input(named name: String) -> ReportInput {
            var input = ReportInput(
                name: name, joulesByComponent: joules, facilityJoules: facility, co2eGrams: co2e,
                activeSeconds: ActiveInterval.unionSeconds(intervals), startedInsideRange: startedInside,
                embodiedGrams: embodied)
            input.activeIntervals = intervals
            return input
        }
    }

    private struct WorkloadKey: Hashable {
        let kind: String
        let workload: String
    }

    private static func workloads(_ selection: ReportSelection, _ source: some SeriesSource) throws(ReportError)
        -> [ReportInput]
    {
        let kinds = Self.kinds(for: selection)
        var matchers = ["kind=~\"\(kinds.joined(separator: "|"))\""]
        if let extra = selection.matchers { matchers.append(extra) }
        let labels = "{" + matchers.joined(separator: ",") + "}"
        let (from, to) = (selection.from, selection.to)

        // Names: the exporter's info series, and for pods without names there, kube-state-metrics' kube_pod_info.
        var names: [WorkloadKey: [String: String]] = [:]
        for series in try source.increases("footprint_workload_info\(labels)", from: from, to: to) {
            guard let key = workloadKey(series.labels) else { continue }
            names[key, default: [:]].merge(series.labels.filter { !$0.value.isEmpty }) { old, _ in old }
        }
        if kinds.contains("pod"),
            selection.grouping == .namespace || selection.grouping == .pod
                || selection.namespace != nil
        {
            var podNames: [String: [String: String]] = [:]
            for series in try source.increases("kube_pod_info", from: from, to: to) {
                guard let uid = series.labels["uid"] else { continue }
                podNames[uid] = ["namespace": series.labels["namespace"] ?? "", "pod": series.labels["pod"] ?? ""]
            }
            for (uid, found) in podNames {
                let key = WorkloadKey(kind: "pod", workload: uid)
                names[key, default: [:]].merge(found.filter { !$0.value.isEmpty }) { old, _ in old }
            }
        }

        let energy = try source.increases("footprint_workload_energy_joules_total\(labels)", from: from, to: to)
        let facility = try source.increases(
            "footprint_workload_facility_energy_joules_total\(labels)", from: from, to: to)
        let co2e = try source.increases("footprint_workload_co2e_grams_total\(labels)", from: from, to: to)
        // Only from exporters run with --embodied.*; without a sample of one in the range (a matched workload's; the
        // loop below), the report has no embodied column.
        let embodied = try source.increases(
            "footprint_workload_embodied_co2e_grams_total\(labels)", from: from, to: to)
        guard !(energy.isEmpty && facility.isEmpty && co2e.isEmpty) else {
            throw .noData(
                "no workload energy between \(ReportTime.format(from)) and \(ReportTime.format(to)) (kinds \(kinds.joined(separator: ", ")))"
            )
        }

        var groups: [String: Group] = [:]
        func group(of labels: [String: String]) -> String? {
            guard let key = workloadKey(labels) else { return nil }
            return Self.group(of: key, names: names[key] ?? [:], selection: selection)
        }
        for series in energy {
            guard let name = group(of: series.labels), let component = series.labels["component"] else { continue }
            groups[name, default: Group()].joules[component, default: 0] += series.increase.amount
        }
        for series in facility {
            guard let name = group(of: series.labels) else { continue }
            groups[name, default: Group()].facility += series.increase.amount
            groups[name, default: Group()].intervals += series.increase.activeIntervals
            if let first = series.increase.firstSampleTime, first > from + lateStartSeconds {
                groups[name, default: Group()].startedInside = true
            }
        }
        for series in co2e {
            guard let name = group(of: series.labels) else { continue }
            groups[name, default: Group()].co2e += series.increase.amount
        }
        for series in embodied where series.increase.firstSampleTime != nil {
            guard let name = group(of: series.labels) else { continue }
            groups[name, default: Group()].embodied = (groups[name]?.embodied ?? 0) + series.increase.amount
        }
        guard !groups.isEmpty else {
            throw .noMatch("no workload matched \(selection.filterDescription)")
        }
        return groups.map { $0.value.input(named: $0.key) }
    }

    /// The workload kinds a selection reads.
    static func kinds(for selection: ReportSelection) -> [String] {
        if selection.job != nil { return ["slurm_job"] }
        if selection.namespace != nil { return ["pod"] }
        switch selection.grouping {
        case .namespace, .pod: return ["pod"]
        case .slurmJob, .user: return ["slurm_job"]
        case .unit: return ["systemd_unit"]
        case .node, .budget: return []
        }
    }

    private static func workloadKey(_ labels: [String: String]) -> WorkloadKey? {
        guard let kind = labels["kind"], let workload = labels["workload"] else { return nil }
        return WorkloadKey(kind: kind, workload: workload)
    }

    /// The row a workload belongs to, or nil when the filters leave it out.
    private static func group(of key: WorkloadKey, names: [String: String], selection: ReportSelection) -> String? {
        if let namespace = selection.namespace, names["namespace"] != namespace { return nil }
        if let job = selection.job, key.workload != job, names["sluid"] != job, names["job_id"] != job { return nil }
        if let user = selection.user, names["user"] != user { return nil }
        switch selection.grouping {
        case .namespace: return names["namespace"] ?? "(no namespace: --path.pod-logs or kube_pod_info needed)"
        case .pod:
            return names["namespace"].flatMap { namespace in names["pod"].map { "\(namespace)/\($0)" } } ?? key.workload
        case .slurmJob: return names["job_id"] ?? key.workload
        case .user: return names["user"] ?? "(unknown user)"
        case .unit: return names["unit"] ?? key.workload
        case .node, .budget: return nil
        }
    }

    // MARK: - Nodes and budgets

    private static func selector(_ metric: String, _ selection: ReportSelection) -> String {
        selection.matchers.map { "\(metric){\($0)}" } ?? metric
    }

    private static func nodes(_ selection: ReportSelection, _ source: some SeriesSource) throws(ReportError)
        -> [ReportInput]
    {
        let (from, to) = (selection.from, selection.to)
        let energy = try source.increases(selector("footprint_energy_joules_total", selection), from: from, to: to)
        let facility = try source.increases(
            selector("footprint_facility_energy_joules_total", selection), from: from, to: to)
        let co2e = try source.increases(selector("footprint_co2e_grams_total", selection), from: from, to: to)
        let embodied = try source.increases(
            selector("footprint_embodied_co2e_grams_total", selection), from: from, to: to)
        guard !energy.isEmpty else {
            throw .noData("no node energy between \(ReportTime.format(from)) and \(ReportTime.format(to))")
        }
        func node(_ labels: [String: String]) -> String { labels["node"] ?? labels["instance"] ?? "(unlabelled)" }
        var groups: [String: Group] = [:]
        for series in energy {
            guard let component = series.labels["component"] else { continue }
            groups[node(series.labels), default: Group()].joules[component, default: 0] += series.increase.amount
        }
        for series in facility {
            let name = node(series.labels)
            groups[name, default: Group()].facility += series.increase.amount
            groups[name, default: Group()].intervals += series.increase.activeIntervals
            if let first = series.increase.firstSampleTime, first > from + lateStartSeconds {
                groups[name, default: Group()].startedInside = true
            }
        }
        for series in co2e { groups[node(series.labels), default: Group()].co2e += series.increase.amount }
        for series in embodied where series.increase.firstSampleTime != nil {
            let name = node(series.labels)
            groups[name, default: Group()].embodied = (groups[name]?.embodied ?? 0) + series.increase.amount
        }
        return groups.map { $0.value.input(named: $0.key) }
    }

    /// A budget's counter already holds embodied CO2e when the budget has `include_embodied: true` and none otherwise,
    /// without telling which: its rows have no embodied column, and their CO2e is the counter's, whatever it counts.
    private static func budgets(_ selection: ReportSelection, _ source: some SeriesSource) throws(ReportError)
        -> [ReportInput]
    {
        let (from, to) = (selection.from, selection.to)
        let counted = try source.increases(
            selector("footprint_budget_co2e_grams_total", selection), from: from, to: to)
        guard !counted.isEmpty else {
            throw .noData(
                "no budget counters between \(ReportTime.format(from)) and \(ReportTime.format(to)) (footprint_budget_co2e_grams_total)"
            )
        }
        var groups: [String: Group] = [:]
        for series in counted {
            let name = series.labels["budget"] ?? "(unnamed)"
            groups[name, default: Group()].co2e += series.increase.amount
            groups[name, default: Group()].intervals += series.increase.activeIntervals
            if let first = series.increase.firstSampleTime, first > from + lateStartSeconds {
                groups[name, default: Group()].startedInside = true
            }
        }
        return groups.map { $0.value.input(named: $0.key) }
    }
}
