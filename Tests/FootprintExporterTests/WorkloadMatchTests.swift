import Workloads
import XCTest
import YAMLComposer

@testable import FootprintExporter

/// `match:` of a budget: the matcher alone (exact values, globs, all keys of a matcher, any matcher of a list, case),
/// and its parsing and validation.
final class WorkloadMatchTests: XCTestCase {
    private func names(
        namespace: String = "", pod: String = "", jobID: String = "", user: String = "", unit: String = ""
    ) -> WorkloadNames {
        var names = WorkloadNames()
        names.namespace = namespace
        names.pod = pod
        names.jobID = jobID
        names.user = user
        names.unit = unit
        return names
    }

    private func matcher(_ kind: WorkloadKind? = nil, _ patterns: [WorkloadMatch.Key: String]) throws
        -> WorkloadMatch.Matcher
    {
        var globs: [WorkloadMatch.Key: GlobPattern] = [:]
        for (key, text) in patterns { globs[key] = try GlobPattern(text) }
        return WorkloadMatch.Matcher(kind: kind, patterns: globs)
    }

    /// Parses `yaml` as the value of `match:`.
    private func parse(_ yaml: String) throws -> WorkloadMatch {
        let node = try XCTUnwrap(try YAMLDocument.compose(yaml))
        return try BudgetParser.parseMatch(node)
    }

    private func assertParseFails(
        _ yaml: String, mentioning fragments: [String], file: StaticString = #filePath, line: UInt = #line
    ) {
        do {
            let match = try parse(yaml)
            XCTFail("accepted \(yaml): \(match)", file: file, line: line)
        } catch let error as ConfigurationError {
            XCTAssertFalse(error.message.contains("\n"), file: file, line: line)
            for fragment in fragments {
                XCTAssertTrue(
                    error.message.contains(fragment), "\(error.message.debugDescription) lacks \(fragment)",
                    file: file, line: line)
            }
        } catch {
            XCTFail("unexpected \(error)", file: file, line: line)
        }
    }

    // MARK: - Matching

    func testExactValue() throws {
        let team = try matcher(nil, [.namespace: "nlp"])
        XCTAssertTrue(team.matches(kind: .pod, names: names(namespace: "nlp")))
        XCTAssertFalse(team.matches(kind: .pod, names: names(namespace: "nlp-train")))
        XCTAssertFalse(team.matches(kind: .pod, names: names(namespace: "")))
    }

    func testGlobValue() throws {
        let team = try matcher(nil, [.namespace: "nlp-*"])
        XCTAssertTrue(team.matches(kind: .pod, names: names(namespace: "nlp-train")))
        XCTAssertTrue(team.matches(kind: .pod, names: names(namespace: "nlp-")))
        XCTAssertFalse(team.matches(kind: .pod, names: names(namespace: "nlp")))
        XCTAssertFalse(team.matches(kind: .pod, names: names(namespace: "cv-nlp-x")))
        let jobs = try matcher(.slurmJob, [.jobID: "10[0-4]?"])
        XCTAssertTrue(jobs.matches(kind: .slurmJob, names: names(jobID: "1031")))
        XCTAssertFalse(jobs.matches(kind: .slurmJob, names: names(jobID: "1051")))
        XCTAssertFalse(jobs.matches(kind: .slurmJob, names: names(jobID: "103")))
        let negated = try matcher(nil, [.unit: "[!a]*.service"])
        XCTAssertTrue(negated.matches(kind: .systemdUnit, names: names(unit: "bob.service")))
        XCTAssertFalse(negated.matches(kind: .systemdUnit, names: names(unit: "alice.service")))
        let escaped = try matcher(nil, [.pod: #"web\*"#])
        XCTAssertTrue(escaped.matches(kind: .pod, names: names(pod: "web*")))
        XCTAssertFalse(escaped.matches(kind: .pod, names: names(pod: "web-0")))
        let classes = try matcher(nil, [.user: "[[:alpha:]]*"])
        XCTAssertTrue(classes.matches(kind: .slurmJob, names: names(user: "alice")))
        XCTAssertFalse(classes.matches(kind: .slurmJob, names: names(user: "4242")))
    }

    func testEveryKeyOfAMatcherMustHold() throws {
        let team = try matcher(.pod, [.namespace: "nlp-*", .pod: "train-*"])
        XCTAssertTrue(team.matches(kind: .pod, names: names(namespace: "nlp-a", pod: "train-0")))
        XCTAssertFalse(team.matches(kind: .pod, names: names(namespace: "nlp-a", pod: "serve-0")))
        XCTAssertFalse(team.matches(kind: .pod, names: names(namespace: "cv", pod: "train-0")))
        XCTAssertFalse(
            team.matches(kind: .slurmJob, names: names(namespace: "nlp-a", pod: "train-0")), "the kind must hold too")
        let kindOnly = try matcher(.systemdUnit, [:])
        XCTAssertTrue(kindOnly.matches(kind: .systemdUnit, names: names()))
        XCTAssertFalse(kindOnly.matches(kind: .pod, names: names()))
    }

    func testAnyMatcherOfAListWillDo() throws {
        let alice = WorkloadMatch(anyOf: [
            try matcher(.slurmJob, [.user: "alice"]), try matcher(.systemdUnit, [.unit: "alice-*"]),
        ])
        XCTAssertTrue(alice.matches(kind: .slurmJob, names: names(user: "alice")))
        XCTAssertTrue(alice.matches(kind: .systemdUnit, names: names(unit: "alice-notebook.service")))
        XCTAssertFalse(alice.matches(kind: .slurmJob, names: names(user: "bob", unit: "alice-x")))
        XCTAssertFalse(alice.matches(kind: .systemdUnit, names: names(user: "alice", unit: "bob.service")))
        XCTAssertFalse(alice.matches(kind: .pod, names: names(user: "alice")))
    }

    func testValuesAreCaseSensitive() throws {
        let exact = try matcher(nil, [.user: "alice"])
        XCTAssertFalse(exact.matches(kind: .slurmJob, names: names(user: "Alice")))
        let glob = try matcher(nil, [.namespace: "NLP-*"])
        XCTAssertFalse(glob.matches(kind: .pod, names: names(namespace: "nlp-a")))
        XCTAssertTrue(glob.matches(kind: .pod, names: names(namespace: "NLP-a")))
    }

    func testDescriptionListsKeysInAFixedOrder() throws {
        XCTAssertEqual(
            try parse(#"{namespace: "nlp-*", kind: pod}"#).description, "{kind: pod, namespace: nlp-*}")
        XCTAssertEqual(
            try parse("[{user: alice, kind: slurm_job}, {unit: alice-*}]").description,
            "[{kind: slurm_job, user: alice}, {unit: alice-*}]")
    }

    // MARK: - Parsing

    func testParsesOneMatcherOrAList() throws {
        XCTAssertEqual(
            try parse(#"{kind: pod, namespace: "nlp-*"}"#),
            WorkloadMatch(anyOf: [try matcher(.pod, [.namespace: "nlp-*"])]))
        XCTAssertEqual(
            try parse("- {kind: slurm_job, user: alice}\n- {kind: systemd_unit, unit: \"alice-*\"}\n"),
            WorkloadMatch(anyOf: [
                try matcher(.slurmJob, [.user: "alice"]), try matcher(.systemdUnit, [.unit: "alice-*"]),
            ]))
        XCTAssertTrue(try parse("{namespace: a}").needsPodNames)
        XCTAssertTrue(try parse("[{user: a}, {pod: b}]").needsPodNames)
        XCTAssertFalse(try parse("{kind: pod, job_id: \"1\", user: a, unit: b}").needsPodNames)
    }

    func testUnknownKeyIsRejected() {
        assertParseFails("{kind: pod, namespce: nlp}", mentioning: ["unknown key \"namespce\"", "namespace"])
        assertParseFails("[{user: a}, {sluid: x}]", mentioning: ["[1]", "unknown key \"sluid\""])
    }

    func testUnknownKindIsRejected() {
        assertParseFails("{kind: pods}", mentioning: ["unknown kind \"pods\"", "pod, slurm_job, systemd_unit"])
        assertParseFails("{kind: \"pod*\"}", mentioning: ["unknown kind"])
        assertParseFails("{kind: Pod}", mentioning: ["unknown kind \"Pod\""])
    }

    func testBadGlobIsRejected() {
        assertParseFails(#"{namespace: "nlp-[a-z"}"#, mentioning: ["namespace", "\"nlp-[a-z\"", "unbalanced ["])
        assertParseFails(#"{pod: "web-[]"}"#, mentioning: ["unbalanced ["])
        assertParseFails(#"{user: "[[:alpha:]"}"#, mentioning: ["unbalanced ["])
        assertParseFails(#"{unit: 'a\'}"#, mentioning: ["lone \\"])
        XCTAssertThrowsError(try GlobPattern(""))
        XCTAssertNoThrow(try GlobPattern("[]]"))
        XCTAssertNoThrow(try GlobPattern("[!]x]"))
        XCTAssertNoThrow(try GlobPattern(#"\["#))
    }

    func testEmptyMatcherIsRejected() {
        assertParseFails("{}", mentioning: ["empty matcher"])
        assertParseFails("[{kind: pod}, {}]", mentioning: ["[1]", "empty matcher"])
        assertParseFails("[]", mentioning: ["empty list"])
        assertParseFails("{namespace: \"\"}", mentioning: ["namespace", "empty"])
        assertParseFails("pod", mentioning: ["mapping"])
        assertParseFails("{kind: [pod]}", mentioning: ["kind", "single value"])
    }
}
