import CMicroHTTPD
import Dispatch
import Glibc
import Synchronization

// MARK: - libmicrohttpd callbacks

// Free, nonisolated functions: libmicrohttpd calls them on its own threads, where a main-actor closure would trap.

/// Called when a request line has been parsed, with the request-target as sent (libmicrohttpd splits the query off
/// and unescapes only afterwards): starts the request's record, which libmicrohttpd then passes to every callback.
func requestLineParsed(
    cls: UnsafeMutableRawPointer?, uri: UnsafePointer<CChar>?, connection: OpaquePointer?
) -> UnsafeMutableRawPointer? {
    guard let uri else { return nil }
    return Unmanaged.passRetained(RequestRecord(rawTarget: uri)).toOpaque()
}

/// libmicrohttpd's unescaping, replaced by none: the path is routed exactly as sent, so `/%6detrics` is not
/// `/metrics`, and `%00` cannot cut a path short (a decoded NUL ends the C string the handler receives).
func keepEscapes(cls: UnsafeMutableRawPointer?, connection: OpaquePointer?, text: UnsafeMutablePointer<CChar>?) -> Int {
    text.map { strlen($0) } ?? 0
}

func accessHandler(
    cls: UnsafeMutableRawPointer?,
    connection: OpaquePointer?,
    url: UnsafePointer<CChar>?,
    method: UnsafePointer<CChar>?,
    version: UnsafePointer<CChar>?,
    uploadData: UnsafePointer<CChar>?,
    uploadDataSize: UnsafeMutablePointer<Int>?,
    connectionContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> MHD_Result {
    guard let cls, let connection, let url, let method, let version, let recordPointer = connectionContext?.pointee
    else { return .NO }
    let context = Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue()
    let record = Unmanaged<RequestRecord>.fromOpaque(recordPointer).takeUnretainedValue()
    let methodName = String(cString: method)
    if !record.started {
        // First call: the head is complete. Anything refused here is refused before it takes a slot or costs a
        // password check, and answered at once with the connection closed.
        record.started = true
        context.requestBegan()
        let headers = context.currentPolicy.headers
        if let refusal = refusal(
            of: record, connection: connection, url: url, method: methodName, version: version, context: context)
        {
            return queue(refusal, on: connection, extraHeaders: headers, closing: true)
        }
        if !context.isUncapped(url) {
            record.holdsSlot = context.takeSlot()
            record.overCap = !record.holdsSlot
        }
        // The response waits for the next call: one queued now, before libmicrohttpd has read the (empty) body,
        // would make it close the connection instead of keeping it alive for the next scrape.
        return .YES
    }
    if let size = uploadDataSize, size.pointee > 0 {
        size.pointee = 0  // not reached: a request announcing a body was refused at its head
        return .YES
    }
    context.connections.requestRead(connection)
    let policy = context.currentPolicy
    if record.overCap {
        return queue(
            .text(503, "too many concurrent requests\n", headers: [("Retry-After", "1")]), on: connection,
            extraHeaders: policy.headers)
    }
    if let tls = policy.security.tls, tls.clientAuthentication != .noClientCert {
        let status = footprint_mhd_client_certificate_status(connection)
        let refused =
            (status == 1 && tls.clientAuthentication.requiresCertificate)
            || (status == 2 && tls.clientAuthentication.verifiesCertificate)
        if refused {
            return queue(
                .text(403, "a valid client certificate is required\n"), on: connection,
                extraHeaders: policy.headers)
        }
    }
    if let authenticator = policy.authenticator {
        let unauthorized = HTTPResponse.text(
            401, "Unauthorized\n", headers: [("WWW-Authenticate", "Basic realm=\"footprint_exporter\"")])
        switch record.verification.withLock({ $0 }) {
        case .done(let granted):
            if !granted { return queue(unauthorized, on: connection, extraHeaders: policy.headers) }
        case .running:
            return .YES  // still suspended; not expected to be called
        case .abandoned:
            return .NO  // the daemon is stopping
        case .none:
            let header = MHD_lookup_connection_value(connection, .HEADER_KIND, "Authorization").map {
                String(cString: $0)
            }
            switch authenticator.verdict(for: header) {
            case .granted:
                break
            case .denied:
                return queue(unauthorized, on: connection, extraHeaders: policy.headers)
            case .needsCheck(let pending):
                // bcrypt takes long by design: never on this thread, which serves other connections too.
                if context.verifyInBackground(pending, with: authenticator, record: record, connection: connection) {
                    return .YES  // answered when the check resumes the connection
                }
                return queue(
                    .text(429, "too many password checks at once\n", headers: [("Retry-After", "1")]),
                    on: connection, extraHeaders: policy.headers)
            }
        }
    }
    // A percent-encoded NUL anywhere in the target (the path is routed undecoded, so it can only be in the query)
    // is never a valid request to this server.
    let response =
        record.hasEncodedNUL
        ? .text(404, "404 page not found\n")
        : context.handler.respond(
            to: HTTPRequest(
                method: methodName, path: String(cString: url),
                acceptEncoding: MHD_lookup_connection_value(connection, .HEADER_KIND, "Accept-Encoding").map {
                    String(cString: $0)
                }))
    return queue(response, on: connection, extraHeaders: policy.headers)
}

/// What is wrong with a request whose head just arrived, as the response that refuses it; nil when nothing is.
private func refusal(
    of record: RequestRecord, connection: OpaquePointer, url: UnsafePointer<CChar>, method: String,
    version: UnsafePointer<CChar>, context: ServerContext
) -> HTTPResponse? {
    // libmicrohttpd parses the request line in place: the target ends where the version begins, one terminating NUL
    // before it. When the handler's path is the target seen at parse time but the version starts later, a NUL byte
    // inside the target cut the C strings short: the path would not be what the client sent.
    if UnsafeRawPointer(url) == record.rawTargetStart,
        UnsafeRawPointer(version) != record.rawTargetStart + record.rawTargetLength + 1
    {
        return .text(400, "the request target holds a NUL byte\n")
    }
    if strcmp(version, "HTTP/1.0") != 0, MHD_lookup_connection_value(connection, .HEADER_KIND, "Host") == nil {
        return .text(400, "an HTTP/1.1 request needs a Host header\n")
    }
    var totals = [Int](repeating: 0, count: 3)
    footprint_mhd_head_size(connection, &totals)
    let requestLine = method.utf8.count + 1 + record.rawTargetLength + 1 + strlen(version) + 2
    let headBytes = requestLine + totals[1] + totals[2] + 2
    if totals[0] > context.limits.maximumHeaderFields || headBytes > context.limits.maximumHeadBytes {
        return .text(
            431,
            "request head too large: at most \(context.limits.maximumHeaderFields) fields and \(context.limits.maximumHeadBytes) bytes\n"
        )
    }
    // Only GET and HEAD are served, and neither takes a body: refuse one before reading it, so a client trickling
    // a body holds no slot and no thread.
    let length = MHD_lookup_connection_value(connection, .HEADER_KIND, "Content-Length").map { String(cString: $0) }
    let announcesBody =
        MHD_lookup_connection_value(connection, .HEADER_KIND, "Transfer-Encoding") != nil
        || (length.map { !$0.allSatisfy { $0 == "0" } } ?? false)
    if announcesBody {
        return method == "GET" || method == "HEAD"
            ? .text(400, "a \(method) request takes no body\n")
            : .text(413, "request bodies are not accepted\n")
    }
    return nil
}

private func queue(
    _ response: HTTPResponse, on connection: OpaquePointer,
    extraHeaders: [(name: ContiguousArray<CChar>, value: ContiguousArray<CChar>)], closing: Bool = false
) -> MHD_Result {
    // No copy of the body: libmicrohttpd sends from the array's own storage, which the retained box keeps alive (and,
    // the array being immutable from here on, unmoved) until the response is destroyed. At 1,000 workloads a copy per
    // scrape of the 129 kB gzip body was measurable against nginx (bench/ATTRIBUTION.md).
    let body = Unmanaged.passRetained(ResponseBody(response.body))
    let created = body.takeUnretainedValue().bytes.withUnsafeBytes { bytes in
        MHD_create_response_from_buffer_with_free_callback_cls(
            bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress), releaseResponseBody, body.toOpaque())
    }
    guard let created else {
        body.release()
        return .NO
    }
    defer { MHD_destroy_response(created) }
    for header in response.headers {
        // withCString: short names and values live inside the String, and the implicit conversion would allocate a
        // C copy of each on the heap for every response.
        header.name.withCString { name in
            header.value.withCString { value in _ = MHD_add_response_header(created, name, value) }
        }
    }
    for header in extraHeaders {
        header.name.withUnsafeBufferPointer { name in
            header.value.withUnsafeBufferPointer { value in
                _ = MHD_add_response_header(created, name.baseAddress, value.baseAddress)
            }
        }
    }
    if closing {
        _ = MHD_add_response_header(created, "Connection", "close")
    }
    return MHD_queue_response(connection, UInt32(response.status), created)
}

/// A response's body, kept alive for libmicrohttpd until it destroys the response.
private final class ResponseBody {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
}

/// libmicrohttpd's free callback for a response body: drops the box retained when the response was created.
private func releaseResponseBody(_ box: UnsafeMutableRawPointer?) {
    guard let box else { return }
    Unmanaged<ResponseBody>.fromOpaque(box).release()
}

func requestCompleted(
    cls: UnsafeMutableRawPointer?, connection: OpaquePointer?,
    connectionContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    code: MHD_RequestTerminationCode
) {
    guard let cls, let connection, let recordPointer = connectionContext?.pointee else { return }
    let context = Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue()
    connectionContext?.pointee = nil
    let record = Unmanaged<RequestRecord>.fromOpaque(recordPointer).takeRetainedValue()
    if record.holdsSlot { context.releaseSlot() }
    if record.started { context.requestEnded() }
    context.connections.requestCompleted(connection)
}

func connectionNotified(
    cls: UnsafeMutableRawPointer?, connection: OpaquePointer?,
    socketContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    code: MHD_ConnectionNotificationCode
) {
    guard let cls, let connection else { return }
    let context = Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue()
    if code == .CONNECTION_NOTIFY_STARTED {
        context.connections.opened(connection, socket: footprint_mhd_connection_fd(connection))
    } else {
        context.connections.closed(connection)
    }
}
