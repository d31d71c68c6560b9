/// One raw sample of a counter as Prometheus stored it.
public struct CounterSample: Sendable, Hashable {
    /// Seconds since the Unix epoch.
    public let time: Double
    public let value: Double

    public init(time: Double, value: Double) {
        self.time = time
        self.value = value
    }
}

/// How much a counter grew over a run of raw samples, exactly: the sum of its steps, where a step down is a restart
/// from zero (its new value is what was added since). Unlike PromQL's `increase()`, nothing is extrapolated to the
/// ends of the range: the first sample is the baseline.
public struct CounterIncrease: Sendable, Hashable {
    public var amount: Double
    /// Time covered by intervals in which the counter grew: with an energy counter, the time with non-zero power.
    public var activeSeconds: Double
    /// Restarts seen (a value below the one before).
    public var resets: Int
    public var firstSampleTime: Double?
    public var lastSampleTime: Double?
    /// The intervals in which the counter grew, in time order, touching ones merged: to unite the active time of
    /// several series (a namespace's pods run side by side; their hours are not added).
    public var activeIntervals: [ActiveInterval] = []

    public init(
        amount: Double = 0, activeSeconds: Double = 0, resets: Int = 0, firstSampleTime: Double? = nil,
        lastSampleTime: Double? = nil
    ) {
        self.amount = amount
        self.activeSeconds = activeSeconds
        self.resets = resets
        self.firstSampleTime = firstSampleTime
        self.lastSampleTime = lastSampleTime
    }

    /// The last sample taken in: the baseline of the next step.
    public private(set) var last: CounterSample?

    /// The increase over `samples`, which must be in time order (Prometheus returns them so).
    public static func over(_ samples: [CounterSample]) -> CounterIncrease {
        var result = CounterIncrease()
        for sample in samples { result.add(sample) }
        return result
    }

    /// Takes in the next sample; a series fetched in chunks is fed chunk after chunk. Samples that are not finite,
    /// are negative (a counter cannot hold them) or do not move forward in time are skipped.
    public mutating func add(_ sample: CounterSample) {
        guard sample.value.isFinite, sample.value >= 0, sample.time.isFinite else { return }
        guard let before = last else {
            firstSampleTime = sample.time
            lastSampleTime = sample.time
            last = sample
            return
        }
        guard sample.time > before.time else { return }
        last = sample
        lastSampleTime = sample.time
        let step: Double
        if sample.value >= before.value {
            step = sample.value - before.value
        } else {
            resets += 1
            step = sample.value
        }
        amount += step
        guard step > 0 else { return }
        activeSeconds += sample.time - before.time
        if let lastInterval = activeIntervals.last, lastInterval.end == before.time {
            activeIntervals[activeIntervals.count - 1].end = sample.time
        } else {
            activeIntervals.append(ActiveInterval(start: before.time, end: sample.time))
        }
    }
}

/// A stretch of time, in seconds since the Unix epoch.
public struct ActiveInterval: Sendable, Hashable {
    public var start: Double
    public var end: Double

    public init(start: Double, end: Double) {
        self.start = start
        self.end = end
    }

    /// The length of the union of `intervals`, overlaps counted once.
    public static func unionSeconds(_ intervals: [ActiveInterval]) -> Double {
        var total = 0.0
        var current: ActiveInterval?
        for interval in intervals.sorted(by: { $0.start < $1.start }) {
            if let open = current, interval.start <= open.end {
                current?.end = max(open.end, interval.end)
            } else {
                if let open = current { total += open.end - open.start }
                current = interval
            }
        }
        if let open = current { total += open.end - open.start }
        return total
    }
}
