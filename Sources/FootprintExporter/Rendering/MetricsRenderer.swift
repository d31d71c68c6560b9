import EnergyAccounting
import GridIntensity
import Workloads

/// Turns the sampler's state into the exposition, family by family, from the catalogue.
enum MetricsRenderer {
    /// - Parameter webConfigReloadFailures: web-configuration reloads that kept the configuration in force.
    /// - Parameter grid: the intensity in force and the live source's failures; nil: the static figure of `settings`.
    static func render(
        state: SamplerState, settings: AccountingSettings, webConfigReloadFailures: UInt64,
        grid: GridExposition? = nil
    ) -> [UInt8] {
        typealias C = MetricCatalogue
        var domainEnergy: [MetricSample] = []
        var domainPower: [MetricSample] = []
        for (key, account) in state.ledger.domains {
            let labels = [key.source, key.domain, key.device]
            domainEnergy.append(MetricSample(labels, account.joules))
            if let watts = account.watts { domainPower.append(MetricSample(labels, watts)) }
        }
        var energy: [MetricSample] = []
        var facility: [MetricSample] = []
        var co2e: [MetricSample] = []
        var power: [MetricSample] = []
        for component in Component.allCases {
            let totals = state.ledger.components[component] ?? ComponentTotals()
            let labels = [component.rawValue]
            energy.append(MetricSample(labels, totals.itJoules))
            facility.append(MetricSample(labels, totals.facilityJoules))
            co2e.append(MetricSample(labels, totals.co2eGrams))
            power.append(MetricSample(labels, state.ledger.watts(of: component)))
        }
        var up: [MetricSample] = []
        var errors: [MetricSample] = []
        var durations: [MetricSample] = []
        for (name, health) in state.health where health.present {
            up.append(MetricSample([name], health.up ? 1 : 0))
            errors.append(MetricSample([name], Double(health.errors)))
            durations.append(MetricSample([name], health.lastDurationSeconds))
        }
        let gpuInfo = state.gpus.values.joined().map { MetricSample([$0.device, $0.uuid, $0.name], 1) }
        let budgets = settings.budgets.map { MetricSample([$0.name, $0.windowLabel, $0.scope], $0.grams) }
        let budgetCO2e = BudgetCounters.definitions(of: settings.budgets).map {
            MetricSample([$0.name], state.budgets.counters[$0.name]?.grams ?? 0)
        }
        var families: [(family: MetricFamily, samples: [MetricSample])] = [
            (C.domainEnergy, domainEnergy),
            (C.domainPower, domainPower),
            (C.energy, energy),
            (C.facilityEnergy, facility),
            (C.co2e, co2e),
            (C.power, power),
            (C.pue, [MetricSample([], settings.pue)]),
            (C.gridIntensity, [MetricSample([], settings.gridGramsPerKilowattHour)]),
        ]
        let inForce =
            grid?.inForce ?? IntensityInForce(gramsPerKilowattHour: settings.gridGramsPerKilowattHour, source: .static)
        families.append((C.gridIntensityInfo, [MetricSample([inForce.source.rawValue, inForce.zone], 1)]))
        if let age = inForce.ageSeconds { families.append((C.gridIntensityAge, [MetricSample([], age)])) }
        if grid?.inForce.ageSeconds != nil || grid.map({ !$0.errors.isEmpty }) == true {
            families.append((C.gridIntensityStale, [MetricSample([], inForce.stale ? 1 : 0)]))
        }
        if let gridErrors = grid?.errors, !gridErrors.isEmpty {
            families.append(
                (C.gridProviderErrors, gridErrors.map { MetricSample([$0.source, $0.reason], Double($0.count)) }))
        }
        let embodiedOn = !settings.embodied.isOff || state.embodied.nodeGrams > 0
        if embodiedOn { families.append((C.embodiedCO2e, [MetricSample([], state.embodied.nodeGrams)])) }
        families += [
            (C.co2eBudget, budgets),
            (C.budgetCO2e, budgetCO2e),
            (C.sourceUp, up),
            (C.sampleErrors, errors),
            (C.sourceDuration, durations),
            (C.gpuInfo, gpuInfo),
            (C.buildInfo, [MetricSample([BuildInfo.version, BuildInfo.revision], 1)]),
            (C.webConfigReloadFailures, [MetricSample([], Double(webConfigReloadFailures))]),
        ]
        if let last = state.lastSampleUnixSeconds {
            families.append((C.lastSample, [MetricSample([], last)]))
        }
        if let attribution = state.attribution {
            families += attributionFamilies(attribution, embodied: embodiedOn)
        }
        return ExpositionEncoder.encode(families)
    }

    private static func attributionFamilies(_ attribution: AttributionState, embodied: Bool) -> [(
        family: MetricFamily, samples: [MetricSample]
    )] {
        typealias C = MetricCatalogue
        var energy: [MetricSample] = []
        var facility: [MetricSample] = []
        var co2e: [MetricSample] = []
        var info: [MetricSample] = []
        var embodiedCO2e: [MetricSample] = []
        var counts: [WorkloadKind: Int] = [:]
        energy.reserveCapacity(attribution.ledger.workloads.count * 3)
        for (id, totals) in attribution.ledger.workloads {
            let kind = id.kind.rawValue
            for component in Component.allCases {
                energy.append(
                    MetricSample([kind, id.name, component.rawValue], Double(totals.microjoules(component)) / 1e6))
            }
            facility.append(MetricSample([kind, id.name], totals.facilityJoules))
            co2e.append(MetricSample([kind, id.name], totals.co2eGrams))
            if embodied { embodiedCO2e.append(MetricSample([kind, id.name], totals.embodiedCO2eGrams)) }
            let names = attribution.names[id] ?? WorkloadNames()
            info.append(
                MetricSample(
                    [kind, id.name, names.namespace, names.pod, names.jobID, names.user, names.unit, names.sluid], 1))
            counts[id.kind, default: 0] += 1
        }
        let components = Component.allCases
        var families: [(family: MetricFamily, samples: [MetricSample])] = [
            (C.workloadEnergy, energy),
            (C.workloadFacilityEnergy, facility),
            (C.workloadCO2e, co2e),
            (C.workloadInfo, info),
            (
                C.unattributedEnergy,
                components.map { MetricSample([$0.rawValue], Double(attribution.ledger.unattributed[$0] ?? 0) / 1e6) }
            ),
            (
                C.expiredWorkloadEnergy,
                components.map { MetricSample([$0.rawValue], Double(attribution.ledger.expired[$0] ?? 0) / 1e6) }
            ),
            (C.workloads, WorkloadKind.allCases.map { MetricSample([$0.rawValue], Double(counts[$0] ?? 0)) }),
            (C.attributionOverflow, [MetricSample([], Double(attribution.overflowSamples))]),
        ]
        if embodied { families.insert((C.workloadEmbodiedCO2e, embodiedCO2e), at: 3) }
        return families
    }
}
