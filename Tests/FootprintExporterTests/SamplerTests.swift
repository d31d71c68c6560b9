import Logging
import PowerSources
import Synchronization
import XCTest

@testable import FootprintExporter

/// A source that answers each `sample()` with the next scripted sample, repeating the last one.
final class ScriptedSource: PowerSource, Sendable {
    let name: String
    private let script: Mutex<[SourceSample]>
    private let callCount = Mutex(0)

    init(name: String, _ samples: [SourceSample]) {
        self.name = name
        self.script = Mutex(samples)
    }

    var calls: Int { callCount.withLock { $0 } }

    func sample() -> SourceSample {
        callCount.withLock { $0 += 1 }
        return script.withLock { samples in samples.count > 1 ? samples.removeFirst() : samples[0] }
    }
}

/// A clock the test moves by hand: every read of it returns the time it was last set to.
final class ManualClock: SamplerClock {
    private let now = Mutex((boot: 100.0, unix: 1_800_000_000.0))

    func bootSeconds() -> Double { now.withLock { $0.boot } }
    func unixSeconds() -> Double { now.withLock { $0.unix } }

    func advance(seconds: Double) {
        now.withLock {
            $0.boot += seconds
            $0.unix += seconds
        }
    }
}

final class SamplerTests: XCTestCase {
    private let settings = AccountingSettings(pue: 1.58, gridGramsPerKilowattHour: 432.7, budgets: [])

    private func counter(_ domain: Domain, _ device: String, _ microjoules: UInt64) -> DomainReading {
        DomainReading(
            id: DomainID(source: "rapl", domain: domain, device: device),
            measurement: .energyCounter(microjoules: microjoules, wrapMicrojoules: 262_143_328_850))
    }

    private func raplSample(package: UInt64, dram: UInt64) -> SourceSample {
        SourceSample(readings: [
            counter(.package, "0", package), counter(.dram, "0", dram), counter(.core, "0", package / 2),
        ])
    }

    private func estimateSample(cpuWatts: Double = 3, dramWatts: Double = 1) -> SourceSample {
        SourceSample(readings: [
            DomainReading(id: EstimateSource.packageID, measurement: .averagePower(watts: cpuWatts)),
            DomainReading(id: EstimateSource.dramID, measurement: .averagePower(watts: dramWatts)),
        ])
    }

    private func makeSampler(
        hardware: [any PowerSource], estimate: (any PowerSource)?,
        logger: Logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }, clock: ManualClock = ManualClock()
    ) -> (Sampler, SnapshotStore) {
        let store = SnapshotStore()
        let sampler = Sampler(
            hardwareSources: hardware, estimateSource: estimate, interval: .seconds(1), settings: settings,
            store: store, logger: logger, clock: clock)
        return (sampler, store)
    }

    /// The value of the series `series` (name and labels exactly as exposed), or nil when absent.
    private func value(_ store: SnapshotStore, _ series: String) -> Double? {
        let text = String(decoding: store.latest() ?? [], as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    func testFreedMemoryCanBeHandedBack() {
        XCTAssertNotNil(Sampler.mallocTrim, "glibc's malloc_trim resolves")
        XCTAssertNoThrow(Sampler.mallocTrim.map { _ = $0(0) })
    }

    func testASampleIsRenderedAheadOnlyWhenTheOneBeforeWasScraped() throws {
        let estimate = ScriptedSource(name: "estimate", [estimateSample()])
        let (sampler, store) = makeSampler(hardware: [], estimate: estimate)
        sampler.sampleOnce()
        sampler.sampleOnce()
        XCTAssertTrue(store.latestIsBuilt == (false, false), "nobody scraped: nothing rendered")
        _ = store.latest()  // a plain scrape
        sampler.sampleOnce()
        XCTAssertTrue(store.latestIsBuilt == (true, false), "the next sample is rendered ahead, not compressed")
        _ = store.latest(acceptingGzip: true)  // a gzip scrape of it
        sampler.sampleOnce()
        XCTAssertTrue(store.latestIsBuilt == (true, true), "scraped with gzip: rendered and compressed ahead")
        sampler.sampleOnce()
        XCTAssertTrue(store.latestIsBuilt == (false, false), "built ahead but not scraped: the scraper has gone")
    }

    func testMeasuredCountersBecomeComponentEnergyFacilityEnergyAndCO2e() throws {
        let rapl = ScriptedSource(
            name: "rapl", [raplSample(package: 1_000_000, dram: 0), raplSample(package: 101_000_000, dram: 10_000_000)])
        let estimate = ScriptedSource(name: "estimate", [estimateSample()])
        let (sampler, store) = makeSampler(hardware: [rapl], estimate: estimate)
        XCTAssertNil(store.latest())
        sampler.sampleOnce()
        XCTAssertNotNil(store.latest())
        XCTAssertEqual(value(store, #"footprint_energy_joules_total{component="cpu"}"#), 0)
        sampler.sampleOnce()

        XCTAssertEqual(value(store, #"footprint_energy_joules_total{component="cpu"}"#), 100)
        XCTAssertEqual(value(store, #"footprint_energy_joules_total{component="dram"}"#), 10)
        XCTAssertEqual(value(store, #"footprint_energy_joules_total{component="gpu"}"#), 0)
        XCTAssertEqual(
            try XCTUnwrap(value(store, #"footprint_facility_energy_joules_total{component="cpu"}"#)), 158,
            accuracy: 1e-9)
        XCTAssertEqual(
            try XCTUnwrap(value(store, #"footprint_co2e_grams_total{component="cpu"}"#)), 158 * 432.7 / 3.6e6,
            accuracy: 1e-12)
        XCTAssertEqual(
            value(store, #"footprint_domain_energy_joules_total{source="rapl",domain="package",device="0"}"#), 100)
        XCTAssertEqual(
            value(store, #"footprint_domain_energy_joules_total{source="rapl",domain="core",device="0"}"#), 50)
        XCTAssertEqual(value(store, #"footprint_source_up{source="rapl"}"#), 1)
        XCTAssertEqual(value(store, #"footprint_sample_errors_total{source="rapl"}"#), 0)
        XCTAssertEqual(value(store, "footprint_pue"), 1.58)
        XCTAssertEqual(value(store, "footprint_grid_intensity_grams_per_kwh"), 432.7)
        XCTAssertNotNil(value(store, "footprint_last_sample_timestamp_seconds"))
        XCTAssertEqual(
            value(store, #"footprint_build_info{version="\#(BuildInfo.version)",revision="\#(BuildInfo.revision)"}"#), 1
        )
        XCTAssertEqual(estimate.calls, 0, "RAPL covers cpu and dram, so the estimate is never read")
        XCTAssertNil(value(store, #"footprint_source_up{source="estimate"}"#))
    }

    func testSettingsChangeAffectsOnlyLaterEnergy() throws {
        let rapl = ScriptedSource(
            name: "rapl",
            [
                raplSample(package: 0, dram: 0), raplSample(package: 100_000_000, dram: 0),
                raplSample(package: 100_000_000, dram: 0), raplSample(package: 200_000_000, dram: 0),
            ])
        let (sampler, store) = makeSampler(hardware: [rapl], estimate: nil)
        let facility = #"footprint_facility_energy_joules_total{component="cpu"}"#
        sampler.sampleOnce()
        sampler.sampleOnce()
        XCTAssertEqual(try XCTUnwrap(value(store, facility)), 158, accuracy: 1e-9)
        sampler.accountingSettings = AccountingSettings(pue: 2, gridGramsPerKilowattHour: 100, budgets: [])
        sampler.sampleOnce()  // no energy drawn: nothing jumps
        XCTAssertEqual(try XCTUnwrap(value(store, facility)), 158, accuracy: 1e-9)
        XCTAssertEqual(value(store, "footprint_pue"), 2)
        sampler.sampleOnce()
        XCTAssertEqual(try XCTUnwrap(value(store, facility)), 158 + 200, accuracy: 1e-9)
        XCTAssertEqual(
            try XCTUnwrap(value(store, #"footprint_co2e_grams_total{component="cpu"}"#)),
            (158 * 432.7 + 200 * 100) / 3.6e6, accuracy: 1e-12)
    }

    func testAbsentRAPLExportsNoHealthSeriesAndTheEstimateStandsIn() throws {
        let rapl = ScriptedSource(name: "rapl", [.absent("no RAPL zones")])
        let estimate = ScriptedSource(name: "estimate", [estimateSample(cpuWatts: 3, dramWatts: 1)])
        let (sampler, store) = makeSampler(hardware: [rapl], estimate: estimate)
        sampler.sampleOnce()
        sampler.sampleOnce()
        XCTAssertEqual(estimate.calls, 2)
        XCTAssertNil(value(store, #"footprint_source_up{source="rapl"}"#), "a VM without RAPL raises no alert")
        XCTAssertEqual(value(store, #"footprint_source_up{source="estimate"}"#), 1)
        XCTAssertEqual(value(store, #"footprint_power_watts{component="cpu"}"#), 3)
        XCTAssertEqual(value(store, #"footprint_power_watts{component="dram"}"#), 1)
        XCTAssertNotNil(value(store, #"footprint_domain_power_watts{source="estimate",domain="package",device="0"}"#))
    }

    func testPermissionDeniedMarksRAPLDownLogsTheFixAndTheEstimateTakesOver() throws {
        let denied = SourceSample(failures: [
            ReadFailure(
                domain: DomainID(source: "rapl", domain: .package, device: "0"),
                error: .permissionDenied(path: "/sys/class/powercap/intel-rapl:0/energy_uj"))
        ])
        let rapl = ScriptedSource(name: "rapl", [denied])
        let estimate = ScriptedSource(name: "estimate", [estimateSample()])
        let recorder = LineRecorder()
        let (sampler, store) = makeSampler(hardware: [rapl], estimate: estimate, logger: recorder.logger)
        for _ in 0..<3 { sampler.sampleOnce() }
        XCTAssertEqual(value(store, #"footprint_source_up{source="rapl"}"#), 0)
        XCTAssertEqual(value(store, #"footprint_sample_errors_total{source="rapl"}"#), 3)
        XCTAssertEqual(estimate.calls, 3)
        XCTAssertEqual(value(store, #"footprint_power_watts{component="cpu"}"#), 3)
        let lines = recorder.lines
        let fixes = lines.filter { $0.metadata["fix"] != nil }
        XCTAssertEqual(fixes.count, 1, "logged once, not every sample: \(lines)")
        XCTAssertTrue(fixes.first?.metadata["fix"]?.contains("energy_uj") ?? false)
    }

    func testDomainFailureIsCountedAndTheBaselineKept() throws {
        let garbled = SourceSample(
            readings: [counter(.dram, "0", 5_000_000)],
            failures: [
                ReadFailure(
                    domain: DomainID(source: "rapl", domain: .package, device: "0"),
                    error: .garbled(path: "energy_uj", value: "abc"))
            ])
        let rapl = ScriptedSource(
            name: "rapl",
            [raplSample(package: 0, dram: 0), garbled, raplSample(package: 30_000_000, dram: 6_000_000)])
        let (sampler, store) = makeSampler(hardware: [rapl], estimate: nil)
        sampler.sampleOnce()
        sampler.sampleOnce()
        XCTAssertEqual(value(store, #"footprint_source_up{source="rapl"}"#), 0)
        XCTAssertEqual(value(store, #"footprint_sample_errors_total{source="rapl"}"#), 1)
        sampler.sampleOnce()
        XCTAssertEqual(value(store, #"footprint_source_up{source="rapl"}"#), 1)
        XCTAssertEqual(value(store, #"footprint_sample_errors_total{source="rapl"}"#), 1)
        XCTAssertEqual(
            value(store, #"footprint_energy_joules_total{component="cpu"}"#), 30, "nothing lost across the failure")
        XCTAssertEqual(value(store, #"footprint_energy_joules_total{component="dram"}"#), 6)
    }

    func testExpositionIsWellFormed() throws {
        let rapl = ScriptedSource(
            name: "rapl", [raplSample(package: 0, dram: 0), raplSample(package: 1_000_000, dram: 1_000_000)])
        let (sampler, store) = makeSampler(hardware: [rapl], estimate: nil)
        sampler.sampleOnce()
        sampler.sampleOnce()
        let text = String(decoding: try XCTUnwrap(store.latest()), as: UTF8.self)
        var typed: Set<String> = []
        var helped: Set<String> = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# HELP ") {
                helped.insert(String(line.split(separator: " ")[2]))
            } else if line.hasPrefix("# TYPE ") {
                let name = String(line.split(separator: " ")[2])
                XCTAssertTrue(helped.contains(name), "TYPE before HELP for \(name)")
                XCTAssertFalse(typed.contains(name), "\(name) typed twice")
                typed.insert(name)
            } else {
                let name = String(line.prefix { $0 != "{" && $0 != " " })
                XCTAssertTrue(typed.contains(name), "sample of \(name) before its TYPE")
                XCTAssertTrue(MetricCatalogue.all.contains { $0.name == name }, "\(name) is not in the catalogue")
            }
        }
        XCTAssertTrue(text.hasSuffix("\n"))
    }

    /// A sample right after another must find every worker idle: a worker that signalled the sampler before it
    /// freed itself was seen as still busy and booked as a timeout, one run in a few on a loaded machine.
    func testBackToBackSamplesNeverFindAWorkerBusy() throws {
        let rapl = ScriptedSource(name: "rapl", [raplSample(package: 0, dram: 0)])
        let estimate = ScriptedSource(name: "estimate", [estimateSample()])
        let hwmon = ScriptedSource(name: "hwmon", [SourceSample.absent("no hwmon GPUs")])
        let (sampler, store) = makeSampler(hardware: [rapl, hwmon], estimate: estimate)
        let samples = 5000
        for _ in 0..<samples { sampler.sampleOnce() }
        XCTAssertEqual(rapl.calls, samples)
        XCTAssertEqual(value(store, #"footprint_sample_errors_total{source="rapl"}"#), 0)
        XCTAssertEqual(value(store, #"footprint_source_up{source="rapl"}"#), 1)
        XCTAssertEqual(estimate.calls, 0, "RAPL measures cpu and dram")
        XCTAssertNil(value(store, #"footprint_source_up{source="hwmon"}"#), "absent stays silent")
    }

    func testAveragePowerIsIntegratedOverTheInjectedClock() throws {
        let clock = ManualClock()
        let estimate = ScriptedSource(name: "estimate", [estimateSample(cpuWatts: 3, dramWatts: 1)])
        let (sampler, store) = makeSampler(hardware: [], estimate: estimate, clock: clock)
        sampler.sampleOnce()
        clock.advance(seconds: 2.5)
        sampler.sampleOnce()
        clock.advance(seconds: 10)
        sampler.sampleOnce()
        XCTAssertEqual(value(store, #"footprint_energy_joules_total{component="cpu"}"#), 3 * 12.5)
        XCTAssertEqual(value(store, #"footprint_energy_joules_total{component="dram"}"#), 1 * 12.5)
        XCTAssertEqual(value(store, "footprint_last_sample_timestamp_seconds"), 1_800_000_012.5)
    }

    /// Absent and broken are different: a source with nothing to read raises no alert, one that is there but fails
    /// (NVML whose nvmlInit fails after a driver upgrade) is down and counted, and recovers.
    func testBrokenSourceIsDownAndCountedWhileAnAbsentOneIsSilent() throws {
        let nvml = ScriptedSource(
            name: "nvml",
            [
                .failed(.driver("nvmlInit failed: RM has detected an NVML/RM version mismatch (NVML error 18)")),
                .failed(.driver("nvmlInit failed: RM has detected an NVML/RM version mismatch (NVML error 18)")),
                SourceSample(readings: [
                    DomainReading(
                        id: DomainID(source: "nvml", domain: .gpu, device: "0"),
                        measurement: .energyCounter(microjoules: 5_000_000, wrapMicrojoules: nil))
                ]),
            ])
        let hwmon = ScriptedSource(name: "hwmon", [.absent("no amdgpu, i915 or xe hwmon devices")])
        let recorder = LineRecorder()
        let (sampler, store) = makeSampler(hardware: [nvml, hwmon], estimate: nil, logger: recorder.logger)
        sampler.sampleOnce()
        sampler.sampleOnce()
        XCTAssertEqual(value(store, #"footprint_source_up{source="nvml"}"#), 0)
        XCTAssertEqual(value(store, #"footprint_sample_errors_total{source="nvml"}"#), 2)
        XCTAssertNil(value(store, #"footprint_source_up{source="hwmon"}"#))
        let warnings = recorder.lines.filter { $0.message.contains("marking it down") }
        XCTAssertEqual(warnings.count, 1, "logged once")
        XCTAssertTrue(warnings.first?.metadata["error"]?.contains("version mismatch") ?? false)
        sampler.sampleOnce()
        XCTAssertEqual(value(store, #"footprint_source_up{source="nvml"}"#), 1)
        XCTAssertEqual(value(store, #"footprint_sample_errors_total{source="nvml"}"#), 2)
    }

    /// amdgpu's power1_average at 1e19 µW once killed the exporter (a trapping conversion); now a power beyond the
    /// kind's ceiling is a garbled reading: counted, logged, and no energy.
    func testAnAveragePowerBeyondItsCeilingIsRejectedAndAddsNothing() throws {
        let gpu = DomainID(source: "amdgpu", domain: .gpu, device: "0")
        let hwmon = ScriptedSource(
            name: "hwmon",
            [
                SourceSample(readings: [DomainReading(id: gpu, measurement: .averagePower(watts: 300))]),
                SourceSample(readings: [DomainReading(id: gpu, measurement: .averagePower(watts: 1e13))]),
                SourceSample(readings: [DomainReading(id: gpu, measurement: .averagePower(watts: 300))]),
            ])
        let clock = ManualClock()
        let (sampler, store) = makeSampler(hardware: [hwmon], estimate: nil, clock: clock)
        for _ in 0..<3 {
            sampler.sampleOnce()
            clock.advance(seconds: 1)
        }
        XCTAssertEqual(value(store, #"footprint_sample_errors_total{source="hwmon"}"#), 1)
        XCTAssertEqual(value(store, #"footprint_source_up{source="hwmon"}"#), 1)
        XCTAssertEqual(
            value(store, #"footprint_energy_joules_total{component="gpu"}"#), 600,
            "the glitched sample is skipped; the next reading's power covers the time since the last good one")
    }
}
