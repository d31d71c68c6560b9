import FileReading
import YAMLComposer

/// Builds the exporter's configuration: defaults, then the config file, then flags given on the command line.
///
/// Every value passes through the one parser of its `Setting`, so a flag and a config key can never disagree about
/// what is valid. The first problem found is reported as one line naming the flag or key and the value.
public enum ConfigurationLoader {
    /// The largest config file read.
    static let maximumFileBytes = 16 << 20

    /// Builds the configuration from `flags`, the settings given on the command line in order (name without `--`,
    /// value as text), reading the config file they name, if any.
    public static func load(flags: [(name: String, value: String)]) throws(ConfigurationError) -> ExporterConfiguration
    {
        var configuration = ExporterConfiguration()
        if let path = flags.last(where: { $0.name == "config.file" })?.value {
            let text = try readConfigFile(path)
            try apply(fileText: text, path: path, to: &configuration)
        }
        for flag in flags {
            guard let setting = SettingCatalogue.setting(named: flag.name), !setting.form.isFileOnly else {
                throw ConfigurationError("unknown flag --\(flag.name)")
            }
            do {
                try setting.apply(.text(flag.value), to: &configuration)
            } catch {
                throw ConfigurationError("invalid value \(flag.value.debugDescription) for --\(flag.name): \(error)")
            }
        }
        try validate(configuration, origin: "flags")
        let path = flags.last(where: { $0.name == "config.file" })?.value
        try validateBudgets(configuration, origin: path.map { "config file \($0)" } ?? "budgets")
        return configuration
    }

    /// Applies the YAML `text` of the config file at `path`.
    public static func apply(fileText text: String, path: String, to configuration: inout ExporterConfiguration)
        throws(ConfigurationError)
    {
        let root: YAMLNode?
        do {
            root = try YAMLDocument.compose(text)
        } catch {
            throw ConfigurationError("config file \(path): malformed YAML: \(oneLine(String(describing: error)))")
        }
        guard let root else { return }  // an empty file sets nothing
        guard case .mapping(let mapping) = root else {
            throw ConfigurationError("config file \(path): the top level must be a mapping of settings")
        }
        var entries: [(key: String, node: YAMLNode)] = []
        try flatten(mapping, prefix: "", into: &entries, path: path)
        var seen = Set<String>()
        for entry in entries where !seen.insert(entry.key).inserted {
            throw ConfigurationError("config file \(path): key \(entry.key.debugDescription) is given twice")
        }
        for (key, node) in entries {
            guard let setting = SettingCatalogue.setting(named: key), setting.allowedInConfigFile else {
                throw ConfigurationError("config file \(path): unknown key \(key.debugDescription)")
            }
            do {
                try setting.apply(.node(node, path: path), to: &configuration)
            } catch {
                if let scalar = node.string {
                    throw ConfigurationError(
                        "config file \(path): invalid value \(scalar.debugDescription) for \(key): \(error)")
                }
                throw ConfigurationError("config file \(path): \(key): \(error)")
            }
        }
        try validate(configuration, origin: "config file \(path)")
    }

    /// Checks rules that involve more than one setting.
    static func validate(_ configuration: ExporterConfiguration, origin: String) throws(ConfigurationError) {
        if configuration.estimateCPUMaximumWatts < configuration.estimateCPUMinimumWatts {
            throw ConfigurationError(
                "\(origin): estimate.cpu-max-watts (\(configuration.estimateCPUMaximumWatts)) is below estimate.cpu-min-watts (\(configuration.estimateCPUMinimumWatts))"
            )
        }
        try CarbonSettingsValidation.validate(configuration, origin: origin)
    }

    /// Checks that every budget with `match:` can be counted with the other settings in force: attribution on, and
    /// pod names (`--path.pod-logs`) for a `namespace` or `pod` matcher. Run on the final configuration, after the
    /// flags, and again on what a reload would apply.
    static func validateBudgets(_ configuration: ExporterConfiguration, origin: String) throws(ConfigurationError) {
        for budget in configuration.budgets {
            guard let match = budget.match else { continue }
            if !configuration.attributionEnabled {
                throw ConfigurationError(
                    "\(origin): budget \(budget.name.debugDescription) has match:, which counts workloads, but attribution is off (--no-attribution); turn it on or drop match:"
                )
            }
            if match.needsPodNames && configuration.podLogsPath == nil {
                throw ConfigurationError(
                    "\(origin): budget \(budget.name.debugDescription) matches on namespace or pod, which needs pod names: set --path.pod-logs (path.pod-logs in the file) to the kubelet's pod log directory, /var/log/pods"
                )
            }
        }
    }

    /// The budgets whose `match:` has a matcher for a workload kind `--attribution.kinds` leaves out: that matcher
    /// never holds. Not an error (one config file may serve nodes with different kinds), but worth a warning.
    static func unattributedBudgetKinds(_ configuration: ExporterConfiguration) -> [(budget: String, kind: String)] {
        let attributed = configuration.workloadKinds
        var found: [(budget: String, kind: String)] = []
        var seen = Set<String>()
        for budget in configuration.budgets {
            for matcher in budget.match?.anyOf ?? [] {
                guard let kind = matcher.kind, !attributed.contains(kind),
                    seen.insert("\(budget.name)\u{0}\(kind.rawValue)").inserted
                else { continue }
                found.append((budget.name, kind.rawValue))
            }
        }
        return found
    }

    /// Nested mappings become dotted keys (`grid: {intensity: 1}` → `grid.intensity`). A setting whose name is also
    /// the prefix of others' names takes its own value under `value:` (or `enabled:` for a switch), so
    /// `collector: {nvml: {enabled: true, library: …}}` sets both `collector.nvml` and `collector.nvml.library`, and
    /// `grid: {intensity: {value: 300}}` is `grid: {intensity: 300}`.
    private static func flatten(
        _ mapping: [YAMLPair], prefix: String, into entries: inout [(key: String, node: YAMLNode)], path: String
    ) throws(ConfigurationError) {
        for pair in mapping {
            let value = pair.value
            guard let keyText = pair.key.string, !keyText.isEmpty else {
                throw ConfigurationError("config file \(path): keys must be plain names")
            }
            let standsForParent = (keyText == "enabled" || keyText == "value") && !prefix.isEmpty
            let name = standsForParent ? prefix : join(prefix, keyText)
            if case .mapping(let nested) = value, SettingCatalogue.setting(named: name)?.form.isFileOnly != true {
                try flatten(nested, prefix: name, into: &entries, path: path)
            } else {
                entries.append((name, value))
            }
        }
    }

    private static func join(_ prefix: String, _ key: String) -> String {
        prefix.isEmpty ? key : "\(prefix).\(key)"
    }

    private static func readConfigFile(_ path: String) throws(ConfigurationError) -> String {
        let text: String?
        do {
            text = try FileReader.readText(path, limit: maximumFileBytes)
        } catch {
            throw ConfigurationError("cannot read config file: \(error)")
        }
        guard let text else {
            throw ConfigurationError("config file \(path) is not UTF-8 text")
        }
        return text
    }

    private static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingPrefix(" ") }.joined(separator: " ")
    }
}
