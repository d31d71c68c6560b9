import PowerSources

/// The highest power any one domain of a kind can plausibly draw. A reading beyond it is a glitch, never energy: an
/// average power above it is rejected as garbled, and a counter delta implying more is a reset that adds nothing.
public struct PowerCeilings: Sendable, Hashable {
    /// CPU package, core, uncore and platform (`psys`) zones, and the estimate's package.
    public var cpuWatts: Double
    /// DRAM zones and the estimate's DRAM.
    public var dramWatts: Double
    /// One GPU.
    public var gpuWatts: Double

    public init(cpuWatts: Double, dramWatts: Double, gpuWatts: Double) {
        self.cpuWatts = cpuWatts
        self.dramWatts = dramWatts
        self.gpuWatts = gpuWatts
    }

    /// The ceiling of `domain`'s kind.
    public func watts(for domain: Domain) -> Double {
        switch domain {
        case .package, .core, .uncore, .psys: cpuWatts
        case .dram: dramWatts
        case .gpu: gpuWatts
        }
    }

    /// The ceiling for `reading`: the kind's, or the reading's own where that is lower (a RAPL zone's constraint).
    func watts(for reading: DomainReading) -> Double {
        let kind = watts(for: reading.id.domain)
        guard let own = reading.maximumPlausibleWatts, own > 0 else { return kind }
        return min(own, kind)
    }
}
