import EnergyAccounting

/// Turns the sampler's state into the exposition, family by family, from the catalogue.
enum MetricsRenderer {
    /// - Parameter webConfigReloadFailures: web-configuration reloads that kept the configuration in force.
    static func render(state: SamplerState, settings: AccountingSettings, webConfigReloadFailures: UInt64) -> [UInt8] {
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
        let budgets = settings.budgets.map {
            MetricSample([$0.name, $0.windowLabel], $0.grams)
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
            (C.co2eBudget, budgets),
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
        return ExpositionEncoder.encode(families)
    }
}
