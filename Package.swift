// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "footprint_exporter",
    // Linux only (glibc): the sources read sysfs, procfs and cgroupfs and call Glibc directly.
    products: [
        .executable(name: "footprint_exporter", targets: ["footprint_exporter"]),
        // Libraries for the fuzz targets in Fuzz/, which build against this package.
        .library(name: "FootprintExporter", targets: ["FootprintExporter"]),
        .library(name: "PowerSources", targets: ["PowerSources"]),
        .library(name: "MetricsServer", targets: ["MetricsServer"]),
        .library(name: "GridIntensity", targets: ["GridIntensity"]),
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
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // libcurl's headers only: the library is loaded with dlopen by HTTPFetch when first used.
        .systemLibrary(name: "CCurl", providers: [.apt(["libcurl4-gnutls-dev"])]),
        // The build's git revision, set at link time by scripts/release-flags.sh (Sources/CBuildInfo says how).
        .target(name: "CBuildInfo"),
        .target(name: "FileReading"),
        .target(name: "YAMLComposer", dependencies: ["CYAML"]),
        .target(name: "PowerSources", dependencies: ["FileReading"]),
        .target(name: "Workloads", dependencies: ["PowerSources"]),
        .target(name: "EnergyAccounting"),
        .target(name: "HTTPFetch", dependencies: ["CCurl"]),
        .target(name: "FootprintReport", dependencies: ["EnergyAccounting", "HTTPFetch"]),
        // Where the grid intensity comes from: region presets, the intensity file, the electricity-data providers.
        .target(name: "GridIntensity", dependencies: ["HTTPFetch"]),
        .target(
            name: "MetricsServer",
            dependencies: [
                "CMicroHTTPD", "FileReading", "YAMLComposer", .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "FootprintExporter",
            dependencies: [
                "FileReading",
                "PowerSources",
                "Workloads",
                "EnergyAccounting",
                "MetricsServer",
                "YAMLComposer",
                "GridIntensity",
                "HTTPFetch",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                "CBuildInfo",
                "CZlib",
            ]
        ),
        .executableTarget(
            name: "footprint_exporter",
            dependencies: [
                "FootprintExporter",
                "FootprintReport",
                "GridIntensity",
                "HTTPFetch",
                "FileReading",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "PowerSourcesTests", dependencies: ["PowerSources"]),
        .testTarget(name: "EnergyAccountingTests", dependencies: ["EnergyAccounting"]),
        .testTarget(name: "WorkloadsTests", dependencies: ["Workloads", "PowerSources"]),
        .testTarget(name: "MetricsServerTests", dependencies: ["MetricsServer", "YAMLComposer"]),
        .testTarget(name: "FileReadingTests", dependencies: ["FileReading"]),
        .testTarget(name: "HTTPFetchTests", dependencies: ["HTTPFetch"]),
        .testTarget(name: "FootprintReportTests", dependencies: ["FootprintReport"]),
        .testTarget(name: "GridIntensityTests", dependencies: ["GridIntensity", "HTTPFetch"]),
        .testTarget(name: "YAMLComposerTests", dependencies: ["YAMLComposer"]),
        .testTarget(name: "FootprintExporterTests", dependencies: ["FootprintExporter"]),
    ]
)
