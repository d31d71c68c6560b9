/// Routes `GET` and `HEAD` by exact path; other methods on a known path get 405 with `Allow`, unknown paths 404.
public struct Router: HTTPHandler {
    /// Produces the response of one route; called for every request to it.
    public typealias Route = @Sendable () -> HTTPResponse
    /// A route whose response depends on the request's headers (content negotiation).
    public typealias NegotiatedRoute = @Sendable (HTTPRequest) -> HTTPResponse

    private let routes: [String: NegotiatedRoute]

    public init(routes: [String: Route], negotiated: [String: NegotiatedRoute] = [:]) {
        var all = routes.mapValues { route -> NegotiatedRoute in { _ in route() } }
        for (path, route) in negotiated { all[path] = route }
        self.routes = all
    }

    public func respond(to request: HTTPRequest) -> HTTPResponse {
        guard let route = routes[request.path] else {
            return .text(404, "404 page not found\n")
        }
        switch request.method {
        case "GET", "HEAD":
            // libmicrohttpd drops the body of a HEAD response and keeps its Content-Length.
            return route(request)
        default:
            return .text(405, "405 method not allowed\n", headers: [("Allow", "GET, HEAD")])
        }
    }
}
