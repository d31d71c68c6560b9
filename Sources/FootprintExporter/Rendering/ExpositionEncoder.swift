/// One series of a family: label values in the order of the family's label names, and the value.
public struct MetricSample: Sendable, Hashable {
    public let labelValues: [String]
    public let value: Double

    public init(_ labelValues: [String], _ value: Double) {
        self.labelValues = labelValues
        self.value = value
    }
}

/// Writes families in the Prometheus text exposition format 0.0.4.
///
/// Families are sorted by name and series by label values (numbers in numeric order), so the output of the same
/// state is byte-for-byte the same: golden files never flake.
public enum ExpositionEncoder {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func encode(_ families: [(family: MetricFamily, samples: [MetricSample])]) -> [UInt8] {
        var out = ""
        out.reserveCapacity(families.count * 256)
        for (family, samples) in families.sorted(by: { $0.family.name < $1.family.name }) where !samples.isEmpty {
            out += "# HELP \(family.name) \(escapeHelp(family.help))\n"
            out += "# TYPE \(family.name) \(family.type.rawValue)\n"
            for sample in samples.sorted(by: { less($0.labelValues, $1.labelValues) }) {
                out += family.name
                if !family.labelNames.isEmpty {
                    out += "{"
                    for (index, name) in family.labelNames.enumerated() {
                        if index > 0 { out += "," }
                        out += name
                        out += "=\""
                        out += escapeLabelValue(index < sample.labelValues.count ? sample.labelValues[index] : "")
                        out += "\""
                    }
                    out += "}"
                }
                out += " "
                out += format(sample.value)
                out += "\n"
            }
        }
        return Array(out.utf8)
    }

    /// Formats a value as Go's ParseFloat reads it: integers without a fraction, others in the shortest exact form.
    public static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 9_007_199_254_740_992 { return String(Int64(value)) }
        return value.description
    }

    static func escapeHelp(_ text: String) -> String {
        text.replacingAll("\\", with: "\\\\").replacingAll("\n", with: "\\n")
    }

    static func escapeLabelValue(_ text: String) -> String {
        text.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"").replacingAll("\n", with: "\\n")
    }

    /// Orders label values; runs of digits compare as numbers so that device "10" follows "9".
    static func less(_ lhs: [String], _ rhs: [String]) -> Bool {
        for (left, right) in zip(lhs, rhs) where left != right {
            if let leftNumber = Int(left), let rightNumber = Int(right) { return leftNumber < rightNumber }
            return left < right
        }
        return lhs.count < rhs.count
    }
}

extension String {
    fileprivate func replacingAll(_ target: Character, with replacement: String) -> String {
        guard contains(target) else { return self }
        var result = ""
        for character in self {
            if character == target { result += replacement } else { result.append(character) }
        }
        return result
    }
}
