/// The conversions of docs/design.md §1: IT energy → facility energy (× PUE) → CO2e (× grid intensity).
public enum Emissions {
    /// Joules in one kilowatt-hour.
    public static let joulesPerKilowattHour = 3.6e6
    /// The paper's PUE: the 2018 global data-centre average.
    public static let defaultPUE = 1.58
    /// The paper's intensity: 0.954 lb/kWh (EPA US average) in grams per kWh.
    public static let defaultGramsPerKilowattHour = 432.7
    /// Grams in one pound.
    public static let gramsPerPound = 453.59237

    /// Facility energy drawn for `itJoules` of IT energy.
    public static func facilityJoules(itJoules: Double, pue: Double) -> Double {
        itJoules * pue
    }

    /// Grams of CO2e emitted by `facilityJoules` at `gramsPerKilowattHour`.
    public static func co2eGrams(facilityJoules: Double, gramsPerKilowattHour: Double) -> Double {
        facilityJoules / joulesPerKilowattHour * gramsPerKilowattHour
    }
}
