#if canImport(Glibc)
    import Glibc
#endif
import FootprintExporter
import Foundation

/// Any bytes as a state file: decoded and validated completely, or rejected.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzStateFile(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? StateFile.decode(Data(bytes: data, count: size))
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
exit(LLVMFuzzerRunDriver(&arguments, &vector) { data, size in fuzzStateFile(data, size) })
