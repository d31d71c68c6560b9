import HTTPFetch

/// A series' labels and how its counter grew over a range.
public struct SeriesIncrease: Sendable {
    public var labels: [String: String]
    public var increase: CounterIncrease

    public init(labels: [String: String], increase: CounterIncrease) {
        self.labels = labels
        self.increase = increase
    }
}

/// Where the report reads counters from: every series matching a selector, with its increase from the first sample at
/// or after `from` to the last at or before `to`.
public protocol SeriesSource {
    func increases(_ selector: String, from: Double, to: Double) throws(ReportError) -> [SeriesIncrease]
}

/// Why the report could not be made; each is one line for the user, with the exit status it gets.
public enum ReportError: Error, Equatable, CustomStringConvertible {
    case unreachable(String)
    case unauthorized(String)
    case badAnswer(String)
    case noMatch(String)
    case noData(String)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .unreachable(let text), .unauthorized(let text), .badAnswer(let text), .noMatch(let text),
            .noData(let text), .invalidArgument(let text):
            text
        }
    }

    /// 1 when the query worked and found nothing, 2 for a mistake on the command line, 3 when Prometheus could not
    /// be asked.
    public var exitCode: Int32 {
        switch self {
        case .noMatch, .noData: 1
        case .invalidArgument: 2
        case .unreachable, .unauthorized, .badAnswer: 3
        }
    }
}

/// Reads raw samples from Prometheus' HTTP API (`/api/v1/query` with a range selector), a day at a time so that no
/// answer grows past Prometheus' sample limit, and folds each series' samples into its increase as they arrive.
public struct PrometheusSeriesSource: SeriesSource {
    public var baseURL: String
    public var fetcher: HTTPFetcher
    /// Credentials, CA and timeout for every request; its URL is replaced.
    public var template: HTTPFetchRequest
    public var chunkSeconds: Double

    public init(baseURL: String, fetcher: HTTPFetcher, template: HTTPFetchRequest, chunkSeconds: Double = 86_400) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.fetcher = fetcher
        self.template = template
        self.chunkSeconds = chunkSeconds
    }

    public func increases(_ selector: String, from: Double, to: Double) throws(ReportError) -> [SeriesIncrease] {
        var bySeries: [[String]: SeriesIncrease] = [:]
        var order: [[String]] = []
        var end = min(to, from + chunkSeconds)
        var start = from
        while start < to {
            // A range selector takes the samples in (time − range, time]; the first chunk reaches a millisecond
            // back so that a sample exactly at `from` is the baseline.
            let range = end - start + (start == from ? 0.001 : 0)
            let query = "\(selector)[\(Self.milliseconds(range))ms]"
            let url = "\(baseURL)/api/v1/query?query=\(Self.percentEncoded(query))&time=\(Self.timestamp(end))"
            for series in try matrix(url) {
                let key = series.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                if bySeries[key] == nil {
                    bySeries[key] = SeriesIncrease(labels: series.labels, increase: CounterIncrease())
                    order.append(key)
                }
                for sample in series.samples { bySeries[key]?.increase.add(sample) }
            }
            start = end
            end = min(to, end + chunkSeconds)
        }
        return order.compactMap { bySeries[$0] }
    }

    private func matrix(_ url: String) throws(ReportError) -> [PrometheusSeries] {
        var request = template
        request.url = url
        let response: HTTPFetchResponse
        do {
            response = try fetcher.get(request)
        } catch {
            switch error {
            case .transport(_, let reason): throw .unreachable("cannot reach Prometheus at \(baseURL): \(reason)")
            default: throw .unreachable("cannot ask Prometheus at \(baseURL): \(error)")
            }
        }
        switch response.status {
        case 200, 400, 422:
            break  // the API's own errors come as JSON with a message
        case 401, 403:
            throw .unauthorized(
                "Prometheus at \(baseURL) answered \(response.status): check --prometheus.user and its password file, or the bearer token file"
            )
        default:
            throw .badAnswer("Prometheus at \(baseURL) answered HTTP \(response.status)")
        }
        do {
            return try PrometheusResponse.matrix(response.body)
        } catch {
            throw .badAnswer("\(error) (from \(baseURL))")
        }
    }

    static func milliseconds(_ seconds: Double) -> Int64 { Int64((seconds * 1000).rounded(.up)) }

    static func timestamp(_ seconds: Double) -> String {
        let milliseconds = Int64((seconds * 1000).rounded())
        let fraction = String(abs(milliseconds % 1000))
        return "\(milliseconds / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }

    /// Percent-encodes all but RFC 3986's unreserved characters.
    static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                out += "%"
                out.unicodeScalars.append(hex[Int(byte >> 4)])
                out.unicodeScalars.append(hex[Int(byte & 0xF)])
            }
        }
        return out
    }
}
