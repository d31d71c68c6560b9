import Dispatch
import FileReading
import GridIntensity
import HTTPFetch
import Logging
import Synchronization

/// What the provider poller needs from the configuration.
public struct ProviderSettings: Sendable, Hashable {
    public var provider: GridProvider
    public var zone: String
    public var baseURL: String?
    public var tokenFile: String?
    public var timeoutSeconds: Double
    public var refreshSeconds: Double

    public init(
        provider: GridProvider, zone: String, baseURL: String?, tokenFile: String?, timeoutSeconds: Double,
        refreshSeconds: Double
    ) {
        self.provider = provider
        self.zone = zone
        self.baseURL = baseURL
        self.tokenFile = tokenFile
        self.timeoutSeconds = timeoutSeconds
        self.refreshSeconds = refreshSeconds
    }

    /// The provider settings of `configuration`; nil when it names no provider.
    public init?(_ configuration: ExporterConfiguration) {
        guard let name = configuration.gridProvider, let provider = GridProvider(rawValue: name) else { return nil }
        self.provider = provider
        self.zone = configuration.gridZone.isEmpty ? (provider.defaultZone ?? "") : configuration.gridZone
        self.baseURL = configuration.gridProviderURL
        self.tokenFile = configuration.gridProviderTokenFile
        self.timeoutSeconds = Double(configuration.gridProviderTimeout.components.seconds)
        self.refreshSeconds = Double(configuration.gridProviderRefresh.components.seconds)
    }
}

/// Fetches the provider's intensity into the control: at start, every `--grid.provider.refresh` while it answers,
/// backing off with jitter while it fails (`RefreshSchedule`), never before a 429's `Retry-After`. Each failure is
/// counted by reason and logged once per reason until the next success; the value in force stays meanwhile. The
/// token is read from its file at start and on every reload, and never logged.
public final class ProviderPoller: Sendable {
    private let control: GridIntensityControl
    private let logger: Logger
    private let clock: any SamplerClock
    private let queue = DispatchQueue(label: "footprint.grid-provider")
    private let state = Mutex(PollState())
    private let fetcher: Mutex<HTTPFetcher?> = Mutex(nil)
    private let send: ProviderClient.Fetch?

    private struct PollState: Sendable {
        var settings: ProviderSettings?
        var token: String?
        var schedule: RefreshSchedule?
        /// Bumped by every start, reload and stop: a fetch scheduled before it is dropped.
        var generation = 0
        var loggedReasons: Set<String> = []
        var stopped = false
    }

    /// - Parameter send: the HTTP exchange; nil loads libcurl (`HTTPFetcher`) on the first fetch. Tests pass their own.
    public init(
        control: GridIntensityControl, logger: Logger, clock: any SamplerClock = SystemClock(),
        send: ProviderClient.Fetch? = nil
    ) {
        self.control = control
        self.logger = logger
        self.clock = clock
        self.send = send
    }

    /// Reads the token file of `settings` (nil: no provider) and fetches at once; throws the one line that says why
    /// the token file cannot be used.
    public func start(_ settings: ProviderSettings?) throws(ConfigurationError) {
        try apply(settings, forceFetch: true)
    }

    /// Applies reloaded settings: re-reads the token file, and fetches at once when anything changed. A token file
    /// that cannot be read keeps the running settings and token.
    public func reload(_ settings: ProviderSettings?) throws(ConfigurationError) {
        try apply(settings, forceFetch: false)
    }

    /// Stops fetching; a fetch in progress finishes but its result is dropped.
    public func stop() {
        state.withLock { state in
            state.stopped = true
            state.generation += 1
        }
    }

    private func apply(_ settings: ProviderSettings?, forceFetch: Bool) throws(ConfigurationError) {
        var token: String?
        if let path = settings?.tokenFile { token = try Self.readToken(path) }
        let generation = state.withLock { state -> Int? in
            let changed = state.settings != settings || state.token != token
            state.settings = settings
            state.token = token
            guard settings != nil, changed || forceFetch, !state.stopped else { return nil }
            state.schedule = RefreshSchedule(refreshSeconds: settings!.refreshSeconds)
            state.loggedReasons = []
            state.generation += 1
            return state.generation
        }
        if let generation { queue.async { self.fetch(generation: generation) } }
    }

    /// Reads a token file: its content without surrounding white space, which must not be empty nor hold more than
    /// one line. `footprint_exporter intensity fetch` reads its token the same way.
    public static func readToken(_ path: String) throws(ConfigurationError) -> String {
        let bytes: [UInt8]
        do {
            bytes = try FileReader.readWhole(path, limit: 16 << 10)
        } catch {
            throw ConfigurationError("grid.provider.token-file: \(error)")
        }
        let token = String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
        guard !token.isEmpty else { throw ConfigurationError("grid.provider.token-file \(path) is empty") }
        guard !token.contains(where: { $0.isNewline || $0 == "\0" }) else {
            throw ConfigurationError("grid.provider.token-file \(path) holds more than one line")
        }
        return token
    }

    /// One fetch, then the next one scheduled; runs on the poller's queue.
    private func fetch(generation: Int) {
        guard
            let (settings, token) = state.withLock({ state -> (ProviderSettings, String?)? in
                guard state.generation == generation, !state.stopped, let settings = state.settings else { return nil }
                return (settings, state.token)
            })
        else { return }
        let planGeneration = control.planAndGeneration.generation
        let now = clock.unixSeconds()
        let result: Result<IntensityReading, ProviderFailure>
        if let send = send ?? productionSend() {
            let client = ProviderClient(
                provider: settings.provider, zone: settings.zone, baseURL: settings.baseURL, token: token,
                timeoutSeconds: settings.timeoutSeconds, userAgent: "footprint_exporter/\(BuildInfo.version)",
                fetch: send)
            result = client.fetch(nowUnixSeconds: now)
        } else {
            result = .failure(.network("libcurl could not be loaded (install libcurl3-gnutls)"))
        }
        let finished = clock.unixSeconds()
        let next: Double? = state.withLock { state in
            guard state.generation == generation, !state.stopped, var schedule = state.schedule else { return nil }
            defer { state.schedule = schedule }
            switch result {
            case .success: return schedule.succeeded(at: finished)
            case .failure(let failure):
                return schedule.failed(at: finished, retryAfterSeconds: failure.retryAfterSeconds)
            }
        }
        guard let next else { return }
        let taken = report(result, settings: settings, planGeneration: planGeneration, nextInSeconds: next - finished)
        // A value fetched for a plan that a reload replaced meanwhile was dropped: fetch again at once.
        let delay = taken ? max(0, next - finished) : 0
        queue.asyncAfter(deadline: .now() + .milliseconds(Int(delay * 1000))) { [weak self] in
            self?.fetch(generation: generation)
        }
    }

    /// Records the result; false when a good value was dropped because the plan changed during the fetch.
    private func report(
        _ result: Result<IntensityReading, ProviderFailure>, settings: ProviderSettings, planGeneration: Int,
        nextInSeconds: Double
    ) -> Bool {
        let provider = settings.provider.rawValue
        switch result {
        case .success(let reading):
            guard control.record(reading, generation: planGeneration) else { return false }
            let recovered = state.withLock { state -> Bool in
                defer { state.loggedReasons = [] }
                return !state.loggedReasons.isEmpty
            }
            let metadata: Logger.Metadata = [
                "provider": "\(provider)", "zone": "\(reading.zone)",
                "grams_per_kwh": "\(reading.gramsPerKilowattHour)",
            ]
            if recovered {
                logger.info("grid intensity provider answers again", metadata: metadata)
            } else {
                logger.debug("grid intensity fetched", metadata: metadata)
            }
            return true
        case .failure(let failure):
            control.recordFailure(source: provider, reason: failure.reason)
            let first = state.withLock { $0.loggedReasons.insert(failure.reason).inserted }
            if first {
                logger.warning(
                    "grid intensity fetch failed; the value in force stays",
                    metadata: [
                        "provider": "\(provider)", "reason": "\(failure.reason)", "error": "\(failure)",
                        "retry_in_seconds": "\(Int(nextInSeconds.rounded()))",
                    ])
            }
            return true
        }
    }

    /// libcurl's exchange, loaded on first use; nil when libcurl cannot be loaded.
    private func productionSend() -> ProviderClient.Fetch? {
        let loaded = fetcher.withLock { fetcher -> HTTPFetcher? in
            if fetcher == nil { fetcher = try? HTTPFetcher() }
            return fetcher
        }
        guard let loaded else { return nil }
        return { request throws(HTTPFetchError) in try loaded.get(request) }
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text = text.dropFirst() }
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        return String(text)
    }
}
