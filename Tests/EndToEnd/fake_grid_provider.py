"""A fake Electricity Maps and UK Carbon Intensity API, for tests that run the exporter or `intensity fetch`.

It serves the providers' paths on 127.0.0.1 (port chosen by the system) from the recorded answers in
Tests/Fixtures/grid-providers, with the value and the times replaced so that every answer is current:

    GET /v3/carbon-intensity/latest?zone=Z    electricitymaps-latest-FR.json, zone Z, carbonIntensity = the value,
                                               datetime = the start of this hour
    GET /intensity                             uk-national.json, actual = forecast = the value, this half hour
    GET /regional/regionid/N  (N in 1..17)     uk-regional-13.json, region N, forecast = the value, this half hour

Anything else is a 404. A test scripts it:

    with FakeGridProvider(intensity=250) as fake:           # or the `fake_grid_provider` pytest fixture
        run_exporter(f"--grid.provider.url={fake.url}")
        fake.set_intensity(300)                              # the next answers carry 300
        fake.enqueue(Reply(429, headers={"Retry-After": "2"}), Reply(500))   # the next two requests, in turn
        fake.enqueue(Reply(delay=30))                        # answers after 30 s: the client times out first
        fake.enqueue(Reply(body="{not json"), Reply(fixture="uk-malformed.html"), Reply(intensity=99999))
        fake.set_default(Reply(401))                         # every request once the queue is empty
        fake.set_default(None)                               # back to the normal answers
        hits = fake.wait_for_requests(3, timeout=10)         # Request(time, path, query, headers), oldest first
        gaps = [b.time - a.time for a, b in zip(hits, hits[1:])]       # time.monotonic() seconds: the backoff

`Request.headers` keys are lower case (`hits[0].headers["auth-token"]`). With `token=` set, the Electricity Maps
path answers 401 to a request whose `auth-token` header is not that token (the queue and the default come first).
"""

import copy
import datetime
import http.server
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "Fixtures" / "grid-providers"
ELECTRICITY_MAPS_PATH = "/v3/carbon-intensity/latest"


@dataclass
class Reply:
    """One scripted answer. With neither `body` nor `fixture`, a 200 is the normal answer for the path (with
    `intensity` instead of the current value when given) and any other status a short JSON error body.

    body: bytes, str, or anything else (sent as JSON). fixture: a file of Tests/Fixtures/grid-providers, sent as it
    is. headers: extra response headers (`{"Retry-After": "5"}`). delay: seconds to wait before answering."""

    status: int = 200
    body: object = None
    fixture: str = None
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    intensity: float = None


@dataclass
class Request:
    """One request the fake received: `time` is `time.monotonic()` at its arrival."""

    time: float
    path: str
    query: dict
    headers: dict


class FakeGridProvider:
    def __init__(self, intensity=200.0, token=None):
        self._lock = threading.Condition()
        self._intensity = intensity
        self._queue = []
        self._default = None
        self._requests = []
        self._stopping = threading.Event()
        self.token = token
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = None

    # Life cycle.

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stopping.set()  # ends the delays of answers still waiting
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        """The base URL to give as --grid.provider.url / --url."""
        return f"http://127.0.0.1:{self.port}"

    # Scripting.

    @property
    def intensity(self):
        with self._lock:
            return self._intensity

    def set_intensity(self, value):
        """The value the normal answers carry from now on."""
        with self._lock:
            self._intensity = value

    def enqueue(self, *replies):
        """Answers for the next requests, one each, in order; then the default again."""
        with self._lock:
            self._queue.extend(replies)

    def set_default(self, reply):
        """The answer once the queue is empty; None for the normal answer."""
        with self._lock:
            self._default = reply

    # What happened.

    @property
    def requests(self):
        with self._lock:
            return list(self._requests)

    def request_times(self, path_prefix=None):
        return [r.time for r in self.requests if path_prefix is None or r.path.startswith(path_prefix)]

    def clear_requests(self):
        with self._lock:
            self._requests.clear()

    def wait_for_requests(self, count, timeout=10.0, path_prefix=None):
        """The first `count` requests (whose path starts with `path_prefix`) once they have arrived; raises
        AssertionError with what did arrive when they do not within `timeout` seconds."""
        deadline = time.monotonic() + timeout

        def matching():
            return [r for r in self._requests if path_prefix is None or r.path.startswith(path_prefix)]

        with self._lock:
            while len(matching()) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(matching())} of {count} requests within {timeout} s: {matching()}")
                self._lock.wait(left)
            return matching()[:count]

    # Serving.

    def _record_and_choose(self, request):
        with self._lock:
            self._requests.append(request)
            self._lock.notify_all()
            if self._queue:
                return self._queue.pop(0), self._intensity
            return self._default, self._intensity

    def _answer(self, request, reply, current):
        """(status, headers, body bytes) for a request."""
        if reply is None:
            reply = Reply()
            if self.token is not None and request.path == ELECTRICITY_MAPS_PATH \
                    and request.headers.get("auth-token") != self.token:
                reply = Reply(401, fixture="electricitymaps-error-401.json")
        headers = {"Content-Type": "application/json"}
        headers.update(reply.headers)
        if reply.fixture is not None:
            return reply.status, headers, (FIXTURES / reply.fixture).read_bytes()
        if reply.body is not None:
            body = reply.body
            if isinstance(body, str):
                body = body.encode()
            elif not isinstance(body, bytes):
                body = json.dumps(body).encode()
            return reply.status, headers, body
        if reply.status != 200:
            message = http.HTTPStatus(reply.status).phrase if reply.status in http.HTTPStatus._value2member_map_ else ""
            return reply.status, headers, json.dumps({"status": "error", "message": message}).encode()
        value = reply.intensity if reply.intensity is not None else current
        rendered = render(request.path, request.query, value)
        if rendered is None:
            return 404, headers, json.dumps({"status": "error", "message": "no such path"}).encode()
        return rendered[0], headers, rendered[1]

    def _handler_class(self):
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                parsed = urllib.parse.urlsplit(self.path)
                request = Request(time.monotonic(), parsed.path, dict(urllib.parse.parse_qsl(parsed.query)),
                                  {name.lower(): value for name, value in self.headers.items()})
                reply, current = fake._record_and_choose(request)
                if reply is not None and reply.delay > 0 and fake._stopping.wait(reply.delay):
                    return  # stopping: drop the connection
                status, headers, body = fake._answer(request, reply, current)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, str(value))
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, *args):
                pass

        return Handler


def render(path, query, value, now=None):
    """(status, body) of the normal answer for `path` with `value` and times around `now`, or None for a path no
    provider has."""
    now = datetime.datetime.now(datetime.timezone.utc) if now is None else now
    if path == ELECTRICITY_MAPS_PATH:
        answer = json.loads((FIXTURES / "electricitymaps-latest-FR.json").read_text())
        hour = now.replace(minute=0, second=0, microsecond=0)
        answer["zone"] = query.get("zone", answer["zone"])
        answer["carbonIntensity"] = value
        answer["datetime"] = hour.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        answer["updatedAt"] = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
        return 200, json.dumps(answer).encode()
    start = now.replace(minute=0 if now.minute < 30 else 30, second=0, microsecond=0)
    period = {"from": start.strftime("%Y-%m-%dT%H:%MZ"),
              "to": (start + datetime.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%MZ")}
    if path == "/intensity":
        answer = json.loads((FIXTURES / "uk-national.json").read_text())
        answer["data"][0].update(period)
        answer["data"][0]["intensity"].update(forecast=value, actual=value)
        return 200, json.dumps(answer).encode()
    if path.startswith("/regional/regionid/"):
        region = path.rsplit("/", 1)[1]
        if not region.isdigit() or not 1 <= int(region) <= 17:
            return 400, (FIXTURES / "uk-error-400.json").read_bytes()
        answer = copy.deepcopy(json.loads((FIXTURES / "uk-regional-13.json").read_text()))
        answer["data"][0]["regionid"] = int(region)
        answer["data"][0]["data"][0].update(period)
        answer["data"][0]["data"][0]["intensity"]["forecast"] = value
        return 200, json.dumps(answer).encode()
    return None


@pytest.fixture
def fake_grid_provider():
    """A started FakeGridProvider, stopped after the test."""
    with FakeGridProvider() as fake:
        yield fake
