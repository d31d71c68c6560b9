import Dispatch
import FileReading
import Glibc
import GridIntensity
import Logging
import Synchronization

/// Keeps the intensity file's value (`--grid.intensity.file`) in the control: reads it at start, again whenever its
/// directory changes (writers replace the file by rename, and a Kubernetes ConfigMap swaps a `..data` link, so the
/// directory is watched with inotify, not the file), and every `pollSeconds` in case an event was missed. A file
/// that is missing, unreadable or invalid keeps the last good value in force, is counted in
/// `footprint_grid_provider_errors_total{provider="file"}` and is logged once per distinct problem.
public final class IntensityFileWatcher: Sendable {
    private let control: GridIntensityControl
    private let logger: Logger
    private let clock: any SamplerClock
    private let queue = DispatchQueue(label: "footprint.intensity-file")
    private let state = Mutex(WatchState())
    /// The safety-net poll; inotify makes changes show within milliseconds.
    static let pollSeconds = 10
    /// The largest file read.
    static let maximumBytes = 64 << 10

    private struct WatchState: @unchecked Sendable {
        var path: String?
        var generation = 0
        /// What the file held when last read (content and change time), so an unchanged file is not reparsed.
        var lastSeen: (bytes: [UInt8], changed: Double)?
        var lastProblem: String?
        var inotify: Int32 = -1
        var watch: Int32 = -1
        var source: (any DispatchSourceRead)?
        var timer: (any DispatchSourceTimer)?
    }

    public init(control: GridIntensityControl, logger: Logger, clock: any SamplerClock = SystemClock()) {
        self.control = control
        self.logger = logger
        self.clock = clock
    }

    /// Starts watching the file of the control's plan, if it names one; reads it at once.
    public func start() {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(
            deadline: .now() + .seconds(Self.pollSeconds), repeating: .seconds(Self.pollSeconds),
            leeway: .milliseconds(500))
        timer.setEventHandler { [weak self] in self?.check() }
        state.withLock { $0.timer = timer }
        timer.resume()
        queue.sync { self.follow() }
    }

    /// Follows the plan after a reload: another file, or none.
    public func planChanged() {
        queue.async { self.follow() }
    }

    /// Stops watching.
    public func stop() {
        state.withLock { state in
            state.timer?.cancel()
            state.timer = nil
            state.source?.cancel()
            state.source = nil
        }
    }

    /// Reads the file now (on the watcher's queue) and returns once it has been read; for tests and SIGHUP.
    public func checkNow() {
        queue.sync { self.check() }
    }

    /// Sets up the inotify watch for the plan's file (or drops it), then reads the file.
    private func follow() {
        let (plan, generation) = control.planAndGeneration
        var path: String?
        if case .file(let file) = plan.live { path = file }
        let changed = state.withLock { state -> Bool in
            guard state.path != path || state.generation != generation else { return false }
            state.generation = generation
            if state.path != path {
                state.source?.cancel()
                state.source = nil
                state.path = path
                state.lastSeen = nil
                state.lastProblem = nil
            }
            return true
        }
        guard changed, let path else { return }
        if state.withLock({ $0.source == nil }) { watchDirectory(of: path) }
        check()
    }

    private func watchDirectory(of path: String) {
        let descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard descriptor >= 0 else {
            logger.warning(
                "cannot watch the intensity file's directory; polling it every \(Self.pollSeconds) s",
                metadata: ["path": "\(path)", "errno": "\(errno)"])
            return
        }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB)
        let directory = FileReader.directory(of: path)
        let watch = inotify_add_watch(descriptor, directory.isEmpty ? "." : directory, mask)
        guard watch >= 0 else {
            logger.warning(
                "cannot watch the intensity file's directory; polling it every \(Self.pollSeconds) s",
                metadata: ["path": "\(path)", "errno": "\(errno)"])
            close(descriptor)
            return
        }
        let source = DispatchSource.makeReadSource(fileDescriptor: descriptor, queue: queue)
        source.setEventHandler { [weak self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while buffer.withUnsafeMutableBytes({ read(descriptor, $0.baseAddress, $0.count) }) > 0 {}
            self?.check()
        }
        source.setCancelHandler { close(descriptor) }
        state.withLock { $0.source = source }
        source.resume()
    }

    /// Reads and validates the file; a good new value goes to the control, a problem keeps the value in force.
    private func check() {
        let (path, generation) = state.withLock { ($0.path, $0.generation) }
        guard let path else { return }
        let bytes: [UInt8]
        let changed: Double
        do {
            bytes = try FileReader.readWhole(path, limit: Self.maximumBytes)
            changed = Self.changeTime(path) ?? clock.unixSeconds()
        } catch {
            let problem =
                error.reason == .notFound
                ? "\(path) does not exist (removed, or not written yet)" : error.description
            reject(problem, reason: "unreadable")
            return
        }
        let unchanged = state.withLock { state -> Bool in
            guard let last = state.lastSeen, last.bytes == bytes, last.changed == changed else {
                state.lastSeen = (bytes, changed)
                return false
            }
            return true
        }
        if unchanged { return }
        // The value's age counts from its `fetched_at`, else from the file's change time.
        switch IntensityFileFormat.parse(bytes, nowUnixSeconds: changed) {
        case .success(let reading):
            guard control.record(reading, generation: generation) else {
                // A reload changed the plan meanwhile: read again for it.
                state.withLock { $0.lastSeen = nil }
                queue.async { self.follow() }
                return
            }
            let recovered = state.withLock { state -> Bool in
                defer { state.lastProblem = nil }
                return state.lastProblem != nil
            }
            logger.info(
                recovered ? "intensity file valid again; its value is in force" : "intensity file read",
                metadata: [
                    "path": "\(path)", "grams_per_kwh": "\(reading.gramsPerKilowattHour)", "zone": "\(reading.zone)",
                ])
        case .failure(let error):
            reject("\(path): \(error)", reason: error.reason)
        }
    }

    private func reject(_ problem: String, reason: String) {
        control.recordFailure(source: "file", reason: reason)
        let first = state.withLock { state -> Bool in
            defer { state.lastProblem = problem }
            return state.lastProblem != problem
        }
        if first {
            logger.warning(
                "intensity file rejected; the value in force stays", metadata: ["reason": "\(problem)"])
        }
        // A file that returns unchanged after a problem is read again.
        state.withLock { $0.lastSeen = nil }
    }

    /// The file's last change (mtime, following links), in seconds since the Unix epoch: the value's age counts from it.
    private static func changeTime(_ path: String) -> Double? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return Double(status.st_mtim.tv_sec) + Double(status.st_mtim.tv_nsec) / 1e9
    }
}
