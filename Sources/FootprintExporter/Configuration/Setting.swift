import YAMLComposer

/// How a setting is written on the command line and in the config file.
public enum SettingForm: Sendable, Hashable {
    /// Takes a value: `--name=value`, or `name: value` in the file.
    case value(placeholder: String)
    /// A switch with a `--no-` form; `true` or `false` in the file.
    case toggle
    /// A structure that only the config file can hold (a list of budgets, say); `shape` says what it looks like.
    case fileOnly(shape: String)

    /// True for settings that only the config file can hold.
    public var isFileOnly: Bool {
        if case .fileOnly = self { return true }
        return false
    }
}

/// One setting of the exporter: its name (the flag `--name`, and the config-file key path `name` split at dots), its
/// type, default, validation, help and whether a reload applies it. Declared once, in `SettingCatalogue`; the command
/// line, `--help`, the config file, SIGHUP reload and docs/settings.md all follow from the declaration.
public struct Setting<Value: Sendable & Hashable>: Sendable {
    public let name: String
    public let form: SettingForm
    /// One sentence for `--help` and docs/settings.md, with the accepted range.
    public let help: String
    public let defaultValue: Value
    /// True when SIGHUP applies a changed value to the running exporter; false when it needs a restart.
    public let appliesOnReload: Bool
    /// False for the one setting that names the config file itself.
    public let allowedInConfigFile: Bool
    let parse: @Sendable (SettingInput) throws(ConfigurationError) -> Value
    /// The value as a flag would spell it (`1s`, `true`, `:9636`), or "none".
    let describe: @Sendable (Value) -> String

    init(
        _ name: String, form: SettingForm, default defaultValue: Value, help: String, appliesOnReload: Bool = false,
        allowedInConfigFile: Bool = true,
        describe: @escaping @Sendable (Value) -> String,
        parse: @escaping @Sendable (SettingInput) throws(ConfigurationError) -> Value
    ) {
        self.name = name
        self.form = form
        self.help = help
        self.defaultValue = defaultValue
        self.appliesOnReload = appliesOnReload
        self.allowedInConfigFile = allowedInConfigFile
        self.describe = describe
        self.parse = parse
    }
}

/// A value as it arrives: the text of a flag or of a scalar in the config file, or a structured config-file node.
public enum SettingInput: Sendable {
    case text(String)
    case node(YAMLNode, path: String)

    /// The scalar text; a structure where a scalar belongs is an error.
    func scalar() throws(ConfigurationError) -> String {
        switch self {
        case .text(let text): return text
        case .node(let node, _):
            guard let text = node.string else { throw ConfigurationError("must have a single value") }
            return text
        }
    }
}

/// A setting of any value type, as the catalogue lists it and the loader, reload and docs use it.
public protocol AnySetting: Sendable {
    var name: String { get }
    var form: SettingForm { get }
    var help: String { get }
    var appliesOnReload: Bool { get }
    var allowedInConfigFile: Bool { get }
    /// The default as a flag would spell it.
    var defaultText: String { get }
    /// Parses and validates `input` and stores it in `configuration`.
    func apply(_ input: SettingInput, to configuration: inout ExporterConfiguration) throws(ConfigurationError)
    /// The value in `configuration`, as a flag would spell it.
    func text(in configuration: ExporterConfiguration) -> String
    /// Whether `first` and `second` hold different values of this setting.
    func differs(_ first: ExporterConfiguration, _ second: ExporterConfiguration) -> Bool
    /// Copies this setting's value from `source` into `target`.
    func copy(from source: ExporterConfiguration, to target: inout ExporterConfiguration)
}

extension Setting: AnySetting {
    public var defaultText: String { describe(defaultValue) }

    public func apply(_ input: SettingInput, to configuration: inout ExporterConfiguration) throws(ConfigurationError) {
        configuration[self] = try parse(input)
    }

    public func text(in configuration: ExporterConfiguration) -> String { describe(configuration[self]) }

    public func differs(_ first: ExporterConfiguration, _ second: ExporterConfiguration) -> Bool {
        first[self] != second[self]
    }

    public func copy(from source: ExporterConfiguration, to target: inout ExporterConfiguration) {
        target[self] = source[self]
    }
}
