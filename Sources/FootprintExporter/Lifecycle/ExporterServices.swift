import MetricsServer
import ServiceLifecycle

/// Runs the sampler until graceful shutdown (SIGTERM/SIGINT), then stops it after its sample in progress.
public struct SamplerService: Service {
    let sampler: Sampler
    /// Runs after the last sample, for example to save the state file.
    let afterStop: @Sendable () -> Void

    public func run() async throws {
        sampler.start()
        try? await gracefulShutdown()
        sampler.stop()
        afterStop()
    }
}

/// Keeps the already listening HTTP server up until graceful shutdown, then closes it.
public struct HTTPService: Service {
    let server: HTTPServer
    let webWatcher: WebConfigWatcher

    public func run() async throws {
        try? await gracefulShutdown()
        webWatcher.stop()
        // In-flight scrapes get up to 1.5 s to finish, so the exporter exits within 2 s of SIGTERM.
        server.stop(gracePeriodSeconds: 1.5)
    }
}

/// Runs the provider poller until graceful shutdown, then stops it and the intensity file's watcher.
public struct GridIntensityService: Service {
    let exporter: Exporter

    public func run() async throws {
        // The intensity file's watcher started with `Exporter.listen()`.
        do {
            try exporter.providerPoller.start(ProviderSettings(exporter.runningConfiguration.withLock { $0 }))
        } catch {
            // Checked at start-up; the file changed since.
            exporter.logger.error(
                "cannot fetch the grid intensity; the value in force stays", metadata: ["reason": "\(error.message)"])
        }
        try? await gracefulShutdown()
        exporter.providerPoller.stop()
        exporter.intensityFileWatcher.stop()
    }
}
