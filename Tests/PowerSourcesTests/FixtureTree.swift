import Foundation
import XCTest

/// A scratch directory under the system temporary directory, removed by `remove()` (call it from `tearDown`).
final class FixtureTree {
    let root: URL

    init(file: StaticString = #filePath, line: UInt = #line) throws {
        root = FileManager.default.temporaryDirectory
            .appendingPathComponent("footprint-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    var path: String { root.path }

    /// The absolute path of `relative` below the root.
    func resolve(_ relative: String) -> String {
        root.appendingPathComponent(relative).path
    }

    /// Writes `contents` to `relative`, creating the parent directories.
    func write(_ relative: String, _ contents: String) throws {
        let url = root.appendingPathComponent(relative)
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(contents.utf8).write(to: url)
    }

    func makeDirectory(_ relative: String) throws {
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent(relative, isDirectory: true), withIntermediateDirectories: true)
    }

    /// Removes `relative` and everything below it (`rm -r`).
    func removeItem(_ relative: String) throws {
        try FileManager.default.removeItem(at: root.appendingPathComponent(relative))
    }

    func remove() {
        try? FileManager.default.removeItem(at: root)
    }
}
