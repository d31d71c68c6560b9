import XCTest

@testable import GridIntensity

final class RegionPresetTests: XCTestCase {
    func testEveryShippedRowIsComplete() {
        XCTAssertGreaterThan(RegionPresets.all.count, 200)
        for preset in RegionPresets.all {
            XCTAssertFalse(preset.code.isEmpty)
            XCTAssertFalse(preset.name.isEmpty, preset.code)
            XCTAssertTrue(
                IntensityReading.plausibleGramsPerKilowattHour.contains(preset.gramsPerKilowattHour), preset.code)
            XCTAssertTrue((2000...2030).contains(preset.year), "\(preset.code): year \(preset.year)")
            XCTAssertFalse(preset.source.isEmpty, preset.code)
            XCTAssertTrue(["CC BY 4.0", "Apache-2.0"].contains(preset.licence), preset.code)
            XCTAssertFalse(preset.code.contains(where: \.isWhitespace), preset.code)
        }
    }

    func testCodesAreUniqueIgnoringCaseAndSorted() {
        let codes = RegionPresets.all.map(\.code)
        XCTAssertEqual(Set(codes.map { $0.lowercased() }).count, codes.count)
        XCTAssertEqual(codes, codes.sorted())
    }

    func testCountryCodesAreAlphaTwoAndCloudCodesNameTheirProvider() {
        for preset in RegionPresets.all {
            if let colon = preset.code.firstIndex(of: ":") {
                XCTAssertTrue(["aws", "gcp", "azure"].contains(String(preset.code[..<colon])), preset.code)
                XCTAssertEqual(preset.code, preset.code.lowercased())
                XCTAssertEqual(preset.licence, "Apache-2.0", preset.code)
            } else {
                XCTAssertEqual(preset.code.count, 2, preset.code)
                XCTAssertTrue(preset.code.allSatisfy { $0.isASCII && $0.isUppercase }, preset.code)
                XCTAssertEqual(preset.licence, "CC BY 4.0", preset.code)
            }
        }
    }

    func testTheIssuesExamplesAreThere() throws {
        for code in ["FR", "PL", "DE", "GB", "US", "aws:us-east-1", "gcp:europe-west4", "azure:westeurope"] {
            XCTAssertEqual(RegionPresets.preset(named: code)?.code, code)
        }
        let france = try XCTUnwrap(RegionPresets.preset(named: "FR"))
        XCTAssertEqual(france.name, "France")
        XCTAssertEqual(france.source, "Ember via Our World in Data")
    }

    func testFranceIsCleanerThanPoland() throws {
        let france = try XCTUnwrap(RegionPresets.preset(named: "FR"))
        let poland = try XCTUnwrap(RegionPresets.preset(named: "PL"))
        XCTAssertLessThan(france.gramsPerKilowattHour * 5, poland.gramsPerKilowattHour)
        let sweden = try XCTUnwrap(RegionPresets.preset(named: "aws:eu-north-1"))
        let virginia = try XCTUnwrap(RegionPresets.preset(named: "aws:us-east-1"))
        XCTAssertLessThan(sweden.gramsPerKilowattHour, virginia.gramsPerKilowattHour)
    }

    func testLookupIgnoresCaseAndTakesAlphaThree() {
        XCTAssertEqual(RegionPresets.preset(named: "fr")?.code, "FR")
        XCTAssertEqual(RegionPresets.preset(named: "Fr")?.code, "FR")
        XCTAssertEqual(RegionPresets.preset(named: "FRA")?.code, "FR")
        XCTAssertEqual(RegionPresets.preset(named: "gbr")?.code, "GB")
        XCTAssertEqual(RegionPresets.preset(named: "AWS:US-EAST-1")?.code, "aws:us-east-1")
        XCTAssertEqual(RegionPresets.preset(named: "Azure:WestEurope")?.code, "azure:westeurope")
        XCTAssertEqual(RegionPresets.preset(named: " de ")?.code, "DE")
    }

    func testUnknownCodesAreNil() {
        for code in ["", "list", "XX", "ZZZ", "aws:", "aws:us-east-9", "gcp:europe-west4x", "fr:", "F"] {
            XCTAssertNil(RegionPresets.preset(named: code), code)
        }
    }

    func testUnknownRegionMessageSaysHowToFindTheCodes() {
        let message = RegionPresets.unknownRegionMessage("XX")
        XCTAssertTrue(message.hasPrefix("unknown region \"XX\": "), message)
        XCTAssertTrue(message.contains("footprint_exporter --grid.region=list"), message)
        XCTAssertTrue(message.contains("docs/grid-regions.md"), message)
        XCTAssertFalse(message.contains("\n"))
        XCTAssertFalse(message.contains("did you mean"), message)
    }

    func testUnknownRegionMessageSuggestsCodesWithTheSamePrefix() {
        let message = RegionPresets.unknownRegionMessage("aws:us-east-9")
        XCTAssertTrue(message.hasSuffix("; did you mean aws:us-east-1, aws:us-east-2?"), message)
        let azure = RegionPresets.unknownRegionMessage("AZURE:west-europe")
        XCTAssertTrue(azure.contains("did you mean azure:west"), azure)
        XCTAssertLessThanOrEqual(RegionPresets.closeMatches("azure:").count, 5)
        XCTAssertEqual(RegionPresets.closeMatches("FRX"), ["FR"])
        XCTAssertEqual(RegionPresets.closeMatches("Q"), [])
    }

    func testListingHasAHeaderEveryCodeAndAFooter() {
        let lines = RegionPresets.listing().split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.last, "")
        XCTAssertEqual(lines.count, RegionPresets.all.count + 3)
        XCTAssertTrue(lines[0].hasPrefix("CODE"))
        XCTAssertTrue(lines[lines.count - 2].contains("docs/grid-regions.md"))
        for (line, preset) in zip(lines.dropFirst(), RegionPresets.all) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            XCTAssertEqual(String(fields[0]), preset.code)
            XCTAssertEqual(String(fields[1]), RegionPresets.formatGrams(preset.gramsPerKilowattHour))
            XCTAssertEqual(String(fields[2]), String(preset.year))
            XCTAssertTrue(line.contains(preset.name), preset.code)
            XCTAssertTrue(line.hasSuffix("(\(preset.source), \(preset.licence))"), String(line))
        }
    }

    func testGramsAreListedWithAtMostOneDecimal() {
        XCTAssertEqual(RegionPresets.formatGrams(44.179085), "44.2")
        XCTAssertEqual(RegionPresets.formatGrams(415.755), "415.8")
        XCTAssertEqual(RegionPresets.formatGrams(390), "390")
        XCTAssertEqual(RegionPresets.formatGrams(0), "0")
        XCTAssertEqual(RegionPresets.formatGrams(8.8), "8.8")
    }

    func testPUEPresetsAreCloudCarbonFootprintsFigures() {
        XCTAssertEqual(PUEPresets.all.map(\.name), ["aws", "azure", "gcp"])
        XCTAssertEqual(PUEPresets.preset(named: "aws")?.pue, 1.135)
        XCTAssertEqual(PUEPresets.preset(named: "GCP")?.pue, 1.1)
        XCTAssertEqual(PUEPresets.preset(named: "Azure")?.pue, 1.185)
        XCTAssertNil(PUEPresets.preset(named: "oci"))
        for preset in PUEPresets.all {
            XCTAssertTrue((1.0...2.0).contains(preset.pue))
            XCTAssertEqual(preset.licence, "Apache-2.0")
            XCTAssertFalse(preset.source.isEmpty)
        }
    }
}
