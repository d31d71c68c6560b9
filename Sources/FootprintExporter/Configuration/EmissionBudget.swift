/// An emission budget: at most `grams` of CO2e over every `window`, of the workloads `match` selects (nil: everything
/// on the node).
public struct EmissionBudget: Sendable, Hashable {
    public var name: String
    public var window: Duration
    /// The window as the configuration spells it (`24h`), used as the `window` label so rules can match it.
    public var windowLabel: String
    public var grams: Double
    /// The workloads the budget counts; nil counts the node's whole CO2e.
    public var match: WorkloadMatch?
    /// Whether the budget counts embodied CO2e too (`include_embodied: true`); operational CO2e only by default.
    public var includeEmbodied: Bool

    public init(
        name: String, window: Duration, windowLabel: String? = nil, grams: Double, match: WorkloadMatch? = nil,
        includeEmbodied: Bool = false
    ) {
        self.includeEmbodied = includeEmbodied
        self.name = name
        self.window = window
        self.windowLabel = windowLabel ?? PrometheusDuration.format(window)
        self.grams = grams
        self.match = match
    }

    /// What the budget measures, the `scope` label of `footprint_co2e_budget_grams`: `node`, the node's operational
    /// CO2e (no `match:`), which the rules read from the node counters; `node_embodied`, the same with embodied CO2e
    /// (`include_embodied: true`), and `workloads`, the workloads `match:` selects, both of which the rules read from
    /// the budget's own `footprint_budget_co2e_grams_total`.
    public var scope: String {
        match != nil ? "workloads" : includeEmbodied ? "node_embodied" : "node"
    }
}
