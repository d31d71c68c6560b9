/// The devices (RAPL zones, hwmon GPUs) a sysfs source reads, rediscovered after failed reads and remembered for
/// good once seen: a device that vanishes (driver reload, hotplug) is reported as failing, not silently dropped,
/// and is read again when it comes back.
///
/// A failure that a rediscovery does not cure (a zone that stays garbled) backs the rediscoveries off, doubling the
/// samples between them up to `maximumBackoffSamples`, so one broken attribute does not rescan the whole class every
/// sample; a sample without failures resets the back-off.
struct DeviceDiscovery<Device> {
    /// The devices found by the last discovery, in the order it returned them.
    private(set) var current: [Device] = []
    private var known: [DomainID: Device] = [:]
    private var isDue = true
    private var discoveredThisSample = false
    private var samplesSinceDiscovery = 0
    private var backoffSamples = 1

    /// The most samples between two rediscoveries while failures persist.
    static var maximumBackoffSamples: Int { 64 }

    /// Whether no device was ever found: the source has nothing to read on this node.
    var neverFound: Bool { known.isEmpty }

    /// Discovers again if that is due, and returns a `.notFound` failure, at `path(device)`, for every device seen
    /// before that the discovery no longer finds. Called once per sample.
    mutating func refresh(
        discover: () -> [Device], id: (Device) -> DomainID, path: (Device) -> String
    ) -> [ReadFailure] {
        samplesSinceDiscovery += 1
        discoveredThisSample = false
        guard isDue, samplesSinceDiscovery >= backoffSamples || known.isEmpty else {
            return missing(id: id, path: path)
        }
        isDue = false
        discoveredThisSample = true
        samplesSinceDiscovery = 0
        current = discover()
        for device in current { known[id(device)] = device }
        return missing(id: id, path: path)
    }

    /// Ends a sample: after failures a rediscovery is due (backed off if this sample's discovery did not help);
    /// after a clean sample the back-off starts over.
    mutating func finishSample(failed: Bool) {
        guard failed else {
            backoffSamples = 1
            return
        }
        isDue = true
        if discoveredThisSample { backoffSamples = min(backoffSamples * 2, Self.maximumBackoffSamples) }
    }

    /// Makes a discovery due at the next sample regardless of back-off (while nothing was ever found, or to look
    /// for a preferred device again).
    mutating func discoverAgain() {
        isDue = true
        samplesSinceDiscovery = max(samplesSinceDiscovery, backoffSamples)
    }

    private func missing(id: (Device) -> DomainID, path: (Device) -> String) -> [ReadFailure] {
        let present = Set(current.map(id))
        guard present.count != known.count else { return [] }
        return known.sorted { $0.key < $1.key }.filter { !present.contains($0.key) }.map { entry in
            ReadFailure(domain: entry.key, error: .notFound(path: path(entry.value)))
        }
    }
}
