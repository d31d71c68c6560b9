import EnergyAccounting

/// The last hour of IT power per component, in a ring of fixed size filled by the sampler: no allocation per sample,
/// bounded memory whatever the interval. At short intervals, consecutive samples are averaged into one point so the
/// ring never holds more than `maximumPoints`.
public struct PowerHistory: Sendable {
    /// The most points kept: one a second for an hour.
    public static let maximumPoints = 3600

    /// Samples averaged into one point.
    public let samplesPerPoint: Int
    /// Seconds one point covers.
    public let secondsPerPoint: Double
    private var cpu: [Float]
    private var dram: [Float]
    private var gpu: [Float]
    /// Where the next point goes.
    private var next = 0
    /// How many points hold data (up to the capacity).
    public private(set) var count = 0
    private var pending: (cpu: Double, dram: Double, gpu: Double, samples: Int) = (0, 0, 0, 0)

    /// A history of the last `windowSeconds` for samples `intervalSeconds` apart.
    public init(intervalSeconds: Double, windowSeconds: Double = 3600) {
        let samples = max(1, Int((windowSeconds / max(intervalSeconds, 0.001)).rounded(.up)))
        samplesPerPoint = max(1, Int((Double(samples) / Double(Self.maximumPoints)).rounded(.up)))
        secondsPerPoint = intervalSeconds * Double(samplesPerPoint)
        let capacity = max(1, samples / samplesPerPoint)
        cpu = [Float](repeating: 0, count: capacity)
        dram = cpu
        gpu = cpu
    }

    /// How many points the ring holds at most.
    public var capacity: Int { cpu.count }

    /// Adds one sample's power.
    public mutating func append(cpu watts: Double, dram dramWatts: Double, gpu gpuWatts: Double) {
        pending.cpu += watts
        pending.dram += dramWatts
        pending.gpu += gpuWatts
        pending.samples += 1
        guard pending.samples >= samplesPerPoint else { return }
        let divisor = Double(pending.samples)
        cpu[next] = Float(pending.cpu / divisor)
        dram[next] = Float(pending.dram / divisor)
        gpu[next] = Float(pending.gpu / divisor)
        next = (next + 1) % capacity
        count = min(count + 1, capacity)
        pending = (0, 0, 0, 0)
    }

    /// The points of `component`, oldest first.
    public func points(_ component: Component) -> [Float] {
        let ring: [Float]
        switch component {
        case .cpu: ring = cpu
        case .dram: ring = dram
        case .gpu: ring = gpu
        }
        let start = (next - count + capacity) % capacity
        return (0..<count).map { ring[(start + $0) % capacity] }
    }
}
