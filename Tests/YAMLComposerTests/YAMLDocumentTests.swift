import XCTest

@testable import YAMLComposer

/// The libyaml composer that replaced a full YAML library: what the config files use, and hostile input.
final class YAMLDocumentTests: XCTestCase {
    func testEmptyDocumentIsNil() throws {
        XCTAssertNil(try YAMLDocument.compose(""))
        XCTAssertNil(try YAMLDocument.compose("# only a comment\n"))
    }

    func testBlockAndFlowMappingsKeepOrder() throws {
        let node = try XCTUnwrap(try YAMLDocument.compose("pue: 1.4\ngrid: {intensity: 300}\nlist: [a, 'b']\n"))
        let pairs = try XCTUnwrap(node.mapping)
        XCTAssertEqual(pairs.map { $0.0.string }, ["pue", "grid", "list"])
        XCTAssertEqual(pairs[0].1.string, "1.4")
        XCTAssertEqual(pairs[1].1.mapping?.first?.1.string, "300")
        XCTAssertEqual(pairs[2].1.sequence?.compactMap(\.string), ["a", "b"])
    }

    func testPlainAndQuotedScalars() throws {
        let pairs = try XCTUnwrap(
            try YAMLDocument.compose("a: ~\nb: 'null'\nc: true\nd: \"true\"\ne:\n").flatMap(\.mapping))
        XCTAssertNotNil(pairs[0].1.null)
        XCTAssertNil(pairs[1].1.null, "a quoted 'null' is a string")
        XCTAssertEqual(pairs[2].1.bool, true)
        XCTAssertNil(pairs[3].1.bool, "a quoted \"true\" is a string")
        XCTAssertNotNil(pairs[4].1.null)
    }

    func testAnchorsAndAliasesResolve() throws {
        let pairs = try XCTUnwrap(try YAMLDocument.compose("base: &b {x: 1}\ncopy: *b\n").flatMap(\.mapping))
        XCTAssertEqual(pairs[1].1, pairs[0].1)
        XCTAssertThrowsError(try YAMLDocument.compose("a: *missing\n"))
    }

    func testMalformedYAMLSaysWhere() {
        XCTAssertThrowsError(try YAMLDocument.compose("pue: [\n")) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.hasPrefix("2:1:"), text)
            XCTAssertFalse(text.contains("\n"))
        }
    }

    func testHostileNestingIsRefusedNotRecursed() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        XCTAssertThrowsError(try YAMLDocument.compose(deep))
    }

    /// 871 bytes of nested aliases once expanded without end: start-up never finished, SIGHUP pinned a core.
    func testAnAliasBombIsRefusedAtOnce() {
        var lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
        for level in 1...9 {
            let previous = "*a\(level - 1)"
            lines.append("a\(level): &a\(level) [\(Array(repeating: previous, count: 9).joined(separator: ", "))]")
        }
        lines.append("pue: *a9")
        XCTAssertThrowsError(try YAMLDocument.compose(lines.joined(separator: "\n"))) { error in
            XCTAssertTrue("\(error)".contains("alias"), "\(error)")
        }
    }

    func testModestAliasesStillExpand() throws {
        let text = "base: &b {x: 1}\nuses: [*b, *b, *b]\n"
        guard case .mapping(let pairs) = try XCTUnwrap(try YAMLDocument.compose(text)) else { return XCTFail() }
        XCTAssertEqual(pairs.count, 2)
    }

    /// A second document was silently ignored: the file applied was not the file written.
    func testASecondDocumentIsAnError() {
        XCTAssertThrowsError(try YAMLDocument.compose("pue: 1.2\n---\npue: 1.5\n")) { error in
            XCTAssertTrue("\(error)".contains("more than one YAML document"), "\(error)")
        }
        XCTAssertNoThrow(try YAMLDocument.compose("---\npue: 1.2\n...\n"), "one explicit document is fine")
    }

    func testTagsAreRefused() {
        for text in ["pue: !!str 1.2\n", "pue: !custom 1\n", "list: !!seq [1]\n", "!!map {a: 1}\n"] {
            XCTAssertThrowsError(try YAMLDocument.compose(text), text) { error in
                XCTAssertTrue("\(error)".contains("tags are not supported"), "\(error)")
            }
        }
    }
}
