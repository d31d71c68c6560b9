import FileReading
import Glibc
import XCTest

/// The one whole-file reader: bounded, non-blocking, regular files only where asked.
final class FileReaderTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        var template = Array("/tmp/footprint-filereader-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer in mkdtemp(buffer.baseAddress!) }
        directory = String(cString: try XCTUnwrap(created))
    }

    override func tearDown() {
        _ = system("rm -rf '\(directory)'")
    }

    private func write(_ name: String, _ bytes: [UInt8]) -> String {
        let path = "\(directory)/\(name)"
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        _ = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        return path
    }

    func testReadsAWholeFileLargerThanOneChunk() throws {
        let bytes = (0..<100_000).map { UInt8($0 % 251) }
        XCTAssertEqual(try FileReader.readWhole(write("big", bytes), limit: 1 << 20), bytes)
    }

    func testAFileLargerThanTheLimitIsAnErrorNotATruncation() {
        let path = write("big", [UInt8](repeating: 0x30, count: 5000))
        XCTAssertThrowsError(try FileReader.readWhole(path, limit: 4096)) { error in
            XCTAssertEqual((error as? FileReadError)?.reason, .tooLarge(limit: 4096))
        }
        XCTAssertEqual(try FileReader.readWhole(path, limit: 5000).count, 5000, "exactly at the limit is fine")
    }

    func testAFIFOIsRefusedWithoutBlocking() {
        let path = "\(directory)/fifo"
        XCTAssertEqual(mkfifo(path, 0o600), 0)
        XCTAssertThrowsError(try FileReader.readWhole(path, limit: 1024)) { error in
            XCTAssertEqual((error as? FileReadError)?.reason, .notRegularFile)
        }
    }

    func testADirectoryIsRefused() {
        XCTAssertThrowsError(try FileReader.readWhole(directory, limit: 1024)) { error in
            XCTAssertEqual((error as? FileReadError)?.reason, .notRegularFile)
        }
    }

    func testASymbolicLinkToARegularFileIsFollowed() throws {
        let target = write("target", Array("pue: 1.2\n".utf8))
        XCTAssertEqual(symlink(target, "\(directory)/link"), 0)
        XCTAssertEqual(try FileReader.readText("\(directory)/link", limit: 1024), "pue: 1.2\n")
    }

    func testMissingFileAndNonUTF8() throws {
        XCTAssertThrowsError(try FileReader.readWhole("\(directory)/absent", limit: 10)) { error in
            XCTAssertEqual((error as? FileReadError)?.reason, .notFound)
            XCTAssertTrue("\(error)".contains("does not exist"))
        }
        XCTAssertNil(try FileReader.readText(write("latin1", [0x70, 0xE9, 0x0A]), limit: 10))
    }

    func testDirectoryOfAPath() {
        XCTAssertEqual(FileReader.directory(of: "/etc/x/web.yml"), "/etc/x")
        XCTAssertEqual(FileReader.directory(of: "web.yml"), "")
        XCTAssertEqual(FileReader.directory(of: "/web.yml"), "/")
    }
}
