/// The coefficients of the estimate, after Cloud Carbon Footprint's linear model.
public struct EstimateCoefficients: Sendable, Hashable {
    /// Watts one vCPU draws when idle (CCF's AWS average: 0.74 W).
    public var cpuMinimumWattsPerVCPU: Double
    /// Watts one vCPU draws when fully busy (CCF's AWS average: 3.5 W).
    public var cpuMaximumWattsPerVCPU: Double
    /// Watts one GiB of memory draws (CCF: 0.392 W/GB).
    public var dramWattsPerGiB: Double

    public static let cloudCarbonFootprintAWS = EstimateCoefficients(
        cpuMinimumWattsPerVCPU: 0.74, cpuMaximumWattsPerVCPU: 3.5, dramWattsPerGiB: 0.392)

    public init(cpuMinimumWattsPerVCPU: Double, cpuMaximumWattsPerVCPU: Double, dramWattsPerGiB: Double) {
        self.cpuMinimumWattsPerVCPU = cpuMinimumWattsPerVCPU
        self.cpuMaximumWattsPerVCPU = cpuMaximumWattsPerVCPU
        self.dramWattsPerGiB = dramWattsPerGiB
    }

    /// CPU power of `vcpus` vCPUs at `utilisation` (0…1): `vcpus · (min + utilisation · (max − min))`.
    public func cpuWatts(vcpus: Int, utilisation: Double) -> Double {
        Double(vcpus) * (cpuMinimumWattsPerVCPU + utilisation * (cpuMaximumWattsPerVCPU - cpuMinimumWattsPerVCPU))
    }

    /// DRAM power of `bytes` of memory.
    public func dramWatts(memoryBytes bytes: UInt64) -> Double {
        Double(bytes) / 1_073_741_824 * dramWattsPerGiB
    }
}

/// Estimates CPU and DRAM power where RAPL cannot be read (most cloud VMs) from `/proc/stat` utilisation and
/// `MemTotal`. Its domains are `package` and `dram` of device `"0"`, labelled `source="estimate"`.
public final class EstimateSource: PowerSource, @unchecked Sendable {
    // Unchecked: the sampler calls `sample()` from one worker thread at a time, which confines the mutable state.

    public static let sourceName = "estimate"
    public var name: String { Self.sourceName }

    public static let packageID = DomainID(source: sourceName, domain: .package, device: "0")
    public static let dramID = DomainID(source: sourceName, domain: .dram, device: "0")

    private let procfs: ProcfsRoot
    private let coefficients: EstimateCoefficients
    private var previousTimes: CPUTimes?
    private var lastUtilisation: Double = 0

    public init(procfs: ProcfsRoot, coefficients: EstimateCoefficients = .cloudCarbonFootprintAWS) {
        self.procfs = procfs
        self.coefficients = coefficients
    }

    public func sample() -> SourceSample {
        var readings: [DomainReading] = []
        var failures: [ReadFailure] = []
        let statPath = procfs.resolve("stat")
        do throws(SourceError) {
            let text = String(decoding: try AttributeFile.readWhole(statPath, limit: 1 << 20), as: UTF8.self)
            guard let times = CPUTimes.parse(text) else {
                throw SourceError.garbled(path: statPath, value: String(text.prefix(32)))
            }
            // Between two identical reads (no tick elapsed) the utilisation is unchanged, not unknown.
            if let previousTimes, let utilisation = times.utilisation(since: previousTimes) {
                lastUtilisation = utilisation
            }
            previousTimes = times
            readings.append(
                DomainReading(
                    id: Self.packageID,
                    measurement: .averagePower(
                        watts: coefficients.cpuWatts(vcpus: times.cpuCount, utilisation: lastUtilisation))))
        } catch {
            failures.append(ReadFailure(domain: Self.packageID, error: error))
        }
        let meminfoPath = procfs.resolve("meminfo")
        do throws(SourceError) {
            let text = String(decoding: try AttributeFile.readWhole(meminfoPath, limit: 1 << 20), as: UTF8.self)
            guard let bytes = MemInfo.totalBytes(text) else {
                throw SourceError.garbled(path: meminfoPath, value: String(text.prefix(32)))
            }
            readings.append(
                DomainReading(
                    id: Self.dramID, measurement: .averagePower(watts: coefficients.dramWatts(memoryBytes: bytes))))
        } catch {
            failures.append(ReadFailure(domain: Self.dramID, error: error))
        }
        return SourceSample(readings: readings, failures: failures)
    }
}
