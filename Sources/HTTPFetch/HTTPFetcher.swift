import CCurl
import Glibc
import Synchronization

/// Fetches over HTTP(S) with libcurl, loaded when the first fetcher is made.
///
/// The exporter's own process never makes one unless a feature that talks to the network is configured, so libcurl
/// is not mapped into it otherwise (docs/design-notes.md says why libcurl and not a hand-written client or
/// SwiftNIO). Each `get` uses its own easy handle: one fetcher may be used from several threads.
public final class HTTPFetcher: Sendable {
    /// Where libcurl is looked for: Debian's GnuTLS build first (GnuTLS is loaded already), then any libcurl.
    public static let defaultLibraryNames = ["libcurl-gnutls.so.4", "libcurl.so.4"]

    private let api: CurlAPI
    /// The loaded library's version, for logs and `--version` style output.
    public let libraryVersion: String

    /// Loads libcurl from the first of `libraryNames` that opens.
    public init(libraryNames: [String] = HTTPFetcher.defaultLibraryNames) throws(HTTPFetchError) {
        var reasons: [String] = []
        for name in libraryNames {
            var loaded = footprint_curl_api()
            switch footprint_curl_load(&loaded, name) {
            case 0:
                guard Self.initialiseOnce(loaded) else {
                    throw .libraryUnavailable("\(name): curl_global_init failed")
                }
                api = CurlAPI(functions: loaded)
                libraryVersion = String(cString: footprint_curl_version(&loaded))
                return
            case -2:
                reasons.append("\(name): not a usable libcurl (\(Self.lastLoaderError()))")
            default:
                reasons.append(Self.lastLoaderError())
            }
        }
        throw .libraryUnavailable(reasons.joined(separator: "; "))
    }

    /// Sends `request` and returns the response, whatever its status; throws only when no response came.
    public func get(_ request: HTTPFetchRequest) throws(HTTPFetchError) -> HTTPFetchResponse {
        let url = try HTTPFetchURL.validated(request.url)
        var functions = api.functions
        guard let handle = functions.easy_init() else { throw .transport(url: url, reason: "curl_easy_init failed") }
        defer { functions.easy_cleanup(handle) }
        var headers: UnsafeMutablePointer<curl_slist>?
        defer { if let headers { functions.slist_free_all(headers) } }
        for header in request.headers {
            headers = functions.slist_append(headers, "\(header.name): \(header.value)")
        }
        if let token = request.bearerToken {
            headers = functions.slist_append(headers, "Authorization: Bearer \(token)")
        }
        let sink = Unmanaged.passRetained(BodySink(limit: request.maximumBodyBytes))
        defer { sink.release() }

        var status = CURLE_OK
        func set(_ option: CURLoption, _ value: Int) {
            if status == CURLE_OK { status = footprint_curl_set_long(&functions, handle, option, value) }
        }
        func set(_ option: CURLoption, _ value: String) {
            if status == CURLE_OK { status = footprint_curl_set_string(&functions, handle, option, value) }
        }
        set(CURLOPT_URL, url)
        set(CURLOPT_NOSIGNAL, 1)  // threads: no SIGALRM for DNS timeouts
        set(CURLOPT_PROTOCOLS_STR, "http,https")
        set(CURLOPT_FOLLOWLOCATION, 0)
        set(CURLOPT_TIMEOUT_MS, Int(request.timeoutSeconds * 1000))
        set(CURLOPT_CONNECTTIMEOUT_MS, Int(min(request.connectTimeoutSeconds, request.timeoutSeconds) * 1000))
        set(CURLOPT_ACCEPT_ENCODING, "")  // every encoding this libcurl decodes
        set(CURLOPT_USERAGENT, request.userAgent)
        if let credentials = request.basicAuth {
            set(CURLOPT_HTTPAUTH, footprint_curl_auth_basic())
            set(CURLOPT_USERNAME, credentials.user)
            set(CURLOPT_PASSWORD, credentials.password)
        }
        if let caFile = request.caFile { set(CURLOPT_CAINFO, caFile) }
        if status == CURLE_OK, let headers {
            status = footprint_curl_set_list(&functions, handle, CURLOPT_HTTPHEADER, headers)
        }
        if status == CURLE_OK {
            status = footprint_curl_set_write(&functions, handle, collectBody, sink.toOpaque())
        }
        if status == CURLE_OK {
            status = footprint_curl_set_header_callback(&functions, handle, collectHeader, sink.toOpaque())
        }
        guard status == CURLE_OK else {
            throw .transport(
                url: url,
                reason: "libcurl refused an option: \(String(cString: footprint_curl_error(&functions, status)))")
        }
        let outcome = functions.easy_perform(handle)
        let body = sink.takeUnretainedValue()
        if body.exceeded { throw .bodyTooLarge(url: url, limit: request.maximumBodyBytes) }
        guard outcome == CURLE_OK else {
            throw .transport(url: url, reason: String(cString: footprint_curl_error(&functions, outcome)))
        }
        return HTTPFetchResponse(
            status: footprint_curl_response_code(&functions, handle), body: body.bytes, headers: body.headers)
    }

    /// curl_global_init is not thread-safe and must run once per process, before any handle is made.
    private static let initialised = Mutex<Bool?>(nil)

    private static func initialiseOnce(_ api: footprint_curl_api) -> Bool {
        initialised.withLock { state in
            if let state { return state }
            let ok = api.global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK
            state = ok
            return ok
        }
    }

    private static func lastLoaderError() -> String {
        dlerror().map { String(cString: $0) } ?? "unknown error"
    }
}

/// The resolved functions, immutable once loaded and safe to call from any thread.
private struct CurlAPI: @unchecked Sendable {
    let functions: footprint_curl_api
}

/// Collects a response body up to a limit; past it, the transfer is aborted.
private final class BodySink {
    let limit: Int
    var bytes: [UInt8] = []
    var exceeded = false
    /// The header fields of the last response seen (a `100 Continue` or a proxy's `200` come before the final one).
    var headers: [HTTPHeaderField] = []
    var headerBytes = 0
    /// The most header bytes kept, all responses together.
    static let headerLimit = 64 << 10

    init(limit: Int) { self.limit = limit }
}

/// libcurl's write callback: appends to the `BodySink` in `context`; returning less than given aborts the transfer.
private func collectBody(
    _ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?
) -> Int {
    guard let context else { return 0 }
    let sink = Unmanaged<BodySink>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    guard sink.bytes.count + length <= sink.limit else {
        sink.exceeded = true
        return 0
    }
    if let data, length > 0 {
        sink.bytes.append(contentsOf: UnsafeRawBufferPointer(start: data, count: length))
    }
    return length
}

/// libcurl's header callback: one header line per call. A status line starts a new response's fields; the rest are
/// kept as name and value, up to `BodySink.headerLimit` bytes.
private func collectHeader(
    _ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?
) -> Int {
    guard let context else { return 0 }
    let sink = Unmanaged<BodySink>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    guard let data, length > 0 else { return length }
    sink.headerBytes += length
    guard sink.headerBytes <= BodySink.headerLimit else { return length }
    let line = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    if line.hasPrefix("HTTP/") {
        sink.headers = []
        return length
    }
    guard let colon = line.firstIndex(of: ":") else { return length }
    let name = String(line[..<colon])
    let value = line[line.index(after: colon)...].trimmingCharacters(in: " \t\r\n")
    sink.headers.append(HTTPHeaderField(name: name, value: value))
    return length
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var text = self
        while let first = text.first, set.contains(first) { text = text.dropFirst() }
        while let last = text.last, set.contains(last) { text = text.dropLast() }
        return String(text)
    }
}
