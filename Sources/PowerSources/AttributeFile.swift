import FileReading
import Glibc

/// Reads small sysfs and procfs attribute files.
///
/// Each attribute is read with one non-blocking `open(2)` and one bounded `read(2)`: some sysfs drivers block or
/// answer EAGAIN, and a second read could see a value from a later update than the first.
public enum AttributeFile {
    /// The largest attribute read; sysfs attributes are at most one page.
    public static let maximumBytes = 4096

    /// Reads the file at `path` as text, trimming trailing whitespace and newlines.
    public static func readString(_ path: String, maximumBytes: Int = AttributeFile.maximumBytes) throws(SourceError)
        -> String
    {
        let bytes = try readBytes(path, maximumBytes: maximumBytes)
        var end = bytes.count
        while end > 0, bytes[end - 1] == 0x0A || bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 || bytes[end - 1] == 0
        {
            end -= 1
        }
        return String(decoding: bytes[0..<end], as: UTF8.self)
    }

    /// Reads the file at `path` as an unsigned decimal integer (energy in µJ, power in µW).
    public static func readUnsigned(_ path: String) throws(SourceError) -> UInt64 {
        let text = try readString(path, maximumBytes: 64)
        guard let value = ValueParser.unsigned(text) else {
            throw .garbled(path: path, value: String(text.prefix(32)))
        }
        return value
    }

    /// Whether anything exists at `path`.
    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// The names in the directory at `path`, sorted, without `.` and `..`.
    public static func listDirectory(_ path: String) throws(SourceError) -> [String] {
        guard let directory = opendir(path) else {
            throw error(for: errno, path: path)
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// The names of the directories in the directory at `path`, sorted (from `readdir`'s entry types, without a
    /// `stat` per entry: a cgroup tree has thousands of them, with as many attribute files beside them).
    public static func listSubdirectories(_ path: String) throws(SourceError) -> [String] {
        guard let directory = opendir(path) else {
            throw error(for: errno, path: path)
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let type = entry.pointee.d_type
            guard type == UInt8(DT_DIR) || type == UInt8(DT_UNKNOWN) else { continue }
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            guard name != "." && name != ".." else { continue }
            if type == UInt8(DT_UNKNOWN) && !isDirectory("\(path)/\(name)") { continue }
            names.append(name)
        }
        return names.sorted()
    }

    /// Whether `path` is a directory (following links).
    public static func isDirectory(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFDIR
    }

    /// Reads the file at `path` in one `read(2)` of up to `maximumBytes` bytes. A value that does not fit is garbled,
    /// never cut short and parsed: 70 leading zeros before a number must not read as 0.
    public static func readBytes(_ path: String, maximumBytes: Int) throws(SourceError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { throw error(for: errno, path: path) }
        defer { close(descriptor) }
        // One byte more than allowed: filling it shows the value was longer than the limit.
        var buffer = [UInt8](repeating: 0, count: maximumBytes + 1)
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, maximumBytes + 1) }
        guard count >= 0 else { throw error(for: errno, path: path) }
        guard count <= maximumBytes else {
            throw .garbled(path: path, value: "a value longer than \(maximumBytes) bytes")
        }
        buffer.removeLast(maximumBytes + 1 - count)
        return buffer
    }

    /// Reads a whole procfs file of unknown size, up to `limit` bytes, through `FileReader`.
    public static func readWhole(_ path: String, limit: Int = 1 << 20) throws(SourceError) -> [UInt8] {
        do {
            return try FileReader.readWhole(path, limit: limit, regularFileOnly: false)
        } catch {
            switch error.reason {
            case .permissionDenied: throw .permissionDenied(path: path)
            case .notFound: throw .notFound(path: path)
            case .notRegularFile, .tooLarge: throw .garbled(path: path, value: error.description)
            case .io(let code): throw .io(path: path, errno: code)
            }
        }
    }

    static func error(for code: Int32, path: String) -> SourceError {
        switch code {
        case EACCES, EPERM: .permissionDenied(path: path)
        case ENOENT, ENOTDIR, ENODEV: .notFound(path: path)
        default: .io(path: path, errno: code)
        }
    }
}

extension AttributeFile {
    /// The target of the symbolic link at `path` (as written in the link), or nil when it is not a link.
    public static func resolveLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
