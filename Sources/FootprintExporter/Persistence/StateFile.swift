import EnergyAccounting
import FileReading
import FoundationEssentials
import Glibc
import Workloads

/// What the state file holds: the ledger (totals and raw baselines), error counters, and the boot it was written in.
public struct PersistedState: Codable, Sendable, Equatable {
    static let formatName = "footprint_exporter.state"
    static let currentVersion = 1

    var version: Int = PersistedState.currentVersion
    /// `/proc/sys/kernel/random/boot_id` when written; raw baselines are reused only within the same boot.
    var bootID: String?
    var savedAtUnixSeconds: Double
    var savedAtBootSeconds: Double
    var ledger: LedgerSnapshot
    var sampleErrors: [String: UInt64]
    /// True when written (and synced) at a clean shutdown, false for the write before each publish. After a reboot
    /// only a clean file is sure to hold the last published values; nil in files of earlier releases, which saved
    /// only on the interval and at shutdown, and are taken as clean.
    var cleanShutdown: Bool?
    /// The workloads' counters; absent while attribution is off, and in files of earlier releases.
    var attribution: PersistedAttribution?
    /// The budgets' CO2e counters; absent in files of earlier releases.
    var budgets: [PersistedBudget]?
    /// The node's embodied CO2e (docs/embodied.md); absent while it is off, and in files of earlier releases.
    var embodied: EmbodiedTotals?

    // `format` is not a stored field: the encoder writes it first, as the file's marker (`StateFile.marker`).
    enum CodingKeys: String, CodingKey {
        case version, bootID, savedAtUnixSeconds, savedAtBootSeconds, ledger, sampleErrors, cleanShutdown, attribution
        case budgets, embodied
    }
}

/// One budget's CO2e counter in the state file.
struct PersistedBudget: Codable, Sendable, Equatable {
    var name: String
    var co2eGrams: Double
    /// The match it counted under (`WorkloadMatch.description`); absent for the whole node.
    var match: String?

    /// The most budgets a state file may hold.
    static let maximumBudgets = 10_000
    /// The largest counter restored, in grams: the CO2e of 10 PJ (`LedgerSnapshot.maximumMicrojoules`) at the highest
    /// PUE (10) and intensity (10,000 g/kWh) the settings allow.
    static let maximumGrams = 1e22 / 1e6 * 10 / 3.6e6 * 10_000

    static func isValid(_ budgets: [PersistedBudget]) -> Bool {
        budgets.count <= maximumBudgets && Set(budgets.map(\.name)).count == budgets.count
            && budgets.allSatisfy { $0.co2eGrams.isFinite && $0.co2eGrams >= 0 && $0.co2eGrams <= maximumGrams }
    }
}

extension BudgetCounters {
    /// The counters saved in the state file.
    init(restoring saved: [PersistedBudget]) {
        self.init(
            restoring: Dictionary(
                saved.map { ($0.name, Counter(grams: $0.co2eGrams, match: $0.match)) }, uniquingKeysWith: { $1 }))
    }

    /// The counters to save, by name.
    var persisted: [PersistedBudget] {
        counters.keys.sorted().map {
            PersistedBudget(name: $0, co2eGrams: counters[$0]!.grams, match: counters[$0]!.match)
        }
    }
}

/// The attribution's counters in the state file.
struct PersistedAttribution: Codable, Sendable, Equatable {
    struct Workload: Codable, Sendable, Equatable {
        var kind: String
        var name: String
        var totals: WorkloadTotals
        var names: WorkloadNames
    }

    var workloads: [Workload]
    var unattributedMicrojoules: [String: UInt64]
    var expiredMicrojoules: [String: UInt64]
    var overflowSamples: UInt64

    /// The most workloads a state file may hold.
    static let maximumWorkloads = 100_000

    var isValid: Bool {
        workloads.count <= Self.maximumWorkloads
            && workloads.allSatisfy {
                WorkloadKind(rawValue: $0.kind) != nil && $0.totals.facilityJoules.isFinite
                    && $0.totals.facilityJoules >= 0 && $0.totals.co2eGrams.isFinite && $0.totals.co2eGrams >= 0
                    && $0.totals.embodiedCO2eGrams.isFinite && $0.totals.embodiedCO2eGrams >= 0
            }
    }
}

/// Why a state file could not be used. None of these stops the exporter: it starts fresh and says why.
public enum StateFileError: Error, Equatable, CustomStringConvertible {
    case missing
    case unreadable(String)
    case corrupt(String)
    case unsupportedVersion(Int)
    case unwritable(String)
    /// The path holds something that is not a state file; the exporter will not overwrite it.
    case foreign

    public var description: String {
        switch self {
        case .missing: "no state file yet"
        case .unreadable(let reason): "cannot read the state file: \(reason)"
        case .corrupt(let reason): "the state file is corrupt or truncated: \(reason)"
        case .unsupportedVersion(let version):
            "the state file has format version \(version); this exporter reads version \(PersistedState.currentVersion)"
        case .unwritable(let reason): "cannot write the state file: \(reason)"
        case .foreign: "the file is not a footprint_exporter state file"
        }
    }
}

/// What is at the state file's path.
enum StateFileContent: Equatable {
    case missing
    /// A state file this exporter can use.
    case usable(PersistedState)
    /// A state file of this exporter that cannot be used (corrupt, truncated, empty, values out of range): it is
    /// started over and overwritten.
    case unusable(String)
    /// A state file of a newer release: never overwritten (a downgrade must not destroy it).
    case newer(version: Int)
    /// Not a state file at all (a config file given by mistake): never overwritten.
    case foreign
}

/// Reads and atomically writes the state file: write a temporary file, rename it over the old one; at a clean
/// shutdown and on the save interval also fsync the file and its directory. A crash at any point leaves either the old
/// file or the new one, never half of one.
public enum StateFile {
    static let maximumBytes = 16 << 20
    /// The first bytes of every state file this release writes: the format's name, so a file can be told for ours even
    /// when it is truncated.
    static let marker = Array(#"{"format":"footprint_exporter.state","#.utf8)

    static func read(_ path: String) throws(StateFileError) -> PersistedState {
        switch inspect(path) {
        case .missing: throw .missing
        case .usable(let state): return state
        case .unusable(let reason): throw .corrupt(reason)
        case .newer(let version): throw .unsupportedVersion(version)
        case .foreign: throw .foreign
        }
    }

    /// Looks at what is at `path`, telling the exporter's own files, even corrupt ones, from anything else.
    static func inspect(_ path: String) -> StateFileContent {
        let bytes: [UInt8]
        do {
            bytes = try FileReader.readWhole(path, limit: maximumBytes)
        } catch {
            switch error.reason {
            case .notFound: return .missing
            case .tooLarge: return .unusable("larger than \(maximumBytes) bytes")
            case .notRegularFile: return .foreign
            default: return .unusable(error.description)
            }
        }
        guard !bytes.isEmpty else { return .unusable("empty") }
        do {
            return .usable(try decode(Data(bytes)))
        } catch {
            if case .unsupportedVersion(let version) = error, version > PersistedState.currentVersion {
                return .newer(version: version)
            }
            return isOurs(bytes) ? .unusable(error.description) : .foreign
        }
    }

    /// Whether `bytes` may be a state file of this exporter, so that overwriting them loses nothing of anyone else's:
    /// they start with the marker (or are a truncated start of it); or they are a JSON object naming the format near
    /// its start (files of earlier releases sorted their keys); or they are not text at all (a file damaged on disk).
    /// Text that names no such format (a config file given by mistake) is someone else's.
    static func isOurs(_ bytes: [UInt8]) -> Bool {
        if bytes.starts(with: marker) || marker.starts(with: bytes) { return true }
        guard String(validating: bytes, as: UTF8.self) != nil else { return true }
        let start = bytes.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        guard start.first == UInt8(ascii: "{") else { return false }
        let name = Array(#""footprint_exporter.state""#.utf8)
        let window = Array(start.prefix(4096))
        guard window.count >= name.count else { return false }
        return (0...(window.count - name.count)).contains { window[$0..<$0 + name.count].elementsEqual(name) }
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
        guard state.ledger.isValid, state.attribution?.isValid ?? true,
            state.budgets.map(PersistedBudget.isValid) ?? true, state.embodied.map(Self.isValid) ?? true,
            state.savedAtBootSeconds.isFinite,
            state.savedAtUnixSeconds.isFinite
        else {
            throw .corrupt("values out of range")
        }
        return state
    }

    /// Embodied grams as a counter may hold them: finite, not negative, the unattributed part within the whole.
    static func isValid(_ embodied: EmbodiedTotals) -> Bool {
        embodied.nodeGrams.isFinite && embodied.unattributedGrams.isFinite && embodied.nodeGrams >= 0
            && embodied.unattributedGrams >= 0 && embodied.unattributedGrams <= embodied.nodeGrams * (1 + 1e-9)
            && embodied.nodeGrams <= PersistedBudget.maximumGrams
    }

    /// The file's bytes: the marker first, then the state's fields.
    static func encode(_ state: PersistedState) throws(StateFileError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let fields: Data
        do {
            fields = try encoder.encode(state)
        } catch {
            throw .unwritable(String(describing: error))
        }
        guard fields.first == UInt8(ascii: "{") else { throw .unwritable("the state did not encode as an object") }
        return marker + fields.dropFirst()
    }

    /// Writes `state` to a new temporary file beside `path` and renames it over `path`; with `sync`, the file and
    /// the directory are flushed to disk first and after.
    ///
    /// The temporary file is created exclusively and never through a symbolic link (`O_EXCL | O_NOFOLLOW`): a link
    /// planted at `<path>.tmp` by someone who can write the directory is removed, never followed, so the exporter
    /// never truncates a file it was pointed at. `StateFileGuard` has already refused a directory anyone may write
    /// without the sticky bit.
    static func write(_ state: PersistedState, to path: String, sync: Bool) throws(StateFileError) {
        let bytes = try encode(state)
        let temporary = "\(path).tmp"
        var descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if descriptor < 0 && errno == EEXIST {
            unlink(temporary)  // left by a crash, or planted: removes the entry itself, never what a link points at
            descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        }
        guard descriptor >= 0 else { throw .unwritable("\(temporary): \(String(cString: strerror(errno)))") }
        var offset = 0
        let failure: String? = bytes.withUnsafeBytes { buffer in
            while offset < buffer.count {
                let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return String(cString: strerror(errno))
                }
                offset += written
            }
            guard sync else { return nil }
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
        if sync { syncDirectory(of: path) }
    }

    /// Flushes the file at `path` and its directory to disk.
    static func sync(_ path: String) {
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        if descriptor >= 0 {
            fsync(descriptor)
            close(descriptor)
        }
        syncDirectory(of: path)
    }

    private static func syncDirectory(of path: String) {
        let directory = FileReader.directory(of: path)
        let descriptor = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if descriptor >= 0 {
            fsync(descriptor)
            close(descriptor)
        }
    }
}
