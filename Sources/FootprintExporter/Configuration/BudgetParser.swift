import YAMLComposer

/// Parses the `budgets:` list of the config file.
enum BudgetParser {
    static func parse(_ node: YAMLNode) throws(ConfigurationError) -> [EmissionBudget] {
        guard case .sequence(let sequence) = node else {
            throw ConfigurationError("budgets must be a list of {name, window, grams}")
        }
        var budgets: [EmissionBudget] = []
        var seen = Set<String>()
        for (position, item) in sequence.enumerated() {
            let label = "budgets[\(position)]"
            guard case .mapping(let mapping) = item else {
                throw ConfigurationError("\(label) must be a mapping {name, window, grams}")
            }
            var fields: [String: String] = [:]
            for pair in mapping {
                guard let key = pair.key.string, let value = pair.value.string else {
                    throw ConfigurationError("\(label) must map names to single values")
                }
                guard ["name", "window", "grams"].contains(key) else {
                    throw ConfigurationError("unknown key \(key.debugDescription) in \(label)")
                }
                fields[key] = value
            }
            guard let name = fields["name"], !name.isEmpty else {
                throw ConfigurationError("\(label) needs a name")
            }
            guard let windowText = fields["window"], let window = PrometheusDuration.parse(windowText),
                window >= .seconds(60)
            else {
                throw ConfigurationError("\(label) (\(name)) needs a window of at least 1m, like 24h or 30d")
            }
            guard let gramsText = fields["grams"], let grams = try? SettingText.parseNumber(gramsText), grams > 0
            else {
                throw ConfigurationError("\(label) (\(name)) needs grams > 0")
            }
            guard seen.insert("\(name)\u{0}\(PrometheusDuration.format(window))").inserted else {
                throw ConfigurationError("budget \(name.debugDescription) over \(windowText) is given twice")
            }
            budgets.append(EmissionBudget(name: name, window: window, windowLabel: windowText, grams: grams))
        }
        return budgets
    }
}
