import GridIntensity

/// What a sample renders about the grid intensity: the value in force and the live source's failures.
struct GridExposition: Sendable {
    var inForce: IntensityInForce
    var errors: [(source: String, reason: String, count: UInt64)]
}

/// The `reason` label values of `footprint_grid_provider_errors_total`, by live source, so every one is exported
/// from the start.
enum GridErrorReasons {
    /// A provider's failures.
    static let provider = ProviderFailure.allReasons
    /// The intensity file's failures.
    static let file = ["unreadable", "malformed", "out_of_range"]

    static func reasons(for live: IntensityPlan.LiveSource?) -> [String] {
        switch live {
        case nil: []
        case .file: file
        case .provider: provider
        }
    }
}
