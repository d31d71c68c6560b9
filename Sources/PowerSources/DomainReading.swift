/// What a power domain measures. Domains may overlap (`core` lies inside `package`, `psys` contains both).
public enum Domain: String, Sendable, Hashable, CaseIterable, Comparable {
    case package, core, uncore, dram, psys, gpu

    public static func < (lhs: Domain, rhs: Domain) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Identifies one measured domain of one source, for example RAPL's `package` of socket `1`.
public struct DomainID: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The source that measured it: `rapl`, `nvml`, `amdgpu`, `i915`, `xe`, `estimate`.
    public let source: String
    public let domain: Domain
    /// The socket index for RAPL, the GPU index for GPUs.
    public let device: String

    public init(source: String, domain: Domain, device: String) {
        self.source = source
        self.domain = domain
        self.device = device
    }

    public static func < (lhs: DomainID, rhs: DomainID) -> Bool {
        (lhs.source, lhs.domain.rawValue, lhs.device.count, lhs.device)
            < (rhs.source, rhs.domain.rawValue, rhs.device.count, rhs.device)
    }

    public var description: String { "\(source)/\(domain.rawValue)/\(device)" }
}

/// One raw value read from a domain, before any accounting.
public enum Measurement: Sendable, Hashable {
    /// A cumulative energy counter in microjoules.
    ///
    /// `wrapMicrojoules` is the value at which the counter wraps to zero (RAPL's `max_energy_range_uj`); nil means
    /// the counter never wraps, so a decrease can only be a reset.
    case energyCounter(microjoules: UInt64, wrapMicrojoules: UInt64?)
    /// The average power over the time since the previous reading of this domain.
    case averagePower(watts: Double)
}

/// A raw reading of one domain.
public struct DomainReading: Sendable, Hashable {
    public let id: DomainID
    public let measurement: Measurement
    /// The highest power this domain can plausibly draw; a delta implying more is treated as a counter reset.
    public let maximumPlausibleWatts: Double?
    /// Which physical counter an energy reading comes from, where a domain can be read from more than one (RAPL's
    /// MSR zone and its MMIO duplicate): a change of counter sets a new baseline instead of booking the difference.
    public let counterIdentity: String?

    public init(
        id: DomainID, measurement: Measurement, maximumPlausibleWatts: Double? = nil, counterIdentity: String? = nil
    ) {
        self.id = id
        self.measurement = measurement
        self.maximumPlausibleWatts = maximumPlausibleWatts
        self.counterIdentity = counterIdentity
    }
}

/// A failed read: of one domain when `domain` is set, of the whole source otherwise.
public struct ReadFailure: Sendable, Hashable, Error, CustomStringConvertible {
    public let domain: DomainID?
    public let error: SourceError

    public init(domain: DomainID?, error: SourceError) {
        self.domain = domain
        self.error = error
    }

    public var description: String {
        if let domain { return "\(domain): \(error)" }
        return error.description
    }
}

/// The identity of a GPU, for joins with other metrics.
public struct GPUIdentity: Sendable, Hashable {
    public let device: String
    public let uuid: String
    public let name: String

    public init(device: String, uuid: String, name: String) {
        self.device = device
        self.uuid = uuid
        self.name = name
    }
}

/// How much of one GPU a process used: its share weight for splitting the GPU's energy.
public struct GPUProcessShare: Sendable, Hashable {
    /// The GPU's index (the `device` label of its domain).
    public let device: String
    /// The process, in the host's PID namespace.
    public let pid: UInt32
    /// Its streaming-multiprocessor utilisation, in percent, from NVML's latest sample for it; nil when NVML has
    /// none (MIG answers NOT_SUPPORTED): such processes share their GPU equally.
    public let smPercent: UInt32?

    public init(device: String, pid: UInt32, smPercent: UInt32?) {
        self.device = device
        self.pid = pid
        self.smPercent = smPercent
    }
}

/// Everything one source read in one sample: the readings that succeeded and the reads that failed.
public struct SourceSample: Sendable {
    public var readings: [DomainReading]
    public var failures: [ReadFailure]
    public var gpus: [GPUIdentity]
    /// The compute processes running on each GPU with their utilisation (NVML only, when asked for attribution).
    public var gpuProcesses: [GPUProcessShare] = []
    /// Why the source has nothing to read on this node (no powercap directory, no NVML library, no GPUs), or nil when
    /// it is present. Absence is not a failure: an absent source exports no health series and raises no alert, while
    /// a present source that fails shows as down.
    public var absence: String?

    public init(
        readings: [DomainReading] = [], failures: [ReadFailure] = [], gpus: [GPUIdentity] = [], absence: String? = nil
    ) {
        self.readings = readings
        self.failures = failures
        self.gpus = gpus
        self.absence = absence
    }

    /// A sample in which the whole source failed.
    public static func failed(_ error: SourceError) -> SourceSample {
        SourceSample(failures: [ReadFailure(domain: nil, error: error)])
    }

    /// A sample saying the source has nothing to read on this node, and why.
    public static func absent(_ reason: String) -> SourceSample {
        SourceSample(absence: reason)
    }

    /// True when the source is absent from this node.
    public var isAbsent: Bool { absence != nil }

    /// True when the source is present and every read of this sample succeeded.
    public var succeeded: Bool { failures.isEmpty && absence == nil }
}

/// A reader of one kind of power hardware.
///
/// `sample()` blocks while it reads; the sampler calls it from the source's own worker so that a slow or hung source
/// stalls nothing else. Implementations are called from one thread at a time.
public protocol PowerSource: AnyObject, Sendable {
    /// The source's name in `footprint_source_up{source}` and the logs: `rapl`, `nvml`, `hwmon`, `estimate`. Its
    /// domains carry their own `source` label in `DomainID`, which for hwmon is the driver (`amdgpu`, `i915`, `xe`).
    var name: String { get }
    /// Reads every domain once.
    func sample() -> SourceSample
}
