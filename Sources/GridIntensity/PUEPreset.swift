/// A power usage effectiveness preset of `--pue.preset`: a cloud provider's fleet-wide average.
public struct PUEPreset: Sendable, Hashable {
    /// The name given to `--pue.preset` ("aws", "gcp", "azure").
    public let name: String
    /// Energy into the data centre per unit of energy into the IT equipment.
    public let pue: Double
    /// Who published the figure.
    public let source: String
    /// The licence of the figure.
    public let licence: String
}

/// The PUE presets: Cloud Carbon Footprint's fleet-wide averages (its `PUE_AVG` per provider and its methodology
/// page); docs/grid-regions.md names the upstream revision.
public enum PUEPresets {
    public static let all: [PUEPreset] = [
        PUEPreset(name: "aws", pue: 1.135, source: "Cloud Carbon Footprint", licence: "Apache-2.0"),
        PUEPreset(name: "azure", pue: 1.185, source: "Cloud Carbon Footprint", licence: "Apache-2.0"),
        PUEPreset(name: "gcp", pue: 1.1, source: "Cloud Carbon Footprint", licence: "Apache-2.0"),
    ]

    /// The preset with this name, ignoring case; nil when there is none.
    public static func preset(named name: String) -> PUEPreset? {
        let key = name.lowercased()
        return all.first { $0.name == key }
    }
}
