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

/// Composes the one document of a YAML text into a `YAMLNode`; nil for an empty document. A second document, a tag
/// (`!!str`, `!custom`) or aliases that would expand past `maximumExpandedNodes` are errors: silently ignoring the
/// first two would apply a file other than the one written, and an alias bomb of a few hundred bytes would expand to
/// billions of nodes in whatever walks the tree.
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

    /// The most nodes a document may stand for once its aliases are expanded.
    public static let maximumExpandedNodes = 100_000

    /// Builds nodes from the event stream with an explicit stack (no recursion on hostile nesting).
    private struct Composer {
        /// An open sequence or mapping. A class, so that adding a child appends in place: a frame held in an enum
        /// was copied out and back on every child, which made a mapping of n keys cost n² (40,000 keys took 30 s).
        private final class Frame {
            let isMapping: Bool
            let anchor: String?
            var items: [YAMLNode] = []
            var pairs: [YAMLPair] = []
            var pendingKey: YAMLNode?
            /// How many nodes the frame stands for, expanded.
            var size = 1

            init(isMapping: Bool, anchor: String?) {
                self.isMapping = isMapping
                self.anchor = anchor
            }

            var node: YAMLNode { isMapping ? .mapping(pairs) : .sequence(items) }
        }

        private var stack: [Frame] = []
        private var anchors: [String: (node: YAMLNode, size: Int)] = [:]
        private var root: YAMLNode?
        private var documentEnded = false
        private var expandedNodes = 0
        private static let maximumDepth = 64

        mutating func run(_ parser: inout yaml_parser_t) throws(YAMLError) -> YAMLNode? {
            var event = yaml_event_t()
            while true {
                guard yaml_parser_parse(&parser, &event) == 1 else { throw Self.error(parser) }
                defer { yaml_event_delete(&event) }
                switch event.type {
                case YAML_STREAM_END_EVENT:
                    return root
                case YAML_DOCUMENT_START_EVENT:
                    if documentEnded {
                        throw YAMLError(description: "the file holds more than one YAML document; write only one")
                    }
                case YAML_DOCUMENT_END_EVENT:
                    documentEnded = true
                case YAML_SCALAR_EVENT:
                    let scalar = event.data.scalar
                    try Self.refuseTag(scalar.tag, implicit: scalar.plain_implicit == 1 || scalar.quoted_implicit == 1)
                    let text = String(
                        decoding: UnsafeBufferPointer(start: scalar.value, count: Int(scalar.length)), as: UTF8.self)
                    let node = YAMLNode.scalar(text, plain: scalar.style == YAML_PLAIN_SCALAR_STYLE)
                    if let anchor = Self.text(scalar.anchor) { anchors[anchor] = (node, 1) }
                    try add(node, size: 1)
                case YAML_ALIAS_EVENT:
                    guard let name = Self.text(event.data.alias.anchor), let anchored = anchors[name] else {
                        throw YAMLError(description: "unknown alias")
                    }
                    try add(anchored.node, size: anchored.size)
                case YAML_SEQUENCE_START_EVENT:
                    let start = event.data.sequence_start
                    try Self.refuseTag(start.tag, implicit: start.implicit == 1)
                    guard stack.count < Self.maximumDepth else { throw YAMLError(description: "nested too deeply") }
                    stack.append(Frame(isMapping: false, anchor: Self.text(start.anchor)))
                case YAML_MAPPING_START_EVENT:
                    let start = event.data.mapping_start
                    try Self.refuseTag(start.tag, implicit: start.implicit == 1)
                    guard stack.count < Self.maximumDepth else { throw YAMLError(description: "nested too deeply") }
                    stack.append(Frame(isMapping: true, anchor: Self.text(start.anchor)))
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    guard let frame = stack.popLast() else { throw YAMLError(description: "unbalanced document") }
                    let node = frame.node
                    if let anchor = frame.anchor { anchors[anchor] = (node, frame.size) }
                    try add(node, size: frame.size, counted: true)
                default:
                    break  // the stream's start carries nothing the configuration needs
                }
            }
        }

        /// Adds `node`, which stands for `size` nodes once expanded, to the open frame (or makes it the root).
        /// `counted`: the node's own nodes were already counted as they arrived (a container just closed).
        private mutating func add(_ node: YAMLNode, size: Int, counted: Bool = false) throws(YAMLError) {
            if !counted {
                expandedNodes += size
                guard expandedNodes <= YAMLDocument.maximumExpandedNodes else {
                    throw YAMLError(
                        description:
                            "aliases expand to more than \(YAMLDocument.maximumExpandedNodes) nodes (an alias bomb?)")
                }
            }
            guard let top = stack.last else {
                root = node
                return
            }
            top.size += size
            if !top.isMapping {
                top.items.append(node)
            } else if let key = top.pendingKey {
                top.pairs.append(YAMLPair(key: key, value: node))
                top.pendingKey = nil
            } else {
                top.pendingKey = node
            }
        }

        /// A tag the document spells out changes what a value means; the exporter's files have no use for one.
        private static func refuseTag(_ tag: UnsafeMutablePointer<yaml_char_t>?, implicit: Bool) throws(YAMLError) {
            guard let name = text(tag), !implicit else { return }
            throw YAMLError(description: "YAML tags are not supported (found \(name))")
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
