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
        // Bytes appended straight to one buffer: at 1,000 workloads (6,000 series) building a String and escaping
        // through intermediate Strings was a third of the render (bench/analysis.md).
        var out: [UInt8] = []
        out.reserveCapacity(families.reduce(0) { $0 + 128 + $1.samples.count * 96 })
        for (family, samples) in families.sorted(by: { $0.family.name < $1.family.name }) where !samples.isEmpty {
            out.append(contentsOf: "# HELP ".utf8)
            out.append(contentsOf: family.name.utf8)
            out.append(UInt8(ascii: " "))
            appendEscaped(family.help, quotes: false, to: &out)
            out.append(contentsOf: "\n# TYPE ".utf8)
            out.append(contentsOf: family.name.utf8)
            out.append(UInt8(ascii: " "))
            out.append(contentsOf: family.type.rawValue.utf8)
            out.append(UInt8(ascii: "\n"))
            // `name{label="` and `,label="` once per family, not once per series.
            let name = Array(family.name.utf8)
            let labelOpenings = family.labelNames.enumerated().map { index, label in
                Array(((index == 0 ? "{" : ",") + label + "=\"").utf8)
            }
            for sample in samples.sorted(by: { less($0.labelValues, $1.labelValues) }) {
                out.append(contentsOf: name)
                if !labelOpenings.isEmpty {
                    for (index, opening) in labelOpenings.enumerated() {
                        out.append(contentsOf: opening)
                        if index < sample.labelValues.count {
                            appendEscaped(sample.labelValues[index], quotes: true, to: &out)
                        }
                        out.append(UInt8(ascii: "\""))
                    }
                    out.append(UInt8(ascii: "}"))
                }
                out.append(UInt8(ascii: " "))
                out.append(contentsOf: format(sample.value).utf8)
                out.append(UInt8(ascii: "\n"))
            }
        }
        return out
    }

    /// Formats a value as Go's ParseFloat reads it: integers without a fraction, others in the shortest exact form.
    public static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 9_007_199_254_740_992 { return String(Int64(value)) }
        return value.description
    }

    static func escapeHelp(_ text: String) -> String {
        var out: [UInt8] = []
        appendEscaped(text, quotes: false, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func escapeLabelValue(_ text: String) -> String {
        var out: [UInt8] = []
        appendEscaped(text, quotes: true, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `text` escaped as the format asks: backslash and line feed always, the double quote in label values.
    /// Text with nothing to escape (almost all of it) is copied in one piece.
    static func appendEscaped(_ text: String, quotes: Bool, to out: inout [UInt8]) {
        let utf8 = text.utf8
        let needsEscaping = utf8.contains { byte in
            byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "\n") || (quotes && byte == UInt8(ascii: "\""))
        }
        guard needsEscaping else {
            out.append(contentsOf: utf8)
            return
        }
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\"") where quotes: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            default: out.append(byte)
            }
        }
    }

    /// Orders label values; runs of digits compare as numbers so that device "10" follows "9".
    static func less(_ lhs: [String], _ rhs: [String]) -> Bool {
        for (left, right) in zip(lhs, rhs) where left != right {
            if startsWithDigit(left), startsWithDigit(right), let leftNumber = Int(left), let rightNumber = Int(right) {
                return leftNumber < rightNumber
            }
            return left < right
        }
        return lhs.count < rhs.count
    }

    /// A cheap test that saves parsing a number out of every name compared while sorting.
    private static func startsWithDigit(_ text: String) -> Bool {
        guard let first = text.utf8.first else { return false }
        return first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")
    }
}
