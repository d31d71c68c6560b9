// swift-tools-version:6.2
// libFuzzer targets for the exporter's parsers. Built only by `make fuzz` (swift build --sanitize=fuzzer), which
// links libFuzzer's own main; a plain build of this package does not link.
import PackageDescription

let package = Package(
    name: "footprint_fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: "footprint")],  // a link to the repo root, so the identity does not depend on the checkout folder name
    targets: [
        .target(name: "FuzzSupport"),
        .executableTarget(
            name: "FuzzConfig",
            dependencies: ["FuzzSupport", .product(name: "FootprintExporter", package: "footprint")]),
        .executableTarget(
            name: "FuzzWebConfig",
            dependencies: ["FuzzSupport", .product(name: "MetricsServer", package: "footprint")]),
        .executableTarget(
            name: "FuzzStateFile",
            dependencies: ["FuzzSupport", .product(name: "FootprintExporter", package: "footprint")]),
        .executableTarget(
            name: "FuzzGridInputs",
            dependencies: ["FuzzSupport", .product(name: "GridIntensity", package: "footprint")]),
        .executableTarget(
            name: "FuzzSysfsValues",
            dependencies: ["FuzzSupport", .product(name: "PowerSources", package: "footprint")]),
    ]
)
