import FuzzSupport
import PowerSources

/// Any bytes as the sysfs and procfs values the sources parse.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzSysfsValues(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let value = ValueParser.unsigned(text) {
        precondition(String(value) == text.filter(\.isNumber).drop(while: { $0 == "0" }).description || value == 0)
    }
    if let times = CPUTimes.parse(text) {
        precondition(times.cpuCount >= 1)
        _ = times.utilisation(since: times)
    }
    _ = MemInfo.totalBytes(text)
    return 0
}

runLibFuzzer { data, size in fuzzSysfsValues(data, size) }
