#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

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
    private var loadFailure: SourceError?
    private var initialized = false
    private var samplesUntilRetry = 0
    private var devices: [GPUDevice] = []

    /// How many samples to wait before trying `nvmlInit` again after it failed (it can be slow).
    private static let initRetrySamples = 30

    private struct GPUDevice {
        let index: UInt32
        var handle: OpaquePointer?
        var identity: GPUIdentity?
        /// False once the GPU answered NOT_SUPPORTED to the energy counter: integrate power instead.
        var energyCounterSupported = true
    }

    public init(libraryPath: String = "libnvidia-ml.so.1") {
        self.libraryPath = libraryPath
    }

    deinit {
        if initialized, let shutdown = library?.shutdown { _ = shutdown() }
    }

    public func sample() -> SourceSample {
        guard let library = loadedLibrary() else { return .failed(loadFailure!) }
        if !initialized {
            if samplesUntilRetry > 0 {
                samplesUntilRetry -= 1
                return .failed(.unavailable("NVML is not initialised (retrying)"))
            }
            if let failure = initialize(library) {
                samplesUntilRetry = Self.initRetrySamples
                return .failed(failure)
            }
        }
        var sample = SourceSample()
        for position in devices.indices {
            read(&devices[position], library: library, into: &sample)
        }
        return sample
    }

    private func loadedLibrary() -> NVMLLibrary? {
        if let library { return library }
        if loadFailure != nil { return nil }
        do throws(SourceError) {
            library = try NVMLLibrary(path: libraryPath)
        } catch {
            loadFailure = error
        }
        return library
    }

    /// Initialises NVML and enumerates the physical GPUs; returns why not on failure.
    private func initialize(_ library: NVMLLibrary) -> SourceError? {
        let code = library.initialize()
        guard code == NVMLReturn.success else {
            return .unavailable("nvmlInit failed: \(library.errorString(code))")
        }
        var count: UInt32 = 0
        let countCode = library.deviceCount(&count)
        guard countCode == NVMLReturn.success else {
            _ = library.shutdown?()
            return .unavailable("nvmlDeviceGetCount failed: \(library.errorString(countCode))")
        }
        guard count > 0 else {
            _ = library.shutdown?()
            return .unavailable("NVML reports no GPUs")
        }
        devices = (0..<count).map { GPUDevice(index: $0) }
        initialized = true
        return nil
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

    private func deviceError(_ code: Int32, _ library: NVMLLibrary) -> SourceError {
        if code == NVMLReturn.gpuIsLost { return .device("GPU is lost: \(library.errorString(code))") }
        return .device(library.errorString(code))
    }
}
