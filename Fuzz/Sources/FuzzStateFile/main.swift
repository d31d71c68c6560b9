import FootprintExporter
import Foundation
import FuzzSupport

/// Any bytes as a state file: decoded and validated completely, or rejected.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzStateFile(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? StateFile.decode(Data(bytes: data, count: size))
    return 0
}

runLibFuzzer { data, size in fuzzStateFile(data, size) }
