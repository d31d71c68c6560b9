import Glibc

/// NVML's return codes that the exporter acts on (values of `nvmlReturn_t`).
public enum NVMLReturn {
    public static let success: Int32 = 0
    public static let notSupported: Int32 = 3
    public static let driverNotLoaded: Int32 = 9
    public static let notFound: Int32 = 6
    public static let insufficientSize: Int32 = 7
    public static let gpuIsLost: Int32 = 15
}

/// Why `NVMLLibrary` could not be loaded: the library is not installed, or it is there but unusable.
enum NVMLLoadError: Error {
    /// No such library on this node: a CPU node, which may stay silent.
    case absent(String)
    /// The library exists but cannot be used (wrong architecture, missing symbols): an installation to fix.
    case broken(String)
}

/// The NVML C functions the exporter calls, resolved with `dlopen`/`dlsym` so that one binary runs with and without
/// NVIDIA's driver. `_v2` symbols are preferred where NVML has them; optional functions may be absent.
final class NVMLLibrary: @unchecked Sendable {
    // Unchecked: immutable after init; NVML itself is thread-safe.

    typealias InitFunction = @convention(c) () -> Int32
    typealias CountFunction = @convention(c) (UnsafeMutablePointer<UInt32>?) -> Int32
    typealias HandleFunction = @convention(c) (UInt32, UnsafeMutablePointer<OpaquePointer?>?) -> Int32
    typealias StringFunction = @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, UInt32) -> Int32
    typealias EnergyFunction = @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt64>?) -> Int32
    typealias PowerFunction = @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt32>?) -> Int32
    typealias ErrorStringFunction = @convention(c) (Int32) -> UnsafePointer<CChar>?
    /// `nvmlDeviceGetComputeRunningProcesses*`: the process-info array is passed as raw bytes (its record size
    /// depends on the symbol's version).
    typealias ProcessesFunction =
        @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt32>?, UnsafeMutableRawPointer?) -> Int32
    /// `nvmlDeviceGetProcessUtilization(device, samples, count, lastSeenTimeStamp)`.
    typealias UtilizationFunction =
        @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, UnsafeMutablePointer<UInt32>?, UInt64) -> Int32

    private let handle: UnsafeMutableRawPointer
    let initialize: InitFunction
    let shutdown: InitFunction?
    let deviceCount: CountFunction
    let deviceHandle: HandleFunction
    let uuid: StringFunction?
    let name: StringFunction?
    let totalEnergy: EnergyFunction?
    let powerUsage: PowerFunction?
    /// The running-processes call and the size of one record of its version (v2 24, v1 16 bytes).
    let runningProcesses: (function: ProcessesFunction, recordBytes: Int)?
    let processUtilization: UtilizationFunction?
    private let errorStringFunction: ErrorStringFunction?

    /// Loads `path`; throws `.absent` when no such library exists, `.broken` when it exists but cannot be used.
    init(path: String) throws(NVMLLoadError) {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown error"
            // dlopen reports a library missing from every search path as ENOENT's text; anything else (a wrong ELF
            // class, an unresolved dependency) is a library that is there but broken.
            if reason.hasSuffix("No such file or directory") {
                throw .absent("NVML library \(path) not found: \(reason)")
            }
            throw .broken("NVML library \(path) cannot be loaded: \(reason)")
        }
        func symbol<T>(_ names: String..., as type: T.Type) -> T? {
            for name in names {
                if let pointer = dlsym(handle, name) { return unsafeBitCast(pointer, to: type) }
            }
            return nil
        }
        guard let initialize = symbol("nvmlInit_v2", "nvmlInit", as: InitFunction.self),
            let deviceCount = symbol("nvmlDeviceGetCount_v2", "nvmlDeviceGetCount", as: CountFunction.self),
            let deviceHandle = symbol(
                "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex", as: HandleFunction.self)
        else {
            dlclose(handle)
            throw .broken("NVML library \(path) lacks nvmlInit, nvmlDeviceGetCount or nvmlDeviceGetHandleByIndex")
        }
        self.handle = handle
        self.initialize = initialize
        self.deviceCount = deviceCount
        self.deviceHandle = deviceHandle
        shutdown = symbol("nvmlShutdown", as: InitFunction.self)
        uuid = symbol("nvmlDeviceGetUUID", as: StringFunction.self)
        name = symbol("nvmlDeviceGetName", as: StringFunction.self)
        totalEnergy = symbol("nvmlDeviceGetTotalEnergyConsumption", as: EnergyFunction.self)
        powerUsage = symbol("nvmlDeviceGetPowerUsage", as: PowerFunction.self)
        // nvmlProcessInfo_t: {pid, usedGpuMemory} (v1, 16 bytes with padding), + gpuInstanceId and
        // computeInstanceId (v2, 24). `_v3` is not used: nvml.h declares 24-byte records for it, but some 535-era
        // drivers write 32-byte ones, which would misread every PID after the first. The pid comes first in each.
        if let v2 = symbol("nvmlDeviceGetComputeRunningProcesses_v2", as: ProcessesFunction.self) {
            runningProcesses = (v2, 24)
        } else if let v1 = symbol("nvmlDeviceGetComputeRunningProcesses", as: ProcessesFunction.self) {
            runningProcesses = (v1, 16)
        } else {
            runningProcesses = nil
        }
        processUtilization = symbol("nvmlDeviceGetProcessUtilization", as: UtilizationFunction.self)
        errorStringFunction = symbol("nvmlErrorString", as: ErrorStringFunction.self)
    }

    /// NVML's own text for a return code.
    func errorString(_ code: Int32) -> String {
        guard let errorStringFunction, let text = errorStringFunction(code) else { return "NVML error \(code)" }
        return "\(String(cString: text)) (NVML error \(code))"
    }

    /// Calls a string getter with a buffer large enough for NVML's UUIDs and names.
    func string(_ function: StringFunction?, device: OpaquePointer) -> (String?, Int32) {
        guard let function else { return (nil, NVMLReturn.notSupported) }
        var buffer = [CChar](repeating: 0, count: 128)
        let code = function(device, &buffer, UInt32(buffer.count))
        guard code == NVMLReturn.success else { return (nil, code) }
        return (String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), code)
    }
}

extension NVMLLibrary {
    /// The PIDs of the compute processes running on `device`; nil when NVML cannot say.
    func runningProcessIDs(_ device: OpaquePointer) -> [UInt32]? {
        guard let (function, recordBytes) = runningProcesses else { return nil }
        var count: UInt32 = 0
        var code = function(device, &count, nil)
        if code == NVMLReturn.success { return [] }
        guard code == NVMLReturn.insufficientSize else { return nil }
        // Room for a few more, in case processes start between the two calls.
        for _ in 0..<3 {
            count += 8
            var buffer = [UInt8](repeating: 0, count: Int(count) * recordBytes)
            var filled = count
            code = buffer.withUnsafeMutableBytes { function(device, &filled, $0.baseAddress) }
            if code == NVMLReturn.insufficientSize {
                count = filled
                continue
            }
            guard code == NVMLReturn.success else { return nil }
            return (0..<Int(min(filled, count))).map { index in
                buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: index * recordBytes, as: UInt32.self) }
            }
        }
        return nil
    }

    /// One process's utilisation sample: `nvmlProcessUtilizationSample_t` {pid, timeStamp, smUtil, memUtil,
    /// encUtil, decUtil}, 32 bytes.
    struct UtilizationSample {
        let pid: UInt32
        let timestamp: UInt64
        let smPercent: UInt32
    }

    enum UtilizationAnswer {
        case samples([UtilizationSample])
        /// No sample newer than the timestamp asked for: routine at short intervals.
        case nothingNew
        /// The device cannot tell (MIG mode answers NOT_SUPPORTED), or the call failed.
        case unavailable
    }

    /// The per-process utilisation samples of `device` newer than `lastSeen` (µs).
    func processUtilization(_ device: OpaquePointer, since lastSeen: UInt64) -> UtilizationAnswer {
        guard let function = processUtilization else { return .unavailable }
        let recordBytes = 32
        var count: UInt32 = 0
        var code = function(device, nil, &count, lastSeen)
        if code == NVMLReturn.notFound { return .nothingNew }
        guard code == NVMLReturn.insufficientSize || code == NVMLReturn.success else { return .unavailable }
        guard count > 0 else { return .nothingNew }
        count += 8
        var buffer = [UInt8](repeating: 0, count: Int(count) * recordBytes)
        var filled = count
        code = buffer.withUnsafeMutableBytes { function(device, $0.baseAddress, &filled, lastSeen) }
        if code == NVMLReturn.notFound { return .nothingNew }
        guard code == NVMLReturn.success else { return .unavailable }
        let samples = (0..<Int(min(filled, count))).map { index in
            buffer.withUnsafeBytes { raw in
                UtilizationSample(
                    pid: raw.loadUnaligned(fromByteOffset: index * recordBytes, as: UInt32.self),
                    timestamp: raw.loadUnaligned(fromByteOffset: index * recordBytes + 8, as: UInt64.self),
                    smPercent: raw.loadUnaligned(fromByteOffset: index * recordBytes + 16, as: UInt32.self))
            }
        }
        return .samples(samples)
    }
}
