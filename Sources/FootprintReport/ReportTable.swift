import FoundationEssentials

/// The report as a table: one row per selected workload group, a total row, and the notes the numbers need.
public struct ReportTable: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case markdown, csv, json
    }

    /// What the first column holds (`namespace`, `slurm_job`, `node`…).
    public var groupedBy: String
    public var rows: [ReportRow]
    public var total: ReportRow
    /// The range, in seconds since the Unix epoch.
    public var from: Double
    public var to: Double
    public var currency: String?

    public static let components = ["cpu", "dram", "gpu"]

    /// - Parameter totalHours: the total row's hours when the rows overlap in time (the union of their active
    ///   time); nil adds the rows' hours.
    public init(
        groupedBy: String, rows: [ReportRow], from: Double, to: Double, currency: String? = nil,
        totalHours: Double? = nil
    ) {
        self.groupedBy = groupedBy
        var rows = rows
        if rows.contains(where: { $0.embodiedCo2eKilograms != nil }) {
            // Every row gets the operational + embodied total; one without embodied series adds none.
            for index in rows.indices {
                rows[index].totalCo2eKilograms = rows[index].co2eKilograms + (rows[index].embodiedCo2eKilograms ?? 0)
            }
        }
        self.rows = rows.sorted { ($0.co2eKilograms, $1.name) > ($1.co2eKilograms, $0.name) }
        self.total = ReportRow.total(of: rows, hours: totalHours)
        self.from = from
        self.to = to
        self.currency = currency
    }

    /// Whether any row has embodied CO2e: only then are the embodied and total columns shown.
    public var hasEmbodied: Bool { rows.contains { $0.embodiedCo2eKilograms != nil } }
    private var hasEnergyCost: Bool { rows.contains { $0.energyCost != nil } }
    private var hasNodeHourCost: Bool { rows.contains { $0.nodeHourCost != nil } }

    private var header: [String] {
        var columns = [groupedBy, "hours"] + Self.components.map { "\($0) W" }
        columns += [
            "IT kWh", "facility kWh·PUE", "CO2e kg", "CO2e lbs", "NY↔SF flights", "human-life years", "car lifetimes",
        ]
        if hasEmbodied { columns += ["embodied CO2e kg", "total CO2e kg"] }
        if hasEnergyCost { columns.append("energy cost (\(currency ?? ""))") }
        if hasNodeHourCost { columns.append("node-hour cost (\(currency ?? ""))") }
        return columns
    }

    private func cells(_ row: ReportRow, name: String) -> [String] {
        var cells = [name, Self.number(row.hours, 2)]
        cells += Self.components.map { Self.number(row.averageWatts[$0] ?? 0, 2) }
        cells += [
            Self.number(row.itKilowattHours, 3), Self.number(row.facilityKilowattHours, 3),
            Self.number(row.co2eKilograms, 3), Self.number(row.co2ePounds, 2), Self.number(row.nySFFlights, 4),
            Self.number(row.humanLifeYears, 5), Self.number(row.carLifetimes, 6),
        ]
        if hasEmbodied {
            // "–" where no embodied counter was read: not measured, which is not zero.
            cells.append(row.embodiedCo2eKilograms.map { Self.number($0, 3) } ?? "–")
            cells.append(Self.number(row.totalCo2eKilograms ?? row.co2eKilograms, 3))
        }
        if hasEnergyCost { cells.append(Self.number(row.energyCost ?? 0, 2)) }
        if hasNodeHourCost { cells.append(Self.number(row.nodeHourCost ?? 0, 2)) }
        return cells
    }

    /// The table in `format`, ending with a newline.
    public func render(_ format: Format) -> String {
        switch format {
        case .markdown: markdown()
        case .csv: csv()
        case .json: json()
        }
    }

    private func markdown() -> String {
        var lines = ["| " + header.joined(separator: " | ") + " |"]
        lines.append("|" + header.enumerated().map { $0.offset == 0 ? "---" : "---:" }.joined(separator: "|") + "|")
        for row in rows {
            let name = Self.markdownEscape(row.name) + (row.startedInsideRange ? "\\*" : "")
            lines.append("| " + cells(row, name: name).joined(separator: " | ") + " |")
        }
        lines.append("| " + cells(total, name: "**total**").joined(separator: " | ") + " |")
        if rows.contains(where: \.startedInsideRange) {
            lines.append("")
            lines.append("\\* its series began inside the range: counted from its first sample.")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func csv() -> String {
        var lines = [header.map(Self.csvField).joined(separator: ",") + ",started_inside_range"]
        for row in rows {
            lines.append(
                cells(row, name: row.name).map(Self.csvField).joined(separator: ",") + ",\(row.startedInsideRange)")
        }
        lines.append(
            cells(total, name: "total").map(Self.csvField).joined(separator: ",") + ",\(total.startedInsideRange)")
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    private struct JSONReport: Encodable {
        let groupedBy: String
        let from: Double
        let to: Double
        let currency: String?
        let rows: [ReportRow]
        let total: ReportRow
    }

    private func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let report = JSONReport(groupedBy: groupedBy, from: from, to: to, currency: currency, rows: rows, total: total)
        let data = (try? encoder.encode(report)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Fixed decimals, the way a paper's table prints them (never an exponent).
    static func number(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return "–" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9e15 else { return String(value.rounded()) }
        let units = Int64(scaled)
        let sign = value < 0 && units > 0 ? "-" : ""
        guard decimals > 0 else { return sign + String(units) }
        var digits = String(units)
        if digits.count <= decimals { digits = String(repeating: "0", count: decimals - digits.count + 1) + digits }
        let point = digits.index(digits.endIndex, offsetBy: -decimals)
        return sign + digits[..<point] + "." + digits[point...]
    }

    static func markdownEscape(_ text: String) -> String {
        text.replacing("\\", with: "\\\\").replacing("|", with: "\\|")
            .replacing("\n", with: " ")
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacing("\"", with: "\"\"") + "\""
    }
}
