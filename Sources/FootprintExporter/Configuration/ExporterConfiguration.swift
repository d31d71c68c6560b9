import PowerSources

/// Every setting's value: the defaults of `SettingCatalogue`, overridden by the config file and then the flags.
///
/// Values are read and written through the catalogue's declarations, by property (`configuration.pue`) or by setting
/// (`configuration[SettingCatalogue.shared.pue]`), so a setting's type and default exist only in its declaration.
@dynamicMemberLookup
public struct ExporterConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// Values that differ from their defaults, by setting name.
    private var values: [String: SettingValue] = [:]

    public init() {}

    public subscript<Value>(setting: Setting<Value>) -> Value {
        get {
            guard let stored = values[setting.name] else { return setting.defaultValue }
            return stored.value.base as! Value  // stored only by the setter below, with the setting's own type
        }
        set {
            values[setting.name] = newValue == setting.defaultValue ? nil : SettingValue(value: AnyHashable(newValue))
        }
    }

    public subscript<Value>(dynamicMember setting: KeyPath<SettingCatalogue, Setting<Value>>) -> Value {
        get { self[SettingCatalogue.shared[keyPath: setting]] }
        set { self[SettingCatalogue.shared[keyPath: setting]] = newValue }
    }

    /// The settings that differ from their defaults, as `name=value`.
    public var description: String {
        SettingCatalogue.all.filter { values[$0.name] != nil }.map { "\($0.name)=\($0.text(in: self))" }
            .joined(separator: " ")
    }

    /// The power ceilings per domain kind, from their three settings.
    public var powerCeilings: PowerCeilings {
        PowerCeilings(cpuWatts: self.maximumWattsCPU, dramWatts: self.maximumWattsDRAM, gpuWatts: self.maximumWattsGPU)
    }

    /// The estimate's coefficients, from its three settings.
    public var estimate: EstimateCoefficients {
        EstimateCoefficients(
            cpuMinimumWattsPerVCPU: self.estimateCPUMinimumWatts, cpuMaximumWattsPerVCPU: self.estimateCPUMaximumWatts,
            dramWattsPerGiB: self.estimateDRAMWattsPerGiB)
    }
}

/// A stored setting value. Every `Setting`'s value type is Sendable, so the type-erased box is too.
private struct SettingValue: @unchecked Sendable, Equatable {
    let value: AnyHashable
}
