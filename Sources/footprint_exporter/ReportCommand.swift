import ArgumentParser
import FileReading
import FootprintExporter
import FootprintReport
import Glibc
import HTTPFetch

/// `footprint_exporter report`: asks a Prometheus server for the counters of a set of workloads (or nodes, or
/// budgets) over a range and prints the paper's Table 3 for them. docs/report.md is its manual.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Print the paper's Table 3 (hours, power, kWh·PUE, CO2e) for workloads, nodes or budgets.",
        discussion: """
            Energies are exact: the counters' raw samples from the first at or after --from to the last at or \
            before --to, restarts counted, nothing extrapolated. The CO2e columns are operational; when the \
            counters carry embodied CO2e (exporters run with --embodied.*), an embodied CO2e column and an \
            operational + embodied total follow them (not with --by budget). Exit status: 0 with a table, 1 when \
            nothing matched or the range has no data, 2 for a mistake on the command line, 3 when Prometheus \
            could not be asked.
            """)

    @Option(
        name: .customLong("prometheus.url"), help: "Base URL of the Prometheus server (http or https, no credentials).")
    var prometheusURL: String

    @Option(
        name: .customLong("prometheus.user"),
        help: "Basic-auth user; the password comes from --prometheus.password-file.")
    var prometheusUser: String?

    @Option(name: .customLong("prometheus.password-file"), help: "File holding the basic-auth password.")
    var passwordFile: String?

    @Option(name: .customLong("prometheus.bearer-token-file"), help: "File holding a bearer token.")
    var bearerTokenFile: String?

    @Option(name: .customLong("prometheus.ca-file"), help: "PEM file of the CAs to trust for https.")
    var caFile: String?

    @Option(name: .customLong("prometheus.timeout"), help: "Time allowed for each request to Prometheus.")
    var timeout = "60s"

    @Option(
        help:
            "One row per: namespace, pod, slurm_job, user, unit, node or budget (default: slurm_job with --job, user with --user, else namespace)."
    )
    var by: String?

    @Option(help: "Only pods of this namespace.")
    var namespace: String?

    @Option(help: "Only this Slurm job: its numeric id or its SLUID.")
    var job: String?

    @Option(help: "Only Slurm jobs of this user.")
    var user: String?

    @Option(help: "Extra PromQL label matchers for every series, e.g. 'node=\"gpu-7\"'.")
    var match: String?

    @Option(help: "Start of the range: RFC 3339, or relative such as -7d.")
    var from: String?

    @Option(help: "End of the range: RFC 3339, relative such as -1h, or now (default).")
    var to: String?

    @Option(help: "The range as a duration back from --to, e.g. 30d (instead of --from).")
    var last: String?

    @Option(help: "markdown (default), csv or json.")
    var format = "markdown"

    @Option(name: .customLong("price.kwh"), help: "Price of a kWh of facility energy: adds an energy cost column.")
    var pricePerKWh: Double?

    @Option(
        name: .customLong("price.node-hour"),
        help: "Price of a node-hour (with --by node): adds an instance cost column.")
    var pricePerNodeHour: Double?

    @Option(help: "Currency of the prices, as the columns should name it.")
    var currency = "USD"

    func run() throws {
        do {
            let (selection, format, prices) = try validated(now: SystemClock().unixSeconds())
            let request = try requestTemplate()
            let fetcher: HTTPFetcher
            do {
                fetcher = try HTTPFetcher()
            } catch {
                throw ReportError.unreachable("\(error)")
            }
            let source = PrometheusSeriesSource(baseURL: prometheusURL, fetcher: fetcher, template: request)
            let table = try ReportBuilder.table(for: selection, source: source, prices: prices)
            print(table.render(format), terminator: "")
        } catch let error as ReportError {
            Self.fail(error.description, code: error.exitCode)
        }
    }

    /// The selection, format and prices the flags ask for, or the first mistake among them.
    func validated(now: Double) throws(ReportError) -> (ReportSelection, ReportTable.Format, ReportPrices?) {
        do {
            _ = try HTTPFetchURL.validated(prometheusURL)
        } catch {
            throw .invalidArgument("--prometheus.url: \(error)")
        }
        guard let format = ReportTable.Format(rawValue: format) else {
            throw .invalidArgument("--format must be markdown, csv or json, not \(format)")
        }
        let grouping: ReportGrouping
        if let by {
            guard let chosen = ReportGrouping(rawValue: by) else {
                throw .invalidArgument(
                    "--by must be one of \(ReportGrouping.allCases.map(\.rawValue).joined(separator: ", ")), not \(by)")
            }
            grouping = chosen
        } else {
            grouping = job != nil ? .slurmJob : user != nil ? .user : .namespace
        }
        if from != nil && last != nil { throw .invalidArgument("give --from or --last, not both") }
        let end = try to.map { text throws(ReportError) in try ReportTime.parse(text, now: now) } ?? now
        let start: Double
        if let last {
            guard let seconds = ReportTime.duration(last) else {
                throw .invalidArgument("--last must be a duration such as 30d or 36h, not \(last)")
            }
            start = end - seconds
        } else if let from {
            start = try ReportTime.parse(from, now: now)
        } else {
            throw .invalidArgument("give the range: --last 30d, or --from (and --to)")
        }
        guard end > start else { throw .invalidArgument("the range is empty: --to must be after --from") }
        if (grouping == .node || grouping == .budget), namespace != nil || job != nil || user != nil {
            throw .invalidArgument(
                "--namespace, --job and --user select workloads; with --by \(grouping.rawValue) use --match")
        }
        for (name, price) in [("--price.kwh", pricePerKWh), ("--price.node-hour", pricePerNodeHour)] {
            if let price, !(price.isFinite && price >= 0) {
                throw .invalidArgument("\(name) must be a number ≥ 0")
            }
        }
        if pricePerNodeHour != nil && grouping != .node {
            throw .invalidArgument("--price.node-hour prices nodes: use it with --by node")
        }
        let prices =
            pricePerKWh == nil && pricePerNodeHour == nil
            ? nil : ReportPrices(currency: currency, perKilowattHour: pricePerKWh, perNodeHour: pricePerNodeHour)
        let selection = ReportSelection(
            grouping: grouping, namespace: namespace, job: job, user: user, matchers: match, from: start, to: end)
        return (selection, format, prices)
    }

    /// Credentials and limits for every request, read from their files.
    func requestTemplate() throws(ReportError) -> HTTPFetchRequest {
        guard let seconds = ReportTime.duration(timeout) else {
            throw .invalidArgument("--prometheus.timeout must be a duration such as 60s, not \(timeout)")
        }
        if (prometheusUser == nil) != (passwordFile == nil) {
            throw .invalidArgument("--prometheus.user and --prometheus.password-file go together")
        }
        if prometheusUser != nil && bearerTokenFile != nil {
            throw .invalidArgument("give basic auth or a bearer token, not both")
        }
        var request = HTTPFetchRequest(
            url: prometheusURL, caFile: caFile, timeoutSeconds: seconds, connectTimeoutSeconds: min(seconds, 10),
            maximumBodyBytes: 512 << 20, userAgent: "footprint_exporter/\(BuildInfo.version) report")
        if let user = prometheusUser, let passwordFile {
            request.basicAuth = (user, try Self.secret(from: passwordFile, flag: "--prometheus.password-file"))
        }
        if let bearerTokenFile {
            request.bearerToken = try Self.secret(from: bearerTokenFile, flag: "--prometheus.bearer-token-file")
        }
        return request
    }

    /// A secret file's content without its trailing line break; never echoed.
    static func secret(from path: String, flag: String) throws(ReportError) -> String {
        let bytes: [UInt8]
        do {
            bytes = try FileReader.readWhole(path, limit: 64 << 10)
        } catch {
            throw .invalidArgument("\(flag): \(error)")
        }
        var text = String(decoding: bytes, as: UTF8.self)
        while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
        guard !text.isEmpty else { throw .invalidArgument("\(flag) \(path) is empty") }
        return text
    }

    static func fail(_ message: String, code: Int32) -> Never {
        var bytes = Array("footprint_exporter report: \(message)\n".utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
        Glibc.exit(code)
    }
}
