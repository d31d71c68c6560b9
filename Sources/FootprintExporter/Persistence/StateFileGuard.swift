import FileReading
import Glibc

/// What must hold before the exporter writes a state file, checked once at start-up: the directory is not one anyone
/// may plant files in, no other exporter uses the same file, and the path does not hold something else.
///
/// The lock lives on `<path>.lock`, a file of its own: a lock on the state file itself would be lost at every save,
/// since a save renames a new file over it. The lock is held for the life of the process and released by the kernel
/// however the process ends.
final class StateFileGuard: Sendable {
    private let lockDescriptor: Int32

    private init(lockDescriptor: Int32) {
        self.lockDescriptor = lockDescriptor
    }

    deinit {
        close(lockDescriptor)
    }

    /// Checks the directory and the path and takes the lock; throws the one line that says why not.
    static func acquire(for path: String) throws(ConfigurationError) -> StateFileGuard {
        let directory = FileReader.directory(of: path)
        var status = stat()
        guard stat(directory.isEmpty ? "." : directory, &status) == 0 else {
            throw ConfigurationError(
                "state file directory \(directory.isEmpty ? "." : directory): \(String(cString: strerror(errno)))")
        }
        // Anyone could plant links or files there (and a sticky bit would at least stop them replacing ours).
        if status.st_mode & S_IWOTH != 0 && status.st_mode & S_ISVTX == 0 {
            throw ConfigurationError(
                "state file directory \(directory.isEmpty ? "." : directory) is writable by every user and not sticky; use a directory only the exporter's user can write, like /var/lib/footprint-exporter"
            )
        }
        if case .foreign = StateFile.inspect(path) {
            throw ConfigurationError(
                "--state.file \(path) is not a footprint_exporter state file; refusing to overwrite it")
        }
        let lockPath = "\(path).lock"
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw ConfigurationError("cannot open the state lock file \(lockPath): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(descriptor)
            if code == EWOULDBLOCK {
                throw ConfigurationError(
                    "another footprint_exporter holds \(lockPath); two exporters must not share --state.file \(path)")
            }
            throw ConfigurationError("cannot lock \(lockPath): \(String(cString: strerror(code)))")
        }
        return StateFileGuard(lockDescriptor: descriptor)
    }
}
