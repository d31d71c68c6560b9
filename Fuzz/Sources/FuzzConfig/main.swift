import FootprintExporter
import FuzzSupport

/// Any bytes as a config file: a value or a one-line error, never a crash.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    var configuration = ExporterConfiguration()
    do {
        try ConfigurationLoader.apply(fileText: text, path: "fuzz.yml", to: &configuration)
    } catch {
        precondition(!error.message.contains("\n"), "error messages are one line")
    }
    return 0
}

runLibFuzzer { data, size in fuzzConfig(data, size) }
