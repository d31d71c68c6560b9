import Logging
import Synchronization

/// Collects the log lines a test's logger writes: level, message and flattened metadata.
final class LineRecorder: Sendable {
    let storage = Mutex<[(level: Logger.Level, message: String, metadata: [String: String])]>([])

    var lines: [(level: Logger.Level, message: String, metadata: [String: String])] { storage.withLock { $0 } }
    var messages: [String] { lines.map(\.message) }

    struct Handler: LogHandler {
        let recorder: LineRecorder
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let flat = (event.metadata ?? [:]).mapValues { "\($0)" }
            recorder.storage.withLock { $0.append((event.level, "\(event.message)", flat)) }
        }
    }

    var logger: Logger { Logger(label: "test") { _ in Handler(recorder: self) } }
}
