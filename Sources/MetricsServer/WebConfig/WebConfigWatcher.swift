import Dispatch
import Logging
import Synchronization

/// Re-reads the web configuration file every few seconds and on SIGHUP, and hands changed settings to the server,
/// so certificates rotate and users change without a restart. A broken new file, or one that would turn off TLS,
/// client-certificate checks or basic auth in force, keeps the old settings in force, is logged once per distinct
/// problem and counted in `reloadFailures` every time.
public final class WebConfigWatcher: Sendable {
    private let path: String?
    private let server: HTTPServer
    private let logger: Logger
    private let queue = DispatchQueue(label: "footprint.webconfig")
    private let state = Mutex(WatchState())
    private let failures = Atomic<UInt64>(0)
    static let pollSeconds = 5

    /// Reloads (each poll and each SIGHUP) that kept the configuration in force instead of applying the file: it was
    /// broken, the server refused its TLS material, or it would have weakened security. Thread-safe.
    public var reloadFailures: UInt64 { failures.load(ordering: .relaxed) }

    private struct WatchState: @unchecked Sendable {
        var applied: WebSecurity?
        var lastProblem: String?
        var timer: (any DispatchSourceTimer)?
    }

    public init(path: String?, server: HTTPServer, logger: Logger) {
        self.path = path
        self.server = server
        self.logger = logger
    }

    /// Starts polling the file, `applied` being the security in force.
    public func start(applied: WebSecurity) {
        guard path != nil else { return }
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(
            deadline: .now() + .seconds(Self.pollSeconds), repeating: .seconds(Self.pollSeconds),
            leeway: .milliseconds(500))
        timer.setEventHandler { [weak self] in self?.checkNow() }
        state.withLock {
            $0.applied = applied
            $0.timer = timer
        }
        timer.resume()
    }

    /// Stops polling.
    public func stop() {
        let timer = state.withLock { state -> (any DispatchSourceTimer)? in
            defer { state.timer = nil }
            return state.timer
        }
        timer?.cancel()
    }

    /// Checks at once (SIGHUP), on the watcher's queue.
    public func check() {
        guard path != nil else { return }
        queue.sync { checkNow() }
    }

    private func checkNow() {
        guard let path else { return }
        do throws(WebConfigError) {
            let security = try WebConfigFile.load(path)
            let applied = state.withLock { $0.applied }
            guard security != applied else {
                state.withLock { $0.lastProblem = nil }
                return
            }
            if let applied, let weakening = applied.weakening(to: security) {
                failures.add(1, ordering: .relaxed)
                let message =
                    "web configuration \(weakening); keeping the one in force; restart the exporter to apply it"
                if isNewProblem(message) {
                    logger.error("\(message)", metadata: ["path": "\(path)"])
                }
                return
            }
            do {
                try server.apply(security: security)
            } catch {
                throw WebConfigError("web config file \(path): \(error)")
            }
            state.withLock {
                $0.applied = security
                $0.lastProblem = nil
            }
            logger.info(
                "web configuration reloaded",
                metadata: [
                    "path": "\(path)", "tls": "\(security.tls != nil)",
                    "basic_auth_users": "\(security.basicAuthUsers.count)",
                ])
        } catch {
            failures.add(1, ordering: .relaxed)
            let problem = error.message
            if isNewProblem(problem) {
                logger.error(
                    "web configuration not reloaded; keeping the one in force", metadata: ["reason": "\(problem)"])
            }
        }
    }

    /// Records `problem` as the latest; true when it differs from the one before (so it is logged once, not every
    /// poll).
    private func isNewProblem(_ problem: String) -> Bool {
        state.withLock { state -> Bool in
            defer { state.lastProblem = problem }
            return state.lastProblem != problem
        }
    }
}
