import CMicroHTTPD
import Dispatch
import Glibc
import Synchronization

/// What libmicrohttpd keeps for a request between calls of the access handler (its per-request pointer): whether
/// the request got one of the concurrent-request slots. Nil before the head is complete and after completion.
enum RequestMarker: Int {
    /// Counted in; completion counts it out.
    case admitted = 1
    /// Over the cap: answered 503, but still counted out at completion (the count went up before the refusal).
    case refused = 2

    var pointer: UnsafeMutableRawPointer? { UnsafeMutableRawPointer(bitPattern: rawValue) }
}

// MARK: - libmicrohttpd callbacks

// Free, nonisolated functions: libmicrohttpd calls them on its own threads, where a main-actor closure would trap.

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
    guard let cls, let connection, let url, let method else { return .NO }
    let context = Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue()
    if connectionContext?.pointee == nil {
        // First call for this request: its head is complete. Count it in once; completion counts it out. The
        // response waits for the next call: one queued now, before libmicrohttpd has read the (empty) body, would
        // make it close the connection instead of keeping it alive for the next scrape.
        connectionContext?.pointee = (context.admit() ? RequestMarker.admitted : .refused).pointer
        context.connections.requestStarted(connection)
        return .YES
    }
    if let size = uploadDataSize, size.pointee > 0 {
        size.pointee = 0  // a request body is never expected here: read and dropped
        return .YES
    }
    if connectionContext?.pointee == RequestMarker.refused.pointer {
        return queue(
            .text(503, "too many concurrent requests\n", headers: [("Retry-After", "1")]), on: connection,
            extraHeaders: [:])
    }
    let policy = context.currentPolicy
    if let tls = policy.security.tls, tls.clientAuthentication != .noClientCert {
        let status = footprint_mhd_client_certificate_status(connection)
        let refused =
            (status == 1 && tls.clientAuthentication.requiresCertificate)
            || (status == 2 && tls.clientAuthentication.verifiesCertificate)
        if refused {
            return queue(
                .text(403, "a valid client certificate is required\n"), on: connection,
                extraHeaders: policy.security.headers)
        }
    }
    if let authenticator = policy.authenticator {
        let header = MHD_lookup_connection_value(connection, .HEADER_KIND, "Authorization").map { String(cString: $0) }
        guard authenticator.authorizes(header) else {
            return queue(
                .text(401, "Unauthorized\n", headers: [("WWW-Authenticate", "Basic realm=\"footprint_exporter\"")]),
                on: connection, extraHeaders: policy.security.headers)
        }
    }
    var path = String(cString: url)
    if let query = path.firstIndex(of: "?") { path = String(path[..<query]) }
    let response = context.handler.respond(to: HTTPRequest(method: String(cString: method), path: path))
    return queue(response, on: connection, extraHeaders: policy.security.headers)
}

private func queue(_ response: HTTPResponse, on connection: OpaquePointer, extraHeaders: [String: String]) -> MHD_Result
{
    let created = response.body.withUnsafeBytes { bytes in
        MHD_create_response_from_buffer(
            bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress), .RESPMEM_MUST_COPY)
    }
    guard let created else { return .NO }
    defer { MHD_destroy_response(created) }
    for header in response.headers {
        _ = MHD_add_response_header(created, header.name, header.value)
    }
    for (name, value) in extraHeaders {
        _ = MHD_add_response_header(created, name, value)
    }
    return MHD_queue_response(connection, UInt32(response.status), created)
}

func requestCompleted(
    cls: UnsafeMutableRawPointer?, connection: OpaquePointer?,
    connectionContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    code: MHD_RequestTerminationCode
) {
    guard let cls, let connection, connectionContext?.pointee != nil else { return }
    let context = Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue()
    connectionContext?.pointee = nil
    context.release()
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
