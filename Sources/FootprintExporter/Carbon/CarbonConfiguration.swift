import EnergyAccounting
import GridIntensity

extension ExporterConfiguration {
    /// The PUE in force: the preset's (`--pue.preset`) or `--pue`.
    public var effectivePUE: Double {
        self.puePreset.flatMap { PUEPresets.preset(named: $0)?.pue } ?? self.pue
    }

    /// The intensity sources these settings name.
    public var intensityPlan: IntensityPlan {
        var live: IntensityPlan.LiveSource?
        if let path = self.gridIntensityFile {
            live = .file(path: path)
        } else if let name = self.gridProvider, let provider = GridProvider(rawValue: name) {
            live = .provider(provider, zone: self.gridZone.isEmpty ? (provider.defaultZone ?? "") : self.gridZone)
        }
        return IntensityPlan(
            staticGramsPerKilowattHour: self.gridGramsPerKilowattHour,
            region: self.gridRegion.flatMap { RegionPresets.preset(named: $0) }, live: live,
            maximumAgeSeconds: Double(self.gridProviderMaxAge.components.seconds),
            refreshSeconds: Double(self.gridProviderRefresh.components.seconds))
    }

    /// The embodied emissions to amortise (off when both figures are 0).
    public var embodied: EmbodiedProfile {
        EmbodiedProfile(
            serverKilograms: self.embodiedKilograms, gpuKilograms: self.embodiedGPUKilograms,
            lifetimeSeconds: Double(self.embodiedLifetime.components.seconds))
    }
}
