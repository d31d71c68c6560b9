import ArgumentParser
import FileReading
import FootprintExporter
import Glibc
import GridIntensity
import HTTPFetch

/// `footprint_exporter intensity`: the grid-intensity tools. Only `fetch` for now.
struct IntensityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "intensity",
        abstract: "Grid-intensity tools.",
        subcommands: [IntensityFetchCommand.self])
}

/// `footprint_exporter intensity fetch`: asks a provider once, with the exporter's own client, and writes the
/// intensity file that exporters read with `--grid.intensity.file`. One job (a Kubernetes CronJob writing a
/// ConfigMap) then polls the provider for a whole cluster instead of every node with the same token.
struct IntensityFetchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Fetch the grid intensity from a provider once and write it to an intensity file.",
        discussion: """
            The file is replaced atomically (a temporary file in the same directory, then a rename) and holds a \
            JSON object: intensity, valid_until, zone, source, fetched_at. Exit status: 0 with the file written, \
            1 when the provider gave no usable value or the file could not be written (the file is left as it \
            was), 2 for a mistake on the command line.
            """)

    @Option(help: "electricitymaps or uk-carbon-intensity.")
    var provider: String

    @Option(
        help:
            "The provider's zone: an Electricity Maps zone such as FR; GB (default) or a region id 1-17 for uk-carbon-intensity."
    )
    var zone: String?

    @Option(name: .customLong("token-file"), help: "File holding the provider's token (electricitymaps).")
    var tokenFile: String?

    @Option(help: "The provider's base URL, for a proxy or a mirror (default: the provider's own).")
    var url: String?

    @Option(help: "Time allowed for the request.")
    var timeout = "10s"

    @Option(help: "The intensity file to write.")
    var output: String

    func run() throws {
        let client: ProviderClient
        switch makeClient() {
        case .success(let made): client = made
        case .failure(let usage): Self.fail(usage.message, code: 2)
        }
        let reading: IntensityReading
        switch client.fetch(nowUnixSeconds: SystemClock().unixSeconds()) {
        case .success(let fetched): reading = fetched
        case .failure(let failure):
            Self.fail("\(client.provider.rawValue): \(failure.reason): \(failure)", code: 1)
        }
        if let problem = Self.writeAtomically(
            IntensityFileFormat.render(reading, source: client.provider.rawValue), to: output)
        {
            Self.fail("cannot write \(output): \(problem)", code: 1)
        }
        let until = reading.validUntilUnixSeconds.map { ", valid until \(GridTimestamp.formatRFC3339($0))" } ?? ""
        Self.say(
            "footprint_exporter intensity fetch: \(Self.format(reading.gramsPerKilowattHour)) g/kWh for zone \(reading.zone) from \(client.provider.rawValue)\(until), written to \(output)"
        )
    }

    struct UsageError: Error { let message: String }

    /// The client the flags describe, or the first mistake among them. The token is read here and goes nowhere
    /// but into the client.
    func makeClient() -> Result<ProviderClient, UsageError> {
        guard let provider = GridProvider(rawValue: provider) else {
            return .failure(
                UsageError(
                    message:
                        "--provider must be one of \(GridProvider.allCases.map(\.rawValue).joined(separator: ", ")), not \(self.provider)"
                ))
        }
        guard let duration = PrometheusDuration.parse(timeout), duration > .zero, duration <= .seconds(300) else {
            return .failure(
                UsageError(message: "--timeout must be a duration from 1ms to 5m, such as 10s, not \(timeout)"))
        }
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        let zone = zone ?? provider.defaultZone ?? ""
        if let problem = ProviderClient.configurationProblem(
            provider: provider, zone: zone, baseURL: url, tokenGiven: tokenFile != nil)
        {
            return .failure(UsageError(message: Self.flagNames(problem)))
        }
        var token: String?
        if let tokenFile {
            switch Self.secret(from: tokenFile) {
            case .success(let secret): token = secret
            case .failure(let error): return .failure(error)
            }
        }
        guard !output.isEmpty else { return .failure(UsageError(message: "--output must name a file")) }
        let fetcher: HTTPFetcher
        do {
            fetcher = try HTTPFetcher()
        } catch {
            Self.fail("\(provider.rawValue): network: \(error)", code: 1)
        }
        return .success(
            ProviderClient(
                provider: provider, zone: zone, baseURL: url, token: token, timeoutSeconds: seconds,
                userAgent: "footprint_exporter/\(BuildInfo.version) intensity-fetch",
                fetch: { request throws(HTTPFetchError) in try fetcher.get(request) }))
    }

    /// The exporter's flag names in a configuration message, as this command's.
    static func flagNames(_ message: String) -> String {
        message.replacing("--grid.provider.token-file", with: "--token-file")
            .replacing("--grid.provider.url", with: "--url").replacing("--grid.zone", with: "--zone")
            .replacing("--grid.provider=", with: "--provider ")
    }

    /// A token file's content without the line break at its end; never echoed.
    static func secret(from path: String) -> Result<String, UsageError> {
        // The exporter's own reading of --grid.provider.token-file, so that a token file works for both.
        do {
            return .success(try ProviderPoller.readToken(path))
        } catch {
            return .failure(
                UsageError(message: error.message.replacing("grid.provider.token-file", with: "--token-file")))
        }
    }

    /// Writes `bytes` to a temporary file beside `path`, syncs it, makes it mode 0644 and renames it over `path`;
    /// nil on success, else why not (the temporary file removed, `path` untouched).
    static func writeAtomically(_ bytes: [UInt8], to path: String) -> String? {
        let directory = FileReader.directory(of: path)
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let temporary = (directory.isEmpty ? "" : directory == "/" ? "/" : directory + "/") + ".\(name).\(getpid()).tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return String(cString: strerror(errno)) }
        var problem: String?
        var written = 0
        while written < bytes.count, problem == nil {
            let count = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + written, $0.count - written) }
            if count < 0 {
                if errno != EINTR { problem = String(cString: strerror(errno)) }
            } else {
                written += count
            }
        }
        if problem == nil, fchmod(descriptor, 0o644) != 0 { problem = String(cString: strerror(errno)) }
        if problem == nil, fsync(descriptor) != 0 { problem = String(cString: strerror(errno)) }
        if close(descriptor) != 0, problem == nil { problem = String(cString: strerror(errno)) }
        if problem == nil, rename(temporary, path) != 0 { problem = String(cString: strerror(errno)) }
        if problem != nil { unlink(temporary) }
        return problem
    }

    static func format(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }

    static func say(_ line: String) {
        var bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }

    static func fail(_ message: String, code: Int32) -> Never {
        say("footprint_exporter intensity fetch: \(message)")
        Glibc.exit(code)
    }
}
