import Glibc

/// Reads NVIDIA GPU energy through NVML: the total-energy counter (mJ since driver load, Volta and newer) where the
/// GPU supports it, else the power draw (mW) to be integrated over the interval.
///
/// Only physical GPUs are enumerated (`nvmlDeviceGetHandleByIndex`), so a MIG-partitioned GPU is read once, from its
/// parent: instances are never summed.
public final class NvmlSource: PowerSource, @unchecked Sendable {
    // Unchecked: the sampler calls `sample()` from one worker thread at a time, which confines the mutable state.

    public static let sourceName = "nvml"
    public var name: String { Self.sourceName }

    private let libraryPath: String
    private var library: NVMLLibrary?
    private var initialized = false
    /// The failure of the last attempt to load or initialise NVML, repeated until the next attempt.
    private var lastFailure: SourceError?
    private var samplesUntilRetry = 0
    private var devices: [GPUDevice] = []

    /// How many samples to wait before trying to load or initialise NVML again after it failed (`nvmlInit` can be
    /// slow).
    private static let retrySamples = 30

    private struct GPUDevice {
        let index: UInt32
        var handle: OpaquePointer?
        var identity: GPUIdentity?
        /// False once the GPU answered NOT_SUPPORTED to the energy counter: integrate power instead.
        var energyCounterSupported = true
        /// The newest utilisation timestamp NVML returned (µs), asked for again so it returns only newer samples.
        var lastUtilizationTimestamp: UInt64 = 0
        /// Each process's latest SM utilisation: kept while NVML has nothing newer (NOT_FOUND is routine).
        var smPercentByPID: [UInt32: UInt32] = [:]
    }

    private let readsProcesses: Bool

    /// - Parameters:
    ///   - libraryPath: the NVML library to `dlopen`.
    ///   - readsProcesses: also read each GPU's running processes and their utilisation, for workload attribution.
    public init(libraryPath: String = "libnvidia-ml.so.1", readsProcesses: Bool = false) {
        self.libraryPath = libraryPath
        self.readsProcesses = readsProcesses
    }

    deinit {
        if initialized, let shutdown = library?.shutdown { _ = shutdown() }
    }

    /// Absent (no library, NVML's DRIVER_NOT_LOADED, no GPUs) is a value the sampler keeps silent about; a library
    /// that is there but fails (a driver/library version mismatch after an upgrade without reboot, no permission, any
    /// other error) is a failure: the source shows as down, and loading and initialisation are retried.
    public func sample() -> SourceSample {
        if !initialized {
            if samplesUntilRetry > 0, let lastFailure {
                samplesUntilRetry -= 1
                return .failed(lastFailure)
            }
            switch start() {
            case .ready:
                lastFailure = nil
            case .absent(let reason):
                lastFailure = nil
                return .absent(reason)
            case .failed(let failure):
                lastFailure = failure
                samplesUntilRetry = Self.retrySamples
                return .failed(failure)
            }
        }
        var sample = SourceSample()
        for position in devices.indices {
            read(&devices[position], library: library!, into: &sample)
            if readsProcesses { readProcesses(&devices[position], library: library!, into: &sample) }
        }
        return sample
    }

    private enum StartResult {
        case ready
        case absent(String)
        case failed(SourceError)
    }

    /// Loads the library (once) and initialises NVML, enumerating the physical GPUs.
    private func start() -> StartResult {
        if library == nil {
            do throws(NVMLLoadError) {
                library = try NVMLLibrary(path: libraryPath)
            } catch {
                switch error {
                case .absent(let reason): return .absent(reason)
                case .broken(let reason): return .failed(.driver(reason))
                }
            }
        }
        guard let library else { return .absent("NVML library \(libraryPath) not loaded") }
        let code = library.initialize()
        if code == NVMLReturn.driverNotLoaded {
            // A CPU node that ships the library (a shared image) but has no NVIDIA driver.
            return .absent("nvmlInit: \(library.errorString(code))")
        }
        guard code == NVMLReturn.success else {
            return .failed(.driver("nvmlInit failed: \(library.errorString(code))"))
        }
        var count: UInt32 = 0
        let countCode = library.deviceCount(&count)
        guard countCode == NVMLReturn.success else {
            _ = library.shutdown?()
            return .failed(.driver("nvmlDeviceGetCount failed: \(library.errorString(countCode))"))
        }
        guard count > 0 else {
            _ = library.shutdown?()
            return .absent("NVML reports no GPUs")
        }
        devices = (0..<count).map { GPUDevice(index: $0) }
        initialized = true
        return .ready
    }

    private func read(_ device: inout GPUDevice, library: NVMLLibrary, into sample: inout SourceSample) {
        let id = DomainID(source: Self.sourceName, domain: .gpu, device: String(device.index))
        if device.handle == nil {
            var handle: OpaquePointer?
            let code = library.deviceHandle(device.index, &handle)
            guard code == NVMLReturn.success, let handle else {
                sample.failures.append(ReadFailure(domain: id, error: deviceError(code, library)))
                return
            }
            device.handle = handle
        }
        guard let handle = device.handle else { return }
        if device.identity == nil {
            let (uuid, uuidCode) = library.string(library.uuid, device: handle)
            let (name, _) = library.string(library.name, device: handle)
            if uuidCode == NVMLReturn.gpuIsLost {
                sample.failures.append(ReadFailure(domain: id, error: deviceError(uuidCode, library)))
                return
            }
            if let uuid {
                device.identity = GPUIdentity(device: id.device, uuid: uuid, name: name ?? "unknown")
            }
        }
        if let identity = device.identity { sample.gpus.append(identity) }
        if device.energyCounterSupported, let totalEnergy = library.totalEnergy {
            var millijoules: UInt64 = 0
            let code = totalEnergy(handle, &millijoules)
            if code == NVMLReturn.success {
                let (microjoules, overflow) = millijoules.multipliedReportingOverflow(by: 1000)
                guard !overflow else {
                    sample.failures.append(
                        ReadFailure(domain: id, error: .device("energy counter out of range: \(millijoules) mJ")))
                    return
                }
                // The counter never wraps; a decrease means the driver reloaded, which the accounting treats as a reset.
                sample.readings.append(
                    DomainReading(id: id, measurement: .energyCounter(microjoules: microjoules, wrapMicrojoules: nil)))
                return
            }
            guard code == NVMLReturn.notSupported else {
                sample.failures.append(ReadFailure(domain: id, error: deviceError(code, library)))
                return
            }
            device.energyCounterSupported = false
        }
        guard let powerUsage = library.powerUsage else {
            sample.failures.append(ReadFailure(domain: id, error: .device("GPU reports neither energy nor power")))
            return
        }
        var milliwatts: UInt32 = 0
        let code = powerUsage(handle, &milliwatts)
        guard code == NVMLReturn.success else {
            sample.failures.append(ReadFailure(domain: id, error: deviceError(code, library)))
            return
        }
        sample.readings.append(DomainReading(id: id, measurement: .averagePower(watts: Double(milliwatts) / 1000)))
    }

    /// The GPU's running compute processes, each with its latest SM utilisation (nil where NVML gives none).
    private func readProcesses(_ device: inout GPUDevice, library: NVMLLibrary, into sample: inout SourceSample) {
        guard let handle = device.handle, let pids = library.runningProcessIDs(handle) else { return }
        switch library.processUtilization(handle, since: device.lastUtilizationTimestamp) {
        case .samples(let samples):
            // Several samples of one process may come back; the newest wins.
            for entry in samples.sorted(by: { $0.timestamp < $1.timestamp }) {
                device.smPercentByPID[entry.pid] = entry.smPercent
                device.lastUtilizationTimestamp = max(device.lastUtilizationTimestamp, entry.timestamp)
            }
        case .nothingNew:
            break  // keep the last shares
        case .unavailable:
            device.smPercentByPID = [:]
        }
        let running = Set(pids)
        device.smPercentByPID = device.smPercentByPID.filter { running.contains($0.key) }
        for pid in pids {
            sample.gpuProcesses.append(
                GPUProcessShare(device: String(device.index), pid: pid, smPercent: device.smPercentByPID[pid]))
        }
    }

    private func deviceError(_ code: Int32, _ library: NVMLLibrary) -> SourceError {
        if code == NVMLReturn.gpuIsLost { return .device("GPU is lost: \(library.errorString(code))") }
        return .device(library.errorString(code))
    }
}
