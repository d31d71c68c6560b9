import Glibc
import XCTest

@testable import PowerSources

final class AttributeFileTests: XCTestCase {
    private var tree: FixtureTree!

    override func setUpWithError() throws {
        tree = try FixtureTree()
    }

    override func tearDown() {
        tree.remove()
        tree = nil
    }

    func testReadStringTrimsTrailingNewline() throws {
        try tree.write("name", "package-0\n")
        XCTAssertEqual(try AttributeFile.readString(tree.resolve("name")), "package-0")
    }

    func testReadStringKeepsInnerText() throws {
        try tree.write("name", "a b\tc\n\n")
        XCTAssertEqual(try AttributeFile.readString(tree.resolve("name")), "a b\tc")
    }

    func testReadStringOfEmptyFileIsEmpty() throws {
        try tree.write("empty", "")
        XCTAssertEqual(try AttributeFile.readString(tree.resolve("empty")), "")
    }

    func testAValueLongerThanTheLimitIsGarbledNotCutShort() throws {
        try tree.write("long", String(repeating: "x", count: 100))
        XCTAssertThrowsError(try AttributeFile.readString(tree.resolve("long"), maximumBytes: 10)) { error in
            XCTAssertEqual((error as? SourceError)?.kind, "garbled")
        }
        try tree.write("ten", "xxxxxxxxxx")
        XCTAssertEqual(try AttributeFile.readString(tree.resolve("ten"), maximumBytes: 10), "xxxxxxxxxx")
    }

    /// 70 leading zeros before 123 were read as the first 64 bytes, all zeros: 0, and the next read invented energy.
    func testAnOverlongCounterIsGarbledNotZero() throws {
        try tree.write("energy_uj", String(repeating: "0", count: 70) + "123\n")
        XCTAssertThrowsError(try AttributeFile.readUnsigned(tree.resolve("energy_uj"))) { error in
            XCTAssertEqual((error as? SourceError)?.kind, "garbled")
        }
    }

    func testReadUnsignedParsesValueWithNewline() throws {
        try tree.write("energy_uj", "123456789\n")
        XCTAssertEqual(try AttributeFile.readUnsigned(tree.resolve("energy_uj")), 123_456_789)
    }

    func testReadUnsignedOnGarbageThrowsGarbled() throws {
        let path = tree.resolve("energy_uj")
        try tree.write("energy_uj", "abc\n")
        XCTAssertThrowsError(try AttributeFile.readUnsigned(path)) { error in
            XCTAssertEqual(error as? SourceError, .garbled(path: path, value: "abc"))
        }
    }

    func testReadUnsignedOnEmptyFileThrowsGarbled() throws {
        let path = tree.resolve("energy_uj")
        try tree.write("energy_uj", "")
        XCTAssertThrowsError(try AttributeFile.readUnsigned(path)) { error in
            XCTAssertEqual((error as? SourceError)?.kind, "garbled")
        }
    }

    func testMissingFileThrowsNotFound() {
        let path = tree.resolve("does-not-exist")
        XCTAssertThrowsError(try AttributeFile.readString(path)) { error in
            XCTAssertEqual(error as? SourceError, .notFound(path: path))
        }
        XCTAssertThrowsError(try AttributeFile.readUnsigned(path)) { error in
            XCTAssertEqual(error as? SourceError, .notFound(path: path))
        }
        XCTAssertThrowsError(try AttributeFile.readWhole(path)) { error in
            XCTAssertEqual(error as? SourceError, .notFound(path: path))
        }
    }

    func testPathThroughAFileThrowsNotFound() throws {
        // ENOTDIR: a component of the path is a regular file.
        try tree.write("file", "1\n")
        let path = tree.resolve("file") + "/energy_uj"
        XCTAssertThrowsError(try AttributeFile.readString(path)) { error in
            XCTAssertEqual(error as? SourceError, .notFound(path: path))
        }
    }

    func testErrnoMapping() {
        XCTAssertEqual(AttributeFile.error(for: EACCES, path: "/p"), .permissionDenied(path: "/p"))
        XCTAssertEqual(AttributeFile.error(for: EPERM, path: "/p"), .permissionDenied(path: "/p"))
        XCTAssertEqual(AttributeFile.error(for: ENOENT, path: "/p"), .notFound(path: "/p"))
        XCTAssertEqual(AttributeFile.error(for: ENODEV, path: "/p"), .notFound(path: "/p"))
        XCTAssertEqual(AttributeFile.error(for: EIO, path: "/p"), .io(path: "/p", errno: EIO))
        XCTAssertEqual(AttributeFile.error(for: EAGAIN, path: "/p"), .io(path: "/p", errno: EAGAIN))
    }

    func testPermissionDeniedOnRealFile() throws {
        try XCTSkipIf(geteuid() == 0, "root reads any file regardless of its mode")
        let path = tree.resolve("energy_uj")
        try tree.write("energy_uj", "1\n")
        XCTAssertEqual(chmod(path, 0o000), 0)
        defer { chmod(path, 0o644) }
        XCTAssertThrowsError(try AttributeFile.readUnsigned(path)) { error in
            XCTAssertEqual(error as? SourceError, .permissionDenied(path: path))
        }
    }

    func testReadingADirectoryThrowsInsteadOfCrashing() throws {
        try tree.makeDirectory("zone")
        let path = tree.resolve("zone")
        XCTAssertThrowsError(try AttributeFile.readString(path)) { error in
            XCTAssertEqual(error as? SourceError, .io(path: path, errno: EISDIR))
        }
        XCTAssertThrowsError(try AttributeFile.readUnsigned(path))
        XCTAssertThrowsError(try AttributeFile.readWhole(path))
    }

    func testReadWholeReadsMoreThanOneChunk() throws {
        let text = String(repeating: "0123456789abcdef\n", count: 4000)  // 68 000 bytes
        try tree.write("stat", text)
        let bytes = try AttributeFile.readWhole(tree.resolve("stat"))
        XCTAssertEqual(bytes.count, text.utf8.count)
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), text)
    }

    func testExists() throws {
        try tree.write("a", "1")
        XCTAssertTrue(AttributeFile.exists(tree.resolve("a")))
        XCTAssertFalse(AttributeFile.exists(tree.resolve("b")))
    }

    func testListDirectoryIsSortedWithoutDotEntries() throws {
        try tree.write("d/intel-rapl:1/name", "package-1")
        try tree.write("d/intel-rapl:0/name", "package-0")
        try tree.write("d/intel-rapl-mmio:0/name", "package-0")
        XCTAssertEqual(
            try AttributeFile.listDirectory(tree.resolve("d")),
            ["intel-rapl-mmio:0", "intel-rapl:0", "intel-rapl:1"])
    }

    func testListMissingDirectoryThrowsNotFound() {
        let path = tree.resolve("missing")
        XCTAssertThrowsError(try AttributeFile.listDirectory(path)) { error in
            XCTAssertEqual(error as? SourceError, .notFound(path: path))
        }
    }
}
