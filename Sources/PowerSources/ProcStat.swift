/// Aggregate CPU time from the first line of `/proc/stat`, in clock ticks, and the number of CPUs listed.
public struct CPUTimes: Sendable, Hashable {
    /// Ticks spent doing anything but idling (user, nice, system, irq, softirq, steal).
    public let busyTicks: UInt64
    /// Ticks spent idle or waiting for I/O.
    public let idleTicks: UInt64
    /// The number of `cpuN` lines: the vCPUs online.
    public let cpuCount: Int

    public init(busyTicks: UInt64, idleTicks: UInt64, cpuCount: Int) {
        self.busyTicks = busyTicks
        self.idleTicks = idleTicks
        self.cpuCount = cpuCount
    }

    public var totalTicks: UInt64 { busyTicks &+ idleTicks }

    /// Parses the text of `/proc/stat`; nil when the aggregate `cpu` line is missing or malformed.
    public static func parse(_ text: String) -> CPUTimes? {
        var aggregate: (busy: UInt64, idle: UInt64)?
        var cpus = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            guard line.hasPrefix("cpu") else {
                if aggregate != nil { break }  // the cpu lines come first
                continue
            }
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields[0] == "cpu" {
                // user nice system idle iowait irq softirq steal [guest guest_nice]; guest time is already in user.
                guard fields.count >= 5 else { return nil }
                var values: [UInt64] = []
                for field in fields.dropFirst().prefix(8) {
                    guard let value = ValueParser.unsigned(field) else { return nil }
                    values.append(value)
                }
                while values.count < 8 { values.append(0) }
                let idle = values[3] &+ values[4]
                let busy = values[0] &+ values[1] &+ values[2] &+ values[5] &+ values[6] &+ values[7]
                aggregate = (busy, idle)
            } else if fields[0].dropFirst(3).allSatisfy(\.isNumber) {
                cpus += 1
            }
        }
        guard let aggregate else { return nil }
        return CPUTimes(busyTicks: aggregate.busy, idleTicks: aggregate.idle, cpuCount: max(cpus, 1))
    }

    /// The fraction of time busy between `earlier` and `self`; nil when no time passed (or a counter went back).
    public func utilisation(since earlier: CPUTimes) -> Double? {
        guard busyTicks >= earlier.busyTicks, idleTicks >= earlier.idleTicks else { return nil }
        let busy = busyTicks - earlier.busyTicks
        let total = busy + (idleTicks - earlier.idleTicks)
        guard total > 0 else { return nil }
        return min(1, max(0, Double(busy) / Double(total)))
    }
}

/// Parses fields of `/proc/meminfo`, in bytes.
public enum MemInfo {
    /// `MemTotal`.
    public static func totalBytes(_ text: String) -> UInt64? {
        bytes(of: "MemTotal", in: text)
    }

    /// The field `name` (`MemTotal`, `MemAvailable`), in bytes; nil when missing or malformed.
    public static func bytes(of name: String, in text: String) -> UInt64? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, let kibibytes = ValueParser.unsigned(fields[1]) else { return nil }
            if fields.count >= 3, fields[2] != "kB" { return nil }
            let (bytes, overflow) = kibibytes.multipliedReportingOverflow(by: 1024)
            return overflow ? nil : bytes
        }
        return nil
    }
}
