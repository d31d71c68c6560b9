import GridIntensity

/// The grid intensity a sample prices its energy at, and where it came from: what `footprint_grid_intensity_*`
/// report. docs/carbon-data.md describes the rules `IntensityPlan.inForce` follows.
public struct IntensityInForce: Sendable, Hashable {
    public var gramsPerKilowattHour: Double
    public var source: IntensitySourceKind
    /// The zone or region code of the value; empty for the static figure.
    public var zone: String
    /// Seconds since the live source (file or provider) delivered the value it last delivered; nil without one.
    public var ageSeconds: Double?
    /// True when the live source's last value is older than `--grid.provider.max-age` or past its `valid_until`.
    public var stale: Bool

    public init(
        gramsPerKilowattHour: Double, source: IntensitySourceKind, zone: String = "", ageSeconds: Double? = nil,
        stale: Bool = false
    ) {
        self.gramsPerKilowattHour = gramsPerKilowattHour
        self.source = source
        self.zone = zone
        self.ageSeconds = ageSeconds
        self.stale = stale
    }
}

/// The intensity sources a configuration names: a fixed figure (`--grid.intensity`), a region preset, and at most
/// one live source (the intensity file or a provider) with the preset as its fall-back.
public struct IntensityPlan: Sendable, Hashable {
    /// A source whose value changes while the exporter runs.
    public enum LiveSource: Sendable, Hashable {
        case file(path: String)
        case provider(GridProvider, zone: String)

        /// The value's source kind.
        public var kind: IntensitySourceKind {
            switch self {
            case .file: .file
            case .provider(let provider, _): provider.sourceKind
            }
        }

        /// Every `reason` of `footprint_grid_provider_errors_total` this source can count.
        public var errorReasons: [String] {
            switch self {
            case .file: IntensityFileError.allReasons
            case .provider: ProviderFailure.allReasons
            }
        }

        /// The name in `footprint_grid_provider_errors_total{provider}`: the provider's, or `file`.
        public var errorLabel: String {
            switch self {
            case .file: "file"
            case .provider(let provider, _): provider.rawValue
            }
        }
    }

    public var staticGramsPerKilowattHour: Double
    public var region: RegionPreset?
    public var live: LiveSource?
    /// Age beyond which a provider's value is stale (`--grid.provider.max-age`); the file goes stale by its own
    /// `valid_until` only.
    public var maximumAgeSeconds: Double
    /// How long past its `valid_until` the intensity file's value may stand: the writer's next run replaces it
    /// (`intensity fetch` copies the provider's period, which ends on the hour for Electricity Maps, and a CronJob
    /// every 15 minutes plus the kubelet's sync of a ConfigMap take a few minutes more).
    public static let fileValidityGraceSeconds = 1800.0
    /// The provider's refresh interval (`--grid.provider.refresh`): how long past its period a value may stand.
    public var refreshSeconds: Double

    public init(
        staticGramsPerKilowattHour: Double, region: RegionPreset? = nil, live: LiveSource? = nil,
        maximumAgeSeconds: Double = 7200, refreshSeconds: Double = 900
    ) {
        self.refreshSeconds = refreshSeconds
        self.staticGramsPerKilowattHour = staticGramsPerKilowattHour
        self.region = region
        self.live = live
        self.maximumAgeSeconds = maximumAgeSeconds
    }

    /// The intensity in force at `nowUnixSeconds`, given the live source's last good value (nil: none yet).
    ///
    /// - Without a live source: the region preset, else the static figure.
    /// - With one that has delivered: its value while fresh (a provider's: younger than `maximumAgeSeconds`, and not
    ///   past its period by more than a refresh interval; the file's: not past its `valid_until` by more than
    ///   `fileValidityGraceSeconds`). Once stale, the region preset stands in; without a
    ///   preset the last good value stays (a distant default could be wrong by 8×), marked stale.
    /// - With one that has not delivered yet: the preset, else the static figure.
    public func inForce(lastGood: IntensityReading?, nowUnixSeconds: Double) -> IntensityInForce {
        guard let live else { return fixed }
        guard let lastGood else { return fixed }
        let freshness: IntensityFreshness
        switch live {
        case .file:
            freshness = StalenessPolicy.assess(
                lastGood, now: nowUnixSeconds, maxAgeSeconds: .infinity,
                validityGraceSeconds: Self.fileValidityGraceSeconds)
        case .provider:
            // A value whose period ended goes stale only when a refresh should already have replaced it.
            freshness = StalenessPolicy.assess(
                lastGood, now: nowUnixSeconds, maxAgeSeconds: maximumAgeSeconds,
                validityGraceSeconds: refreshSeconds)
        }
        let age = freshness.ageSeconds
        let stale = freshness.isStale
        if stale, let region {
            return IntensityInForce(
                gramsPerKilowattHour: region.gramsPerKilowattHour, source: .region, zone: region.code, ageSeconds: age,
                stale: true)
        }
        return IntensityInForce(
            gramsPerKilowattHour: lastGood.gramsPerKilowattHour, source: live.kind, zone: lastGood.zone,
            ageSeconds: age, stale: stale)
    }

    /// The figure in force without a live value: the preset, else the static figure.
    private var fixed: IntensityInForce {
        if let region {
            return IntensityInForce(
                gramsPerKilowattHour: region.gramsPerKilowattHour, source: .region, zone: region.code)
        }
        return IntensityInForce(gramsPerKilowattHour: staticGramsPerKilowattHour, source: .static)
    }
}
