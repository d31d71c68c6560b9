import Glibc

/// Why a file could not be read.
public struct FileReadError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable {
        case permissionDenied
        case notFound
        /// A FIFO, a device or a directory where a regular file belongs.
        case notRegularFile
        /// Larger than the reader accepts.
        case tooLarge(limit: Int)
        /// `open(2)`, `fstat(2)` or `read(2)` failed with this errno.
        case io(errno: Int32)
    }

    public let path: String
    public let reason: Reason

    public init(path: String, reason: Reason) {
        self.path = path
        self.reason = reason
    }

    init(path: String, errno code: Int32) {
        switch code {
        case EACCES, EPERM: self.init(path: path, reason: .permissionDenied)
        case ENOENT, ENOTDIR, ENODEV: self.init(path: path, reason: .notFound)
        default: self.init(path: path, reason: .io(errno: code))
        }
    }

    public var description: String {
        switch reason {
        case .permissionDenied: "permission denied reading \(path)"
        case .notFound: "\(path) does not exist"
        case .notRegularFile: "\(path) is not a regular file"
        case .tooLarge(let limit): "\(path) is larger than \(limit) bytes"
        case .io(let code): "read of \(path) failed: \(String(cString: strerror(code))) (errno \(code))"
        }
    }
}

/// The one way the exporter reads a whole file: procfs files, the config file, the web configuration and the TLS
/// files it names, the state file. (A single sysfs attribute is read with one `read(2)` by PowerSources'
/// `AttributeFile`, since some drivers answer a second read with a later value.)
public enum FileReader {
    /// Reads the whole file at `path` with bounded `read(2)` calls, retrying on EINTR.
    ///
    /// The file is opened non-blocking, so a FIFO or a device cannot hang the caller. A file larger than `limit` is an
    /// error, never silently cut short.
    /// - Parameter regularFileOnly: refuse anything that is not a regular file (after following symbolic links, so
    ///   Kubernetes' `..data` links to ConfigMap files stay fine).
    public static func readWhole(_ path: String, limit: Int, regularFileOnly: Bool = true) throws(FileReadError)
        -> [UInt8]
    {
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileReadError(path: path, errno: errno) }
        defer { close(descriptor) }
        if regularFileOnly {
            var status = stat()
            guard fstat(descriptor, &status) == 0 else { throw FileReadError(path: path, errno: errno) }
            guard status.st_mode & S_IFMT == S_IFREG else {
                throw FileReadError(path: path, reason: .notRegularFile)
            }
        }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FileReadError(path: path, errno: errno)
            }
            if count == 0 { break }
            guard result.count + count <= limit else {
                throw FileReadError(path: path, reason: .tooLarge(limit: limit))
            }
            result.append(contentsOf: chunk[0..<count])
        }
        return result
    }

    /// Reads the whole file at `path` as UTF-8 text; bytes that are not UTF-8 are an error of their own.
    public static func readText(_ path: String, limit: Int) throws(FileReadError) -> String? {
        String(validating: try readWhole(path, limit: limit), as: UTF8.self)
    }
}

extension FileReader {
    /// The folder part of a path (`/etc/x/web.yml` → `/etc/x`, `web.yml` → ``).
    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
