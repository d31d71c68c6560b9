/// The energy, facility energy and CO2e of one workload since the exporter started counting it.
public struct WorkloadTotals: Sendable, Hashable, Codable {
    /// IT energy by component (`cpu`, `dram`, `gpu`), in microjoules.
    public internal(set) var itMicrojoules: [String: UInt64] = [:]
    /// IT energy × the PUE in force when each part was drawn, in joules.
    public internal(set) var facilityJoules: Double = 0
    /// Facility energy × the grid intensity in force when each part was drawn, in grams.
    public internal(set) var co2eGrams: Double = 0
    /// Embodied CO2e charged to the workload (docs/embodied.md), in grams; absent in state files of earlier releases.
    var embodied: Double?

    public init() {}

    public func microjoules(_ component: Component) -> UInt64 { itMicrojoules[component.rawValue] ?? 0 }

    /// Embodied CO2e charged to the workload by its share of the node's energy, in grams.
    public var embodiedCO2eGrams: Double { embodied ?? 0 }
}

/// Where every microjoule of each component went: to a workload, to no workload (unattributed), or to a workload
/// whose series have expired. For each component, the sum of the three equals the component's IT energy at every
/// sample, exactly, because each sample's split hands out whole microjoules and the remainder goes to unattributed.
public struct AttributionLedger<Key: Hashable & Sendable>: Sendable {
    public private(set) var workloads: [Key: WorkloadTotals] = [:]
    public private(set) var unattributed: [Component: UInt64] = [:]
    public private(set) var expired: [Component: UInt64] = [:]
    /// CO2e each key got since the last `takeCO2eGrams()`, in grams: a sample's increments of the workloads' CO2e
    /// counters, counted toward the budgets whose `match:` selects them.
    public private(set) var co2eGramsSinceTake: [Key: Double] = [:]
    /// Embodied CO2e each key got since the last `takeEmbodiedGrams()`, for budgets with `include_embodied`.
    public private(set) var embodiedGramsSinceTake: [Key: Double] = [:]
    /// Embodied CO2e of workloads whose series have expired, in grams (not kept across restarts).
    public private(set) var expiredEmbodiedGrams: Double = 0

    public init() {}

    /// Charges each tracked key its part of a sample's embodied CO2e (`EmbodiedSplit.split`); untracked keys are
    /// ignored (their grams are the caller's unattributed part).
    public mutating func recordEmbodied(_ parts: [Key: Double]) {
        for (key, grams) in parts where grams > 0 && grams.isFinite {
            guard var totals = workloads[key] else { continue }
            totals.embodied = (totals.embodied ?? 0) + grams
            workloads[key] = totals
            embodiedGramsSinceTake[key, default: 0] += grams
        }
    }

    /// The embodied CO2e each key got since the last call, in grams; resets it.
    public mutating func takeEmbodiedGrams() -> [Key: Double] {
        defer { embodiedGramsSinceTake = [:] }
        return embodiedGramsSinceTake
    }

    /// Records one sample's split of `component`: each key's part, and what no key took.
    public mutating func record(
        _ component: Component, parts: [(key: Key, microjoules: UInt64)], remainder: UInt64, pue: Double,
        gramsPerKilowattHour: Double
    ) {
        for (key, microjoules) in parts where microjoules > 0 {
            var totals = workloads[key] ?? WorkloadTotals()
            totals.itMicrojoules[component.rawValue, default: 0] &+= microjoules
            let facility = Emissions.facilityJoules(itJoules: Double(microjoules) / 1e6, pue: pue)
            totals.facilityJoules += facility
            let grams = Emissions.co2eGrams(facilityJoules: facility, gramsPerKilowattHour: gramsPerKilowattHour)
            totals.co2eGrams += grams
            co2eGramsSinceTake[key, default: 0] += grams
            workloads[key] = totals
        }
        unattributed[component, default: 0] &+= remainder
    }

    /// The CO2e each key got since the last call, in grams; resets it.
    public mutating func takeCO2eGrams() -> [Key: Double] {
        defer { co2eGramsSinceTake = [:] }
        return co2eGramsSinceTake
    }

    /// Makes sure `key` has series (at zero) from now on.
    public mutating func track(_ key: Key) {
        if workloads[key] == nil { workloads[key] = WorkloadTotals() }
    }

    /// Drops `key`'s series; its IT energy moves to the expired counters, so the invariant still holds.
    public mutating func expire(_ key: Key) {
        guard let totals = workloads.removeValue(forKey: key) else { return }
        expiredEmbodiedGrams += totals.embodiedCO2eGrams
        for (name, microjoules) in totals.itMicrojoules {
            guard let component = Component(rawValue: name) else { continue }
            expired[component, default: 0] &+= microjoules
        }
    }

    /// IT energy of `component` accounted for: workloads + unattributed + expired.
    public func accountedMicrojoules(_ component: Component) -> UInt64 {
        var total = (unattributed[component] ?? 0) &+ (expired[component] ?? 0)
        for totals in workloads.values { total &+= totals.microjoules(component) }
        return total
    }

    /// Restores saved totals; then credits to unattributed whatever the node counted that they do not account for
    /// (energy counted before attribution was on, or by a release without it), so the invariant holds from the start.
    ///
    /// Saved totals that account for more than the node counted (a state file edited by hand, or written by another
    /// node) cannot be right: they are dropped, and everything the node counted starts unattributed.
    public mutating func restore(
        workloads saved: [Key: WorkloadTotals], unattributed: [Component: UInt64], expired: [Component: UInt64],
        nodeMicrojoules: [Component: UInt64]
    ) {
        workloads = saved
        self.unattributed = unattributed
        self.expired = expired
        if Component.allCases.contains(where: { accountedMicrojoules($0) > nodeMicrojoules[$0] ?? 0 }) {
            workloads = [:]
            self.unattributed = [:]
            self.expired = [:]
        }
        for component in Component.allCases {
            let node = nodeMicrojoules[component] ?? 0
            let accounted = accountedMicrojoules(component)
            if node > accounted { self.unattributed[component, default: 0] &+= node - accounted }
        }
    }
}
