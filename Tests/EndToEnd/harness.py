"""Runs the real footprint_exporter binary against fixture trees, the node_exporter way.

The exporter samples every 100 ms; the tests move fixture counters by atomic rename (so a read never sees a
half-written file) and wait for two fresh samples after each move, so every scripted state is observed.
"""

import base64
import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(REPO, "Tests", "Fixtures")
BINARY = os.environ.get("FOOTPRINT_BINARY", os.path.join(REPO, ".build", "debug", "footprint_exporter"))

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Returns {(name, frozenset(labels.items())): float} for every sample line."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE_RE.match(line)
        assert match, f"unparsable exposition line: {line!r}"
        labels = frozenset(LABEL_RE.findall(match.group(2) or ""))
        samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def value(samples, metric, **labels):
    key = (metric, frozenset(labels.items()))
    assert key in samples, f"missing series {metric}{labels}"
    return samples[key]


def write_atomic(path, text):
    """Replaces a fixture file by rename, as sysfs values change: a reader sees the old or the new value."""
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


def mask(text, volatile_patterns):
    """Replaces the value of every sample line matching one of the regexes by <volatile>."""
    compiled = [re.compile(p) for p in volatile_patterns]
    out = []
    for line in text.splitlines():
        if not line.startswith("#") and any(p.search(line) for p in compiled):
            line = line.rsplit(" ", 1)[0] + " <volatile>"
        out.append(line)
    return "\n".join(out) + "\n"


def compare_golden(name, text):
    """Compares with Tests/Fixtures/<name>/e2e-output.txt; UPDATE_GOLDEN=1 rewrites it for a human to review."""
    path = os.path.join(FIXTURES, name, "e2e-output.txt")
    if os.environ.get("UPDATE_GOLDEN") == "1":
        with open(path, "w") as handle:
            handle.write(text)
    with open(path) as handle:
        expected = handle.read()
    assert text == expected, f"/metrics differs from {path} (run with UPDATE_GOLDEN=1 and review the diff)"


def promtool_check(text):
    result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "" and result.stderr.strip() == "", (
        f"promtool check metrics found problems:\n{result.stdout}{result.stderr}")


class Exporter:
    """A running exporter process over a private copy of a fixture tree."""

    def __init__(self, fixture=None, args=(), env=None, interval="100ms", *, wait=True, tls_context=None, auth=None,
                 root=None, prepare=None):
        """`tls_context`: an ssl.SSLContext; the exporter is then reached over https with it. `auth`: (user, password)
        sent with every request by default. `root`: reuse an existing tree (another exporter's, for restarts) instead
        of copying `fixture`. `prepare(root)`: called on the tree before the process starts. `wait=False`: return once
        the port is logged, without waiting for readiness."""
        self.workdir = tempfile.mkdtemp(prefix="footprint-e2e-")
        if root is not None:
            self.root = root
        else:
            self.root = os.path.join(self.workdir, "root")
            if fixture:
                shutil.copytree(os.path.join(FIXTURES, fixture), self.root, symlinks=True,
                                ignore=shutil.ignore_patterns("e2e-output.txt"))
            else:
                os.makedirs(os.path.join(self.root, "sys"))
                os.makedirs(os.path.join(self.root, "proc"))
        if prepare is not None:
            prepare(self.root)
        self.tls_context = tls_context
        self.auth = auth
        self.log_path = os.path.join(self.workdir, "exporter.log")
        command = [BINARY, "--web.listen-address=127.0.0.1:0", f"--sample.interval={interval}",
                   f"--path.sysfs={self.root}/sys", f"--path.procfs={self.root}/proc", *args]
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT,
                                        env={**os.environ, **(env or {})})
        self.port = self._wait_for_port()
        self.base = f"{'https' if tls_context else 'http'}://127.0.0.1:{self.port}"
        if wait:
            self.wait_ready()

    def path(self, relative):
        return os.path.join(self.root, relative)

    def _wait_for_port(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(self.log_path) as handle:
                match = re.search(r"msg=listening address=\S*:(\d+)", handle.read())
            if match:
                return int(match.group(1))
            if self.process.poll() is not None:
                raise AssertionError(f"exporter exited early ({self.process.returncode}):\n{self.logs()}")
            time.sleep(0.02)
        raise AssertionError(f"exporter did not log its port:\n{self.logs()}")

    def logs(self):
        with open(self.log_path) as handle:
            return handle.read()

    def get(self, path="/metrics", method="GET", auth=None, headers=None, timeout=5, tls_context=None):
        """Returns (status, headers, body). `auth` (user, password) defaults to the exporter's; pass False for none."""
        request = urllib.request.Request(self.base + path, method=method, headers=dict(headers or {}))
        credentials = self.auth if auth is None else auth
        if credentials:
            token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        context = tls_context or self.tls_context
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode()

    def wait_ready(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.get("/-/ready")[0] == 200:
                return
            time.sleep(0.02)
        raise AssertionError("exporter never became ready")

    def last_sample(self):
        return value(parse_metrics(self.get()[2]), "footprint_last_sample_timestamp_seconds")

    def wait_samples(self, count=2, timeout=10):
        """Waits until `count` samples completed after now, so the fixture state now is observed."""
        seen = set()
        start = time.time()
        while time.time() - start < timeout:
            stamp = self.last_sample()
            if stamp > start:
                seen.add(stamp)
                if len(seen) >= count:
                    return
            time.sleep(0.03)
        raise AssertionError(f"fewer than {count} samples in {timeout}s")

    def scrape(self):
        status, headers, body = self.get()
        assert status == 200, body
        assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        return body

    def stop(self, sig=signal.SIGTERM, timeout=5):
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def wait_metrics(exporter, predicate, what="condition", timeout=20):
    """The parsed /metrics once `predicate` holds for it, scraping every 50 ms; fails after `timeout` s with the
    last grid and CO2e series and the end of the exporter's log."""
    deadline = time.monotonic() + timeout
    samples = {}
    while time.monotonic() < deadline:
        samples = parse_metrics(exporter.scrape())
        if predicate(samples):
            return samples
        time.sleep(0.05)
    shown = {k: v for k, v in samples.items() if "grid" in k[0] or "co2e" in k[0]}
    raise AssertionError(f"{what}: not within {timeout} s; last series: {shown}\n{exporter.logs()[-3000:]}")


def run_binary(*args, timeout=10):
    """Runs the binary to completion (for start-up validation); returns (code, stdout, stderr)."""
    result = subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=timeout)
    return result.returncode, result.stdout, result.stderr


def wait_for_log(exporter, text, count=1, timeout=3):
    """Waits until the exporter has logged `text` at least `count` times."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if exporter.logs().count(text) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} was not logged {count} time(s):\n{exporter.logs()}")
