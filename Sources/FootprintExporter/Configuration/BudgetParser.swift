import Workloads
import YAMLComposer

/// Parses the `budgets:` list of the config file.
enum BudgetParser {
    static func parse(_ node: YAMLNode) throws(ConfigurationError) -> [EmissionBudget] {
        guard case .sequence(let sequence) = node else {
            throw ConfigurationError("budgets must be a list of {name, window, grams, match}")
        }
        var budgets: [EmissionBudget] = []
        var seen = Set<String>()
        var matchOfName: [String: WorkloadMatch?] = [:]
        var embodiedOfName: [String: Bool] = [:]
        for (position, item) in sequence.enumerated() {
            let label = "budgets[\(position)]"
            guard case .mapping(let mapping) = item else {
                throw ConfigurationError("\(label) must be a mapping {name, window, grams, match}")
            }
            var fields: [String: String] = [:]
            var matchNode: YAMLNode?
            for pair in mapping {
                guard let key = pair.key.string else {
                    throw ConfigurationError("\(label) must map names to values")
                }
                guard ["name", "window", "grams", "match", "include_embodied"].contains(key) else {
                    throw ConfigurationError("unknown key \(key.debugDescription) in \(label)")
                }
                if key == "match" {
                    matchNode = pair.value
                    continue
                }
                guard let value = pair.value.string else {
                    throw ConfigurationError("\(label) must map \(key) to a single value")
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
            var includeEmbodied = false
            switch fields["include_embodied"]?.lowercased() {
            case nil, "false", "no", "off": break
            case "true", "yes", "on": includeEmbodied = true
            default: throw ConfigurationError("\(label) (\(name)): include_embodied must be true or false")
            }
            var match: WorkloadMatch?
            if let matchNode {
                do {
                    match = try parseMatch(matchNode)
                } catch {
                    throw ConfigurationError("\(label) (\(name)): match: \(error.message)")
                }
            }
            guard seen.insert("\(name)\u{0}\(PrometheusDuration.format(window))").inserted else {
                throw ConfigurationError("budget \(name.debugDescription) over \(windowText) is given twice")
            }
            if let earlier = matchOfName[name], earlier != match {
                throw ConfigurationError(
                    "\(label) (\(name)): every window of budget \(name.debugDescription) must have the same match: (\(describe(earlier)) before, \(describe(match)) here)"
                )
            }
            matchOfName[name] = match
            if let earlier = embodiedOfName[name], earlier != includeEmbodied {
                throw ConfigurationError(
                    "\(label) (\(name)): every window of budget \(name.debugDescription) must have the same include_embodied"
                )
            }
            embodiedOfName[name] = includeEmbodied
            budgets.append(
                EmissionBudget(
                    name: name, window: window, windowLabel: windowText, grams: grams, match: match,
                    includeEmbodied: includeEmbodied))
        }
        return budgets
    }

    /// `match:`: one matcher (a mapping) or a non-empty list of them.
    static func parseMatch(_ node: YAMLNode) throws(ConfigurationError) -> WorkloadMatch {
        switch node {
        case .mapping:
            return WorkloadMatch(anyOf: [try parseMatcher(node, label: nil)])
        case .sequence(let items):
            guard !items.isEmpty else { throw ConfigurationError("an empty list matches nothing") }
            var matchers: [WorkloadMatch.Matcher] = []
            for (position, item) in items.enumerated() {
                matchers.append(try parseMatcher(item, label: "[\(position)]"))
            }
            return WorkloadMatch(anyOf: matchers)
        case .scalar:
            throw ConfigurationError("must be a mapping like {kind: pod, namespace: \"nlp-*\"}, or a list of them")
        }
    }

    private static func parseMatcher(_ node: YAMLNode, label: String?) throws(ConfigurationError)
        -> WorkloadMatch.Matcher
    {
        let prefix = label.map { "\($0) " } ?? ""
        guard case .mapping(let pairs) = node else {
            throw ConfigurationError("\(prefix)must be a mapping like {kind: pod, namespace: \"nlp-*\"}")
        }
        guard !pairs.isEmpty else {
            throw ConfigurationError("\(prefix)is an empty matcher; give at least one of \(keyList)")
        }
        var matcher = WorkloadMatch.Matcher()
        var seen = Set<String>()
        for pair in pairs {
            guard let keyText = pair.key.string else { throw ConfigurationError("\(prefix)keys must be plain names") }
            guard let key = WorkloadMatch.Key(rawValue: keyText) else {
                throw ConfigurationError("\(prefix)unknown key \(keyText.debugDescription); use \(keyList)")
            }
            guard seen.insert(keyText).inserted else {
                throw ConfigurationError("\(prefix)key \(keyText) is given twice")
            }
            guard let value = pair.value.string else {
                throw ConfigurationError("\(prefix)\(keyText) must be a single value")
            }
            if key == .kind {
                guard let kind = WorkloadKind(rawValue: value) else {
                    throw ConfigurationError(
                        "\(prefix)unknown kind \(value.debugDescription); use \(WorkloadKind.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                matcher.kind = kind
            } else {
                do {
                    matcher.patterns[key] = try GlobPattern(value)
                } catch {
                    throw ConfigurationError("\(prefix)\(keyText) \(value.debugDescription): \(error.message)")
                }
            }
        }
        return matcher
    }

    private static var keyList: String { WorkloadMatch.Key.allCases.map(\.rawValue).joined(separator: ", ") }

    private static func describe(_ match: WorkloadMatch?) -> String {
        match.map { "match: \($0)" } ?? "no match"
    }
}
