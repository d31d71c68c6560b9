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
}
