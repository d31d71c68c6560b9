import GridIntensity

/// What a sample renders about the grid intensity: the value in force and the live source's failures.
struct GridExposition: Sendable {
    var inForce: IntensityInForce
    var errors: [(source: String, reason: String, count: UInt64)]
}
