import Dispatch
import Logging
import Synchronization

/// Re-reads the web configuration file every few seconds and on SIGHUP, and hands changed settings to the server,
/// so certificates rotate and users change without a restart. A broken new file keeps the old settings in force and
/// is logged once per distinct problem.
public final class WebConfigWatcher: Sendable {
    private let path: String?
    private let server: HTTPServer
    private let logger: Logger
    private let queue = DispatchQueue(label: "footprint.webconfig")
    private let state = Mutex(WatchState())
    static let pollSeconds = 5

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
            guard security != state.withLock({ $0.applied }) else {
                state.withLock { $0.lastProblem = nil }
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
            let problem = error.message
            let isNew = state.withLock { state -> Bool in
                defer { state.lastProblem = problem }
                return state.lastProblem != problem
            }
            if isNew {
                logger.error(
                    "web configuration not reloaded; keeping the one in force", metadata: ["reason": "\(problem)"])
            }
        }
    }
}
