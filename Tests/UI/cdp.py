"""A small Chrome DevTools Protocol client: Debian's `chromium` started headless, driven over one WebSocket
(websocket-client) with flattened sessions, so no chromedriver and no version skew between driver and browser.

    with Browser.launch(workdir) as browser:
        page = browser.new_page()
        page.navigate("http://127.0.0.1:9636/")
        page.evaluate("document.title")

Every event of a page's session is kept (page.events), so a test can look at console messages, exceptions and
requests after the fact.
"""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

import websocket  # websocket-client

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium():
    """The browser binary: $CHROMIUM_BINARY, else the first of CANDIDATES on PATH; None when there is none."""
    explicit = os.environ.get("CHROMIUM_BINARY")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class CDPError(Exception):
    pass


class Browser:
    """One headless chromium process and the WebSocket to its browser target."""

    def __init__(self, process, profile, socket, log_path):
        self.process = process
        self.profile = profile
        self.socket = socket
        self.log_path = log_path
        self._next_id = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._responses = {}
        self._events = {}  # session id (None: the browser's) -> [event]
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="cdp-reader", daemon=True)
        self._reader.start()

    @classmethod
    def launch(cls, workdir, timeout=30):
        binary = find_chromium()
        if binary is None:
            raise FileNotFoundError("no chromium binary (apt-get install -y --no-install-recommends chromium)")
        profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=workdir)
        log_path = os.path.join(workdir, "chromium.log")
        command = [
            binary, "--headless=new", "--remote-debugging-port=0", f"--user-data-dir={profile}",
            "--disable-gpu", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-features=Translate,MediaRouter,OptimizationHints",
            "--hide-scrollbars", "--mute-audio", "--font-render-hinting=none", "about:blank",
        ]
        if os.geteuid() == 0:
            command.insert(1, "--no-sandbox")  # chromium refuses to run as root with its sandbox
        log = open(log_path, "w")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        log.close()
        port_file = os.path.join(profile, "DevToolsActivePort")
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                with open(log_path, errors="replace") as handle:
                    raise CDPError(f"chromium exited ({process.returncode}) before listening:\n{handle.read()}")
            try:
                with open(port_file) as handle:
                    lines = handle.read().split("\n")
                if len(lines) >= 2 and lines[0].strip() and lines[1].strip():
                    break
            except FileNotFoundError:
                pass
            if time.monotonic() > deadline:
                process.kill()
                raise CDPError(f"chromium wrote no {port_file} in {timeout}s")
            time.sleep(0.05)
        url = f"ws://127.0.0.1:{lines[0].strip()}{lines[1].strip()}"
        socket = websocket.create_connection(url, timeout=timeout, suppress_origin=True, enable_multithread=True)
        socket.settimeout(None)
        return cls(process, profile, socket, log_path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _read(self):
        while True:
            try:
                message = self.socket.recv()
            except Exception:  # noqa: BLE001 - a closed socket ends the reader
                break
            if not message:
                break
            data = json.loads(message)
            with self._changed:
                if "id" in data:
                    self._responses[data["id"]] = data
                else:
                    self._events.setdefault(data.get("sessionId"), []).append(data)
                self._changed.notify_all()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def call(self, method, params=None, session=None, timeout=30):
        with self._lock:
            self._next_id += 1
            ident = self._next_id
        message = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.socket.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        with self._changed:
            while ident not in self._responses:
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    raise CDPError(f"no answer to {method} within {timeout}s (closed: {self._closed})")
                self._changed.wait(remaining)
            response = self._responses.pop(ident)
        if "error" in response:
            raise CDPError(f"{method}: {response['error']}")
        return response.get("result", {})

    def events(self, session):
        with self._lock:
            return list(self._events.get(session, []))

    def wait_event(self, session, predicate, timeout, start=0):
        """The first event of `session` from index `start` on for which predicate(event) holds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for event in self._events.get(session, [])[start:]:
                    if predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    raise CDPError(f"no matching event within {timeout}s")
                self._changed.wait(remaining)

    def new_page(self):
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        return Page(self, target, session)

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except Exception:  # noqa: BLE001 - the process is ended below anyway
            pass
        try:
            self.socket.close()
        except Exception:  # noqa: BLE001
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    """One tab, attached with its own session; Page, Runtime, Log and Network events are recorded from creation."""

    def __init__(self, browser, target, session):
        self.browser = browser
        self.target = target
        self.session = session
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    def call(self, method, params=None, timeout=30):
        return self.browser.call(method, params, session=self.session, timeout=timeout)

    @property
    def events(self):
        return self.browser.events(self.session)

    def navigate(self, url, timeout=30):
        start = len(self.events)
        result = self.call("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise CDPError(f"navigation to {url} failed: {result['errorText']}")
        self.browser.wait_event(self.session, lambda e: e["method"] == "Page.loadEventFired", timeout, start)

    def evaluate(self, expression, timeout=30):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, timeout=timeout)
        if "exceptionDetails" in result:
            raise CDPError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_until(self, expression, timeout, what=None, interval=0.1):
        """Polls `expression` until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{what or expression} did not happen within {timeout}s (last: {value!r})")
            time.sleep(interval)

    def screenshot(self, path, full_page=True):
        """A PNG of the page (the whole document when `full_page`), written to `path`."""
        params = {"format": "png"}
        if full_page:
            metrics = self.call("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            viewport = metrics.get("cssLayoutViewport") or metrics["layoutViewport"]
            params["clip"] = {"x": 0, "y": 0, "width": viewport["clientWidth"],
                              "height": max(size["height"], viewport["clientHeight"]), "scale": 1}
            params["captureBeyondViewport"] = True
        data = base64.b64decode(self.call("Page.captureScreenshot", params, timeout=60)["data"])
        with open(path, "wb") as handle:
            handle.write(data)
        return data

    def response_body(self, request_id):
        result = self.call("Network.getResponseBody", {"requestId": request_id})
        body = result["body"]
        return base64.b64decode(body).decode() if result.get("base64Encoded") else body

    def close(self):
        try:
            self.browser.call("Target.closeTarget", {"targetId": self.target}, timeout=5)
        except CDPError:
            pass
