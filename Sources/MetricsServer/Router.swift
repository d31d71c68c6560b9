/// Routes `GET` and `HEAD` by exact path; other methods on a known path get 405 with `Allow`, unknown paths 404.
public struct Router: HTTPHandler {
    /// Produces the response of one route; called for every request to it.
    public typealias Route = @Sendable () -> HTTPResponse

    private let routes: [String: Route]

    public init(routes: [String: Route]) {
        self.routes = routes
    }

    public func respond(to request: HTTPRequest) -> HTTPResponse {
        guard let route = routes[request.path] else {
            return .text(404, "404 page not found\n")
        }
        switch request.method {
        case "GET", "HEAD":
            // libmicrohttpd drops the body of a HEAD response and keeps its Content-Length.
            return route()
        default:
            return .text(405, "405 method not allowed\n", headers: [("Allow", "GET, HEAD")])
        }
    }
}
