import Workloads

/// The budgets' CO2e counters, `footprint_budget_co2e_grams_total{budget}`: one per budget name, whatever its windows.
///
/// Each sample adds, to a budget with `match:`, the CO2e increments of that sample of the workloads it selects (the
/// grams their own counters got, at the PUE and intensity in force), and to a budget without `match:` the node's whole
/// CO2e increment. A counter never steps back: a reload that changes a budget's match keeps its value (and says so);
/// a budget no longer configured is dropped.
struct BudgetCounters: Sendable {
    /// One budget name's counter.
    struct Counter: Sendable, Equatable {
        var grams: Double
        /// What it counts, `WorkloadMatch.description`; nil for the whole node.
        var match: String?
    }

    /// One budget as the counters see it: its name and match (all its windows share them).
    struct Definition: Sendable, Hashable {
        let name: String
        let match: WorkloadMatch?
        /// Whether embodied CO2e counts too (`include_embodied: true`).
        var includeEmbodied = false
    }

    /// A budget whose match differs from the one its counter counted under.
    struct MatchChange: Sendable, Equatable {
        let budget: String
        let old: String
        let new: String
    }

    /// The counters, by budget name.
    private(set) var counters: [String: Counter] = [:]
    /// The definitions the counters and the cache were last set up for; nil until the first sample.
    private var definitions: [Definition]?
    /// Each workload's match result per budget (indices of `definitions`), with the names it was computed from.
    private var cache: [WorkloadID: CachedMatch] = [:]

    private struct CachedMatch: Sendable {
        var names: WorkloadNames
        var matching: [Bool]
    }

    init() {}

    /// Counters restored from the state file; budgets no longer configured are dropped at the first sample.
    init(restoring counters: [String: Counter]) {
        self.counters = counters
    }

    /// Workload match results held, for tests.
    var cachedWorkloads: Int { cache.count }

    /// Each budget name once, in the order of its first window.
    static func definitions(of budgets: [EmissionBudget]) -> [Definition] {
        var seen = Set<String>()
        var definitions: [Definition] = []
        for budget in budgets where seen.insert(budget.name).inserted {
            definitions.append(
                Definition(name: budget.name, match: budget.match, includeEmbodied: budget.includeEmbodied))
        }
        return definitions
    }

    /// Adds one sample: `nodeGrams`, the node's CO2e increment, to the budgets without `match:`; each workload's
    /// increment in `workloadGrams` to the budgets whose match selects it, by its kind and `names` (the attribution's);
    /// to budgets with `include_embodied`, the node's or the matching workloads' embodied CO2e (`embodied`) too.
    /// `tracked` are the workloads that still have series, to forget the match results of the others.
    ///
    /// Returns the budgets whose match changed since the counters were last set up (a reload, or a restart with a
    /// changed config file).
    @discardableResult
    mutating func record(
        budgets: [EmissionBudget], nodeGrams: Double, workloadGrams: [WorkloadID: Double],
        embodied: (node: Double, workloads: [WorkloadID: Double]) = (0, [:]),
        names: [WorkloadID: WorkloadNames], tracked: Int
    ) -> [MatchChange] {
        let changes = reconcile(Self.definitions(of: budgets))
        guard let definitions, !definitions.isEmpty else { return changes }
        var added = [Double](repeating: 0, count: definitions.count)
        var matched: [Int] = []
        for (index, definition) in definitions.enumerated() {
            if definition.match == nil {
                added[index] = nodeGrams + (definition.includeEmbodied ? embodied.node : 0)
            } else {
                matched.append(index)
            }
        }
        if !matched.isEmpty {
            for (id, grams) in workloadGrams where grams > 0 {
                let matching = matches(id, names: names[id], definitions)
                for index in matched where matching[index] { added[index] += grams }
            }
            if definitions.contains(where: \.includeEmbodied) {
                for (id, grams) in embodied.workloads where grams > 0 {
                    let matching = matches(id, names: names[id], definitions)
                    for index in matched where matching[index] && definitions[index].includeEmbodied {
                        added[index] += grams
                    }
                }
            }
            if cache.count > tracked { cache = cache.filter { names[$0.key] != nil } }
        }
        for (index, definition) in definitions.enumerated() where added[index] > 0 {
            counters[definition.name]?.grams += added[index]
        }
        return changes
    }

    /// Sets the counters up for `next` when it differs from the definitions in force: new budgets start at zero, ones
    /// no longer configured are dropped, a changed match keeps its counter's value and is returned; match results
    /// are computed afresh.
    private mutating func reconcile(_ next: [Definition]) -> [MatchChange] {
        guard next != definitions else { return [] }
        definitions = next
        cache = [:]
        var changes: [MatchChange] = []
        var kept: [String: Counter] = [:]
        for definition in next {
            let match = definition.match?.description
            var counter = counters[definition.name] ?? Counter(grams: 0, match: match)
            if counter.match != match {
                changes.append(
                    MatchChange(budget: definition.name, old: Self.describe(counter.match), new: Self.describe(match)))
                counter.match = match
            }
            kept[definition.name] = counter
        }
        counters = kept
        return changes
    }

    /// Which budgets select the workload `id`: cached, and worked out again only when its names changed.
    private mutating func matches(_ id: WorkloadID, names: WorkloadNames?, _ definitions: [Definition]) -> [Bool] {
        if let cached = cache[id], names == nil || names == cached.names { return cached.matching }
        let current = names ?? WorkloadNames()
        let matching = definitions.map { $0.match?.matches(kind: id.kind, names: current) ?? false }
        cache[id] = CachedMatch(names: current, matching: matching)
        return matching
    }

    private static func describe(_ match: String?) -> String {
        match.map { "match: \($0)" } ?? "the whole node"
    }
}
