import MetricsServer

/// The kinds of value settings take, each with its parser and validation, so the catalogue declares a setting in one
/// expression: `.number("pue", default: 1.58, in: 1...10, …)`.
extension Setting {
    /// A value setting parsed by `parse`; `describe` prints it the way a flag spells it.
    static func value(
        _ name: String, _ placeholder: String, default defaultValue: Value, help: String,
        appliesOnReload: Bool = false, allowedInConfigFile: Bool = true,
        describe: @escaping @Sendable (Value) -> String,
        parse: @escaping @Sendable (String) throws(ConfigurationError) -> Value
    ) -> Setting {
        Setting(
            name, form: .value(placeholder: placeholder), default: defaultValue, help: help,
            appliesOnReload: appliesOnReload, allowedInConfigFile: allowedInConfigFile, describe: describe
        ) { input throws(ConfigurationError) in try parse(try input.scalar()) }
    }
}

extension Setting where Value == Bool {
    /// An on/off switch: `--name` and `--no-name`; `true`/`false` (or yes/no, on/off, 1/0) in the file.
    static func toggle(_ name: String, default defaultValue: Bool = true, help: String) -> Setting {
        Setting(name, form: .toggle, default: defaultValue, help: help, describe: { String($0) }) {
            input throws(ConfigurationError) in
            switch try input.scalar().lowercased() {
            case "true", "yes", "on", "1": return true
            case "false", "no", "off", "0": return false
            default: throw ConfigurationError("must be true or false")
            }
        }
    }
}

extension Setting where Value == Double {
    /// A decimal number within `range`.
    static func number(
        _ name: String, _ unit: String, default defaultValue: Double, in range: ClosedRange<Double>, help: String,
        appliesOnReload: Bool = false
    ) -> Setting {
        .value(
            name, unit, default: defaultValue, help: "\(help) (\(SettingText.range(range)))",
            appliesOnReload: appliesOnReload, describe: SettingText.number
        ) { text throws(ConfigurationError) in
            let value = try SettingText.parseNumber(text)
            guard range.contains(value) else {
                throw ConfigurationError("must be between \(SettingText.range(range))")
            }
            return value
        }
    }
}

extension Setting where Value == Int {
    /// A whole number within `range`.
    static func integer(_ name: String, default defaultValue: Int, in range: ClosedRange<Int>, help: String) -> Setting
    {
        .value(
            name, "count", default: defaultValue, help: "\(help) (\(range.lowerBound)–\(range.upperBound))",
            describe: { String($0) }
        ) { text throws(ConfigurationError) in
            guard let value = Int(text) else { throw ConfigurationError("not a whole number") }
            guard range.contains(value) else {
                throw ConfigurationError("must be between \(range.lowerBound) and \(range.upperBound)")
            }
            return value
        }
    }
}

extension Setting where Value == Duration {
    /// A duration in Prometheus notation (`100ms`, `5s`, `1h30m`) within `range`.
    static func duration(
        _ name: String, default defaultValue: Duration, in range: ClosedRange<Duration>, help: String,
        appliesOnReload: Bool = false
    ) -> Setting {
        let bounds = "\(PrometheusDuration.format(range.lowerBound))–\(PrometheusDuration.format(range.upperBound))"
        return .value(
            name, "duration", default: defaultValue, help: "\(help) (\(bounds))", appliesOnReload: appliesOnReload,
            describe: PrometheusDuration.format
        ) { text throws(ConfigurationError) in
            guard let duration = PrometheusDuration.parse(text) else {
                throw ConfigurationError("not a duration (use 100ms, 5s, 1m, 1h30m)")
            }
            guard duration >= range.lowerBound else {
                throw ConfigurationError("must be at least \(PrometheusDuration.format(range.lowerBound))")
            }
            guard duration <= range.upperBound else {
                throw ConfigurationError("must be at most \(PrometheusDuration.format(range.upperBound))")
            }
            return duration
        }
    }
}

extension Setting where Value == String {
    /// A non-empty path or name.
    static func path(_ name: String, default defaultValue: String, help: String) -> Setting {
        .value(name, "path", default: defaultValue, help: help, describe: { $0 }) { text throws(ConfigurationError) in
            guard !text.isEmpty else { throw ConfigurationError("must not be empty") }
            return text
        }
    }

    /// One of `choices`.
    static func choice(
        _ name: String, _ placeholder: String, default defaultValue: String, _ choices: [String], help: String,
        appliesOnReload: Bool = false
    ) -> Setting {
        let list = choices.joined(separator: ", ")
        return .value(
            name, placeholder, default: defaultValue, help: "\(help): \(list)", appliesOnReload: appliesOnReload,
            describe: { $0 }
        ) {
            text throws(ConfigurationError) in
            let choice = text.lowercased()
            guard choices.contains(choice) else { throw ConfigurationError("must be one of \(list)") }
            return choice
        }
    }
}

extension Setting where Value == String? {
    /// One of `choices`, or none (the default).
    static func optionalChoice(
        _ name: String, _ placeholder: String, _ choices: [String], help: String, appliesOnReload: Bool = false
    ) -> Setting {
        let list = choices.joined(separator: ", ")
        return .value(
            name, placeholder, default: nil, help: "\(help): \(list)", appliesOnReload: appliesOnReload,
            describe: { $0 ?? "none" }
        ) { text throws(ConfigurationError) in
            let choice = text.lowercased()
            guard choices.contains(choice) else { throw ConfigurationError("must be one of \(list)") }
            return choice
        }
    }

    /// An optional non-empty path; absent by default.
    static func optionalPath(
        _ name: String, help: String, allowedInConfigFile: Bool = true, appliesOnReload: Bool = false
    ) -> Setting {
        .value(
            name, "path", default: nil, help: help, appliesOnReload: appliesOnReload,
            allowedInConfigFile: allowedInConfigFile,
            describe: { $0 ?? "none" }
        ) { text throws(ConfigurationError) in
            guard !text.isEmpty else { throw ConfigurationError("must not be empty") }
            return text
        }
    }
}

/// How setting values are read and printed.
enum SettingText {
    static func parseNumber(_ text: String) throws(ConfigurationError) -> Double {
        let trimmed = text.trimmingSpaces()
        // Only plain decimal notation: Swift's Double(_:) also takes hexadecimal floats (0x1p0), infinities and NaN.
        guard !trimmed.isEmpty, trimmed.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) }),
            let value = Double(trimmed), value.isFinite
        else {
            throw ConfigurationError("not a number")
        }
        return value
    }

    /// A number the way a person writes it: `1.58`, `432.7`, `1024`.
    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    static func range(_ range: ClosedRange<Double>) -> String {
        "\(number(range.lowerBound))–\(number(range.upperBound))"
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var text = Substring(self)
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return String(text)
    }
}
