import EnergyAccounting
import XCTest

final class EmissionsTests: XCTestCase {
    /// The paper's intensity is 0.954 lb/kWh (EPA, US average); the default must be that figure in grams, to 0.1 g.
    func testDefaultIntensityIsThePapersPoundsPerKilowattHour() {
        XCTAssertEqual(0.954 * Emissions.gramsPerPound, Emissions.defaultGramsPerKilowattHour, accuracy: 0.05)
    }

    func testConversions() {
        XCTAssertEqual(Emissions.facilityJoules(itJoules: 1000, pue: 1.58), 1580, accuracy: 1e-9)
        XCTAssertEqual(Emissions.co2eGrams(facilityJoules: 3.6e6, gramsPerKilowattHour: 432.7), 432.7, accuracy: 1e-9)
        XCTAssertEqual(Emissions.co2eGrams(facilityJoules: 0, gramsPerKilowattHour: 432.7), 0)
    }

    /// Strubell et al. 2019, Table 3: 8×P100 at 1515.43 W for 84 h.
    func testPaperTable3Row() {
        let itJoules = 1515.43 * 84 * 3600
        XCTAssertEqual(itJoules / Emissions.joulesPerKilowattHour, 127.3, accuracy: 0.05)
        let facility = Emissions.facilityJoules(itJoules: itJoules, pue: Emissions.defaultPUE)
        XCTAssertEqual(facility / Emissions.joulesPerKilowattHour, 201.1, accuracy: 0.05)
        let grams = Emissions.co2eGrams(
            facilityJoules: facility, gramsPerKilowattHour: Emissions.defaultGramsPerKilowattHour)
        XCTAssertEqual(grams / 1000, 87.0, accuracy: 0.1)
        XCTAssertEqual(grams / Emissions.gramsPerPound, 192, accuracy: 1)
    }

    func testOnePassengerFlightNewYorkSanFrancisco() {
        XCTAssertEqual(1984 * Emissions.gramsPerPound / 1000, 899.9, accuracy: 0.05)
    }
}
