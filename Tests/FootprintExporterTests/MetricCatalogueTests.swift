import XCTest

@testable import FootprintExporter

final class MetricCatalogueTests: XCTestCase {
    func testNamesAreUnique() {
        let names = MetricCatalogue.all.map(\.name)
        XCTAssertEqual(Set(names).count, names.count, "\(names)")
    }

    func testNamesArePrefixed() {
        for family in MetricCatalogue.all {
            XCTAssertTrue(family.name.hasPrefix("footprint_"), family.name)
        }
    }

    func testCountersEndInTotalAndGaugesDoNot() {
        for family in MetricCatalogue.all {
            switch family.type {
            case .counter: XCTAssertTrue(family.name.hasSuffix("_total"), family.name)
            case .gauge: XCTAssertFalse(family.name.hasSuffix("_total"), family.name)
            }
        }
    }

    func testNamesAndLabelsAreValidPrometheusIdentifiers() {
        func valid(_ text: String) -> Bool {
            guard let first = text.unicodeScalars.first, first == "_" || ("a"..."z").contains(first) else {
                return false
            }
            return text.unicodeScalars.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("0"..."9").contains($0) }
        }
        for family in MetricCatalogue.all {
            XCTAssertTrue(valid(family.name), family.name)
            XCTAssertFalse(family.help.isEmpty, family.name)
            XCTAssertEqual(Set(family.labelNames).count, family.labelNames.count, family.name)
            for label in family.labelNames {
                XCTAssertTrue(valid(label), "\(family.name): \(label)")
                XCTAssertFalse(label.hasPrefix("__"), "\(family.name): \(label) is reserved")
            }
        }
    }

    func testContractFamiliesOfDesignSection3() {
        let byName = Dictionary(uniqueKeysWithValues: MetricCatalogue.all.map { ($0.name, $0) })
        let contract: [(String, MetricType, [String])] = [
            ("footprint_domain_energy_joules_total", .counter, ["source", "domain", "device"]),
            ("footprint_domain_power_watts", .gauge, ["source", "domain", "device"]),
            ("footprint_energy_joules_total", .counter, ["component"]),
            ("footprint_facility_energy_joules_total", .counter, ["component"]),
            ("footprint_co2e_grams_total", .counter, ["component"]),
            ("footprint_power_watts", .gauge, ["component"]),
            ("footprint_pue", .gauge, []),
            ("footprint_grid_intensity_grams_per_kwh", .gauge, []),
            ("footprint_source_up", .gauge, ["source"]),
            ("footprint_sample_errors_total", .counter, ["source"]),
            ("footprint_last_sample_timestamp_seconds", .gauge, []),
            ("footprint_gpu_info", .gauge, ["device", "uuid", "name"]),
            ("footprint_build_info", .gauge, ["version", "revision"]),
        ]
        for (name, type, labels) in contract {
            guard let family = byName[name] else {
                XCTFail("\(name) is missing from the catalogue")
                continue
            }
            XCTAssertEqual(family.type, type, name)
            XCTAssertEqual(family.labelNames, labels, name)
        }
    }
}
