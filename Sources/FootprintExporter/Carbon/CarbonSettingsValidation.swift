import GridIntensity

/// The rules between the carbon-data settings (docs/carbon-data.md): one source of intensity in force, a region
/// preset only as the live source's fall-back, provider settings only with a provider, a token only over a channel
/// that protects it.
enum CarbonSettingsValidation {
    static func validate(_ configuration: ExporterConfiguration, origin: String) throws(ConfigurationError) {
        let catalogue = SettingCatalogue.shared
        let defaults = ExporterConfiguration()
        if configuration.gridProvider != nil && configuration.gridIntensityFile != nil {
            throw ConfigurationError(
                "\(origin): grid.provider and grid.intensity.file both set the grid intensity; keep one (a region preset, grid.region, may be the fall-back of either)"
            )
        }
        if configuration.gridRegion != nil && catalogue.gridGramsPerKilowattHour.differs(configuration, defaults) {
            throw ConfigurationError(
                "\(origin): grid.intensity and grid.region both set a fixed grid intensity; keep one")
        }
        if configuration.puePreset != nil && catalogue.pue.differs(configuration, defaults) {
            throw ConfigurationError("\(origin): pue and pue.preset both set the PUE; keep one")
        }
        guard let providerName = configuration.gridProvider, let provider = GridProvider(rawValue: providerName) else {
            let providerOnly =
                [
                    catalogue.gridZone, catalogue.gridProviderTokenFile, catalogue.gridProviderURL,
                    catalogue.gridProviderRefresh, catalogue.gridProviderTimeout, catalogue.gridProviderMaxAge,
                ] as [any AnySetting]
            if let stray = providerOnly.first(where: { $0.differs(configuration, defaults) }) {
                throw ConfigurationError("\(origin): \(stray.name) is set but grid.provider is not")
            }
            return
        }
        if configuration.gridProviderRefresh >= configuration.gridProviderMaxAge {
            throw ConfigurationError(
                "\(origin): grid.provider.refresh (\(PrometheusDuration.format(configuration.gridProviderRefresh))) must be shorter than grid.provider.max-age (\(PrometheusDuration.format(configuration.gridProviderMaxAge))), or every value goes stale before the next fetch"
            )
        }
        let zone = configuration.gridZone.isEmpty ? (provider.defaultZone ?? "") : configuration.gridZone
        if let problem = ProviderClient.configurationProblem(
            provider: provider, zone: zone, baseURL: configuration.gridProviderURL,
            tokenGiven: configuration.gridProviderTokenFile != nil)
        {
            throw ConfigurationError("\(origin): \(problem)")
        }
    }
}
