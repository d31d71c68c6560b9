// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "footprint_exporter",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "footprint_exporter", targets: ["footprint_exporter"]),
        // Libraries for the fuzz targets in Fuzz/, which build against this package.
        .library(name: "FootprintExporter", targets: ["FootprintExporter"]),
        .library(name: "PowerSources", targets: ["PowerSources"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CMicroHTTPD",
            pkgConfig: "libmicrohttpd",
            providers: [.apt(["libmicrohttpd-dev"])]
        ),
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        // The build's git revision, set at link time by scripts/release-flags.sh (Sources/CBuildInfo says how).
        .target(name: "CBuildInfo"),
        .target(name: "PowerSources"),
        .target(name: "EnergyAccounting"),
        .target(name: "MetricsServer", dependencies: ["CMicroHTTPD"]),
        .target(
            name: "FootprintExporter",
            dependencies: [
                "PowerSources",
                "EnergyAccounting",
                "MetricsServer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                "CYAML",
                "CBuildInfo",
            ]
        ),
        .executableTarget(
            name: "footprint_exporter",
            dependencies: [
                "FootprintExporter",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "PowerSourcesTests", dependencies: ["PowerSources"]),
        .testTarget(name: "EnergyAccountingTests", dependencies: ["EnergyAccounting"]),
        .testTarget(name: "MetricsServerTests", dependencies: ["MetricsServer"]),
        .testTarget(name: "FootprintExporterTests", dependencies: ["FootprintExporter"]),
    ]
)
