import CYAML

/// A YAML node as the config files need it: scalars, mappings and sequences (anchors resolved, tags ignored).
///
/// A small composer over libyaml's event API; it replaces a full YAML library (which would bring Foundation) so that
/// the exporter links only FoundationEssentials (bench/analysis.md: Foundation's pages were most of the resident memory
/// above node_exporter's).
public indirect enum YAMLNode: Sendable, Equatable {
    case scalar(String, plain: Bool)
    case mapping([YAMLPair])
    case sequence([YAMLNode])

    /// The text of a scalar.
    public var string: String? {
        if case .scalar(let text, _) = self { return text }
        return nil
    }

    /// A plain scalar that YAML reads as null (`~`, `null`, or nothing).
    public var null: Void? {
        if case .scalar(let text, true) = self, ["", "~", "null", "Null", "NULL"].contains(text) { return () }
        return nil
    }

    /// A plain scalar that YAML reads as a boolean.
    public var bool: Bool? {
        guard case .scalar(let text, true) = self else { return nil }
        switch text {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: return nil
        }
    }

    /// The keys and values of a mapping, in document order.
    public var mapping: [(YAMLNode, YAMLNode)]? {
        if case .mapping(let pairs) = self { return pairs.map { ($0.key, $0.value) } }
        return nil
    }

    public var sequence: [YAMLNode]? {
        if case .sequence(let items) = self { return items }
        return nil
    }
}

/// One key and value of a mapping, in document order.
public struct YAMLPair: Sendable, Equatable {
    public let key: YAMLNode
    public let value: YAMLNode
}

/// Why a document could not be read: libyaml's problem and where it is.
public struct YAMLError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// Composes the first document of a YAML text into a `YAMLNode`; nil for an empty document.
public enum YAMLDocument {
    public static func compose(_ text: String) throws(YAMLError) -> YAMLNode? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw YAMLError(description: "cannot initialise libyaml") }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { buffer throws(YAMLError) -> YAMLNode? in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var composer = Composer()
            return try composer.run(&parser)
        }
    }

    /// Builds nodes from the event stream with an explicit stack (no recursion on hostile nesting).
    private struct Composer {
        private enum Frame {
            case mapping(anchor: String?, pairs: [YAMLPair], pendingKey: YAMLNode?)
            case sequence(anchor: String?, items: [YAMLNode])
        }

        private var stack: [Frame] = []
        private var anchors: [String: YAMLNode] = [:]
        private var root: YAMLNode?
        private var finished = false
        private static let maximumDepth = 64

        mutating func run(_ parser: inout yaml_parser_t) throws(YAMLError) -> YAMLNode? {
            var event = yaml_event_t()
            while !finished {
                guard yaml_parser_parse(&parser, &event) == 1 else { throw Self.error(parser) }
                defer { yaml_event_delete(&event) }
                switch event.type {
                case YAML_STREAM_END_EVENT, YAML_DOCUMENT_END_EVENT:
                    finished = true
                case YAML_SCALAR_EVENT:
                    let scalar = event.data.scalar
                    let text = String(
                        decoding: UnsafeBufferPointer(start: scalar.value, count: Int(scalar.length)), as: UTF8.self)
                    let node = YAMLNode.scalar(text, plain: scalar.style == YAML_PLAIN_SCALAR_STYLE)
                    if let anchor = Self.text(scalar.anchor) { anchors[anchor] = node }
                    try add(node)
                case YAML_ALIAS_EVENT:
                    guard let name = Self.text(event.data.alias.anchor), let node = anchors[name] else {
                        throw YAMLError(description: "unknown alias")
                    }
                    try add(node)
                case YAML_SEQUENCE_START_EVENT:
                    guard stack.count < Self.maximumDepth else { throw YAMLError(description: "nested too deeply") }
                    stack.append(.sequence(anchor: Self.text(event.data.sequence_start.anchor), items: []))
                case YAML_MAPPING_START_EVENT:
                    guard stack.count < Self.maximumDepth else { throw YAMLError(description: "nested too deeply") }
                    stack.append(
                        .mapping(anchor: Self.text(event.data.mapping_start.anchor), pairs: [], pendingKey: nil))
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    guard let frame = stack.popLast() else { throw YAMLError(description: "unbalanced document") }
                    switch frame {
                    case .sequence(let anchor, let items):
                        let node = YAMLNode.sequence(items)
                        if let anchor { anchors[anchor] = node }
                        try add(node)
                    case .mapping(let anchor, let pairs, _):
                        let node = YAMLNode.mapping(pairs)
                        if let anchor { anchors[anchor] = node }
                        try add(node)
                    }
                default:
                    break  // stream and document starts carry nothing the configuration needs
                }
            }
            return root
        }

        private mutating func add(_ node: YAMLNode) throws(YAMLError) {
            guard let top = stack.popLast() else {
                root = node
                return
            }
            switch top {
            case .sequence(let anchor, var items):
                items.append(node)
                stack.append(.sequence(anchor: anchor, items: items))
            case .mapping(let anchor, var pairs, let pendingKey):
                if let pendingKey {
                    pairs.append(YAMLPair(key: pendingKey, value: node))
                    stack.append(.mapping(anchor: anchor, pairs: pairs, pendingKey: nil))
                } else {
                    stack.append(.mapping(anchor: anchor, pairs: pairs, pendingKey: node))
                }
            }
        }

        private static func text(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
        }

        private static func error(_ parser: yaml_parser_t) -> YAMLError {
            let problem = parser.problem.map { String(cString: $0) } ?? "malformed YAML"
            let context = parser.context.map { String(cString: $0) + " " } ?? ""
            return YAMLError(
                description:
                    "\(Int(parser.problem_mark.line) + 1):\(Int(parser.problem_mark.column) + 1): \(context)\(problem)")
        }
    }
}
