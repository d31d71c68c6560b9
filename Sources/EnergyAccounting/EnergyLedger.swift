/// Cumulative IT energy, facility energy and CO2e of one component.
public struct ComponentTotals: Sendable, Hashable {
    /// IT energy in microjoules: the exact sum of the component's domain deltas.
    public internal(set) var itMicrojoules: Double = 0
    /// IT energy × the PUE in force when each delta was drawn, in joules.
    public internal(set) var facilityJoules: Double = 0
    /// Facility energy × the grid intensity in force when each delta was drawn, in grams.
    public internal(set) var co2eGrams: Double = 0

    public init() {}

    public var itJoules: Double { itMicrojoules / 1e6 }
}

/// The accounting of docs/design.md §1: per-domain totals, and per-component IT energy, facility energy and CO2e
/// integrated sample by sample, so that a change of PUE or intensity affects only energy drawn after it.
public struct EnergyLedger: Sendable {
    public private(set) var domains: [DomainKey: DomainAccount] = [:]
    /// The component each domain counted toward at its last observation (absent: none).
    public private(set) var componentOfDomain: [DomainKey: Component] = [:]
    public private(set) var components: [Component: ComponentTotals] = [:]
    /// Components a measuring (non-estimate) source has covered; from then on the estimate steps aside for them.
    public private(set) var measuredComponents: Set<Component> = []
    /// IT energy added by each domain, with the component it counted toward, since the last `takeUnsplit()`, in whole
    /// microjoules: what the attribution splits between workloads (a GPU's energy by the processes on that GPU).
    public private(set) var unsplit: [DomainKey: (component: Component, microjoules: UInt64)] = [:]
    /// CO2e added to the components since the last `takeCO2eGrams()`, in grams: the node's increment of a sample,
    /// counted toward the budgets that have no `match:`.
    public private(set) var co2eGramsSinceTake: Double = 0

    public init() {
        for component in Component.allCases { components[component] = ComponentTotals() }
    }

    /// Records one sample's good observations, made at `seconds` on a monotonic clock, and returns each domain's step.
    ///
    /// Domains that failed this sample are simply absent: their baselines stay, so the next good read adds the
    /// energy drawn meanwhile.
    @discardableResult
    public mutating func record(
        _ observations: [(key: DomainKey, observation: EnergyObservation, seconds: Double)],
        pue: Double,
        gramsPerKilowattHour: Double
    ) -> [DomainKey: CounterStep] {
        for entry in observations {
            if let covered = ComponentRule.coveredComponent(by: entry.key) { measuredComponents.insert(covered) }
        }
        var steps: [DomainKey: CounterStep] = [:]
        for entry in observations {
            let component = ComponentRule.component(of: entry.key, measuredComponents: measuredComponents)
            if entry.key.source == ComponentRule.estimateSource && component == nil {
                // An estimate no component needs is not a measurement: it is not recorded at all.
                componentOfDomain[entry.key] = nil
                continue
            }
            var account = domains[entry.key] ?? DomainAccount()
            let (step, added) = account.observe(entry.observation, at: entry.seconds)
            domains[entry.key] = account
            steps[entry.key] = step
            componentOfDomain[entry.key] = component
            if let component, added > 0 {
                add(itMicrojoules: added, to: component, pue: pue, gramsPerKilowattHour: gramsPerKilowattHour)
                unsplit[entry.key, default: (component, 0)].microjoules &+= UInt64(saturating: added)
            }
        }
        return steps
    }

    /// The energy each domain added since the last call, for the attribution; resets it.
    public mutating func takeUnsplit() -> [DomainKey: (component: Component, microjoules: UInt64)] {
        defer { unsplit = [:] }
        return unsplit
    }

    /// The CO2e added since the last call, in grams; resets it.
    public mutating func takeCO2eGrams() -> Double {
        defer { co2eGramsSinceTake = 0 }
        return co2eGramsSinceTake
    }

    /// The IT energy of each component in whole microjoules.
    public var componentMicrojoules: [Component: UInt64] {
        components.mapValues { UInt64(saturating: $0.itMicrojoules) }
    }

    /// The IT power of `component`: the sum of its domains' last measured power.
    public func watts(of component: Component) -> Double {
        var total = 0.0
        for (key, assigned) in componentOfDomain where assigned == component {
            total += domains[key]?.watts ?? 0
        }
        return total
    }

    mutating func restore(_ key: DomainKey, _ account: DomainAccount) {
        domains[key] = account
    }

    mutating func restore(_ component: Component, _ totals: ComponentTotals) {
        components[component] = totals
    }

    mutating func restoreMeasured(_ measured: Set<Component>) {
        measuredComponents = measured
    }

    /// Adds IT energy to a component, converting it at the PUE and intensity in force now.
    private mutating func add(itMicrojoules: Double, to component: Component, pue: Double, gramsPerKilowattHour: Double)
    {
        var totals = components[component] ?? ComponentTotals()
        totals.itMicrojoules += itMicrojoules
        let facility = Emissions.facilityJoules(itJoules: itMicrojoules / 1e6, pue: pue)
        totals.facilityJoules += facility
        let grams = Emissions.co2eGrams(facilityJoules: facility, gramsPerKilowattHour: gramsPerKilowattHour)
        totals.co2eGrams += grams
        co2eGramsSinceTake += grams
        components[component] = totals
    }
}
