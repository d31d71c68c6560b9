/// The emissions of making the hardware (docs/embodied.md): a server's and its GPUs' manufacturing footprint, spread
/// in a straight line over their lifetime in calendar time.
public struct EmbodiedProfile: Sendable, Hashable {
    /// The server's embodied emissions without its GPUs, in kilograms of CO2e.
    public var serverKilograms: Double
    /// One GPU's embodied emissions, in kilograms of CO2e; counted once for each GPU the node has.
    public var gpuKilograms: Double
    /// The lifetime the emissions are spread over, in seconds. `--embodied.lifetime` is a Prometheus duration, so a
    /// year there is 365 days (31,536,000 s; Sources/FootprintExporter/Configuration/PrometheusDuration.swift).
    public var lifetimeSeconds: Double

    /// No embodied emissions: the default.
    public static let off = EmbodiedProfile(serverKilograms: 0, gpuKilograms: 0, lifetimeSeconds: 0)

    public init(serverKilograms: Double, gpuKilograms: Double, lifetimeSeconds: Double) {
        self.serverKilograms = serverKilograms
        self.gpuKilograms = gpuKilograms
        self.lifetimeSeconds = lifetimeSeconds
    }

    /// True when nothing is amortised: no positive, finite lifetime, or neither a positive server nor GPU figure.
    /// Figures that are negative or not finite count as zero.
    public var isOff: Bool {
        !Self.usable(lifetimeSeconds) || (!Self.usable(serverKilograms) && !Self.usable(gpuKilograms))
    }

    /// The whole embodied footprint of a node with `gpus` GPUs, in grams: (server + gpus × GPU) × 1000.
    public func totalGrams(gpus: Int) -> Double {
        guard !isOff else { return 0 }
        let server = Self.usable(serverKilograms) ? serverKilograms : 0
        let gpu = Self.usable(gpuKilograms) ? gpuKilograms : 0
        return (server + Double(max(gpus, 0)) * gpu) * 1000
    }

    /// The grams charged for each second of calendar time: `totalGrams(gpus:)` / lifetime.
    public func gramsPerSecond(gpus: Int) -> Double {
        guard !isOff else { return 0 }
        return totalGrams(gpus: gpus) / lifetimeSeconds
    }

    /// The grams charged for `elapsedSeconds` of calendar time; zero for an interval that is not positive and finite.
    ///
    /// Computed as total × elapsed / lifetime rather than `gramsPerSecond` × elapsed, so that it rounds once: with
    /// whole kilograms and whole seconds the product is exact, and the result is the correctly rounded quotient.
    /// Not capped at the lifetime: hardware kept past it goes on being charged at the same rate.
    public func grams(elapsedSeconds: Double, gpus: Int) -> Double {
        guard !isOff, elapsedSeconds > 0, elapsedSeconds.isFinite else { return 0 }
        return totalGrams(gpus: gpus) * elapsedSeconds / lifetimeSeconds
    }

    private static func usable(_ value: Double) -> Bool { value > 0 && value.isFinite }
}

/// Splits one sample's embodied grams between workloads by their share of the node's energy in that sample.
public enum EmbodiedSplit {
    /// Gives each key `grams × its microjoules / nodeMicrojoules`; what no key took is unattributed.
    ///
    /// - Parameters:
    ///   - grams: the node's embodied grams for the sample. Zero, negative or not finite: nothing is handed out.
    ///   - energy: each workload's IT energy in the sample, in microjoules. Every key is in the answer, at zero
    ///     when its energy is zero.
    ///   - nodeMicrojoules: the node's IT energy in the sample. Raised to the sum of the workloads' energy when
    ///     smaller (the same normalisation as Sources/EnergyAccounting/AttributionSplit.swift), so the shares never
    ///     add up to more than the whole. When both are zero, everything is unattributed.
    /// - Returns: the workloads' grams, and `unattributed` = grams − their sum, floored at zero. The parts add up to
    ///   `grams` up to floating-point rounding (a few units in the last place), not exactly: unlike energy, grams are
    ///   not counted in whole units.
    public static func split<Key: Hashable>(grams: Double, energy: [Key: UInt64], nodeMicrojoules: UInt64)
        -> (workloads: [Key: Double], unattributed: Double)
    {
        var workloads: [Key: Double] = [:]
        workloads.reserveCapacity(energy.count)
        guard grams > 0, grams.isFinite else {
            for key in energy.keys { workloads[key] = 0 }
            return (workloads, 0)
        }
        // Summed in Double: a sum of UInt64s can overflow, and saturating it would let the shares exceed the whole.
        var total = 0.0
        for microjoules in energy.values { total += Double(microjoules) }
        let whole = max(Double(nodeMicrojoules), total)
        guard whole > 0 else {
            for key in energy.keys { workloads[key] = 0 }
            return (workloads, grams)
        }
        var given = 0.0
        for (key, microjoules) in energy {
            let share = microjoules == 0 ? 0 : min(grams, grams * (Double(microjoules) / whole))
            workloads[key] = share
            given += share
        }
        return (workloads, max(0, grams - given))
    }
}

/// The node's embodied CO2e since the exporter started counting it, and the part no workload was charged.
public struct EmbodiedTotals: Sendable, Hashable, Codable {
    /// Every embodied gram charged to the node.
    public var nodeGrams: Double = 0
    /// The part of `nodeGrams` that no workload took.
    public var unattributedGrams: Double = 0

    public init(nodeGrams: Double = 0, unattributedGrams: Double = 0) {
        self.nodeGrams = nodeGrams
        self.unattributedGrams = unattributedGrams
    }

    /// Adds one sample: `grams` charged to the node, `unattributed` of them to no workload. Values that are
    /// negative or not finite are ignored, so the counters only grow.
    public mutating func record(grams: Double, unattributed: Double) {
        if grams > 0, grams.isFinite { nodeGrams += grams }
        if unattributed > 0, unattributed.isFinite { unattributedGrams += unattributed }
    }
}
