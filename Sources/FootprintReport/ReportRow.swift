import EnergyAccounting

/// What one row of the report is computed from: a workload's (or node's, or budget's) counters over the range.
public struct ReportInput: Sendable, Hashable {
    /// What the row is about, as the table shows it (a namespace, a job id, a node…).
    public var name: String
    /// IT energy per component (cpu, dram, gpu), in joules.
    public var joulesByComponent: [String: Double]
    public var facilityJoules: Double
    public var co2eGrams: Double
    /// Time with non-zero power, from the facility-energy counter's steps.
    public var activeSeconds: Double
    /// When that time was, for the union over several rows.
    public var activeIntervals: [ActiveInterval] = []
    /// A series began inside the range: its first sample is its baseline (the table says so).
    public var startedInsideRange: Bool
    /// Embodied (manufacturing) CO2e from the embodied counters, in grams; nil when the row has no embodied series in
    /// the range (its exporters run without `--embodied.*`). Not part of `co2eGrams`.
    public var embodiedGrams: Double?

    public init(
        name: String, joulesByComponent: [String: Double], facilityJoules: Double, co2eGrams: Double,
        activeSeconds: Double, startedInsideRange: Bool = false, embodiedGrams: Double? = nil
    ) {
        self.name = name
        self.joulesByComponent = joulesByComponent
        self.facilityJoules = facilityJoules
        self.co2eGrams = co2eGrams
        self.activeSeconds = activeSeconds
        self.startedInsideRange = startedInsideRange
        self.embodiedGrams = embodiedGrams
    }
}

/// Prices for the optional cost columns, in the currency the user names.
public struct ReportPrices: Sendable, Hashable {
    public var currency: String
    /// Per kWh of facility energy (the paper prices the electricity of training).
    public var perKilowattHour: Double?
    /// Per node-hour of running time (the paper's cloud compute cost); only for rows that are nodes.
    public var perNodeHour: Double?

    public init(currency: String, perKilowattHour: Double? = nil, perNodeHour: Double? = nil) {
        self.currency = currency
        self.perKilowattHour = perKilowattHour
        self.perNodeHour = perNodeHour
    }
}

/// One row of the paper's Table 3 for any set of workloads: hours, average power, energy, CO2e and its equivalents.
public struct ReportRow: Sendable, Hashable, Codable {
    public var name: String
    public var hours: Double
    /// Average IT power per component over the active hours: energy ÷ time, never a sampled gauge.
    public var averageWatts: [String: Double]
    public var itKilowattHours: Double
    public var facilityKilowattHours: Double
    public var co2eKilograms: Double
    public var co2ePounds: Double
    public var nySFFlights: Double
    public var humanLifeYears: Double
    public var carLifetimes: Double
    public var energyCost: Double?
    public var nodeHourCost: Double?
    public var startedInsideRange: Bool
    /// Embodied CO2e, kg: nil when the row has no embodied series in the range. The columns above (CO2e, its pounds
    /// and equivalents) stay operational: the CO2e of the energy drawn.
    public var embodiedCo2eKilograms: Double?
    /// Operational + embodied CO2e, kg: set on every row of a table that has an embodied column
    /// (`ReportTable.init`), with a row's missing embodied CO2e counted as none.
    public var totalCo2eKilograms: Double?

    /// The paper's equivalents, in pounds of CO2e: one passenger's New York ↔ San Francisco round trip, one average
    /// human life for a year, and an average American car over its lifetime with fuel.
    public static let flightPounds = 1984.0
    public static let humanLifeYearPounds = 11_023.0
    public static let carLifetimePounds = 126_000.0

    /// Computes a row; `isNode` enables the node-hour cost.
    public init(_ input: ReportInput, prices: ReportPrices? = nil, isNode: Bool = false) {
        name = input.name
        hours = input.activeSeconds / 3600
        let itJoules = input.joulesByComponent.values.reduce(0, +)
        averageWatts = input.activeSeconds > 0 ? input.joulesByComponent.mapValues { $0 / input.activeSeconds } : [:]
        itKilowattHours = itJoules / Emissions.joulesPerKilowattHour
        facilityKilowattHours = input.facilityJoules / Emissions.joulesPerKilowattHour
        co2eKilograms = input.co2eGrams / 1000
        co2ePounds = input.co2eGrams / Emissions.gramsPerPound
        nySFFlights = co2ePounds / Self.flightPounds
        humanLifeYears = co2ePounds / Self.humanLifeYearPounds
        carLifetimes = co2ePounds / Self.carLifetimePounds
        startedInsideRange = input.startedInsideRange
        embodiedCo2eKilograms = input.embodiedGrams.map { $0 / 1000 }
        totalCo2eKilograms = embodiedCo2eKilograms.map { input.co2eGrams / 1000 + $0 }
        let facility = facilityKilowattHours
        let activeHours = hours
        energyCost = prices?.perKilowattHour.map { $0 * facility }
        nodeHourCost = isNode ? prices?.perNodeHour.map { $0 * activeHours } : nil
    }

    /// The sum of `rows`: energies, CO2e (operational and embodied) and costs add; the hours are `hours` when given
    /// (the rows' time together, overlaps once), else the sum of the rows'; average powers are the total energy over
    /// those hours.
    public static func total(of rows: [ReportRow], hours: Double? = nil, named name: String = "total") -> ReportRow {
        var total = ReportRow(
            ReportInput(name: name, joulesByComponent: [:], facilityJoules: 0, co2eGrams: 0, activeSeconds: 0))
        var joules: [String: Double] = [:]
        for row in rows {
            total.hours += row.hours
            for (component, watts) in row.averageWatts { joules[component, default: 0] += watts * row.hours * 3600 }
            total.itKilowattHours += row.itKilowattHours
            total.facilityKilowattHours += row.facilityKilowattHours
            total.co2eKilograms += row.co2eKilograms
            total.co2ePounds += row.co2ePounds
            total.nySFFlights += row.nySFFlights
            total.humanLifeYears += row.humanLifeYears
            total.carLifetimes += row.carLifetimes
            if let cost = row.energyCost { total.energyCost = (total.energyCost ?? 0) + cost }
            if let cost = row.nodeHourCost { total.nodeHourCost = (total.nodeHourCost ?? 0) + cost }
            total.startedInsideRange = total.startedInsideRange || row.startedInsideRange
            if let embodied = row.embodiedCo2eKilograms {
                total.embodiedCo2eKilograms = (total.embodiedCo2eKilograms ?? 0) + embodied
            }
        }
        total.totalCo2eKilograms = total.embodiedCo2eKilograms.map { total.co2eKilograms + $0 }
        if let hours { total.hours = hours }
        total.averageWatts = total.hours > 0 ? joules.mapValues { $0 / (total.hours * 3600) } : [:]
        return total
    }
}
