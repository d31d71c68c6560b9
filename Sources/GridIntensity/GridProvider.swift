/// The built-in electricity-data providers of `--grid.provider`, each giving the average (consumption) intensity
/// of a zone's grid now.
public enum GridProvider: String, CaseIterable, Sendable {
    /// Electricity Maps' API v3, `GET /v3/carbon-intensity/latest?zone=<zone>` with the header
    /// `auth-token: <token>`. A token is required; the zone is one of Electricity Maps' zone keys (`FR`, `DE`,
    /// `US-CAL-CISO`, `DK-DK1`).
    case electricityMaps = "electricitymaps"
    /// The Carbon Intensity API of Great Britain's electricity system operator, no token. Zone `GB` (the default)
    /// asks `GET /intensity` for the national value; a region id `1` to `17` asks `GET /regional/regionid/<id>` for
    /// that region (1–14 the distribution network regions from North Scotland to South England, 15 England,
    /// 16 Scotland, 17 Wales).
    case ukCarbonIntensity = "uk-carbon-intensity"

    /// Where requests go without `--grid.provider.url`.
    public var defaultBaseURL: String {
        switch self {
        case .electricityMaps: "https://api.electricitymap.org"
        case .ukCarbonIntensity: "https://api.carbonintensity.org.uk"
        }
    }

    /// Whether the provider needs a token (`--grid.provider.token-file`). Providers that need none are sent none,
    /// and a token file given for them is a configuration mistake (`ProviderClient.configurationProblem`).
    public var requiresToken: Bool {
        switch self {
        case .electricityMaps: true
        case .ukCarbonIntensity: false
        }
    }

    /// The zone used when `--grid.zone` is not given; nil when the zone must be given.
    public var defaultZone: String? {
        switch self {
        case .electricityMaps: nil
        case .ukCarbonIntensity: "GB"
        }
    }

    /// The `source` label of the intensity in force when this provider delivered it.
    public var sourceKind: IntensitySourceKind {
        switch self {
        case .electricityMaps: .electricityMaps
        case .ukCarbonIntensity: .ukCarbonIntensity
        }
    }

    /// Why `zone` is not a zone of this provider, in one line naming `--grid.zone`; nil when it is one.
    ///
    /// Electricity Maps: 1 to 64 ASCII letters, digits, `-` and `_`, starting with a letter (whether the zone
    /// exists only the provider knows: an unknown one answers 4xx). UK: `GB`, or a region id from 1 to 17.
    public func validateZone(_ zone: String) -> String? {
        switch self {
        case .electricityMaps:
            let bytes = Array(zone.utf8)
            guard !bytes.isEmpty else {
                return
                    "--grid.zone is required with --grid.provider=electricitymaps (an Electricity Maps zone such as FR or US-CAL-CISO)"
            }
            let allowed = bytes.allSatisfy { byte in
                (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                    || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-")
                    || byte == UInt8(ascii: "_")
            }
            let startsWithLetter =
                (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(bytes[0])
                || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(bytes[0])
            guard allowed, startsWithLetter, bytes.count <= 64 else {
                return
                    "--grid.zone must be an Electricity Maps zone key such as FR or US-CAL-CISO (letters, digits, - and _), not \(Self.quoted(zone))"
            }
            return nil
        case .ukCarbonIntensity:
            if zone == "GB" || Self.ukRegionID(zone) != nil { return nil }
            return
                "--grid.zone must be GB (national) or a region id from 1 to 17 with --grid.provider=uk-carbon-intensity, not \(Self.quoted(zone))"
        }
    }

    /// The request path and query for `zone` (already valid), appended to the base URL.
    public func path(zone: String) -> String {
        switch self {
        case .electricityMaps:
            return "/v3/carbon-intensity/latest?zone=\(zone)"
        case .ukCarbonIntensity:
            if let region = Self.ukRegionID(zone) { return "/regional/regionid/\(region)" }
            return "/intensity"
        }
    }

    /// The region id of a UK zone: `1`...`17` without leading zeros or signs; nil for `GB` and anything else.
    static func ukRegionID(_ zone: String) -> Int? {
        guard zone.utf8.count <= 2, zone.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            !zone.hasPrefix("0"), let id = Int(zone), (1...17).contains(id)
        else { return nil }
        return id
    }

    /// `zone` for a message: quoted, control characters escaped, at most 80 characters.
    private static func quoted(_ zone: String) -> String {
        let clipped = zone.count > 80 ? String(zone.prefix(80)) + "…" : zone
        return "\"" + clipped.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "?" : String($0) }.joined()
            + "\""
    }
}
