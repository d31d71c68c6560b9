import XCTest

@testable import FootprintExporter

final class ExpositionEncoderTests: XCTestCase {
    private func family(
        _ name: String, _ type: MetricType = .gauge, help: String = "Help text.", labels: [String] = []
    ) -> MetricFamily {
        MetricFamily(name: name, type: type, help: help, labelNames: labels)
    }

    private func encode(_ families: [(family: MetricFamily, samples: [MetricSample])]) -> String {
        String(decoding: ExpositionEncoder.encode(families), as: UTF8.self)
    }

    func testContentType() {
        XCTAssertEqual(ExpositionEncoder.contentType, "text/plain; version=0.0.4; charset=utf-8")
    }

    func testHelpAndTypePerFamily() {
        let text = encode([
            (family("a_total", .counter, help: "Counts a.", labels: ["x"]), [MetricSample(["1"], 3)]),
            (family("b", help: "Gauges b."), [MetricSample([], 0.5)]),
        ])
        XCTAssertEqual(
            text,
            """
            # HELP a_total Counts a.
            # TYPE a_total counter
            a_total{x="1"} 3
            # HELP b Gauges b.
            # TYPE b gauge
            b 0.5

            """)
    }

    func testFamiliesAreSortedByName() {
        let text = encode([
            (family("zeta"), [MetricSample([], 1)]),
            (family("alpha"), [MetricSample([], 1)]),
            (family("mid_total", .counter), [MetricSample([], 1)]),
        ])
        let order = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE") }.map { $0.split(separator: " ")[2] }
        XCTAssertEqual(order, ["alpha", "mid_total", "zeta"])
    }

    func testSamplesAreSortedWithNumericDevices() {
        let labels = ["source", "domain", "device"]
        let samples =
            ["10", "2", "1", "0", "9", "11"].map { MetricSample(["nvml", "gpu", $0], 1) }
            + [MetricSample(["estimate", "package", "0"], 1), MetricSample(["rapl", "dram", "1"], 1)]
        let text = encode([(family("p", labels: labels), samples)])
        let devices = text.split(separator: "\n").filter { $0.hasPrefix("p{") }.map { String($0) }
        XCTAssertEqual(
            devices,
            [
                #"p{source="estimate",domain="package",device="0"} 1"#,
                #"p{source="nvml",domain="gpu",device="0"} 1"#,
                #"p{source="nvml",domain="gpu",device="1"} 1"#,
                #"p{source="nvml",domain="gpu",device="2"} 1"#,
                #"p{source="nvml",domain="gpu",device="9"} 1"#,
                #"p{source="nvml",domain="gpu",device="10"} 1"#,
                #"p{source="nvml",domain="gpu",device="11"} 1"#,
                #"p{source="rapl",domain="dram",device="1"} 1"#,
            ])
    }

    func testOutputIsIndependentOfInputOrder() {
        let samples = (0..<12).map { MetricSample(["rapl", $0 % 2 == 0 ? "package" : "dram", String($0)], Double($0)) }
        let labels = ["source", "domain", "device"]
        let forward = encode([(family("f", labels: labels), samples), (family("g"), [MetricSample([], 1)])])
        let backward = encode([(family("g"), [MetricSample([], 1)]), (family("f", labels: labels), samples.reversed())])
        XCTAssertEqual(forward, backward)
    }

    func testLabelValueEscaping() {
        let text = encode([(family("e", labels: ["v"]), [MetricSample(["a\\b\"c\nd"], 1)])])
        XCTAssertTrue(text.contains(#"e{v="a\\b\"c\nd"} 1"#), text)
        XCTAssertEqual(text.split(separator: "\n").count, 3, "an escaped newline does not break the line")
    }

    func testHelpEscaping() {
        let text = encode([(family("h", help: "back\\slash and\nnewline"), [MetricSample([], 1)])])
        XCTAssertTrue(text.hasPrefix(#"# HELP h back\\slash and\nnewline"# + "\n"), text)
    }

    func testValueFormatting() {
        XCTAssertEqual(ExpositionEncoder.format(3), "3")
        XCTAssertEqual(ExpositionEncoder.format(0), "0")
        XCTAssertEqual(ExpositionEncoder.format(-0.0), "0")
        XCTAssertEqual(ExpositionEncoder.format(-7), "-7")
        XCTAssertEqual(ExpositionEncoder.format(1_700_000_000), "1700000000")
        XCTAssertEqual(ExpositionEncoder.format(0.5), "0.5")
        XCTAssertEqual(ExpositionEncoder.format(1e-05), "1e-05")
        XCTAssertEqual(ExpositionEncoder.format(1_700_000_000.25), "1700000000.25")
        XCTAssertEqual(ExpositionEncoder.format(.nan), "NaN")
        XCTAssertEqual(ExpositionEncoder.format(.infinity), "+Inf")
        XCTAssertEqual(ExpositionEncoder.format(-.infinity), "-Inf")
    }

    func testFormattedValuesReadBackExactly() {
        for value in [0.1, 1.0 / 3.0, 87_028.123456789, 1e-05, 1.5e300, 123_456_789.000_001, 9_007_199_254_740_993.0] {
            XCTAssertEqual(Double(ExpositionEncoder.format(value)), value, "\(value)")
        }
    }

    func testEmptyFamiliesAreOmitted() {
        let text = encode([
            (family("empty", labels: ["x"]), []),
            (family("full"), [MetricSample([], 2)]),
        ])
        XCTAssertFalse(text.contains("empty"), text)
        XCTAssertTrue(text.contains("# TYPE full gauge\nfull 2\n"), text)
        XCTAssertEqual(encode([(family("empty"), [])]), "")
    }

    func testEveryLineEndsWithNewline() {
        let text = encode([(family("a", labels: ["x"]), [MetricSample(["1"], 1), MetricSample(["2"], 2)])])
        XCTAssertTrue(text.hasSuffix("\n"))
        XCTAssertFalse(text.contains("\n\n"))
    }
}
