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
}
