import Testing

@testable import EnergyAccounting

/// Embodied emissions (docs/embodied.md): straight-line amortisation over calendar time, and its split between
/// workloads by their share of the node's energy.
struct EmbodiedEmissionsTests {
    /// A year of `--embodied.lifetime` is a Prometheus year: 365 days.
    static let year = 365.0 * 86_400

    /// The example: 1300 kg over 4 years.
    static let server = EmbodiedProfile(serverKilograms: 1300, gpuKilograms: 0, lifetimeSeconds: 4 * year)

    @Test func amortisationOverAKnownUptimeIsExact() {
        let profile = Self.server
        #expect(profile.lifetimeSeconds == 126_144_000)
        #expect(profile.grams(elapsedSeconds: 3600, gpus: 0) == 1_300_000.0 / (4 * 365 * 24))
        #expect(profile.grams(elapsedSeconds: 86_400, gpus: 0) == 1_300_000.0 / (4 * 365))
        #expect(profile.grams(elapsedSeconds: Self.year, gpus: 0) == 325_000)
        #expect(profile.grams(elapsedSeconds: 4 * Self.year, gpus: 0) == 1_300_000)
        #expect(profile.gramsPerSecond(gpus: 0) == 1_300_000.0 / 126_144_000)
        #expect(profile.totalGrams(gpus: 0) == 1_300_000)
    }

    @Test func samplesAddUpToTheWholeUptime() {
        let profile = Self.server
        var totals = EmbodiedTotals()
        // 4 years of 15-second samples would be slow; a day of them is 5760 additions.
        for _ in 0..<5760 { totals.record(grams: profile.grams(elapsedSeconds: 15, gpus: 0), unattributed: 0) }
        let day = profile.grams(elapsedSeconds: 86_400, gpus: 0)
        #expect(abs(totals.nodeGrams - day) <= day * 1e-12)
    }

    @Test func eachGPUAddsItsFigure() {
        let profile = EmbodiedProfile(serverKilograms: 1300, gpuKilograms: 150, lifetimeSeconds: 4 * Self.year)
        #expect(profile.totalGrams(gpus: 8) == 2_500_000)
        #expect(profile.grams(elapsedSeconds: 3600, gpus: 8) == 2_500_000.0 / (4 * 365 * 24))
        #expect(profile.grams(elapsedSeconds: 3600, gpus: 0) == Self.server.grams(elapsedSeconds: 3600, gpus: 0))
        #expect(profile.gramsPerSecond(gpus: -1) == profile.gramsPerSecond(gpus: 0), "a negative count is none")
        let gpusOnly = EmbodiedProfile(serverKilograms: 0, gpuKilograms: 150, lifetimeSeconds: 4 * Self.year)
        #expect(!gpusOnly.isOff)
        #expect(gpusOnly.grams(elapsedSeconds: 4 * Self.year, gpus: 2) == 300_000)
        #expect(gpusOnly.grams(elapsedSeconds: 4 * Self.year, gpus: 0) == 0)
    }

    @Test func offChargesNothing() {
        #expect(EmbodiedProfile.off.isOff)
        #expect(EmbodiedProfile.off.grams(elapsedSeconds: 3600, gpus: 8) == 0)
        #expect(EmbodiedProfile.off.gramsPerSecond(gpus: 8) == 0)
        let noLifetime = EmbodiedProfile(serverKilograms: 1300, gpuKilograms: 150, lifetimeSeconds: 0)
        #expect(noLifetime.isOff)
        #expect(noLifetime.gramsPerSecond(gpus: 1) == 0, "no division by a zero lifetime")
        let hostile = EmbodiedProfile(serverKilograms: .nan, gpuKilograms: -5, lifetimeSeconds: .infinity)
        #expect(hostile.isOff)
        #expect(hostile.grams(elapsedSeconds: 3600, gpus: 1) == 0)
        let negativeServer = EmbodiedProfile(serverKilograms: -1300, gpuKilograms: 150, lifetimeSeconds: Self.year)
        #expect(negativeServer.totalGrams(gpus: 1) == 150_000, "a negative figure counts as zero")
    }

    @Test func intervalsThatAreNotPositiveChargeNothing() {
        #expect(Self.server.grams(elapsedSeconds: 0, gpus: 0) == 0)
        #expect(Self.server.grams(elapsedSeconds: -15, gpus: 0) == 0, "a clock stepped back charges nothing")
        #expect(Self.server.grams(elapsedSeconds: .nan, gpus: 0) == 0)
        #expect(Self.server.grams(elapsedSeconds: .infinity, gpus: 0) == 0)
    }

    @Test func sharesOfTheNodesEnergy() {
        let (workloads, unattributed) = EmbodiedSplit.split(
            grams: 10, energy: ["a": 300, "b": 100, "idle": 0], nodeMicrojoules: 1000)
        #expect(workloads == ["a": 3, "b": 1, "idle": 0])
        #expect(unattributed == 6)
    }

    @Test func workloadsAboveTheNodeAreClamped() {
        let (workloads, unattributed) = EmbodiedSplit.split(
            grams: 10, energy: ["a": 750, "b": 750], nodeMicrojoules: 1000)
        #expect(workloads == ["a": 5, "b": 5])
        #expect(unattributed == 0)
        let (huge, rest) = EmbodiedSplit.split(
            grams: 1, energy: ["a": UInt64.max, "b": UInt64.max], nodeMicrojoules: 7)
        #expect(huge == ["a": 0.5, "b": 0.5], "a sum of energies past UInt64.max still normalises")
        #expect(rest == 0)
    }

    @Test func zeroNodeEnergyLeavesEverythingUnattributed() {
        let (workloads, unattributed) = EmbodiedSplit.split(grams: 2.5, energy: ["a": 0], nodeMicrojoules: 0)
        #expect(workloads == ["a": 0])
        #expect(unattributed == 2.5)
        let (none, all) = EmbodiedSplit.split(grams: 2.5, energy: [String: UInt64](), nodeMicrojoules: 0)
        #expect(none.isEmpty)
        #expect(all == 2.5)
    }

    @Test func nothingToSplitHandsOutNothing() {
        for grams in [0, -1, Double.nan, .infinity] {
            let (workloads, unattributed) = EmbodiedSplit.split(
                grams: grams, energy: ["a": 5], nodeMicrojoules: 10)
            #expect(workloads == ["a": 0])
            #expect(unattributed == 0)
        }
    }

    /// The test: attribution of the embodied grams to workloads sums to the node's.
    @Test func attributionSumsToTheNodes() {
        var generator = SystemRandomNumberGenerator()
        let profile = EmbodiedProfile(serverKilograms: 1300, gpuKilograms: 150, lifetimeSeconds: 4 * Self.year)
        var totals = EmbodiedTotals()
        var workloadGrams: [Int: Double] = [:]
        for _ in 0..<2000 {
            let grams = profile.grams(elapsedSeconds: Double.random(in: 0.5...60, using: &generator), gpus: 8)
            var energy: [Int: UInt64] = [:]
            for key in 0..<Int.random(in: 0...40, using: &generator) {
                energy[key] = UInt64.random(in: 0...10_000_000, using: &generator)
            }
            let node = UInt64.random(in: 0...200_000_000, using: &generator)
            let (workloads, unattributed) = EmbodiedSplit.split(grams: grams, energy: energy, nodeMicrojoules: node)
            #expect(Set(workloads.keys) == Set(energy.keys))
            #expect(workloads.values.allSatisfy { $0 >= 0 })
            #expect(unattributed >= 0)
            let sample = workloads.values.reduce(0, +) + unattributed
            #expect(abs(sample - grams) <= grams * 1e-12)
            totals.record(grams: grams, unattributed: unattributed)
            for (key, share) in workloads { workloadGrams[key, default: 0] += share }
        }
        let accounted = workloadGrams.values.reduce(0, +) + totals.unattributedGrams
        #expect(abs(accounted - totals.nodeGrams) <= totals.nodeGrams * 1e-12)
    }

    @Test func totalsOnlyGrow() {
        var totals = EmbodiedTotals()
        totals.record(grams: 3, unattributed: 1)
        totals.record(grams: -1, unattributed: .nan)
        #expect(totals == EmbodiedTotals(nodeGrams: 3, unattributedGrams: 1))
    }
}
