import EnergyAccounting
import FileReading
import FoundationEssentials
import Glibc

/// What the state file holds: the ledger (totals and raw baselines), error counters, and the boot it was written in.
public struct PersistedState: Codable, Sendable, Equatable {
    static let formatName = "footprint_exporter.state"
    static let currentVersion = 1

    var format: String = PersistedState.formatName
    var version: Int = PersistedState.currentVersion
    /// `/proc/sys/kernel/random/boot_id` when written; raw baselines are reused only within the same boot.
    var bootID: String?
    var savedAtUnixSeconds: Double
    var savedAtBootSeconds: Double
    var ledger: LedgerSnapshot
    var sampleErrors: [String: UInt64]
}

/// Why a state file could not be used. None of these stops the exporter: it starts fresh and says why.
public enum StateFileError: Error, Equatable, CustomStringConvertible {
    case missing
    case unreadable(String)
    case corrupt(String)
    case unsupportedVersion(Int)
    case unwritable(String)

    public var description: String {
        switch self {
        case .missing: "no state file yet"
        case .unreadable(let reason): "cannot read the state file: \(reason)"
        case .corrupt(let reason): "the state file is corrupt or truncated: \(reason)"
        case .unsupportedVersion(let version):
            "the state file has format version \(version); this exporter reads version \(PersistedState.currentVersion)"
        case .unwritable(let reason): "cannot write the state file: \(reason)"
        }
    }
}

/// Reads and atomically writes the state file: write a temporary file, fsync it, rename it over the old one, fsync
/// the directory. A crash at any point leaves either the old file or the new one, never half of one.
public enum StateFile {
    static let maximumBytes = 16 << 20

    static func read(_ path: String) throws(StateFileError) -> PersistedState {
        let bytes: [UInt8]
        do {
            bytes = try FileReader.readWhole(path, limit: maximumBytes)
        } catch {
            if error.reason == .notFound { throw .missing }
            throw .unreadable(error.description)
        }
        return try decode(Data(bytes))
    }

    /// Decodes and validates the bytes of a state file; never applies anything half-way.
    public static func decode(_ data: Data) throws(StateFileError) -> PersistedState {
        guard data.count <= maximumBytes else { throw .corrupt("larger than \(maximumBytes) bytes") }
        struct Header: Decodable {
            let format: String?
            let version: Int?
        }
        guard let header = try? JSONDecoder().decode(Header.self, from: data) else {
            throw .corrupt("not a JSON object")
        }
        guard header.format == PersistedState.formatName else { throw .corrupt("not a footprint state file") }
        guard let version = header.version else { throw .corrupt("no version") }
        guard version == PersistedState.currentVersion else { throw .unsupportedVersion(version) }
        let state: PersistedState
        do {
            state = try JSONDecoder().decode(PersistedState.self, from: data)
        } catch {
            throw .corrupt(String(describing: error).prefix(200).description)
        }
        guard state.ledger.isValid, state.savedAtBootSeconds.isFinite, state.savedAtUnixSeconds.isFinite else {
            throw .corrupt("values out of range")
        }
        return state
    }

    static func encode(_ state: PersistedState) throws(StateFileError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return try encoder.encode(state)
        } catch {
            throw .unwritable(String(describing: error))
        }
    }

    static func write(_ state: PersistedState, to path: String) throws(StateFileError) {
        let data = try encode(state)
        let temporary = "\(path).tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw .unwritable("\(temporary): \(String(cString: strerror(errno)))") }
        var offset = 0
        let failure: String? = data.withUnsafeBytes { bytes in
            while offset < bytes.count {
                let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return String(cString: strerror(errno))
                }
                offset += written
            }
            return fsync(descriptor) == 0 ? nil : String(cString: strerror(errno))
        }
        close(descriptor)
        if let failure {
            unlink(temporary)
            throw .unwritable("\(temporary): \(failure)")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw .unwritable("rename to \(path): \(reason)")
        }
        let directory = FileReader.directory(of: path)
        let directoryDescriptor = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }
}
