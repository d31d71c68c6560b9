/// Splits one sample's energy of one component between workloads, in whole microjoules, exactly: the parts and the
/// remainder always add up to the energy split, so the attribution invariant holds by construction and only the final
/// conversion to joules rounds.
public enum AttributionSplit {
    /// Gives each key `microjoules × weight / denominator` (rounded down), and returns what no key took.
    ///
    /// - Parameters:
    ///   - weights: each key's measure over the sample: CPU time, memory, a GPU utilisation share.
    ///   - denominator: the measure of the whole the weights are shares of (the node's busy CPU time, its memory in
    ///     use). Raised to the sum of the weights when smaller, which normalises shares that add up to more than
    ///     the whole (tick granularity, steal time, page cache counted in a cgroup's memory); zero gives everything
    ///     to the remainder.
    public static func split<Key>(_ microjoules: UInt64, weights: [(key: Key, weight: UInt64)], denominator: UInt64)
        -> (parts: [(key: Key, microjoules: UInt64)], remainder: UInt64)
    {
        var total: UInt64 = 0
        for entry in weights {
            total = total.addingReportingOverflow(entry.weight).overflow ? .max : total + entry.weight
        }
        let whole = max(denominator, total)
        guard whole > 0, microjoules > 0 else { return (weights.map { ($0.key, 0) }, microjoules) }
        var parts: [(key: Key, microjoules: UInt64)] = []
        parts.reserveCapacity(weights.count)
        var given: UInt64 = 0
        for entry in weights {
            // microjoules × weight can exceed 64 bits: multiply to 128 and divide back (weight ≤ whole, so it fits).
            let product = microjoules.multipliedFullWidth(by: entry.weight)
            let part = whole.dividingFullWidth(product).quotient
            parts.append((entry.key, part))
            given += part
        }
        return (parts, microjoules - given)
    }
}
