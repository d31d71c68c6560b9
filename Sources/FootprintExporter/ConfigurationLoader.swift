import Glibc

/// Builds the exporter's configuration: defaults, then the config file, then flags given on the command line.
///
/// Every value passes through the one parser of its `Setting`, so a flag and a config key can never disagree about
/// what is valid. The first problem found is reported as one line naming the flag or key and the value.
public enum ConfigurationLoader {
    /// Builds the configuration from `flags`, the settings given on the command line in order (name without `--`,
    /// value as text), reading the config file they name, if any.
    public static func load(flags: [(name: String, value: String)]) throws(ConfigurationError) -> ExporterConfiguration
    {
        var configuration = ExporterConfiguration()
        if let path = flags.last(where: { $0.name == "config.file" })?.value {
            let text = try readConfigFile(path)
            try apply(fileText: text, path: path, to: &configuration)
            configuration.configFile = path
        }
        for flag in flags {
            guard let setting = SettingCatalogue.setting(named: flag.name) else {
                throw ConfigurationError("unknown flag --\(flag.name)")
            }
            do {
                try setting.apply(&configuration, flag.value)
            } catch {
                throw ConfigurationError("invalid value \(flag.value.debugDescription) for --\(flag.name): \(error)")
            }
        }
        try validate(configuration, origin: "flags")
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
        for (key, node) in entries {
            if key == "budgets" {
                configuration.budgets = try BudgetParser.parse(node, path: path)
                continue
            }
            guard let setting = SettingCatalogue.setting(named: key), key != "config.file" else {
                throw ConfigurationError("config file \(path): unknown key \(key.debugDescription)")
            }
            guard let scalar = node.string else {
                throw ConfigurationError("config file \(path): key \(key.debugDescription) must have a single value")
            }
            do {
                try setting.apply(&configuration, scalar)
            } catch {
                throw ConfigurationError(
                    "config file \(path): invalid value \(scalar.debugDescription) for \(key): \(error)")
            }
        }
        try validate(configuration, origin: "config file \(path)")
    }

    /// Checks rules that involve more than one setting.
    static func validate(_ configuration: ExporterConfiguration, origin: String) throws(ConfigurationError) {
        let estimate = configuration.estimate
        if estimate.cpuMaximumWattsPerVCPU < estimate.cpuMinimumWattsPerVCPU {
            throw ConfigurationError(
                "\(origin): estimate.cpu-max-watts (\(estimate.cpuMaximumWattsPerVCPU)) is below estimate.cpu-min-watts (\(estimate.cpuMinimumWattsPerVCPU))"
            )
        }
    }

    /// Nested mappings become dotted keys (`grid: {intensity: 1}` → `grid.intensity`); a key `enabled` stands for its
    /// parent, so `collector: {nvml: {enabled: true, library: …}}` sets both `collector.nvml` and its library.
    private static func flatten(
        _ mapping: [YAMLPair], prefix: String, into entries: inout [(key: String, node: YAMLNode)], path: String
    ) throws(ConfigurationError) {
        for pair in mapping {
            let value = pair.value
            guard let keyText = pair.key.string, !keyText.isEmpty else {
                throw ConfigurationError("config file \(path): keys must be plain names")
            }
            let name = keyText == "enabled" && !prefix.isEmpty ? prefix : join(prefix, keyText)
            if case .mapping(let nested) = value {
                try flatten(nested, prefix: name, into: &entries, path: path)
            } else {
                if entries.contains(where: { $0.key == name }) {
                    throw ConfigurationError("config file \(path): key \(name.debugDescription) is given twice")
                }
                entries.append((name, value))
            }
        }
    }

    private static func join(_ prefix: String, _ key: String) -> String {
        prefix.isEmpty ? key : "\(prefix).\(key)"
    }

    private static func readConfigFile(_ path: String) throws(ConfigurationError) -> String {
        guard let file = fopen(path, "r") else {
            throw ConfigurationError("cannot read config file \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count > 0 { bytes.append(contentsOf: chunk[0..<count]) }
            if count < chunk.count { break }
            if bytes.count > 16 << 20 { throw ConfigurationError("config file \(path) is larger than 16 MiB") }
        }
        if ferror(file) != 0 {
            throw ConfigurationError("cannot read config file \(path): \(String(cString: strerror(errno)))")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigurationError("config file \(path) is not UTF-8 text")
        }
        return text
    }

    private static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingPrefix(" ") }.joined(separator: " ")
    }
}

/// Parses the `budgets:` list of the config file.
enum BudgetParser {
    static func parse(_ node: YAMLNode, path: String) throws(ConfigurationError) -> [EmissionBudget] {
        guard case .sequence(let sequence) = node else {
            throw ConfigurationError("config file \(path): budgets must be a list of {name, window, grams}")
        }
        var budgets: [EmissionBudget] = []
        for (position, item) in sequence.enumerated() {
            let label = "budgets[\(position)]"
            guard case .mapping(let mapping) = item else {
                throw ConfigurationError("config file \(path): \(label) must be a mapping {name, window, grams}")
            }
            var fields: [String: String] = [:]
            for pair in mapping {
                guard let key = pair.key.string, let value = pair.value.string else {
                    throw ConfigurationError("config file \(path): \(label) must map names to single values")
                }
                guard ["name", "window", "grams"].contains(key) else {
                    throw ConfigurationError(
                        "config file \(path): unknown key \(key.debugDescription) in \(label)")
                }
                fields[key] = value
            }
            guard let name = fields["name"], !name.isEmpty else {
                throw ConfigurationError("config file \(path): \(label) needs a name")
            }
            guard let windowText = fields["window"], let window = PrometheusDuration.parse(windowText),
                window >= .seconds(60)
            else {
                throw ConfigurationError(
                    "config file \(path): \(label) (\(name)) needs a window of at least 1m, like 24h or 30d")
            }
            guard let gramsText = fields["grams"], let grams = Double(gramsText), grams.isFinite, grams > 0 else {
                throw ConfigurationError("config file \(path): \(label) (\(name)) needs grams > 0")
            }
            if budgets.contains(where: { $0.name == name && $0.window == window }) {
                throw ConfigurationError(
                    "config file \(path): budget \(name.debugDescription) over \(windowText) is given twice")
            }
            budgets.append(EmissionBudget(name: name, window: window, windowLabel: windowText, grams: grams))
        }
        return budgets
    }
}
