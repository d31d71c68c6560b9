import XCTest

@testable import FootprintReport

final class ReportTableTests: XCTestCase {
    /// The paper's Table 3 arithmetic at the exporter's defaults: 1515.43 W for 84 h, PUE 1.58, 432.7 g/kWh.
    private func tableThreeInput(name: String = "transformer-big") -> ReportInput {
        let seconds = 84.0 * 3600
        let joules = 1515.43 * seconds
        let facility = joules * 1.58
        return ReportInput(
            name: name, joulesByComponent: ["cpu": joules * 0.2, "dram": joules * 0.05, "gpu": joules * 0.75],
            facilityJoules: facility, co2eGrams: facility / 3.6e6 * 432.7, activeSeconds: seconds)
    }

    func testThePapersTableThreeRowIsReproducedFromCounters() {
        let row = ReportRow(tableThreeInput())
        XCTAssertEqual(row.hours, 84, accuracy: 1e-9)
        XCTAssertEqual(row.averageWatts.values.reduce(0, +), 1515.43, accuracy: 1e-6)
        XCTAssertEqual(row.averageWatts["gpu"] ?? 0, 1515.43 * 0.75, accuracy: 1e-6)
        XCTAssertEqual(row.itKilowattHours, 127.296, accuracy: 0.001)
        XCTAssertEqual(row.facilityKilowattHours, 201.128, accuracy: 0.001)
        XCTAssertEqual(row.co2ePounds, 191.86, accuracy: 0.01)
        XCTAssertEqual(row.nySFFlights, 0.0967, accuracy: 0.0001)
        XCTAssertEqual(row.humanLifeYears, 191.86 / 11_023, accuracy: 1e-5)
        XCTAssertEqual(row.carLifetimes, 191.86 / 126_000, accuracy: 1e-7)
        XCTAssertNil(row.energyCost)
    }

    func testCostsFollowFacilityEnergyAndNodeHours() {
        let prices = ReportPrices(currency: "USD", perKilowattHour: 0.12, perNodeHour: 2.5)
        let workload = ReportRow(tableThreeInput(), prices: prices)
        XCTAssertEqual(workload.energyCost ?? 0, 201.128 * 0.12, accuracy: 0.001)
        XCTAssertNil(workload.nodeHourCost, "node-hours only price nodes")
        let node = ReportRow(tableThreeInput(), prices: prices, isNode: true)
        XCTAssertEqual(node.nodeHourCost ?? 0, 84 * 2.5, accuracy: 1e-9)
    }

    func testTheTotalAddsEnergyAndAveragesPowerOverAllHours() {
        let busy = ReportRow(
            ReportInput(
                name: "a", joulesByComponent: ["cpu": 3600 * 100], facilityJoules: 3600 * 150, co2eGrams: 10,
                activeSeconds: 3600))
        let quiet = ReportRow(
            ReportInput(
                name: "b", joulesByComponent: ["cpu": 3 * 3600 * 20, "gpu": 3 * 3600 * 40], facilityJoules: 0,
                co2eGrams: 5, activeSeconds: 3 * 3600, startedInsideRange: true))
        let total = ReportRow.total(of: [busy, quiet])
        XCTAssertEqual(total.hours, 4, accuracy: 1e-12)
        XCTAssertEqual(total.averageWatts["cpu"] ?? 0, (100.0 + 60) / 4, accuracy: 1e-9)
        XCTAssertEqual(total.averageWatts["gpu"] ?? 0, 120.0 / 4, accuracy: 1e-9)
        XCTAssertEqual(total.co2eKilograms, 0.015, accuracy: 1e-12)
        XCTAssertTrue(total.startedInsideRange)
    }

    func testMarkdownIsThePapersTableWithATotalAndNotes() {
        let late = ReportInput(
            name: "nlp|dev", joulesByComponent: ["cpu": 7200], facilityJoules: 7200 * 1.58,
            co2eGrams: 7200 * 1.58 / 3.6e6 * 432.7, activeSeconds: 7200, startedInsideRange: true)
        let table = ReportTable(
            groupedBy: "namespace", rows: [ReportRow(late), ReportRow(tableThreeInput(name: "nlp"))], from: 0, to: 1)
        XCTAssertEqual(
            table.render(.markdown),
            """
            | namespace | hours | cpu W | dram W | gpu W | IT kWh | facility kWh·PUE | CO2e kg | CO2e lbs | NY↔SF flights | human-life years | car lifetimes |
            |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
            | nlp | 84.00 | 303.09 | 75.77 | 1136.57 | 127.296 | 201.128 | 87.028 | 191.86 | 0.0967 | 0.01741 | 0.001523 |
            | nlp\\|dev\\* | 2.00 | 1.00 | 0.00 | 0.00 | 0.002 | 0.003 | 0.001 | 0.00 | 0.0000 | 0.00000 | 0.000000 |
            | **total** | 86.00 | 296.06 | 74.01 | 1110.14 | 127.298 | 201.131 | 87.029 | 191.87 | 0.0967 | 0.01741 | 0.001523 |

            \\* its series began inside the range: counted from its first sample.

            """)
    }

    func testCSVQuotesWhatNeedsItAndJSONCarriesEveryColumn() throws {
        let row = ReportRow(
            ReportInput(
                name: "a,\"b\"", joulesByComponent: ["cpu": 3600], facilityJoules: 3600, co2eGrams: 1,
                activeSeconds: 3600),
            prices: ReportPrices(currency: "EUR", perKilowattHour: 1))
        let table = ReportTable(groupedBy: "pod", rows: [row], from: 10, to: 20, currency: "EUR")
        let csv = table.render(.csv)
        XCTAssertTrue(
            csv.hasPrefix(
                "pod,hours,cpu W,dram W,gpu W,IT kWh,facility kWh·PUE,CO2e kg,CO2e lbs,NY↔SF flights,human-life years,car lifetimes,energy cost (EUR),started_inside_range\r\n\"a,\"\"b\"\"\",1.00,1.00,"
            ), csv)
        XCTAssertEqual(csv.components(separatedBy: "\r\n").count, 4, "header, row, total, and the final line break")
        let json = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(table.render(.json).utf8)) as? [String: Any])
        XCTAssertEqual(json["grouped_by"] as? String, "pod")
        XCTAssertEqual(json["currency"] as? String, "EUR")
        let rows = try XCTUnwrap(json["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.first?["name"] as? String, "a,\"b\"")
        XCTAssertEqual(rows.first?["energy_cost"] as? Double ?? 0, 0.001, accuracy: 1e-12)
        XCTAssertNotNil((json["total"] as? [String: Any])?["co2e_pounds"])
    }

    func testTheEmbodiedColumnsFollowTheEquivalentsInEveryFormat() throws {
        var withEmbodied = tableThreeInput(name: "nlp")
        withEmbodied.embodiedGrams = 12_345
        let without = ReportInput(
            name: "cv", joulesByComponent: ["cpu": 7200], facilityJoules: 7200 * 1.58, co2eGrams: 500,
            activeSeconds: 7200)
        let prices = ReportPrices(currency: "EUR", perKilowattHour: 0.1)
        let table = ReportTable(
            groupedBy: "namespace",
            rows: [ReportRow(without, prices: prices), ReportRow(withEmbodied, prices: prices)],
            from: 0, to: 1, currency: "EUR")
        XCTAssertEqual(
            table.render(.markdown),
            """
            | namespace | hours | cpu W | dram W | gpu W | IT kWh | facility kWh·PUE | CO2e kg | CO2e lbs | NY↔SF flights | human-life years | car lifetimes | embodied CO2e kg | total CO2e kg | energy cost (EUR) |
            |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
            | nlp | 84.00 | 303.09 | 75.77 | 1136.57 | 127.296 | 201.128 | 87.028 | 191.86 | 0.0967 | 0.01741 | 0.001523 | 12.345 | 99.373 | 20.11 |
            | cv | 2.00 | 1.00 | 0.00 | 0.00 | 0.002 | 0.003 | 0.500 | 1.10 | 0.0006 | 0.00010 | 0.000009 | – | 0.500 | 0.00 |
            | **total** | 86.00 | 296.06 | 74.01 | 1110.14 | 127.298 | 201.131 | 87.528 | 192.97 | 0.0973 | 0.01751 | 0.001531 | 12.345 | 99.873 | 20.11 |

            """)
        let csv = table.render(.csv).components(separatedBy: "\r\n")
        XCTAssertEqual(
            csv[0],
            "namespace,hours,cpu W,dram W,gpu W,IT kWh,facility kWh·PUE,CO2e kg,CO2e lbs,NY↔SF flights,human-life years,car lifetimes,embodied CO2e kg,total CO2e kg,energy cost (EUR),started_inside_range"
        )
        XCTAssertTrue(csv[2].hasPrefix("cv,") && csv[2].hasSuffix(",0.000009,–,0.500,0.00,false"), csv[2])
        let json = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(table.render(.json).utf8)) as? [String: Any])
        let rows = try XCTUnwrap(json["rows"] as? [[String: Any]])
        XCTAssertEqual(rows[0]["embodied_co2e_kilograms"] as? Double ?? 0, 12.345, accuracy: 1e-12)
        XCTAssertEqual(rows[0]["total_co2e_kilograms"] as? Double ?? 0, 87.028 + 12.345, accuracy: 0.001)
        XCTAssertNil(rows[1]["embodied_co2e_kilograms"], "no embodied counter: left out, not zero")
        XCTAssertEqual(rows[1]["total_co2e_kilograms"] as? Double ?? 0, 0.5, accuracy: 1e-12)
        let total = try XCTUnwrap(json["total"] as? [String: Any])
        XCTAssertEqual(total["embodied_co2e_kilograms"] as? Double ?? 0, 12.345, accuracy: 1e-12)
        XCTAssertEqual(
            total["total_co2e_kilograms"] as? Double ?? 0, (rows[0]["co2e_kilograms"] as? Double ?? 0) + 0.5 + 12.345,
            accuracy: 1e-9)
    }

    func testWithoutEmbodiedNoRowCarriesItsFields() throws {
        let table = ReportTable(groupedBy: "node", rows: [ReportRow(tableThreeInput())], from: 0, to: 1)
        XCTAssertFalse(table.hasEmbodied)
        XCTAssertFalse(table.render(.json).contains("embodied"))
        XCTAssertFalse(table.render(.json).contains("total_co2e"))
        XCTAssertFalse(table.render(.csv).contains("embodied"))
    }

    func testNumbersPrintWithFixedDecimals() {
        XCTAssertEqual(ReportTable.number(0.0967, 4), "0.0967")
        XCTAssertEqual(ReportTable.number(84, 2), "84.00")
        XCTAssertEqual(ReportTable.number(-0.0001, 2), "0.00")
        XCTAssertEqual(ReportTable.number(1.005, 1), "1.0")
        XCTAssertEqual(ReportTable.number(.infinity, 2), "–")
        XCTAssertEqual(ReportTable.number(0.00002, 6), "0.000020", "never an exponent")
        XCTAssertEqual(ReportTable.number(-12.345, 2), "-12.35")
        XCTAssertEqual(ReportTable.number(1234.5, 0), "1235")
    }
}
