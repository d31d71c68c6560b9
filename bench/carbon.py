#!/usr/bin/env python3
"""What the live grid intensity (issue #13) costs footprint_exporter: the provider client (libcurl, loaded with
dlopen on first use) and the intensity file, against the static figure, side by side.

    python3 bench/carbon.py --binary PATH           full run (about 6 minutes): writes bench/carbon-results.json
                                                    and bench/CARBON.md
    python3 bench/carbon.py --binary PATH --quick   every code path with tiny durations (about 15 s); writes to a
                                                    temporary directory and nothing in the tree

Options: --out-json FILE, --out-md FILE, --rounds N, --window SECONDS, --codecarbon-python PATH (a Python with
`codecarbon` installed: its Electricity Maps path is run against the same fake provider, for comparison; without it
that part is left out and the report says so). `bench/run.sh` runs the full mode (not --quick) after its own phases.

Four exporters run at once on copies of Tests/Fixtures/intel-2socket (RAPL only, --no-collector.nvml, 1 s sampling),
started in an order that rotates round by round:

  static     no grid flag: the built-in --grid.intensity
  region     --grid.region=FR (the shipped preset table)
  provider   --grid.provider=electricitymaps --grid.zone=FR against Tests/EndToEnd/fake_grid_provider.py on
             127.0.0.1, --grid.provider.refresh=1s: a fetch a second, 900 times the default rate
  file       --grid.intensity.file, the file replaced (write + rename) every 100 ms with a new value

For each: VmRSS (/proc/PID/status) once the source's value is in force and 2 s have passed ("after start"), and at the
end of the window ("after the run"); CPU seconds (utime + stime of /proc/PID/stat, and perf task-clock when perf
works) over the window; the number of fetches the fake provider answered, and of file values the exporter read (its
"intensity file read" log lines). Each round's costs are taken against the static exporter of the same round, then
the medians over rounds. The provider's libraries are named by comparing the provider exporter's file mappings
(/proc/PID/smaps) with the static one's.

Every start, scrape and check is verified: a failure exits non-zero.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "Tests", "EndToEnd"))
import bench as base  # noqa: E402  (bench/bench.py: process measurements, PerfClock, http_get)
import render  # noqa: E402  (bench/render.py: the number format of every report)
from fake_grid_provider import FakeGridProvider  # noqa: E402

FIXTURE = os.path.join(REPO, "Tests", "Fixtures", "intel-2socket")
TOKEN = "bench-carbon-token-5e1f"
BenchError = base.BenchError
log = base.log
CONFIGS = ["static", "region", "provider", "file"]
MODES = {
    "full": dict(rounds=5, window=60.0, settle=2.0, file_every=0.1, fetch_every=1.0),
    "quick": dict(rounds=1, window=3.0, settle=0.3, file_every=0.1, fetch_every=1.0),
}
# Targets, set before the first full run: the provider's client costs at most 4 MiB of RSS once loaded, and a fetch
# little enough CPU that the default refresh (15 m) costs a negligible share of a core; the preset table and the
# file reader cost next to nothing.
TARGETS = dict(provider_rss_mib=4.0, provider_cpu_ms_per_fetch=5.0, region_rss_mib=0.5, file_rss_mib=1.0,
               file_cpu_ms_per_read=1.0, provider_growth_mib=0.5)
DEFAULT_REFRESH_S = 900.0


def vm_rss_kb(pid):
    return base.memory_kb(pid)["VmRSS"]


def file_mappings(pid):
    """{path: resident KiB} of the file-backed mappings of a process, from /proc/PID/smaps."""
    resident = {}
    current = None
    with open(f"/proc/{pid}/smaps") as handle:
        for line in handle:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                parts = line.split(None, 5)
                path = parts[5].strip() if len(parts) > 5 else ""
                current = path if path.startswith("/") else None
            elif current and line.startswith("Rss:"):
                resident[current] = resident.get(current, 0) + int(line.split()[1])
    return resident


class FileWriter(threading.Thread):
    """Replaces the intensity file every `every` s (write to a temporary file, then rename), alternating values."""

    def __init__(self, path, every):
        super().__init__(daemon=True)
        self.path = path
        self.every = every
        self.writes = 0
        self.stopping = threading.Event()
        self.write(200)

    def write(self, value):
        text = json.dumps({"intensity": value, "zone": "FR", "valid_until": "2099-01-01T00:00:00Z"})
        base.write_atomic(self.path, text)
        self.writes += 1

    def run(self):
        value = 200
        while not self.stopping.wait(self.every):
            value = 201 if value == 200 else 200
            self.write(value)

    def stop(self):
        self.stopping.set()
        self.join(timeout=5)


class Exporter:
    """One exporter on its own copy of the fixture; `in_force` names the footprint_grid_intensity_info series that
    says its source is in force."""

    def __init__(self, config, binary, workdir, args, in_force):
        self.config = config
        self.in_force = in_force
        self.root = os.path.join(workdir, config)
        shutil.copytree(FIXTURE, self.root, symlinks=True, ignore=shutil.ignore_patterns("e2e-output.txt"))
        self.port = base.free_port()
        self.log_path = os.path.join(workdir, f"{config}.log")
        self.log = open(self.log_path, "w")
        command = [binary, f"--web.listen-address=127.0.0.1:{self.port}", f"--path.sysfs={self.root}/sys",
                   f"--path.procfs={self.root}/proc", "--no-collector.nvml", "--sample.interval=1s", *args]
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)

    @property
    def pid(self):
        return self.process.pid

    def logs(self):
        with open(self.log_path) as handle:
            return handle.read()

    def scrape(self):
        try:
            status, body = base.http_get(self.port)
        except OSError:
            return None
        return body.decode() if status == 200 else None

    def wait_in_force(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"{self.config}: exporter exited ({self.process.returncode}):\n{self.logs()[-2000:]}")
            body = self.scrape()
            if body is not None and self.in_force in body:
                return
            time.sleep(0.02)
        raise BenchError(f"{self.config}: {self.in_force} not seen within {timeout} s:\n{self.logs()[-2000:]}")

    def check(self):
        """The source is still in force and no fetch or read failed."""
        body = self.scrape()
        if body is None or self.in_force not in body:
            raise BenchError(f"{self.config}: {self.in_force} no longer in force:\n{self.logs()[-2000:]}")
        failures = [line for line in body.splitlines()
                    if line.startswith("footprint_grid_provider_errors_total") and float(line.rsplit(" ", 1)[1]) != 0]
        if failures:
            raise BenchError(f"{self.config}: failures counted: {failures}")

    def reads(self):
        return self.logs().count('msg="intensity file read"')

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def run_round(index, binary, parameters, workdir, fake):
    """One round: the four exporters at once, measured over the same window."""
    workdir = os.path.join(workdir, f"round-{index}")
    os.makedirs(workdir)
    token_file = os.path.join(workdir, "token")
    with open(token_file, "w") as handle:
        handle.write(TOKEN + "\n")
    intensity_dir = os.path.join(workdir, "intensity")
    os.makedirs(intensity_dir)
    intensity_file = os.path.join(intensity_dir, "intensity.json")
    writer = FileWriter(intensity_file, parameters["file_every"])
    specs = {
        "static": ([], 'footprint_grid_intensity_info{source="static",zone=""} 1'),
        "region": (["--grid.region=FR"], 'footprint_grid_intensity_info{source="region",zone="FR"} 1'),
        "provider": (["--grid.provider=electricitymaps", "--grid.zone=FR", f"--grid.provider.token-file={token_file}",
                      f"--grid.provider.url={fake.url}", f"--grid.provider.refresh={parameters['fetch_every']:g}s"],
                     'footprint_grid_intensity_info{source="electricitymaps",zone="FR"} 1'),
        "file": ([f"--grid.intensity.file={intensity_file}"], 'footprint_grid_intensity_info{source="file",zone="FR"} 1'),
    }
    order = CONFIGS[index % len(CONFIGS):] + CONFIGS[:index % len(CONFIGS)]
    exporters = {}
    try:
        for config in order:
            args, in_force = specs[config]
            exporters[config] = Exporter(config, binary, workdir, args, in_force)
        for config in order:
            exporters[config].wait_in_force()
        writer.start()
        time.sleep(parameters["settle"])
        for exporter in exporters.values():
            exporter.check()
        load = base.SystemLoad()
        start = {}
        for config in order:
            exporter = exporters[config]
            start[config] = dict(rss_kb=vm_rss_kb(exporter.pid), cpu_s=base.cpu_seconds(exporter.pid),
                                 perf=base.PerfClock(exporter.pid), reads=exporter.reads())
        began = time.monotonic()
        fetches_before = len(fake.requests)
        writes_before = writer.writes
        time.sleep(parameters["window"])
        window = time.monotonic() - began
        fetches = len(fake.requests) - fetches_before
        writes = writer.writes - writes_before
        result = {"order": order, "window_s": window, "fetches": fetches, "file_writes": writes,
                  "system": load.finish(), "exporters": {}}
        for config in order:
            exporter = exporters[config]
            cpu = base.cpu_seconds(exporter.pid) - start[config]["cpu_s"]
            perf = start[config]["perf"].stop()
            memory = base.memory_kb(exporter.pid)
            result["exporters"][config] = {
                "rss_after_start_kb": start[config]["rss_kb"], "rss_after_run_kb": memory["VmRSS"],
                "rss_anon_kb": memory["RssAnon"], "rss_file_kb": memory["RssFile"], "threads": memory["Threads"],
                "cpu_s": cpu, "perf_cpu_s": perf, "reads": exporter.reads() - start[config]["reads"],
                "mappings_kb": file_mappings(exporter.pid),
            }
        for exporter in exporters.values():
            exporter.check()
        return result
    finally:
        writer.stop()
        for exporter in exporters.values():
            exporter.stop()


# ----------------------------------------------------------------------------------------------------------------
# Reference: what loading the same libcurl costs a bare process (no exporter, no GnuTLS mapped before).

LIBCURL_SCRIPT = r"""
import ctypes, json, sys
def rss():
    values = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                values[key] = int(rest.split()[0])
    return values
steps = {"before": rss()}
for name in sys.argv[1:]:
    try:
        library = ctypes.CDLL(name)
        break
    except OSError:
        library = None
if library is None:
    print(json.dumps(None))
    sys.exit(0)
steps["dlopen"] = rss()
library.curl_global_init(3)                        # CURL_GLOBAL_ALL, as the exporter's first use does
steps["curl_global_init"] = rss()
library.curl_easy_init.restype = ctypes.c_void_p
handle = library.curl_easy_init()
steps["curl_easy_init"] = rss()
print(json.dumps({"library": name, "steps": steps}))
"""


def libcurl_reference():
    """RSS of a bare Python process before and after loading libcurl the way HTTPFetch does (the library names of
    Sources/HTTPFetch/HTTPFetcher.swift, in its order), initializing it and making one easy handle."""
    result = subprocess.run([sys.executable, "-c", LIBCURL_SCRIPT, "libcurl-gnutls.so.4", "libcurl.so.4"],
                            capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise BenchError(f"libcurl reference failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout)


# ----------------------------------------------------------------------------------------------------------------
# CodeCarbon, for comparison: its Electricity Maps path in a Python process of its own.

PEER_SCRIPT = r"""
import sys, time
import codecarbon                                   # what an application using CodeCarbon loads
from codecarbon.core import electricitymaps_api as api
from codecarbon.external.geography import GeoMetadata
url, token, every, fetch = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4] == "fetch"
api.URL = url + "/v3/carbon-intensity/latest"      # the fake provider on 127.0.0.1, never the internet
api.ELECTRICITYMAPS_CACHE_TTL = 0                   # a request on every call, like footprint's 1 s refresh
geo = GeoMetadata(country_iso_code="FRA", country_2letter_iso_code="FR", country_name="France")
if fetch:
    value = api.get_carbon_intensity(geo, token)
else:
    value = 0.0
print(f"ready {codecarbon.__version__} {value}", flush=True)
while True:
    time.sleep(every)
    if fetch:
        api.get_carbon_intensity(geo, token)
"""


def run_peer(python, parameters, fake, fetch):
    """RSS and CPU of a Python process with codecarbon imported, fetching (or not) every `fetch_every` s."""
    process = subprocess.Popen([python, "-c", PEER_SCRIPT, fake.url, TOKEN, str(parameters["fetch_every"]),
                                "fetch" if fetch else "idle"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        line = process.stdout.readline()
        if not line.startswith("ready"):
            raise BenchError(f"codecarbon peer did not start: {line}{process.stderr.read()[-2000:]}")
        version = line.split()[1]
        time.sleep(parameters["settle"])
        rss_start = vm_rss_kb(process.pid)
        cpu_start = base.cpu_seconds(process.pid)
        perf = base.PerfClock(process.pid)
        fetches_before = len(fake.requests)
        began = time.monotonic()
        time.sleep(parameters["window"])
        window = time.monotonic() - began
        if process.poll() is not None:
            raise BenchError(f"codecarbon peer exited: {process.stderr.read()[-2000:]}")
        cpu = base.cpu_seconds(process.pid) - cpu_start
        perf_cpu = perf.stop()
        return {"version": version, "window_s": window, "rss_after_start_kb": rss_start,
                "rss_after_run_kb": vm_rss_kb(process.pid), "cpu_s": cpu, "perf_cpu_s": perf_cpu,
                "best_cpu_s": perf_cpu if perf_cpu is not None else cpu,
                "fetches": len(fake.requests) - fetches_before}
    finally:
        process.kill()
        process.wait()


# ----------------------------------------------------------------------------------------------------------------
# Summary


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(rounds, peer, parameters, reference=None):
    s = {"configs": {}, "costs": {}}
    if reference:
        steps = reference["steps"]
        s["libcurl_reference"] = {"library": reference["library"], **{
            step: steps[step]["VmRSS"] - steps["before"]["VmRSS"] for step in ("dlopen", "curl_global_init",
                                                                                "curl_easy_init")}}
    for config in CONFIGS:
        rows = [r["exporters"][config] for r in rounds]
        s["configs"][config] = {
            "rss_after_start_kb": median(r["rss_after_start_kb"] for r in rows),
            "rss_after_run_kb": median(r["rss_after_run_kb"] for r in rows),
            "cpu_s_per_hour": median(r["cpu_s"] / rd["window_s"] * 3600 for r, rd in zip(rows, rounds)),
            "perf_cpu_s_per_hour": median(r["perf_cpu_s"] / rd["window_s"] * 3600 if r["perf_cpu_s"] is not None
                                          else None for r, rd in zip(rows, rounds)),
            "reads": median(r["reads"] for r in rows),
            "threads": median(r["threads"] for r in rows),
        }
    s["fetches_per_round"] = median(r["fetches"] for r in rounds)
    s["fetches_all"] = [r["fetches"] for r in rounds]
    s["file_writes_per_round"] = median(r["file_writes"] for r in rounds)
    s["file_reads_all"] = [r["exporters"]["file"]["reads"] for r in rounds]

    def paired(config, key, scale=1.0):
        """Median over rounds of (config - static) within each round."""
        return median((r["exporters"][config][key] - r["exporters"]["static"][key]) * scale for r in rounds)

    def cpu_per_hour(r, config, key):
        value = r["exporters"][config][key]
        return None if value is None else value / r["window_s"] * 3600

    for config in ("region", "provider", "file"):
        cost = {
            "rss_after_start_kb": paired(config, "rss_after_start_kb"),
            "rss_after_run_kb": paired(config, "rss_after_run_kb"),
            "rss_anon_kb": paired(config, "rss_anon_kb"),
            "rss_file_kb": paired(config, "rss_file_kb"),
            "cpu_s_per_hour": median(cpu_per_hour(r, config, "cpu_s") - cpu_per_hour(r, "static", "cpu_s")
                                     for r in rounds),
            "perf_cpu_s_per_hour": median(
                cpu_per_hour(r, config, "perf_cpu_s") - cpu_per_hour(r, "static", "perf_cpu_s")
                if r["exporters"][config]["perf_cpu_s"] is not None and r["exporters"]["static"]["perf_cpu_s"]
                is not None else None for r in rounds),
        }
        s["costs"][config] = cost
    # CPU per fetch and per file read, from the best CPU figure there is (perf when it worked, else /proc ticks).
    def per_event(config, events_of):
        values = []
        for r in rounds:
            events = events_of(r)
            ours, static = r["exporters"][config], r["exporters"]["static"]
            if ours["perf_cpu_s"] is not None and static["perf_cpu_s"] is not None:
                extra = ours["perf_cpu_s"] - static["perf_cpu_s"]
            else:
                extra = ours["cpu_s"] - static["cpu_s"]
            if events:
                values.append(extra / events * 1000)
        return median(values)

    s["costs"]["provider"]["cpu_ms_per_fetch"] = per_event("provider", lambda r: r["fetches"])
    s["costs"]["file"]["cpu_ms_per_read"] = per_event("file", lambda r: r["exporters"]["file"]["reads"])
    per_fetch = s["costs"]["provider"]["cpu_ms_per_fetch"]
    s["costs"]["provider"]["cpu_s_per_hour_at_default_refresh"] = (
        None if per_fetch is None else per_fetch / 1000 * 3600 / DEFAULT_REFRESH_S)
    s["costs"]["provider"]["growth_kb"] = median(
        r["exporters"]["provider"]["rss_after_run_kb"] - r["exporters"]["provider"]["rss_after_start_kb"]
        for r in rounds)
    # The libraries the provider exporter maps and the static one does not: libcurl and what it needs.
    extra = {}
    for r in rounds:
        static = r["exporters"]["static"]["mappings_kb"]
        for path, kb in r["exporters"]["provider"]["mappings_kb"].items():
            if path not in static:
                extra.setdefault(path, []).append(kb)
    s["provider_libraries_kb"] = {path: median(values) for path, values in sorted(extra.items())}
    s["provider_libraries_total_kb"] = sum(s["provider_libraries_kb"].values())
    if peer:
        s["peer"] = {
            "version": peer["fetching"]["version"],
            "fetching": {k: peer["fetching"][k] for k in ("rss_after_start_kb", "rss_after_run_kb", "fetches")},
            "idle": {k: peer["idle"][k] for k in ("rss_after_start_kb", "rss_after_run_kb")},
            "cpu_s_per_hour": peer["fetching"]["best_cpu_s"] / peer["fetching"]["window_s"] * 3600,
            "idle_cpu_s_per_hour": peer["idle"]["best_cpu_s"] / peer["idle"]["window_s"] * 3600,
        }
        fetches = peer["fetching"]["fetches"]
        s["peer"]["cpu_ms_per_fetch"] = (
            (peer["fetching"]["best_cpu_s"] / peer["fetching"]["window_s"]
             - peer["idle"]["best_cpu_s"] / peer["idle"]["window_s"]) * peer["fetching"]["window_s"] / fetches * 1000
            if fetches else None)
        s["peer"]["live_path_rss_kb"] = peer["fetching"]["rss_after_run_kb"] - peer["idle"]["rss_after_run_kb"]

    mib = 1024.0
    provider = s["costs"]["provider"]
    s["targets"] = [
        base.target("RSS the provider costs over static, after the run", None if provider["rss_after_run_kb"] is None
                    else provider["rss_after_run_kb"] / mib, "<=", TARGETS["provider_rss_mib"], "MiB"),
        base.target("CPU per provider fetch (over static)", provider["cpu_ms_per_fetch"], "<=",
                    TARGETS["provider_cpu_ms_per_fetch"], "ms"),
        base.target("RSS growth of the provider exporter over the run", provider["growth_kb"] / mib
                    if provider["growth_kb"] is not None else None, "<=", TARGETS["provider_growth_mib"], "MiB"),
        base.target("RSS the region preset costs over static", s["costs"]["region"]["rss_after_run_kb"] / mib, "<=",
                    TARGETS["region_rss_mib"], "MiB"),
        base.target("RSS the intensity file costs over static (10 rewrites/s)",
                    s["costs"]["file"]["rss_after_run_kb"] / mib, "<=", TARGETS["file_rss_mib"], "MiB"),
        base.target("CPU per intensity-file read (over static)", s["costs"]["file"]["cpu_ms_per_read"], "<=",
                    TARGETS["file_cpu_ms_per_read"], "ms"),
    ]
    return s


# ----------------------------------------------------------------------------------------------------------------
# Report


def num(value, digits=3):
    return render.num(value, digits)


def mib(kb, digits=3):
    return "–" if kb is None else num(kb / 1024, digits)


def signed_mib(kb):
    if kb is None:
        return "–"
    text = num(abs(kb) / 1024)
    return f"+{text}" if kb > 0 else (f"−{text}" if kb < 0 else "0")


def render_markdown(result):
    s = result["summary"]
    m = result["machine"]
    p = result["parameters"]
    out = []
    w = out.append
    w("# Live grid intensity — what it costs the exporter\n")
    w(f"From `bench/carbon-results.json`, written by `python3 bench/carbon.py` (run by `bench/run.sh`, `make bench`): "
      f"one **{result['mode']}** run on {result['generated']}, {result['wall_seconds'] / 60:.1f} minutes; "
      f"{m['cpu_model']}, {m['cores']} cores, kernel {m['kernel']}; footprint_exporter {m['footprint_version']}, "
      f"revision {m['footprint_revision']}, {m['footprint_build']}; libcurl: {m.get('libcurl') or '–'}.\n")
    if result["mode"] != "full":
        w("> **Quick mode**: durations are too short for the figures to mean anything; this only shows that every "
          "path ran.\n")
    w(f"Four exporters at once on copies of the intel-2socket fixture, 1 s sampling, {p['rounds']} rounds of "
      f"{p['window']:g} s with the start order rotated, medians: the **static** figure, the **region** preset "
      f"`--grid.region=FR`, the **provider** `--grid.provider=electricitymaps` against the fake provider of "
      f"`Tests/EndToEnd/fake_grid_provider.py` on 127.0.0.1 with `--grid.provider.refresh=1s` (900 times the default "
      f"rate: {num(s['fetches_per_round'])} fetches a round), and the intensity **file** replaced every "
      f"{p['file_every'] * 1000:g} ms ({num(s['file_writes_per_round'])} writes, "
      f"{num(s['configs']['file']['reads'])} values read a round). RSS is VmRSS once the source's value is in force "
      f"plus {p['settle']:g} s, and at the end; CPU is utime + stime over the window"
      f"{' (perf task-clock beside it)' if m['perf'] else ''}; each cost is taken against the static exporter of "
      "the same round.\n")
    rows = []
    for config in CONFIGS:
        c = s["configs"][config]
        cost = s["costs"].get(config, {})
        rows.append([config, mib(c["rss_after_start_kb"]), mib(c["rss_after_run_kb"]),
                     signed_mib(cost.get("rss_after_run_kb")) if config != "static" else "",
                     f"{signed_mib(cost.get('rss_anon_kb'))} / {signed_mib(cost.get('rss_file_kb'))}"
                     if config != "static" else "",
                     num(c["cpu_s_per_hour"]), num(c["perf_cpu_s_per_hour"]),
                     num(cost.get("perf_cpu_s_per_hour") if cost.get("perf_cpu_s_per_hour") is not None
                         else cost.get("cpu_s_per_hour")) if config != "static" else "",
                     num(c["threads"], 2)])
    w(base_table(["exporter", "RSS after start (MiB)", "RSS after the run (MiB)", "RSS over static (MiB)",
                  "of it anonymous / file-backed (MiB)", "CPU s/hour (/proc)", "CPU s/hour (perf)", "CPU s/hour over static", "threads"], rows))
    w("")
    provider = s["costs"]["provider"]
    w(f"The provider's client: {num(provider['cpu_ms_per_fetch'])} ms of CPU per fetch (request, TLS-free loopback "
      f"HTTP, JSON parse, value in force), so the default 15 m refresh costs "
      f"{num(provider['cpu_s_per_hour_at_default_refresh'])} CPU s/hour. Fetches per round: "
      f"{', '.join(str(f) for f in s['fetches_all'])}. The intensity file: "
      f"{num(s['costs']['file']['cpu_ms_per_read'])} ms per value read (inotify event, read, parse); values read per "
      f"round: {', '.join(str(f) for f in s['file_reads_all'])}.\n")
    w(f"Of the provider's {signed_mib(provider['rss_after_run_kb'])} MiB over static, "
      f"{signed_mib(provider['rss_file_kb'])} MiB are file-backed pages (the libraries' code and read-only data) and "
      f"{signed_mib(provider['rss_anon_kb'])} MiB anonymous (the libraries' relocated and written data, libcurl's "
      "handle and buffers, the heap).\n")
    if s["provider_libraries_kb"]:
        w(f"Mapped by the provider exporter and not by the static one ({mib(s['provider_libraries_total_kb'])} MiB "
          "resident in all; libcurl is loaded with dlopen at the first fetch, so an exporter without a provider never "
          "maps any of them):\n")
        w(base_table(["library", "resident KiB"], [[f"`{os.path.basename(path)}`", num(kb)] for path, kb in
                                                   sorted(s["provider_libraries_kb"].items(), key=lambda i: -i[1])]))
        w("")
    ref = s.get("libcurl_reference")
    if ref:
        w(f"For reference, the same library in a bare Python process (which has no GnuTLS mapped before, unlike the "
          f"exporter, whose HTTP server links it): `{ref['library']}` costs {signed_mib(ref['dlopen'])} MiB once "
          f"loaded, {signed_mib(ref['curl_global_init'])} MiB after `curl_global_init`, "
          f"{signed_mib(ref['curl_easy_init'])} MiB with one easy handle. Most of the provider's cost is Debian's "
          "libcurl and the libraries it is linked with (Kerberos, LDAP, SSH, RTMP, and OpenSSL's libcrypto through "
          "libssh2), mapped whether used or not.\n")
    peer = s.get("peer")
    w("## The peer: CodeCarbon\n")
    if peer:
        w(f"CodeCarbon {peer['version']} (a Python library, not an exporter) has the same live path: "
          "`codecarbon.core.electricitymaps_api.get_carbon_intensity`, over `requests`. Run in a Python process of its "
          "own with `import codecarbon`, its URL pointed at the same fake provider and its 60 s cache set to 0 so that "
          f"it fetches every {p['fetch_every']:g} s, for one {p['window']:g} s window; beside it the same process "
          "without fetching:\n")
        w(base_table(["process", "RSS after start (MiB)", "RSS after the run (MiB)",
                      f"CPU s/hour{' (perf)' if m['perf'] else ''}", "fetches"], [
            ["CodeCarbon, fetching", mib(peer["fetching"]["rss_after_start_kb"]),
             mib(peer["fetching"]["rss_after_run_kb"]), num(peer["cpu_s_per_hour"]), peer["fetching"]["fetches"]],
            ["CodeCarbon, imported only", mib(peer["idle"]["rss_after_start_kb"]),
             mib(peer["idle"]["rss_after_run_kb"]), num(peer["idle_cpu_s_per_hour"]), 0],
            ["footprint_exporter, provider (whole exporter)", mib(s["configs"]["provider"]["rss_after_start_kb"]),
             mib(s["configs"]["provider"]["rss_after_run_kb"]), num(best_cpu(s["configs"]["provider"])),
             num(s["fetches_per_round"])],
        ]))
        w("")
        w(f"CodeCarbon's fetch costs {num(peer['cpu_ms_per_fetch'])} ms of CPU against footprint's "
          f"{num(provider['cpu_ms_per_fetch'])} ms; its live path adds {signed_mib(peer['live_path_rss_kb'])} MiB to "
          "a process that has already imported it (requests is loaded by the import), and the process is "
          f"{num(peer['fetching']['rss_after_run_kb'] / s['configs']['provider']['rss_after_run_kb'])}× the whole "
          "footprint exporter's RSS with its provider.\n")
    else:
        w("Not run: `bench/carbon.py` runs it only with `--codecarbon-python PATH` (`CODECARBON_PYTHON` for "
          "`bench/run.sh`), a Python with `codecarbon` installed.\n")
    w("## Targets\n")
    w(base_table(["target", "measured", ""], [
        [f"{t['name']} {t['op']} {num(t['limit'])} {t['unit']}", f"{num(t['value'])} {t['unit']}",
         "met" if t["met"] else ("not met" if t["met"] is False else "–")] for t in s["targets"]]))
    w("")
    met = [t for t in s["targets"] if t["met"]]
    w(f"{len(met)} of {len(s['targets'])} targets met.")
    return "\n".join(out) + "\n"


def best_cpu(config_summary):
    """CPU s/hour by perf when it worked, else from /proc ticks."""
    perf = config_summary.get("perf_cpu_s_per_hour")
    return perf if perf is not None else config_summary["cpu_s_per_hour"]


def base_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine(binary):
    lscpu = base.command_output(["lscpu"]) or ""
    model = re.search(r"^Model name:\s*(.+)$", lscpu, re.M)
    revision = base.command_output(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
    dirty = base.command_output(["git", "-C", REPO, "status", "--porcelain", "--", "Sources", "Package.swift"])
    # The library HTTPFetch loads first (Sources/HTTPFetch/HTTPFetcher.swift: libcurl-gnutls.so.4, then libcurl.so.4).
    libcurl = None
    for name in ("libcurl-gnutls.so.4", "libcurl.so.4"):
        for line in (base.command_output(["ldconfig", "-p"]) or "").splitlines():
            if line.strip().startswith(name + " ") and "=>" in line:
                libcurl = os.path.basename(os.path.realpath(line.split("=>")[1].strip()))
                break
        if libcurl:
            break
    return {
        "cpu_model": model.group(1).strip() if model else None, "cores": os.cpu_count(),
        "kernel": os.uname().release,
        "footprint_version": base.command_output([binary, "--version"]),
        "footprint_revision": f"{revision}{' (Sources modified)' if dirty else ''}" if revision else None,
        "footprint_build": os.environ.get("BENCH_BUILD", "given with --binary"),
        "perf": base.PerfClock.check(), "libcurl": libcurl,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--window", type=float)
    parser.add_argument("--out-json")
    parser.add_argument("--out-md")
    parser.add_argument("--codecarbon-python")
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    parameters = dict(MODES[mode])
    if args.rounds:
        parameters["rounds"] = args.rounds
    if args.window:
        parameters["window"] = args.window
    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        raise BenchError(f"no footprint binary at {binary}")
    workdir = tempfile.mkdtemp(prefix="footprint-bench-carbon-")
    out_dir = HERE if mode == "full" else tempfile.mkdtemp(prefix="footprint-bench-carbon-out-")
    out_json = args.out_json or os.path.join(out_dir, "carbon-results.json")
    out_md = args.out_md or os.path.join(out_dir, "CARBON.md")
    began = time.monotonic()
    generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rounds = []
    peer = None
    reference = None
    try:
        with FakeGridProvider(intensity=250, token=TOKEN) as fake:
            for index in range(parameters["rounds"]):
                log(f"carbon: round {index + 1}/{parameters['rounds']} ({parameters['window']:g} s)")
                rounds.append(run_round(index, binary, parameters, workdir, fake))
            reference = libcurl_reference()
            if args.codecarbon_python:
                log("carbon: CodeCarbon's Electricity Maps path, fetching and idle")
                peer = {"fetching": run_peer(args.codecarbon_python, parameters, fake, True),
                        "idle": run_peer(args.codecarbon_python, parameters, fake, False)}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result = {
        "mode": mode, "generated": generated, "wall_seconds": time.monotonic() - began, "parameters": parameters,
        "machine": machine(binary), "targets": TARGETS, "rounds": rounds, "peer": peer,
        "libcurl_reference": reference,
        "summary": summarize(rounds, peer, parameters, reference),
    }
    os.makedirs(os.path.dirname(os.path.abspath(out_json)), exist_ok=True)
    with open(out_json, "w") as handle:
        json.dump(result, handle, indent=1, sort_keys=True)
        handle.write("\n")
    with open(out_md, "w") as handle:
        handle.write(render_markdown(result))
    for t in result["summary"]["targets"]:
        log(f"carbon: {t['name']}: {num(t['value'])} {t['unit']} ({'met' if t['met'] else 'NOT met'})")
    log(f"carbon: wrote {out_json} and {out_md}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"bench/carbon.py: {error}", file=sys.stderr)
        sys.exit(1)
