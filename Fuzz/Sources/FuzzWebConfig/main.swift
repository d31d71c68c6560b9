#if canImport(Glibc)
    import Glibc
#endif
import FootprintExporter

/// Any bytes as a web config file (exporter-toolkit format).
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzWebConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    // A directory that holds no files, so referenced cert paths fail to read instead of touching real files.
    _ = try? WebConfigFile.parse(text, path: "/nonexistent-fuzz-dir/web.yml")
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
exit(LLVMFuzzerRunDriver(&arguments, &vector) { data, size in fuzzWebConfig(data, size) })
