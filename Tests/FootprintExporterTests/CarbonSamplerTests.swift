import Dispatch
import EnergyAccounting
import GridIntensity
import HTTPFetch
import Logging
import PowerSources
import Synchronization
import Workloads
import XCTest

@testable import FootprintExporter

/// Live grid intensity and embodied emissions in the sampler: each sample's energy priced at the intensity in force
/// when it was drawn, checked exactly from the counters; the stale fall-back; embodied CO2e amortised exactly over a
/// known uptime and split between workloads so that the parts add up to the node's.
final class CarbonSamplerTests: XCTestCase {
    private let noLog = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    /// A RAPL package counter at each of `microjoules`, one per sample.
    private func rapl(_ microjoules: [UInt64]) -> ScriptedSource {
        ScriptedSource(
            name: "rapl",
            microjoules.map { value in
                SourceSample(readings: [
                    DomainReading(
                        id: DomainID(source: "rapl", domain: .package, device: "0"),
                        measurement: .energyCounter(microjoules: value, wrapMicrojoules: 262_143_328_850))
                ])
            })
    }

    private func value(_ store: SnapshotStore, _ series: String) -> Double? {
        let text = String(decoding: store.latest() ?? [], as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    private func reading(_ grams: Double, zone: String = "FR", at unix: Double, validUntil: Double? = nil)
        -> IntensityReading
    {
        IntensityReading(
            gramsPerKilowattHour: grams, zone: zone, obtainedAtUnixSeconds: unix, validUntilUnixSeconds: validUntil)
    }

    private func sampler(
        _ source: ScriptedSource, grid: GridIntensityControl?, clock: ManualClock,
        settings: AccountingSettings = AccountingSettings(pue: 1.5, gridGramsPerKilowattHour: 432.7, budgets: [])
    ) -> (Sampler, SnapshotStore) {
        let store = SnapshotStore()
        let sampler = Sampler(
            hardwareSources: [source], estimateSource: nil, interval: .seconds(1), settings: settings, store: store,
            logger: noLog, clock: clock, grid: grid)
        return (sampler, store)
    }

    func testAnIntensityChangePricesOnlyTheEnergyDrawnAfterIt() throws {
        let clock = ManualClock()
        let control = GridIntensityControl(
            plan: IntensityPlan(staticGramsPerKilowattHour: 432.7, live: .provider(.electricityMaps, zone: "FR")))
        control.record(reading(56, at: clock.unixSeconds()))
        // 100 J, then 300 J at 56 g/kWh; then 700 J at 120 g/kWh.
        let (sampler, store) = sampler(
            rapl([0, 100_000_000, 400_000_000, 1_100_000_000]), grid: control, clock: clock)
        for _ in 0..<3 {
            sampler.sampleOnce()
            clock.advance(seconds: 1)
        }
        let co2e = #"footprint_co2e_grams_total{component="cpu"}"#
        XCTAssertEqual(try XCTUnwrap(value(store, co2e)), 400 * 1.5 / 3.6e6 * 56, accuracy: 1e-15)
        XCTAssertEqual(value(store, #"footprint_grid_intensity_info{source="electricitymaps",zone="FR"}"#), 1)
        control.record(reading(120, at: clock.unixSeconds()))
        sampler.sampleOnce()
        XCTAssertEqual(
            try XCTUnwrap(value(store, co2e)), 400 * 1.5 / 3.6e6 * 56 + 700 * 1.5 / 3.6e6 * 120, accuracy: 1e-15)
        XCTAssertEqual(value(store, "footprint_grid_intensity_grams_per_kwh"), 120)
        XCTAssertEqual(value(store, "footprint_grid_intensity_age_seconds"), 0)
        XCTAssertEqual(value(store, "footprint_grid_intensity_stale"), 0)
    }

    func testAStaleProviderValueGivesWayToTheRegionPresetOrStaysWithoutOne() throws {
        let poland = try XCTUnwrap(RegionPresets.preset(named: "PL"))
        let clock = ManualClock()
        for region in [poland, nil] {
            let control = GridIntensityControl(
                plan: IntensityPlan(
                    staticGramsPerKilowattHour: 432.7, region: region, live: .provider(.electricityMaps, zone: "PL"),
                    maximumAgeSeconds: 60, refreshSeconds: 10))
            control.recordFailure(source: "electricitymaps", reason: "timeout")
            let (sampler, store) = sampler(rapl([0]), grid: control, clock: clock)
            // Before the first value: the preset, else the static figure.
            sampler.sampleOnce()
            XCTAssertEqual(
                value(store, "footprint_grid_intensity_grams_per_kwh"), region?.gramsPerKilowattHour ?? 432.7)
            XCTAssertNil(value(store, "footprint_grid_intensity_age_seconds"))
            control.record(reading(700, zone: "PL", at: clock.unixSeconds()))
            clock.advance(seconds: 60)
            sampler.sampleOnce()
            XCTAssertEqual(value(store, "footprint_grid_intensity_grams_per_kwh"), 700)
            XCTAssertEqual(value(store, "footprint_grid_intensity_stale"), 0)
            clock.advance(seconds: 1)
            sampler.sampleOnce()
            XCTAssertEqual(value(store, "footprint_grid_intensity_stale"), 1)
            XCTAssertEqual(value(store, "footprint_grid_intensity_age_seconds"), 61)
            if let region {
                XCTAssertEqual(value(store, "footprint_grid_intensity_grams_per_kwh"), region.gramsPerKilowattHour)
                XCTAssertEqual(value(store, #"footprint_grid_intensity_info{source="region",zone="PL"}"#), 1)
            } else {
                XCTAssertEqual(value(store, "footprint_grid_intensity_grams_per_kwh"), 700)
                XCTAssertEqual(value(store, #"footprint_grid_intensity_info{source="electricitymaps",zone="PL"}"#), 1)
            }
            XCTAssertEqual(
                value(store, #"footprint_grid_provider_errors_total{provider="electricitymaps",reason="timeout"}"#), 1)
            XCTAssertEqual(
                value(store, #"footprint_grid_provider_errors_total{provider="electricitymaps",reason="malformed"}"#), 0
            )
        }
    }

    func testAValuePastItsPeriodGoesStaleOnlyAfterARefreshShouldHaveReplacedIt() {
        let plan = IntensityPlan(
            staticGramsPerKilowattHour: 432.7, live: .provider(.ukCarbonIntensity, zone: "GB"),
            maximumAgeSeconds: 7200, refreshSeconds: 900)
        let value = reading(180, zone: "GB", at: 1000, validUntil: 1800)
        XCTAssertFalse(plan.inForce(lastGood: value, nowUnixSeconds: 2700).stale)
        XCTAssertTrue(plan.inForce(lastGood: value, nowUnixSeconds: 2701).stale)
        // The file's valid_until holds for half an hour more (its writer's next run); its age alone never makes it
        // stale.
        var file = plan
        file.live = .file(path: "/run/intensity")
        XCTAssertFalse(file.inForce(lastGood: value, nowUnixSeconds: 1800 + 1800).stale)
        XCTAssertTrue(file.inForce(lastGood: value, nowUnixSeconds: 1800 + 1800 + 1).stale)
        XCTAssertFalse(file.inForce(lastGood: reading(180, at: 0), nowUnixSeconds: 1e9).stale)
    }

    func testAReloadToAnotherLiveSourceForgetsTheOldValue() {
        let control = GridIntensityControl(
            plan: IntensityPlan(staticGramsPerKilowattHour: 300, live: .file(path: "/a")))
        let generation = control.planAndGeneration.generation
        control.record(reading(50, at: 0), generation: generation)
        control.replacePlan(IntensityPlan(staticGramsPerKilowattHour: 300, live: .file(path: "/a"), refreshSeconds: 60))
        XCTAssertEqual(control.lastGood?.gramsPerKilowattHour, 50, "the same source keeps its value")
        control.record(reading(70, at: 0), generation: generation)
        XCTAssertEqual(control.lastGood?.gramsPerKilowattHour, 50, "a value read for the old plan is dropped")
        control.replacePlan(IntensityPlan(staticGramsPerKilowattHour: 300, live: .file(path: "/b")))
        XCTAssertNil(control.lastGood)
        XCTAssertEqual(control.inForce(nowUnixSeconds: 0).gramsPerKilowattHour, 300)
    }

    func testEmbodiedEmissionsAreAmortisedExactlyOverTheUptime() throws {
        let clock = ManualClock()
        let profile = EmbodiedProfile(serverKilograms: 1300, gpuKilograms: 0, lifetimeSeconds: 4 * 365 * 86_400)
        let (sampler, store) = sampler(
            rapl([0]), grid: nil, clock: clock,
            settings: AccountingSettings(pue: 1.5, gridGramsPerKilowattHour: 432.7, budgets: [], embodied: profile))
        sampler.sampleOnce()
        XCTAssertEqual(value(store, "footprint_embodied_co2e_grams_total"), 0, "the first sample adds nothing")
        for _ in 0..<3600 {
            clock.advance(seconds: 1)
            sampler.sampleOnce()
        }
        // One hour of a 1300 kg server over four 365-day years.
        XCTAssertEqual(
            try XCTUnwrap(value(store, "footprint_embodied_co2e_grams_total")), 1_300_000.0 / (4 * 365 * 24),
            accuracy: 1e-9)
        XCTAssertEqual(value(store, #"footprint_co2e_grams_total{component="cpu"}"#), 0, "operational CO2e apart")
    }

    func testEmbodiedEmissionsSplitBetweenWorkloadsAddUpToTheNodes() throws {
        var state = SamplerState()
        var attribution = AttributionState()
        let ids = (0..<5).map { WorkloadID(kind: .pod, name: "pod-\($0)") }
        for id in ids { attribution.ledger.track(id) }
        state.attribution = attribution
        let profile = EmbodiedProfile(serverKilograms: 1300, gpuKilograms: 150, lifetimeSeconds: 4 * 365 * 86_400)
        state.gpus["nvml"] = [GPUIdentity(device: "0", uuid: "GPU-0", name: "H100")]
        var generator = SystemRandomNumberGenerator()
        var now = 100.0
        Sampler.amortiseEmbodied(profile, nowBootSeconds: now, into: &state)
        for _ in 0..<500 {
            var energy: [WorkloadID: UInt64] = [:]
            for id in ids { energy[id] = UInt64.random(in: 0...1_000_000, using: &generator) }
            state.attribution!.lastMicrojoules = energy
            state.attribution!.lastNodeMicrojoules =
                energy.values.reduce(0, +) + UInt64.random(in: 0...2_000_000, using: &generator)
            now += Double.random(in: 0.1...2, using: &generator)
            Sampler.amortiseEmbodied(profile, nowBootSeconds: now, into: &state)
        }
        let workloads = state.attribution!.ledger.workloads.values.reduce(0) { $0 + $1.embodiedCO2eGrams }
        XCTAssertEqual(state.embodied.nodeGrams, profile.grams(elapsedSeconds: now - 100, gpus: 1), accuracy: 1e-9)
        XCTAssertEqual(workloads + state.embodied.unattributedGrams, state.embodied.nodeGrams, accuracy: 1e-9)
        XCTAssertGreaterThan(workloads, 0)
        XCTAssertGreaterThan(state.embodied.unattributedGrams, 0)
    }

    func testBudgetsCountEmbodiedEmissionsOnlyWhenTheySaySo() {
        var counters = BudgetCounters()
        let nlp = WorkloadID(kind: .pod, name: "nlp-a")
        let budgets = [
            EmissionBudget(name: "node", window: .seconds(86_400), grams: 1000),
            EmissionBudget(name: "node-all", window: .seconds(86_400), grams: 1000, includeEmbodied: true),
            EmissionBudget(
                name: "team", window: .seconds(86_400), grams: 1000,
                match: WorkloadMatch(anyOf: [.init(kind: .pod, patterns: [:])]), includeEmbodied: true),
        ]
        _ = counters.record(
            budgets: budgets, nodeGrams: 10, workloadGrams: [nlp: 4], embodied: (node: 3, workloads: [nlp: 1]),
            names: [nlp: WorkloadNames()], tracked: 1)
        XCTAssertEqual(counters.counters["node"]?.grams, 10)
        XCTAssertEqual(counters.counters["node-all"]?.grams, 13)
        XCTAssertEqual(counters.counters["team"]?.grams, 5)
    }

    func testTheProviderPollerKeepsTheValueCountsFailuresAndNeverLogsTheToken() throws {
        let recorder = LineRecorder()
        let control = GridIntensityControl(
            plan: IntensityPlan(staticGramsPerKilowattHour: 432.7, live: .provider(.electricityMaps, zone: "FR")))
        let answers = Mutex<[HTTPFetchResponse]>([
            HTTPFetchResponse(
                status: 200,
                body: Array(#"{"zone":"FR","carbonIntensity":56,"datetime":"2026-11-30T12:00:00.000Z"}"#.utf8)),
            HTTPFetchResponse(status: 401, body: Array(#"{"error":"bad token secret-token-123"}"#.utf8)),
        ])
        let sentTokens = Mutex<[String]>([])
        let poller = ProviderPoller(control: control, logger: recorder.logger, clock: SystemClock()) {
            request throws(HTTPFetchError) in
            sentTokens.withLock { $0 += request.headers.filter { $0.name.lowercased() == "auth-token" }.map(\.value) }
            return answers.withLock { $0.count > 1 ? $0.removeFirst() : $0[0] }
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID().uuidString)").path
        try Data("secret-token-123\n".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        var settings = try XCTUnwrap(
            ProviderSettings(
                try ConfigurationLoader.load(flags: [
                    ("grid.provider", "electricitymaps"), ("grid.zone", "FR"), ("grid.provider.token-file", path),
                ])))
        try poller.start(settings)
        try waitFor { control.lastGood?.gramsPerKilowattHour == 56 }
        // A reload with a changed refresh fetches at once: the 401 this time.
        settings.refreshSeconds = 600
        try poller.reload(settings)
        try waitFor { control.errorCounts().contains { $0.reason == "unauthorized" && $0.count == 1 } }
        poller.stop()
        XCTAssertEqual(control.lastGood?.gramsPerKilowattHour, 56, "a failure keeps the last good value")
        XCTAssertEqual(sentTokens.withLock { $0 }, ["secret-token-123", "secret-token-123"])
        try waitFor { recorder.messages.contains("grid intensity fetch failed; the value in force stays") }
        for line in recorder.lines {
            XCTAssertFalse(line.message.contains("secret-token"), line.message)
            for (key, value) in line.metadata { XCTAssertFalse(value.contains("secret-token"), "\(key)=\(value)") }
        }
    }

    func testAValueFetchedWhileAReloadChangesThePlanIsFetchedAgainAtOnce() throws {
        let control = GridIntensityControl(
            plan: IntensityPlan(staticGramsPerKilowattHour: 432.7, live: .provider(.ukCarbonIntensity, zone: "GB")))
        let inFlight = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let calls = Mutex(0)
        let poller = ProviderPoller(control: control, logger: noLog, clock: SystemClock()) {
            request throws(HTTPFetchError) in
            let call = calls.withLock { count -> Int in
                count += 1
                return count
            }
            if call == 1 {
                inFlight.signal()
                release.wait()
            }
            let body =
                #"{"data":[{"from":"2026-11-30T12:00Z","to":"2099-11-30T12:30Z","intensity":{"forecast":150,"actual":140,"index":"moderate"}}]}"#
            return HTTPFetchResponse(status: 200, body: Array(body.utf8))
        }
        let settings = ProviderSettings(
            provider: .ukCarbonIntensity, zone: "GB", baseURL: nil, tokenFile: nil, timeoutSeconds: 5,
            refreshSeconds: 3600)
        try poller.start(settings)
        defer { poller.stop() }
        XCTAssertEqual(inFlight.wait(timeout: .now() + 10), .success)
        // A reload changes the plan (a fall-back region) while the first fetch is in flight: its value is for the
        // old plan and dropped, and the poller asks again at once rather than an hour later.
        control.replacePlan(
            IntensityPlan(
                staticGramsPerKilowattHour: 432.7, region: RegionPresets.preset(named: "GB"),
                live: .provider(.ukCarbonIntensity, zone: "GB")))
        release.signal()
        try waitFor { control.lastGood?.gramsPerKilowattHour == 140 }
        XCTAssertEqual(calls.withLock { $0 }, 2)
    }

    /// Waits up to 10 s for `condition`, checking every 10 ms.
    private func waitFor(_ condition: () -> Bool, file: StaticString = #filePath, line: UInt = #line) throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                XCTFail("condition not met within 10 s", file: file, line: line)
                return
            }
            usleep(10_000)
        }
    }
}
