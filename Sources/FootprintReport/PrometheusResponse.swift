import FoundationEssentials

/// One series of a Prometheus range-vector or matrix answer: its labels and raw samples in time order.
public struct PrometheusSeries: Sendable, Hashable {
    public var labels: [String: String]
    public var samples: [CounterSample]
}

/// Why an answer from Prometheus' HTTP API could not be used.
public enum PrometheusResponseError: Error, Equatable, CustomStringConvertible {
    /// Prometheus answered `"status": "error"`: a bad query, a timeout on its side.
    case queryFailed(type: String, message: String)
    /// The body is not the API's JSON (a proxy's HTML page, a truncated body).
    case malformed(String)
    /// The answer is of another result type than a matrix.
    case unexpectedType(String)

    public var description: String {
        switch self {
        case .queryFailed(let type, let message): "Prometheus refused the query (\(type)): \(message)"
        case .malformed(let reason): "the answer is not Prometheus API JSON: \(reason)"
        case .unexpectedType(let type): "Prometheus answered a \(type), not a matrix"
        }
    }
}

/// Parses the JSON of `/api/v1/query` for a range selector (`metric[30d]`) or of `/api/v1/query_range`.
public enum PrometheusResponse {
    public static func matrix(_ body: [UInt8]) throws(PrometheusResponseError) -> [PrometheusSeries] {
        let envelope: Envelope
        do {
            envelope = try JSONDecoder().decode(Envelope.self, from: Data(body))
        } catch {
            throw .malformed(Self.describe(error))
        }
        guard envelope.status == "success" else {
            throw .queryFailed(type: envelope.errorType ?? "error", message: envelope.error ?? "no message")
        }
        guard let data = envelope.data else { throw .malformed("no data") }
        guard data.resultType == "matrix" else { throw .unexpectedType(data.resultType) }
        return (data.result ?? []).map { series in
            PrometheusSeries(labels: series.metric, samples: (series.values ?? []).map(\.sample))
        }
    }

    private struct Envelope: Decodable {
        let status: String
        let data: DataSection?
        let errorType: String?
        let error: String?
    }

    private struct DataSection: Decodable {
        let resultType: String
        let result: [Series]?
    }

    private struct Series: Decodable {
        let metric: [String: String]
        let values: [Pair]?
    }

    /// `[<unix seconds>, "<value>"]`: the value is a string so that NaN and ±Inf survive JSON.
    private struct Pair: Decodable {
        let sample: CounterSample

        init(from decoder: any Decoder) throws {
            var container = try decoder.unkeyedContainer()
            let time = try container.decode(Double.self)
            let text = try container.decode(String.self)
            guard let value = Double(text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "sample value \(text) is not a number")
            }
            sample = CounterSample(time: time, value: value)
        }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context): context.debugDescription
        case DecodingError.keyNotFound(let key, _): "no \(key.stringValue)"
        case DecodingError.typeMismatch(_, let context): context.debugDescription
        case DecodingError.valueNotFound(_, let context): context.debugDescription
        default: "\(error)"
        }
    }
}
