import PowerSources
import XCTest

final class ProcStatTests: XCTestCase {
    func testParseSumsBusyAndIdleAndCountsCPUs() throws {
        // user nice system idle iowait irq softirq steal guest guest_nice
        let text = """
            cpu  100 10 50 1000 40 5 3 2 77 7
            cpu0 50 5 25 500 20 3 1 1 40 3
            cpu1 50 5 25 500 20 2 2 1 37 4
            intr 1234 0 0
            ctxt 5678
            """
        let times = try XCTUnwrap(CPUTimes.parse(text))
        XCTAssertEqual(times.busyTicks, 100 + 10 + 50 + 5 + 3 + 2, "guest and guest_nice are already in user")
        XCTAssertEqual(times.idleTicks, 1000 + 40, "iowait counts as idle")
        XCTAssertEqual(times.cpuCount, 2)
        XCTAssertEqual(times.totalTicks, 170 + 1040)
    }

    func testParseCountsEveryCPULine() throws {
        var text = "cpu  1 0 0 1 0 0 0 0 0 0\n"
        for index in 0..<12 { text += "cpu\(index) 0 0 0 0 0 0 0 0 0 0\n" }
        text += "intr 0\n"
        XCTAssertEqual(CPUTimes.parse(text)?.cpuCount, 12)
    }

    func testParseOldKernelWithFewerFields() throws {
        // Before 2.6.11 there was no steal, before 2.6.0 no iowait/irq/softirq.
        let times = try XCTUnwrap(CPUTimes.parse("cpu 10 20 30 40\ncpu0 10 20 30 40\n"))
        XCTAssertEqual(times.busyTicks, 60)
        XCTAssertEqual(times.idleTicks, 40)
        XCTAssertEqual(times.cpuCount, 1)
    }

    func testParseWithoutPerCPULinesCountsOne() throws {
        XCTAssertEqual(CPUTimes.parse("cpu 1 2 3 4 5 6 7 8\n")?.cpuCount, 1)
    }

    func testParseRejectsMissingAggregateLine() {
        XCTAssertNil(CPUTimes.parse(""))
        XCTAssertNil(CPUTimes.parse("intr 1 2\nctxt 3\n"))
    }

    func testParseRejectsMalformedAggregateLine() {
        XCTAssertNil(CPUTimes.parse("cpu 1 2 3\n"))
        XCTAssertNil(CPUTimes.parse("cpu 1 2 x 4 5\n"))
        XCTAssertNil(CPUTimes.parse("cpu 1 2 -3 4 5\n"))
    }

    func testUtilisation() {
        let earlier = CPUTimes(busyTicks: 1000, idleTicks: 9000, cpuCount: 4)
        let later = CPUTimes(busyTicks: 1300, idleTicks: 9100, cpuCount: 4)
        XCTAssertEqual(later.utilisation(since: earlier), 0.75)
        XCTAssertNil(earlier.utilisation(since: earlier), "no tick elapsed")
        XCTAssertNil(earlier.utilisation(since: later), "counters went back")
    }

    func testMemTotal() {
        XCTAssertEqual(MemInfo.totalBytes("MemTotal:       16384 kB\nMemFree: 1 kB\n"), 16384 * 1024)
        XCTAssertEqual(MemInfo.totalBytes("MemFree: 1 kB\nMemTotal: 2 kB\n"), 2048)
        XCTAssertNil(MemInfo.totalBytes("MemFree: 1 kB\n"))
        XCTAssertNil(MemInfo.totalBytes("MemTotal: abc kB\n"))
        XCTAssertNil(MemInfo.totalBytes("MemTotal: 16 MB\n"))
    }
}
