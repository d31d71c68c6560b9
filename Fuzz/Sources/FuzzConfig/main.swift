#if canImport(Glibc)
    import Glibc
#endif
import FootprintExporter

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

// libFuzzer's driver, called from our own main: SwiftPM renames an executable's main, so libFuzzer's cannot be used.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

var arguments = CommandLine.argc
var vector = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&arguments, &vector) { data, size in fuzzConfig(data, size) })
