import EnergyAccounting
import FoundationEssentials
import GridIntensity
import Workloads

/// What `GET /api/v1/summary` returns and the page shows: the machine's footprint at a glance, built from the same
/// sampler state as `/metrics` after each sample, never from hardware. docs/live-page.md documents every field.
public struct Summary: Codable, Sendable, Equatable {
    public struct Components: Codable, Sendable, Equatable {
        public var cpu: Double
        public var dram: Double
        public var gpu: Double
        /// The sum of the three.
        public var total: Double
    }

    public struct Source: Codable, Sendable, Equatable {
        public var name: String
        public var up: Bool
        /// False for the estimate: a stand-in computed from utilisation, not a measurement.
        public var measured: Bool
        public var errors: UInt64
    }

    public struct Workload: Codable, Sendable, Equatable {
        public var kind: String
        public var workload: String
        /// The best name for people: namespace/pod, job and user, unit, or the workload label.
        public var name: String
        public var powerWatts: Double
        public var energyJoules: Double
        public var co2eGrams: Double

        enum CodingKeys: String, CodingKey {
            case kind, workload, name
            case powerWatts = "power_watts"
            case energyJoules = "energy_joules"
            case co2eGrams = "co2e_grams"
        }
    }

    public struct History: Codable, Sendable, Equatable {
        /// Seconds between two points.
        public var secondsPerPoint: Double
        /// IT power per component, oldest first, one point per `seconds_per_point`.
        public var cpu: [Float]
        public var dram: [Float]
        public var gpu: [Float]

        enum CodingKeys: String, CodingKey {
            case secondsPerPoint = "seconds_per_point"
            case cpu, dram, gpu
        }
    }

    public var version: String
    /// Wall time of the sample, seconds since the Unix epoch.
    public var timestamp: Double
    public var pue: Double
    public var gridIntensityGramsPerKWh: Double
    /// Where the intensity in force comes from: `static` (`--grid.intensity`), `region`, `file`, or the provider's name.
    public var gridIntensitySource: String
    /// IT power over the last interval, by component, in watts.
    public var powerWatts: Components
    /// IT power × PUE, in watts.
    public var facilityPowerWatts: Double
    /// IT energy since the counters started (the exporter's start, or the state file's origin), in joules.
    public var energyJoules: Components
    public var energyKWh: Double
    /// Facility energy (IT energy × the PUE in force when drawn), in kWh·PUE.
    public var facilityEnergyKWh: Double
    public var co2eGrams: Double
    public var co2eLbs: Double
    /// The paper's equivalents: NY↔SF passenger flights (1984 lbs each), car lifetimes with fuel (126,000 lbs).
    public var nySFFlights: Double
    public var carLifetimes: Double
    /// Components measured by hardware; the others come from the estimate.
    public var measuredComponents: [String]
    public var sources: [Source]
    /// Whether workload attribution is on; `workloads` holds the top 10 by power when it is.
    public var attribution: Bool
    public var workloads: [Workload]
    public var history: History

    enum CodingKeys: String, CodingKey {
        case version, timestamp, pue
        case gridIntensityGramsPerKWh = "grid_intensity_grams_per_kwh"
        case gridIntensitySource = "grid_intensity_source"
        case powerWatts = "power_watts"
        case facilityPowerWatts = "facility_power_watts"
        case energyJoules = "energy_joules"
        case energyKWh = "energy_kwh"
        case facilityEnergyKWh = "facility_energy_kwh"
        case co2eGrams = "co2e_grams"
        case co2eLbs = "co2e_lbs"
        case nySFFlights = "ny_sf_flights"
        case carLifetimes = "car_lifetimes"
        case measuredComponents = "measured_components"
        case sources, attribution, workloads, history
    }

    /// Pounds of CO2e of one passenger's New York ↔ San Francisco flight, and of an average car's lifetime with
    /// fuel (Strubell et al. 2019, Table 1).
    static let flightLbs = 1984.0
    static let carLifetimeLbs = 126_000.0

    /// The summary of `state` under `settings`.
    static func make(
        state: SamplerState, settings: AccountingSettings, history: PowerHistory, intensity: IntensityInForce? = nil
    ) -> Summary {
        let ledger = state.ledger
        func components(_ value: (Component) -> Double) -> Components {
            let cpu = value(.cpu)
            let dram = value(.dram)
            let gpu = value(.gpu)
            return Components(cpu: cpu, dram: dram, gpu: gpu, total: cpu + dram + gpu)
        }
        let power = components { ledger.watts(of: $0) }
        let energy = components { ledger.components[$0]?.itJoules ?? 0 }
        let facility = Component.allCases.reduce(0) { $0 + (ledger.components[$1]?.facilityJoules ?? 0) }
        let co2e = Component.allCases.reduce(0) { $0 + (ledger.components[$1]?.co2eGrams ?? 0) }
        let lbs = co2e / Emissions.gramsPerPound
        let sources = state.health.filter(\.value.present).keys.sorted().map { name in
            let health = state.health[name]!
            return Source(name: name, up: health.up, measured: name != "estimate", errors: health.errors)
        }
        var workloads: [Workload] = []
        if let attribution = state.attribution {
            workloads = attribution.ledger.workloads.map { id, totals in
                let names = attribution.names[id] ?? WorkloadNames()
                return Workload(
                    kind: id.kind.rawValue, workload: id.name, name: displayName(id, names),
                    powerWatts: attribution.lastWatts(of: id),
                    energyJoules: Double(Component.allCases.reduce(0) { $0 &+ totals.microjoules($1) }) / 1e6,
                    co2eGrams: totals.co2eGrams)
            }
            .sorted { ($0.powerWatts, $0.energyJoules, $0.workload) > ($1.powerWatts, $1.energyJoules, $1.workload) }
            workloads = Array(workloads.prefix(10))
        }
        return Summary(
            version: BuildInfo.version, timestamp: state.lastSampleUnixSeconds ?? 0, pue: settings.pue,
            gridIntensityGramsPerKWh: settings.gridGramsPerKilowattHour,
            gridIntensitySource: intensity?.source.rawValue ?? "static",
            powerWatts: power, facilityPowerWatts: power.total * settings.pue, energyJoules: energy,
            energyKWh: energy.total / Emissions.joulesPerKilowattHour,
            facilityEnergyKWh: facility / Emissions.joulesPerKilowattHour, co2eGrams: co2e, co2eLbs: lbs,
            nySFFlights: lbs / flightLbs, carLifetimes: lbs / carLifetimeLbs,
            measuredComponents: ledger.measuredComponents.sorted().map(\.rawValue), sources: sources,
            attribution: state.attribution != nil, workloads: workloads,
            history: History(
                secondsPerPoint: history.secondsPerPoint, cpu: history.points(.cpu), dram: history.points(.dram),
                gpu: history.points(.gpu)))
    }

    private static func displayName(_ id: WorkloadID, _ names: WorkloadNames) -> String {
        switch id.kind {
        case .pod: names.pod.isEmpty ? id.name : "\(names.namespace)/\(names.pod)"
        case .slurmJob: names.user.isEmpty ? "job \(id.name)" : "job \(id.name) (\(names.user))"
        case .systemdUnit: id.name
        }
    }
}

extension Summary {
    /// The JSON of `summary`, keys sorted.
    static func json(_ summary: Summary) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return (try? Array(encoder.encode(summary))) ?? Array("{}".utf8)
    }
}
