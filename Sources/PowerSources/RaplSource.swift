/// A RAPL powercap zone as discovered under `<sysfs>/class/powercap`.
public struct RaplZone: Sendable, Hashable {
    /// The zone's directory name, for example `intel-rapl:0:1`.
    public let directory: String
    public let domain: Domain
    /// The socket the zone belongs to (`"0"`, `"1"`, …).
    public let socket: String
    /// The value at which `energy_uj` wraps to zero; nil when `max_energy_range_uj` is missing or unreadable.
    public let maxEnergyRangeMicrojoules: UInt64?
    /// The largest `constraint_*_max_power_uw` of the zone, in watts; nil when none is set.
    public let maxConstraintWatts: Double?

    public var id: DomainID { DomainID(source: RaplSource.sourceName, domain: domain, device: socket) }
}

/// Reads CPU package, core, uncore, DRAM and platform energy from the Linux powercap RAPL interface.
///
/// Zones are discovered under `<sysfs>/class/powercap`: `intel-rapl:N` (packages and psys) and `intel-rapl:N:M`
/// (core, uncore, dram); `intel-rapl-mmio:N` duplicates `intel-rapl:N` and is used only for a (name, socket) pair the
/// MSR interface lacks. AMD CPUs appear under the same names with package and core zones only.
public final class RaplSource: PowerSource, @unchecked Sendable {
    // Unchecked: the sampler calls `sample()` from one worker thread at a time, which confines the mutable state.

    public static let sourceName = "rapl"
    public var name: String { Self.sourceName }

    private let sysfs: SysfsRoot
    private let configuredMaximumWatts: Double?
    private var zones = DeviceDiscovery<RaplZone>()
    private var samplesSinceMSRCheck = 0

    /// How often, in samples, an MMIO zone standing in for a missing MSR zone is checked for the MSR zone's return.
    public static let msrRecheckSamples = 60

    /// - Parameters:
    ///   - sysfs: the sysfs mount to read.
    ///   - maximumPlausibleWatts: a configured ceiling per zone; nil derives it from the zone's power constraints.
    public init(sysfs: SysfsRoot, maximumPlausibleWatts: Double? = nil) {
        self.sysfs = sysfs
        self.configuredMaximumWatts = maximumPlausibleWatts
    }

    /// The zones in use after the last discovery, sorted by domain and socket.
    public var discoveredZones: [RaplZone] { zones.current }

    public func sample() -> SourceSample {
        // A missing powercap class reads like one without zones: RAPL is absent unless zones were seen before.
        var failures = zones.refresh(
            discover: { (try? Self.discover(sysfs: sysfs)) ?? [] }, id: \.id,
            path: { sysfs.resolve("class/powercap/\($0.directory)") })
        if zones.neverFound {
            zones.discoverAgain()
            return .absent("no RAPL zones under \(sysfs.resolve("class/powercap"))")
        }
        var readings: [DomainReading] = []
        readings.reserveCapacity(zones.current.count)
        for zone in zones.current {
            let path = sysfs.resolve("class/powercap/\(zone.directory)/energy_uj")
            do throws(SourceError) {
                let microjoules = try AttributeFile.readUnsigned(path)
                if let range = zone.maxEnergyRangeMicrojoules, microjoules > range {
                    throw SourceError.garbled(path: path, value: String(microjoules))
                }
                readings.append(
                    DomainReading(
                        id: zone.id,
                        measurement: .energyCounter(
                            microjoules: microjoules, wrapMicrojoules: zone.maxEnergyRangeMicrojoules),
                        maximumPlausibleWatts: plausibleCeiling(for: zone), counterIdentity: zone.directory))
            } catch {
                failures.append(ReadFailure(domain: zone.id, error: error))
            }
        }
        // Zones come and go with driver reloads and CPU hotplug (a vanished one is a failure): look again.
        zones.finishSample(failed: !failures.isEmpty)
        // An MMIO zone in use stands in for an MSR zone that vanished (the MSR one wins in discovery): look for the
        // MSR zone's return now and then, so it is used again. The ledger re-baselines on the change of counter.
        samplesSinceMSRCheck += 1
        if samplesSinceMSRCheck >= Self.msrRecheckSamples {
            samplesSinceMSRCheck = 0
            if zones.current.contains(where: { $0.directory.hasPrefix("intel-rapl-mmio:") }) { zones.discoverAgain() }
        }
        return SourceSample(readings: readings, failures: failures)
    }

    /// The ceiling above which a delta is treated as a reset: the configured one, else twice the largest power
    /// constraint (turbo may exceed the long-term limit for a while), else none.
    private func plausibleCeiling(for zone: RaplZone) -> Double? {
        if let configuredMaximumWatts { return configuredMaximumWatts }
        return zone.maxConstraintWatts.map { $0 * 2 }
    }

    /// Discovers the RAPL zones under `<sysfs>/class/powercap`, de-duplicating MMIO copies of MSR zones.
    public static func discover(sysfs: SysfsRoot) throws(SourceError) -> [RaplZone] {
        let base = sysfs.resolve("class/powercap")
        let entries = try AttributeFile.listDirectory(base)
        var parsed: [(name: ZoneName, label: String)] = []
        for entry in entries {
            guard let zoneName = ZoneName(entry) else { continue }
            guard let label = try? AttributeFile.readString("\(base)/\(entry)/name") else { continue }
            parsed.append((zoneName, label))
        }
        // Sockets come from the parent package's name ("package-1"); sub-zones inherit it.
        var socketOfParent: [String: String] = [:]
        var psysCount = 0
        for (zoneName, label) in parsed where zoneName.subIndex == nil {
            if label.hasPrefix("package-") {
                socketOfParent[zoneName.parentKey] = String(label.dropFirst("package-".count))
            } else if label == "psys" {
                socketOfParent[zoneName.parentKey] = String(psysCount)
                psysCount += 1
            }
        }
        var chosen: [DomainID: (ZoneName, RaplZone)] = [:]
        for (zoneName, label) in parsed {
            guard let domain = domain(forLabel: label, isSubZone: zoneName.subIndex != nil) else { continue }
            let socket = socketOfParent[zoneName.parentKey] ?? String(zoneName.index)
            let directory = "\(base)/\(zoneName.directory)"
            let zone = RaplZone(
                directory: zoneName.directory,
                domain: domain,
                socket: socket,
                maxEnergyRangeMicrojoules: (try? AttributeFile.readUnsigned("\(directory)/max_energy_range_uj"))
                    .flatMap { $0 > 0 ? $0 : nil },
                maxConstraintWatts: maxConstraintWatts(directory: directory))
            if let existing = chosen[zone.id], !existing.0.isMMIO || zoneName.isMMIO {
                continue  // the MSR zone wins over its MMIO duplicate
            }
            chosen[zone.id] = (zoneName, zone)
        }
        return chosen.values.map(\.1).sorted { $0.id < $1.id }
    }

    private static func domain(forLabel label: String, isSubZone: Bool) -> Domain? {
        if !isSubZone {
            if label.hasPrefix("package-") { return .package }
            if label == "psys" { return .psys }
            // Some platforms expose DRAM as a top-level zone.
            if label == "dram" { return .dram }
            return nil
        }
        switch label {
        case "core": return .core
        case "uncore": return .uncore
        case "dram": return .dram
        default: return nil
        }
    }

    private static func maxConstraintWatts(directory: String) -> Double? {
        var largest: UInt64 = 0
        for index in 0..<8 {
            let path = "\(directory)/constraint_\(index)_max_power_uw"
            guard let value = try? AttributeFile.readUnsigned(path) else {
                if !AttributeFile.exists(path) { break }
                continue
            }
            largest = max(largest, value)
        }
        return largest > 0 ? Double(largest) / 1e6 : nil
    }
}

/// A powercap zone directory name: `intel-rapl:0`, `intel-rapl:0:1`, `intel-rapl-mmio:0`.
struct ZoneName: Hashable {
    let directory: String
    let isMMIO: Bool
    let index: Int
    let subIndex: Int?

    init?(_ directory: String) {
        let parts = directory.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3 else { return nil }
        switch parts[0] {
        case "intel-rapl": isMMIO = false
        case "intel-rapl-mmio": isMMIO = true
        default: return nil
        }
        guard let index = Int(parts[1]), index >= 0 else { return nil }
        self.index = index
        if parts.count == 3 {
            guard let sub = Int(parts[2]), sub >= 0 else { return nil }
            subIndex = sub
        } else {
            subIndex = nil
        }
        self.directory = directory
    }

    /// The key of the top-level zone this zone belongs to, unique across MSR and MMIO.
    var parentKey: String { "\(isMMIO ? "mmio" : "msr"):\(index)" }
}
