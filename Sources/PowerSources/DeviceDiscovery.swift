/// The devices (RAPL zones, hwmon GPUs) a sysfs source reads, rediscovered after any failed read and remembered for
/// good once seen: a device that vanishes (driver reload, hotplug) is reported as failing, not silently dropped,
/// and is read again when it comes back.
struct DeviceDiscovery<Device> {
    /// The devices found by the last discovery, in the order it returned them.
    private(set) var current: [Device] = []
    private var known: [DomainID: Device] = [:]
    private var isDue = true

    /// Whether no device was ever found: the source has nothing to read on this node.
    var neverFound: Bool { known.isEmpty }

    /// Discovers again if a failure made that due, and returns a `.notFound` failure, at `path(device)`, for every
    /// device seen before that the discovery no longer finds.
    mutating func refresh(
        discover: () -> [Device], id: (Device) -> DomainID, path: (Device) -> String
    ) -> [ReadFailure] {
        guard isDue else { return [] }
        isDue = false
        current = discover()
        for device in current { known[id(device)] = device }
        let present = Set(current.map(id))
        return known.sorted { $0.key < $1.key }.filter { !present.contains($0.key) }.map { entry in
            ReadFailure(domain: entry.key, error: .notFound(path: path(entry.value)))
        }
    }

    /// Makes the next `refresh` discover again: after a failed read, or while nothing was ever found.
    mutating func discoverAgain() {
        isDue = true
    }
}
