/// A GPU found under `<sysfs>/class/hwmon`.
public struct HwmonGPU: Sendable, Hashable {
    /// The hwmon directory name, for example `hwmon3`.
    public let directory: String
    /// The driver (`amdgpu`, `i915`, `xe`), used as the `source` label.
    public let driver: String
    /// The card's index among the cards of its driver, ordered by PCI address so it is stable across restarts.
    public let device: String

    public var id: DomainID { DomainID(source: driver, domain: .gpu, device: device) }
}

/// Reads AMD and Intel GPU energy from hwmon: `amdgpu` reports average power (`power1_average`, µW, integrated over
/// the interval); `i915` and `xe` report an energy counter (`energy1_input`, µJ). `xe` may also report the package
/// as `energy2_input`; only the card (`energy1_input`) is read, so it is counted once.
public final class HwmonSource: PowerSource, @unchecked Sendable {
    // Unchecked: the sampler calls `sample()` from one worker thread at a time, which confines the mutable state.

    public static let sourceName = "hwmon"
    public static let drivers: Set<String> = ["amdgpu", "i915", "xe"]
    public var name: String { Self.sourceName }

    private let sysfs: SysfsRoot
    private var gpus = DeviceDiscovery<HwmonGPU>()

    public init(sysfs: SysfsRoot) {
        self.sysfs = sysfs
    }

    public func sample() -> SourceSample {
        var failures = gpus.refresh(
            discover: { Self.discover(sysfs: sysfs) }, id: \.id, path: { sysfs.resolve("class/hwmon/\($0.directory)") })
        if gpus.neverFound {
            gpus.discoverAgain()
            return .absent("no amdgpu, i915 or xe hwmon devices under \(sysfs.resolve("class/hwmon"))")
        }
        var readings: [DomainReading] = []
        for gpu in gpus.current {
            let base = sysfs.resolve("class/hwmon/\(gpu.directory)")
            do throws(SourceError) {
                if gpu.driver == "amdgpu" {
                    // Some amdgpu generations name it power1_input; the unit is µW either way.
                    let path =
                        AttributeFile.exists("\(base)/power1_average")
                        ? "\(base)/power1_average" : "\(base)/power1_input"
                    let microwatts = try AttributeFile.readUnsigned(path)
                    readings.append(
                        DomainReading(id: gpu.id, measurement: .averagePower(watts: Double(microwatts) / 1e6)))
                } else {
                    // The drivers accumulate the hardware's 32-bit counter into 64 bits: it does not wrap.
                    let microjoules = try AttributeFile.readUnsigned("\(base)/energy1_input")
                    readings.append(
                        DomainReading(
                            id: gpu.id, measurement: .energyCounter(microjoules: microjoules, wrapMicrojoules: nil)))
                }
            } catch {
                failures.append(ReadFailure(domain: gpu.id, error: error))
            }
        }
        gpus.finishSample(failed: !failures.isEmpty)
        return SourceSample(readings: readings, failures: failures)
    }

    /// Finds the GPU hwmon devices and numbers them per driver in PCI-address order (hwmon numbering is not stable).
    public static func discover(sysfs: SysfsRoot) -> [HwmonGPU] {
        let base = sysfs.resolve("class/hwmon")
        guard let entries = try? AttributeFile.listDirectory(base) else { return [] }
        var found: [(directory: String, driver: String, pci: String?)] = []
        for entry in entries where entry.hasPrefix("hwmon") {
            guard let driver = try? AttributeFile.readString("\(base)/\(entry)/name"), drivers.contains(driver) else {
                continue
            }
            found.append((entry, driver, pciAddress(of: "\(base)/\(entry)/device")))
        }
        found.sort { lhs, rhs in
            switch (lhs.pci, rhs.pci) {
            case (let left?, let right?) where left != right: return left < right
            case (.some, nil): return true
            case (nil, .some): return false
            default:
                return (Int(lhs.directory.dropFirst(5)) ?? .max, lhs.directory)
                    < (Int(rhs.directory.dropFirst(5)) ?? .max, rhs.directory)
            }
        }
        var nextIndex: [String: Int] = [:]
        var gpus: [HwmonGPU] = []
        for item in found {
            let index = nextIndex[item.driver, default: 0]
            nextIndex[item.driver] = index + 1
            gpus.append(
                HwmonGPU(directory: item.directory, driver: item.driver, device: String(index)))
        }
        return gpus
    }

    /// The PCI address (`0000:03:00.0`) the `device` link of a hwmon directory points at, if it is one.
    static func pciAddress(of devicePath: String) -> String? {
        guard let resolved = AttributeFile.resolveLink(devicePath) else { return nil }
        let last = resolved.split(separator: "/").last.map(String.init) ?? ""
        let parts = last.split(separator: ":")
        guard parts.count == 3, last.contains(".") else { return nil }
        return last
    }
}
