import Synchronization
import Testing

@testable import GridIntensity

/// A `random()` that returns the values it is given, in turn.
private final class FixedRandom: Sendable {
    let values: Mutex<[Double]>
    init(_ values: [Double]) { self.values = Mutex(values) }
    var function: @Sendable () -> Double { { self.values.withLock { $0.count > 1 ? $0.removeFirst() : $0[0] } } }
}

@Suite struct RefreshScheduleTests {
    @Test func successesWaitTheRefreshInterval() {
        var schedule = RefreshSchedule(refreshSeconds: 900, random: { 0.5 })
        #expect(schedule.succeeded(at: 1000) == 1900)
        #expect(schedule.consecutiveFailures == 0)
    }

    @Test func failuresBackOffByDoublingUpToFourRefreshIntervals() {
        // random 1.0 (clamped): no jitter, the whole delay.
        var schedule = RefreshSchedule(refreshSeconds: 900, random: { 1 })
        var delays: [Double] = []
        for _ in 0..<10 { delays.append(schedule.failed(at: 0, retryAfterSeconds: nil)) }
        #expect(delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600])
        #expect(schedule.consecutiveFailures == 10)
    }

    @Test func aShortRefreshStartsTheBackoffAtTheRefresh() {
        #expect(RefreshSchedule.backoffSeconds(failures: 1, refreshSeconds: 10) == 10)
        #expect(RefreshSchedule.backoffSeconds(failures: 3, refreshSeconds: 10) == 40)
        #expect(RefreshSchedule.backoffSeconds(failures: 4, refreshSeconds: 10) == 40)
        #expect(RefreshSchedule.backoffSeconds(failures: 1_000, refreshSeconds: 10) == 40)
        #expect(RefreshSchedule.backoffSeconds(failures: 0, refreshSeconds: 10) == 10)
    }

    @Test func jitterTakesBetweenHalfAndAllOfTheDelay() {
        for (random, expected) in [(0.0, 15.0), (0.5, 22.5), (0.999_999, 29.999_985)] {
            var schedule = RefreshSchedule(refreshSeconds: 900, random: { random })
            let delay = schedule.failed(at: 100, retryAfterSeconds: nil) - 100
            #expect(abs(delay - expected) < 1e-6, "random \(random)")
        }
        // Out-of-contract random values are clamped, never giving a retry sooner than half the delay.
        var low = RefreshSchedule(refreshSeconds: 900, random: { -3 })
        #expect(low.failed(at: 0, retryAfterSeconds: nil) == 15)
        // With the system's random numbers every delay lies within the bounds.
        var schedule = RefreshSchedule(refreshSeconds: 900)
        for failures in 1...12 {
            let delay = schedule.failed(at: 0, retryAfterSeconds: nil)
            let full = RefreshSchedule.backoffSeconds(failures: failures, refreshSeconds: 900)
            #expect(delay >= full / 2 && delay <= full, "failure \(failures): \(delay)")
        }
    }

    @Test func retryAfterIsAFloor() {
        var schedule = RefreshSchedule(refreshSeconds: 900, random: { 0 })
        #expect(schedule.failed(at: 0, retryAfterSeconds: 120) == 120)  // backoff alone: 15
        #expect(schedule.failed(at: 0, retryAfterSeconds: 1) == 30)  // backoff (60 × 0.5) is later
        #expect(schedule.failed(at: 0, retryAfterSeconds: 1e9) == RefreshSchedule.maximumRetryAfterSeconds)
        #expect(schedule.failed(at: 0, retryAfterSeconds: .nan) == 120)  // fourth failure: 240 × 0.5, NaN ignored
    }

    @Test func aSuccessResetsTheBackoff() {
        let random = FixedRandom([1])
        var schedule = RefreshSchedule(refreshSeconds: 600, random: random.function)
        _ = schedule.failed(at: 0, retryAfterSeconds: nil)
        _ = schedule.failed(at: 30, retryAfterSeconds: nil)
        #expect(schedule.failed(at: 90, retryAfterSeconds: nil) == 90 + 120)
        #expect(schedule.succeeded(at: 210) == 810)
        #expect(schedule.consecutiveFailures == 0)
        #expect(schedule.failed(at: 810, retryAfterSeconds: nil) == 840)
    }
}

@Suite struct StalenessPolicyTests {
    let reading = IntensityReading(
        gramsPerKilowattHour: 200, zone: "GB", obtainedAtUnixSeconds: 10_000, validUntilUnixSeconds: 11_800)

    @Test func aReadingIsStaleAfterTheMaxAge() {
        let noValidity = IntensityReading(gramsPerKilowattHour: 200, zone: "FR", obtainedAtUnixSeconds: 10_000)
        #expect(
            StalenessPolicy.assess(noValidity, now: 17_200, maxAgeSeconds: 7200)
                == IntensityFreshness(ageSeconds: 7200, isStale: false))
        #expect(
            StalenessPolicy.assess(noValidity, now: 17_201, maxAgeSeconds: 7200)
                == IntensityFreshness(ageSeconds: 7201, isStale: true))
        #expect(StalenessPolicy.assess(noValidity, now: 9000, maxAgeSeconds: 7200).ageSeconds == 0)
    }

    @Test func aReadingIsStalePastItsValidityAndTheGrace() {
        #expect(!StalenessPolicy.assess(reading, now: 11_800, maxAgeSeconds: 7200).isStale)
        #expect(StalenessPolicy.assess(reading, now: 11_801, maxAgeSeconds: 7200).isStale)
        #expect(!StalenessPolicy.assess(reading, now: 12_700, maxAgeSeconds: 7200, validityGraceSeconds: 900).isStale)
        #expect(StalenessPolicy.assess(reading, now: 12_701, maxAgeSeconds: 7200, validityGraceSeconds: 900).isStale)
    }
}
