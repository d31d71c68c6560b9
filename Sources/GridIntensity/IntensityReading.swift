/// Where the grid intensity in force comes from (the `source` label of `footprint_grid_intensity_info`).
public enum IntensitySourceKind: String, Sendable, Hashable, CaseIterable {
    /// `--grid.intensity`: one fixed figure.
    case `static`
    /// `--grid.region`: a yearly average from the tables shipped in the repository (GridRegionTable.swift).
    case region
    /// `--grid.intensity.file`: a value that an external job writes.
    case file
    /// `--grid.provider=electricitymaps`.
    case electricityMaps = "electricitymaps"
    /// `--grid.provider=uk-carbon-intensity`.
    case ukCarbonIntensity = "uk-carbon-intensity"
}

/// One grid intensity value as a source delivered it.
public struct IntensityReading: Sendable, Hashable {
    /// Grams of CO2e per kWh drawn.
    public var gramsPerKilowattHour: Double
    /// The zone the value is for: a provider's zone, a region code; empty when the source does not say.
    public var zone: String
    /// Wall-clock time at which the value was obtained (fetched, or read from the file), seconds since the Unix epoch.
    public var obtainedAtUnixSeconds: Double
    /// Wall-clock time after which the source itself says the value no longer holds; nil when it does not say.
    public var validUntilUnixSeconds: Double?

    public init(
        gramsPerKilowattHour: Double, zone: String, obtainedAtUnixSeconds: Double, validUntilUnixSeconds: Double? = nil
    ) {
        self.gramsPerKilowattHour = gramsPerKilowattHour
        self.zone = zone
        self.obtainedAtUnixSeconds = obtainedAtUnixSeconds
        self.validUntilUnixSeconds = validUntilUnixSeconds
    }

    /// Values a file or a provider may deliver. The dirtiest national grids average about 1,000 g/kWh (Our World in
    /// Data, 2023); anything beyond 2,000, or negative, is garbage and is refused, keeping the value in force.
    public static let plausibleGramsPerKilowattHour: ClosedRange<Double> = 0...2000
}
