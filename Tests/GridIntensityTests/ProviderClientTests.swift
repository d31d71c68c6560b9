import HTTPFetch
import Synchronization
import Testing

@testable import GridIntensity

private let noon = 1_793_534_400.0
private let token = "em-TOKEN-3f9c1a7e"

/// A fetch function that answers from a script and remembers the requests it was given.
private final class ScriptedFetch: Sendable {
    enum Step: Sendable {
        case answer(HTTPFetchResponse)
        case error(HTTPFetchError)
    }

    let steps: Mutex<[Step]>
    let requests = Mutex<[(url: String, headers: [(name: String, value: String)], timeout: Double)]>([])

    init(_ steps: [Step]) { self.steps = Mutex(steps) }

    convenience init(status: Int, body: [UInt8] = [], headers: [HTTPHeaderField] = []) {
        self.init([.answer(HTTPFetchResponse(status: status, body: body, headers: headers))] as [Step])
    }

    var function: ProviderClient.Fetch {
        { request throws(HTTPFetchError) in
            self.requests.withLock { $0.append((request.url, request.headers, request.timeoutSeconds)) }
            let step = self.steps.withLock { $0.count > 1 ? $0.removeFirst() : $0[0] }
            switch step {
            case .answer(let answer): return answer
            case .error(let error): throw error
            }
        }
    }

    var count: Int { requests.withLock { $0.count } }
}

private func client(
    _ fetch: ScriptedFetch, _ provider: GridProvider = .electricityMaps, zone: String = "FR", baseURL: String? = nil,
    token: String? = token
) -> ProviderClient {
    ProviderClient(
        provider: provider, zone: zone, baseURL: baseURL, token: token, timeoutSeconds: 7,
        fetch: fetch.function)
}

@Suite struct ProviderClientTests {
    @Test func electricityMapsIsAskedForTheZoneWithTheTokenInItsHeader() throws {
        let fetch = ScriptedFetch(status: 200, body: try GridFixtures.bytes("electricitymaps-latest-FR.json"))
        let reading = try client(fetch).fetch(nowUnixSeconds: noon).get()
        #expect(reading.gramsPerKilowattHour == 38)
        let request = try #require(fetch.requests.withLock { $0.first })
        #expect(request.url == "https://api.electricitymap.org/v3/carbon-intensity/latest?zone=FR")
        #expect(request.headers.contains { $0.name == "auth-token" && $0.value == token })
        #expect(request.timeout == 7)
    }

    @Test func ukIsAskedWithoutAToken() throws {
        let national = ScriptedFetch(status: 200, body: try GridFixtures.bytes("uk-national.json"))
        let reading = try client(national, .ukCarbonIntensity, zone: "GB", token: token).fetch(nowUnixSeconds: noon)
            .get()
        #expect(reading.gramsPerKilowattHour == 176)
        let request = try #require(national.requests.withLock { $0.first })
        #expect(request.url == "https://api.carbonintensity.org.uk/intensity")
        #expect(!request.headers.contains { $0.value.contains(token) })

        let regional = ScriptedFetch(status: 200, body: try GridFixtures.bytes("uk-regional-13.json"))
        let london = try client(
            regional, .ukCarbonIntensity, zone: "13", baseURL: "http://mirror.example:8080/carbon/", token: nil
        ).fetch(nowUnixSeconds: noon).get()
        #expect(london.gramsPerKilowattHour == 164)
        #expect(
            regional.requests.withLock { $0.first?.url } == "http://mirror.example:8080/carbon/regional/regionid/13")
    }

    @Test func aChangedValueIsPickedUpByTheNextFetch() throws {
        let body = try GridFixtures.bytes("electricitymaps-latest-FR.json")
        let changed = Array(
            String(decoding: body, as: UTF8.self).replacing("\"carbonIntensity\": 38", with: "\"carbonIntensity\": 57")
                .utf8)
        let fetch = ScriptedFetch([
            .answer(HTTPFetchResponse(status: 200, body: body)),
            .answer(HTTPFetchResponse(status: 200, body: changed)),
        ])
        let provider = client(fetch)
        #expect(try provider.fetch(nowUnixSeconds: noon).get().gramsPerKilowattHour == 38)
        #expect(try provider.fetch(nowUnixSeconds: noon + 900).get().gramsPerKilowattHour == 57)
    }

    @Test(arguments: [
        (401, ProviderFailure.unauthorized(status: 401)), (403, .unauthorized(status: 403)),
        (429, .rateLimited(retryAfterSeconds: nil)), (500, .httpError(status: 500)), (404, .httpError(status: 404)),
        (503, .httpError(status: 503)), (302, .httpError(status: 302)),
    ])
    func statusesMapToReasons(status: Int, expected: ProviderFailure) throws {
        let fetch = ScriptedFetch(status: status, body: try GridFixtures.bytes("electricitymaps-error-401.json"))
        #expect(client(fetch).fetch(nowUnixSeconds: noon) == .failure(expected))
    }

    @Test func retryAfterIsReadAsSecondsOrAsADate() {
        let seconds = ScriptedFetch(status: 429, headers: [HTTPHeaderField(name: "retry-after", value: "120")])
        #expect(client(seconds).fetch(nowUnixSeconds: noon) == .failure(.rateLimited(retryAfterSeconds: 120)))
        // 2026-11-01T12:05:00Z, five minutes after noon.
        let date = ScriptedFetch(
            status: 429, headers: [HTTPHeaderField(name: "Retry-After", value: "Sun, 01 Nov 2026 12:05:00 GMT")])
        #expect(client(date).fetch(nowUnixSeconds: noon) == .failure(.rateLimited(retryAfterSeconds: 300)))
        let garbage = ScriptedFetch(status: 429, headers: [HTTPHeaderField(name: "Retry-After", value: "soon")])
        #expect(client(garbage).fetch(nowUnixSeconds: noon) == .failure(.rateLimited(retryAfterSeconds: nil)))
    }

    @Test func retryAfterParsing() {
        #expect(ProviderClient.retryAfterSeconds(" 0 ", nowUnixSeconds: noon) == 0)
        #expect(ProviderClient.retryAfterSeconds("-5", nowUnixSeconds: noon) == nil)
        #expect(ProviderClient.retryAfterSeconds("1.5", nowUnixSeconds: noon) == nil)
        #expect(ProviderClient.retryAfterSeconds("Sun, 01 Nov 2026 11:00:00 GMT", nowUnixSeconds: noon) == 0)
        #expect(ProviderClient.retryAfterSeconds("Sun, 01 Nov 2026 12:00:30 GMT", nowUnixSeconds: noon) == 30)
        #expect(ProviderClient.retryAfterSeconds("Sun, 01 Nov 2026 12:00:30 GMT", nowUnixSeconds: noon + 0.25) == 30)
        #expect(ProviderClient.retryAfterSeconds("Sunday, 01-Nov-26 12:00:30 GMT", nowUnixSeconds: noon) == nil)
    }

    @Test func transportErrorsAreTimeoutsOrNetworkFailures() {
        let url = "https://api.electricitymap.org/v3/carbon-intensity/latest?zone=FR"
        let cases: [(HTTPFetchError, String)] = [
            (.transport(url: url, reason: "Timeout was reached"), "timeout"),
            (.transport(url: url, reason: "Couldn't connect to server"), "network"),
            (.transport(url: url, reason: "Couldn't resolve host name"), "network"),
            (.transport(url: url, reason: "SSL peer certificate or SSH remote key was not OK"), "network"),
            (.libraryUnavailable("libcurl-gnutls.so.4: cannot open shared object file"), "network"),
            (.bodyTooLarge(url: url, limit: ProviderClient.maximumBodyBytes), "malformed"),
            (.invalidURL(url, reason: "spaces or control characters"), "invalid_url"),
        ]
        for (error, reason) in cases {
            let failure = client(ScriptedFetch([.error(error)])).fetch(nowUnixSeconds: noon).failureValue
            #expect(failure?.reason == reason, "\(error)")
        }
    }

    @Test func theTokenIsInNoFailureDescriptionNorInTheClientsOwn() throws {
        // Every failure the client can give, some with the token planted where a careless message would echo it.
        let steps: [ScriptedFetch.Step] = [
            .answer(HTTPFetchResponse(status: 401, body: Array("bad token \(token)".utf8))),
            .answer(
                HTTPFetchResponse(status: 429, body: [], headers: [HTTPHeaderField(name: "Retry-After", value: token)])),
            .answer(HTTPFetchResponse(status: 500, body: Array(token.utf8))),
            .answer(HTTPFetchResponse(status: 200, body: Array("{\"carbonIntensity\":\"\(token)\"}".utf8))),
            .answer(HTTPFetchResponse(status: 200, body: Array("{\"\(token)\":1}".utf8))),
            .answer(HTTPFetchResponse(status: 200, body: Array("<html>\(token)</html>".utf8))),
            .answer(HTTPFetchResponse(status: 200, body: Array("{\"carbonIntensity\":9e9}".utf8))),
            .error(.transport(url: "https://x/", reason: "Timeout was reached with \(token)")),
            .error(.transport(url: "https://x/", reason: "Could not resolve \(token)")),
            .error(.invalidURL("https://x/", reason: "bad \(token)")),
        ]
        var reasons = Set<String>()
        for step in steps {
            let provider = client(ScriptedFetch([step]))
            let failure = try #require(provider.fetch(nowUnixSeconds: noon).failureValue)
            reasons.insert(failure.reason)
            #expect(!"\(failure)".contains(token))
            #expect(!String(reflecting: failure).contains(token))
        }
        let insecure = client(ScriptedFetch(status: 200), baseURL: "http://proxy.example")
        let refusal = try #require(insecure.fetch(nowUnixSeconds: noon).failureValue)
        reasons.insert(refusal.reason)
        #expect(!"\(refusal)".contains(token))
        #expect(reasons == Set(ProviderFailure.allReasons))
        let provider = client(ScriptedFetch(status: 200))
        for text in [
            "\(provider)", String(reflecting: provider),
            String(describing: Mirror(reflecting: provider).children.map(\.value)),
        ] {
            #expect(!text.contains(token), "\(text)")
        }
    }

    @Test func aTokenIsNeverSentOverPlainHTTPExceptToLoopback() throws {
        for base in ["http://proxy.example", "HTTP://10.0.0.1:8080", "http://127.example.com", "http://[::2]:80"] {
            let fetch = ScriptedFetch(status: 200, body: try GridFixtures.bytes("electricitymaps-latest-FR.json"))
            let failure = client(fetch, baseURL: base).fetch(nowUnixSeconds: noon).failureValue
            #expect(failure?.reason == "insecure_url", "\(base)")
            #expect(fetch.count == 0, "\(base)")
        }
        for base in [
            "http://127.0.0.1:8080", "http://127.1.2.3", "http://localhost:9", "http://[::1]:8080/em",
            "https://proxy.example",
        ] {
            let fetch = ScriptedFetch(status: 200, body: try GridFixtures.bytes("electricitymaps-latest-FR.json"))
            #expect((try? client(fetch, baseURL: base).fetch(nowUnixSeconds: noon).get()) != nil, "\(base)")
            #expect(fetch.count == 1, "\(base)")
        }
        // Without a token plain http goes anywhere.
        let fetch = ScriptedFetch(status: 200, body: try GridFixtures.bytes("uk-national.json"))
        #expect(
            (try? client(fetch, .ukCarbonIntensity, zone: "GB", baseURL: "http://mirror.example", token: nil)
                .fetch(nowUnixSeconds: noon).get()) != nil)
    }

    @Test func loopbackHosts() {
        for host in ["127.0.0.1", "127.255.255.254", "localhost", "LocalHost.", "::1", "app.localhost"] {
            #expect(ProviderClient.isLoopback(host: host), "\(host)")
        }
        for host in [
            "128.0.0.1", "127.0.0", "127.0.0.1.example.com", "::2", "example.com", "1270.0.0.1", "127.0.0.256",
        ] {
            #expect(!ProviderClient.isLoopback(host: host), "\(host)")
        }
        #expect(ProviderClient.host(ofURL: "http://[::1]:8080/x") == "::1")
        #expect(ProviderClient.host(ofURL: "http://Example.COM:80?x") == "example.com")
    }

    @Test func configurationProblemsNameTheFlag() {
        let problem = ProviderClient.configurationProblem
        #expect(problem(.electricityMaps, "FR", nil, true) == nil)
        #expect(problem(.electricityMaps, "FR", nil, false)?.contains("--grid.provider.token-file") == true)
        #expect(problem(.ukCarbonIntensity, "GB", nil, true)?.contains("takes no token") == true)
        #expect(problem(.ukCarbonIntensity, "GB", nil, false) == nil)
        #expect(problem(.electricityMaps, "", nil, true)?.contains("--grid.zone") == true)
        #expect(problem(.electricityMaps, "FR", "http://proxy.example", true)?.contains("plain http") == true)
        #expect(problem(.electricityMaps, "FR", "http://127.0.0.1:1234", true) == nil)
        #expect(problem(.electricityMaps, "FR", "ftp://proxy.example", true)?.contains("--grid.provider.url") == true)
        #expect(problem(.electricityMaps, "FR", "https://u:p@proxy.example", true)?.contains("p@") == false)
        #expect(problem(.ukCarbonIntensity, "GB", "https://proxy.example/?a=b", false)?.contains("no query") == true)
    }

    @Test func zoneSyntax() {
        for zone in ["FR", "US-CAL-CISO", "DK-DK1", "IN_NO", "de"] {
            #expect(GridProvider.electricityMaps.validateZone(zone) == nil, "\(zone)")
        }
        for zone in ["", "1FR", "FR&zone=DE", "F R", "FR/..", String(repeating: "A", count: 65), "ÉS"] {
            #expect(GridProvider.electricityMaps.validateZone(zone) != nil, "\(zone)")
        }
        for zone in ["GB", "1", "9", "13", "17"] {
            #expect(GridProvider.ukCarbonIntensity.validateZone(zone) == nil, "\(zone)")
        }
        for zone in ["", "gb", "0", "18", "01", "+3", "London", "GB-13"] {
            #expect(GridProvider.ukCarbonIntensity.validateZone(zone) != nil, "\(zone)")
        }
        #expect(GridProvider.ukCarbonIntensity.defaultZone == "GB")
        #expect(GridProvider.electricityMaps.defaultZone == nil)
        #expect(GridProvider.ukCarbonIntensity.validateZone("bad\u{1b}[31m")?.contains("\u{1b}") == false)
    }

    @Test func productionFetchSignatureIsAccepted() throws {
        let body = try GridFixtures.bytes("uk-national.json")
        let provider = ProviderClient(
            provider: .ukCarbonIntensity, zone: "GB", token: nil,
            fetch: { _ throws(HTTPFetchError) in HTTPFetchResponse(status: 200, body: body) })
        #expect(try provider.fetch(nowUnixSeconds: noon).get().gramsPerKilowattHour == 176)
    }
}
