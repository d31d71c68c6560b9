import MetricsServer
import FuzzSupport

/// Any bytes as a web config file (exporter-toolkit format).
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzWebConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    // A directory that holds no files, so referenced cert paths fail to read instead of touching real files.
    _ = try? WebConfigFile.parse(text, path: "/nonexistent-fuzz-dir/web.yml")
    return 0
}

runLibFuzzer { data, size in fuzzWebConfig(data, size) }
