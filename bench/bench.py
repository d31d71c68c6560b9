#!/usr/bin/env python3
"""footprint_exporter vs node_exporter (RAPL collector), side by side on the same fixture sysfs tree.

Run through bench/run.sh, which builds the binaries and checks the tools. Writes results.json (every raw figure, the
medians, the ratios and the targets); bench/render.py turns it into RESULTS.md.

Modes:
  full   every figure, 5 alternating rounds (about 7 minutes on 2 cores)
  quick  the same code paths with tiny durations (about 10 s); checks that everything works, judges no target

Every exporter start, scrape and wrk run is checked: a failure raises BenchError and the script exits non-zero.

Subcommands: `run` (the benchmark), `summarize FILE` (recompute a results.json's summary from its raw figures), `ab`
(alternate two footprint builds: start-up, RSS, wrk; evidence for a change), `mover` (internal: the background process
that moves the fixture counters). BENCH_NO_PERF=1 ignores perf.
"""

import argparse
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")
WRK_SCRIPT = os.path.join(HERE, "wrk-report.lua")

# Durations in seconds. Quick mode cuts wrk runs short with SIGINT (wrk's own minimum is 1 s).
MODES = {
    "full": dict(
        rounds=5, startup_runs=10, settle=1.0, warmup=1.0, wrk_seconds=5.0, conns=[1, 8, 64], scrapers=[1, 8],
        scraper_seconds=5.0, idle_seconds=60.0, idle_settle=3.0, sockets=[2, 8, 32], gpus=[1, 8, 64],
        scale_wrk_seconds=3.0, fake_sweeps=300),
    "quick": dict(
        rounds=1, startup_runs=1, settle=0.05, warmup=0.0, wrk_seconds=0.2, conns=[1, 8, 64], scrapers=[1, 8],
        scraper_seconds=0.2, idle_seconds=0.4, idle_settle=0.2, sockets=[2, 8], gpus=[1, 8],
        scale_wrk_seconds=0.2, fake_sweeps=20),
}

PHASES = ["startup", "rounds", "defaults", "idle", "scaling"]
FP = "footprint"
NE = "node_exporter"
MOVE_INTERVAL = 0.1  # the fixture counters move every 100 ms
# Watts each zone draws in the fixture: energy_uj = 1e6 + watts × 1e6 × seconds since the bench started.
ZONE_WATTS = {"package": 120.0, "core": 80.0, "uncore": 10.0, "dram": 15.0}
MAX_ENERGY_RANGE_UJ = 262143328850
GPU_WATTS = 300.0


class BenchError(Exception):
    pass


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------------------
# Fixtures


def zone_list(sockets):
    """(directory, name, domain) of every RAPL zone for `sockets` sockets: package, core, uncore, dram per socket."""
    zones = []
    for n in range(sockets):
        zones.append((f"intel-rapl:{n}", f"package-{n}", "package"))
        zones.append((f"intel-rapl:{n}:0", "core", "core"))
        zones.append((f"intel-rapl:{n}:1", "uncore", "uncore"))
        zones.append((f"intel-rapl:{n}:2", "dram", "dram"))
    return zones


def make_tree(root, sockets):
    """A sysfs/procfs tree both exporters read: class/powercap zones with name, energy_uj, max_energy_range_uj (what
    node_exporter's rapl collector needs) and a power constraint (what footprint uses for its plausibility check)."""
    powercap = os.path.join(root, "sys", "class", "powercap")
    for directory, name, _ in zone_list(sockets):
        zone = os.path.join(powercap, directory)
        os.makedirs(zone)
        for attribute, value in [("name", name), ("energy_uj", "1000000"),
                                 ("max_energy_range_uj", str(MAX_ENERGY_RANGE_UJ)),
                                 ("constraint_0_name", "long_term"), ("constraint_0_max_power_uw", "165000000"),
                                 ("enabled", "1")]:
            with open(os.path.join(zone, attribute), "w") as handle:
                handle.write(value + "\n")
    proc = os.path.join(root, "proc")
    os.makedirs(proc)
    with open(os.path.join(proc, "stat"), "w") as handle:
        handle.write("cpu  1000 0 0 9000 0 0 0 0 0 0\ncpu0 500 0 0 4500 0 0 0 0 0 0\n"
                     "cpu1 500 0 0 4500 0 0 0 0 0 0\n")
    with open(os.path.join(proc, "meminfo"), "w") as handle:
        handle.write("MemTotal:       65536000 kB\nMemFree:        32768000 kB\n")
    return root


def gpu_script(gpus, elapsed):
    """The fake NVML script with every GPU's energy counter at `elapsed` seconds of GPU_WATTS."""
    lines = []
    for index in range(gpus):
        energy_mj = 1_000_000 + int(elapsed * GPU_WATTS * 1000)
        lines.append(f"gpu index={index} uuid=GPU-bench-{index:04d} name=NVIDIA_H100_80GB_HBM3 "
                     f"energy_mj={energy_mj} power_mw={int(GPU_WATTS * 1000)}")
    return "\n".join(lines) + "\n"


def write_atomic(path, text):
    temporary = f"{path}.tmp"
    with open(temporary, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


def mover_main(args):
    """Moves every counter of the given trees and GPU scripts every 100 ms, each file replaced by atomic rename. The
    values follow the time since --origin (the bench's start), so they keep growing from one mover to the next."""
    trees = []
    for spec in args.tree:
        root, sockets = spec.rsplit(":", 1)
        trees.append([(os.path.join(root, "sys", "class", "powercap", d, "energy_uj"), ZONE_WATTS[domain])
                      for d, _, domain in zone_list(int(sockets))])
    scripts = []
    for spec in args.gpu_script:
        path, gpus = spec.rsplit(":", 1)
        scripts.append((path, int(gpus)))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    next_time = time.monotonic()
    while not stop:
        elapsed = time.time() - args.origin
        for files in trees:
            for path, watts in files:
                write_atomic(path, str(1_000_000 + int(elapsed * watts * 1e6)) + "\n")
        for path, gpus in scripts:
            write_atomic(path, gpu_script(gpus, elapsed))
        next_time += MOVE_INTERVAL
        delay = next_time - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            next_time = time.monotonic()


ORIGIN = time.time()


class Mover:
    def __init__(self, trees=(), scripts=()):
        argv = [sys.executable, os.path.abspath(__file__), "mover", "--origin", repr(ORIGIN)]
        for root, sockets in trees:
            argv += ["--tree", f"{root}:{sockets}"]
        for path, gpus in scripts:
            with open(path, "w") as handle:
                handle.write(gpu_script(gpus, time.time() - ORIGIN))
            argv += ["--gpu-script", f"{path}:{gpus}"]
        self.process = subprocess.Popen(argv)
        self.started = cpu_seconds(self.process.pid)

    def stop(self):
        """Stops the mover; returns its CPU seconds (it runs beside the exporters, so it is reported)."""
        used = None
        try:
            used = cpu_seconds(self.process.pid)
        except OSError:
            pass
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.returncode not in (0, -signal.SIGTERM):
            raise BenchError(f"counter mover exited with {self.process.returncode}")
        return used


# ---------------------------------------------------------------------------------------------------------------------
# Process measurements


def cpu_seconds(pid):
    """utime + stime of the whole process (all threads, live and exited), from /proc/PID/stat, in seconds."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory_kb(pid):
    """VmRSS, VmHWM, RssAnon and RssFile from /proc/PID/status, and Pss and Private (Private_Clean + Private_Dirty:
    what would be freed if the process exited) from /proc/PID/smaps_rollup, in KiB."""
    values = {}
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                values[key] = int(rest.split()[0])
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            rollup = {}
            for line in handle:
                key, _, rest = line.partition(":")
                if rest.strip().endswith("kB"):
                    rollup[key] = int(rest.split()[0])
        values["Pss"] = rollup.get("Pss")
        values["Private"] = rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0)
    except OSError:
        values["Pss"] = values["Private"] = None
    return values


def system_busy_jiffies():
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as handle:
        fields = [int(x) for x in handle.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])
    return total - idle, total


class SystemLoad:
    """The whole machine's load over a phase: other work on a shared 2-core machine shows up in every figure."""

    def __init__(self):
        self.loadavg = os.getloadavg()
        self.busy, self.total = system_busy_jiffies()
        self.began = time.perf_counter()

    def finish(self):
        busy, total = system_busy_jiffies()
        return {"loadavg_1m_at_start": self.loadavg[0], "seconds": time.perf_counter() - self.began,
                "busy_fraction": (busy - self.busy) / (total - self.total) if total > self.total else None}


class PerfClock:
    """`perf stat -e task-clock -p PID` over a window: CPU time at sub-millisecond resolution, all threads. Optional:
    a cross-check of the tick-granular /proc figures (10 ms ticks are coarse for an idle exporter)."""

    available = None

    @classmethod
    def check(cls):
        if cls.available is None:
            cls.available = False
            if shutil.which("perf") and not os.environ.get("BENCH_NO_PERF"):
                result = subprocess.run(["perf", "stat", "-x,", "-e", "task-clock", "--", "true"],
                                        capture_output=True, text=True, timeout=20)
                cls.available = result.returncode == 0 and "task-clock" in result.stderr
        return cls.available

    def __init__(self, pid):
        self.process = None
        if self.check():
            self.output = tempfile.NamedTemporaryFile("w+", prefix="perf-stat-", suffix=".csv", delete=False)
            self.process = subprocess.Popen(["perf", "stat", "-x,", "-e", "task-clock", "-p", str(pid)],
                                            stdout=subprocess.DEVNULL, stderr=self.output)

    def stop(self):
        """CPU seconds counted, or None without perf."""
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.output.seek(0)
        text = self.output.read()
        self.output.close()
        os.unlink(self.output.name)
        for line in text.splitlines():
            parts = line.split(",")
            if len(parts) > 2 and parts[2].startswith("task-clock"):
                if parts[0] == "<not counted>":
                    return 0.0  # the process never ran during the window
                try:
                    return float(parts[0]) / 1000.0  # msec
                except ValueError:
                    return None
        return None


# ---------------------------------------------------------------------------------------------------------------------
# Exporters


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def keeps_alive(port):
    """Whether two GETs go over one HTTP/1.1 connection (the way Prometheus scrapes), or the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
        request = f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        answered = 0
        for _ in range(2):
            try:
                sock.sendall(request)
                response = http.client.HTTPResponse(sock)
                response.begin()
                response.read()
            except (OSError, http.client.HTTPException):
                break
            if response.status != 200:
                raise BenchError(f"GET /metrics on :{port} answered {response.status}")
            answered += 1
            if (response.getheader("Connection") or "").lower() == "close":
                break
        return answered == 2


def http_get(port, path="/metrics", timeout=2.0):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class Exporter:
    """One running exporter process; start() returns once GET /metrics answers 200 and records how long it took."""

    def __init__(self, kind, binaries, tree, workdir, interval="1s", gpus=0, nvml_library=None, gpu_script_path=None,
                 default_limits=False):
        self.kind = kind
        self.port = free_port()
        self.tree = tree
        self.gpus = gpus
        self.log_path = os.path.join(workdir, f"{kind}-{self.port}.log")
        self.env = dict(os.environ)
        if kind == FP:
            self.argv = [binaries[FP], f"--web.listen-address=127.0.0.1:{self.port}", f"--path.sysfs={tree}/sys",
                         f"--path.procfs={tree}/proc", f"--sample.interval={interval}", "--no-collector.hwmon"]
            if not default_limits:
                # The default per-IP limit (64) resets connections when 64 come from one address (see
                # phase_defaults); lifted like node_exporter's --web.max-requests so both serve every connection.
                self.argv.append("--web.max-connections-per-ip=128")
            if gpus:
                self.argv.append(f"--collector.nvml.library={nvml_library}")
                self.env["FAKE_NVML_SCRIPT"] = gpu_script_path
            else:
                self.argv.append("--no-collector.nvml")
        else:
            # --web.max-requests=0: node_exporter answers 503 to the 41st concurrent scrape by default; lifted so
            # that 64 connections compare full scrapes with full scrapes (nothing changes at 1 and 8).
            self.argv = [binaries[NE], "--collector.disable-defaults", "--collector.rapl",
                         f"--web.listen-address=127.0.0.1:{self.port}", f"--path.sysfs={tree}/sys",
                         "--web.max-requests=0"]
        self.process = None
        self.startup_ms = None

    def start(self, timeout=15.0):
        self.launch()
        return self.wait_ready(timeout)

    def launch(self):
        self.logfile = open(self.log_path, "w")
        self.began = time.perf_counter()
        self.process = subprocess.Popen(self.argv, stdout=self.logfile, stderr=subprocess.STDOUT, env=self.env)
        return self

    def wait_ready(self, timeout=15.0):
        began = self.began
        deadline = began + timeout
        while True:
            try:
                status, _ = http_get(self.port, timeout=1.0)
                if status == 200:
                    break
            except (OSError, http.client.HTTPException):
                pass
            if self.process.poll() is not None:
                raise BenchError(f"{self.kind} exited at start-up with {self.process.returncode}:\n{self.logs()}")
            if time.perf_counter() > deadline:
                raise BenchError(f"{self.kind} gave no 200 on /metrics within {timeout} s:\n{self.logs()}")
            time.sleep(0.0005)
        self.startup_ms = (time.perf_counter() - began) * 1000
        if self.kind == FP and not re.search(rf"msg=listening address=\S*:{self.port}\b", self.logs()):
            raise BenchError(f"footprint served /metrics but did not log msg=listening for :{self.port}")
        return self

    @property
    def pid(self):
        return self.process.pid

    def logs(self):
        with open(self.log_path) as handle:
            return handle.read()

    def cpu(self):
        self.check_alive()
        return cpu_seconds(self.pid)

    def memory(self):
        self.check_alive()
        return memory_kb(self.pid)

    def check_alive(self):
        if self.process.poll() is not None:
            raise BenchError(f"{self.kind} died with {self.process.returncode}:\n{self.logs()}")

    def scrape(self):
        status, body = http_get(self.port)
        if status != 200:
            raise BenchError(f"{self.kind} answered {status} to GET /metrics")
        return body.decode()

    def validate(self, sockets, timeout=5.0):
        """Checks the body carries every zone (and GPU): the exporter reads the fixture tree it was given. footprint
        may serve its first sample before a slow source answered (on a loaded machine), so it gets a few seconds."""
        deadline = time.perf_counter() + timeout
        while True:
            body = self.scrape()
            if self.kind == FP:
                rapl = len(re.findall(r'^footprint_domain_energy_joules_total\{source="rapl"', body, re.M))
                gpus = len(re.findall(r'^footprint_domain_energy_joules_total\{source="nvml"', body, re.M))
                problem = (None if rapl == 4 * sockets and gpus == self.gpus else
                           f"footprint exports {rapl} RAPL and {gpus} GPU energy series, "
                           f"expected {4 * sockets} and {self.gpus}")
            else:
                rapl = len(re.findall(r"^node_rapl_\w+_joules_total\{", body, re.M))
                problem = None if rapl == 4 * sockets else f"node_exporter exports {rapl} RAPL series, expected {4 * sockets}"
            if problem is None:
                return len(body.encode())
            if time.perf_counter() > deadline:
                raise BenchError(problem)
            time.sleep(0.05)

    def counter(self):
        """A counter that grows with the fixture: footprint's cpu energy, node_exporter's package joules of socket 0."""
        body = self.scrape()
        pattern = (r'^footprint_energy_joules_total\{component="cpu"\} (\S+)' if self.kind == FP
                   else r'^node_rapl_package_joules_total\{index="0"[^}]*\} (\S+)')
        match = re.search(pattern, body, re.M)
        if not match:
            raise BenchError(f"{self.kind}: no energy counter in /metrics")
        return float(match.group(1))

    def stop(self):
        if self.process is None:
            return
        alive = self.process.poll() is None
        if alive:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise BenchError(f"{self.kind} did not stop on SIGTERM within 10 s")
        self.logfile.close()
        if not alive:
            raise BenchError(f"{self.kind} had died with {self.process.returncode}:\n{self.logs()}")


# ---------------------------------------------------------------------------------------------------------------------
# Load


def wrk_command(port, connections, seconds):
    return ["wrk", "-t1", f"-c{connections}", f"-d{max(1, int(round(seconds)))}s", "--timeout", "2s", "--latency",
            "-s", WRK_SCRIPT, f"http://127.0.0.1:{port}/metrics"]


def wrk_finish(process, seconds, tolerate_errors=False):
    """Waits for one wrk and returns its summary."""
    try:
        out, err = process.communicate(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise BenchError("wrk did not finish in time")
    match = re.search(r"^BENCHJSON (\{.*\})$", out, re.M)
    if process.returncode != 0 or not match:
        raise BenchError(f"wrk failed ({process.returncode}):\n{out}\n{err}")
    result = json.loads(match.group(1))
    errors = {k: v for k, v in result.items() if k.startswith("err_") and v}
    if result["requests"] == 0:
        raise BenchError(f"wrk completed no request: {result}")
    if errors and not tolerate_errors:
        raise BenchError(f"wrk saw errors (non-2xx is err_status): {errors}")
    return result


def run_load(exporter, connections, seconds, instances=1, cut_short=False, tolerate_errors=False):
    """`instances` wrk processes of `connections` connections each for `seconds`; returns throughput, latency and the
    exporter's CPU per scrape over the window."""
    cpu_before = exporter.cpu()
    began = time.perf_counter()
    processes = [subprocess.Popen(wrk_command(exporter.port, connections, seconds), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(instances)]
    if cut_short:
        # wrk's shortest -d is 1 s; SIGINT ends a run early and wrk still reports it.
        time.sleep(seconds)
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
    try:
        results = [wrk_finish(process, seconds, tolerate_errors) for process in processes]
    except BenchError as error:
        raise BenchError(f"{exporter.kind}, {instances} × wrk -c{connections}: {error}") from None
    elapsed = time.perf_counter() - began
    cpu = exporter.cpu() - cpu_before
    requests = sum(r["requests"] for r in results)
    seconds_run = max(r["duration_us"] for r in results) / 1e6
    return {
        "connections": connections, "instances": instances, "requests": requests,
        "rps": requests / seconds_run, "seconds": seconds_run, "wall_seconds": elapsed,
        "p50_ms": max(r["p50_us"] for r in results) / 1000, "p99_ms": max(r["p99_us"] for r in results) / 1000,
        "max_ms": max(r["max_us"] for r in results) / 1000,
        "bytes_per_response": sum(r["bytes"] for r in results) / requests,
        "cpu_seconds": cpu, "cpu_ms_per_1000_scrapes": cpu * 1e6 / requests,
        "cpu_us_per_scrape": cpu * 1e6 / requests,
        "errors": {key: sum(r[key] for r in results) for key in results[0] if key.startswith("err_")},
    }


# ---------------------------------------------------------------------------------------------------------------------
# Phases


class Bench:
    def __init__(self, mode, binaries, nvml_library, workdir, fake_cost):
        self.mode = mode
        self.p = MODES[mode]
        self.binaries = binaries
        self.nvml_library = nvml_library
        self.fake_cost = fake_cost
        self.workdir = workdir
        self.quick = mode == "quick"
        self.running = []
        self.trees = {}
        self.raw = {"startup_ms": {FP: [], NE: []}, "rounds": [], "idle": {}, "scale_sockets": [],
                    "scale_gpus": [], "mover_cpu_seconds": {}, "system_load": {},
                    "fake_nvml_us_per_sample": {}}

    def tree(self, sockets):
        if sockets not in self.trees:
            self.trees[sockets] = make_tree(os.path.join(self.workdir, f"tree-{sockets}"), sockets)
        return self.trees[sockets]

    def gpu_script_path(self, gpus):
        return os.path.join(self.workdir, f"gpus-{gpus}.txt")

    def start(self, kind, sockets=2, wait=True, **kwargs):
        exporter = Exporter(kind, self.binaries, self.tree(sockets), self.workdir, **kwargs)
        self.running.append(exporter)
        exporter.launch()
        if wait:
            exporter.wait_ready()
        return exporter

    def stop(self, exporter):
        self.running.remove(exporter)
        exporter.stop()

    def stop_all(self):
        for exporter in list(self.running):
            try:
                self.stop(exporter)
            except BenchError as error:
                log(f"while cleaning up: {error}")

    @staticmethod
    def order(index):
        """Alternates which exporter goes first, run by run."""
        return [FP, NE] if index % 2 == 0 else [NE, FP]

    def phase_startup(self):
        log(f"start-up to first 200 on /metrics, {self.p['startup_runs']} runs each, alternating")
        mover = Mover(trees=[(self.tree(2), 2)])
        try:
            for index in range(self.p["startup_runs"]):
                for kind in self.order(index):
                    exporter = self.start(kind)
                    exporter.validate(2)
                    self.raw["startup_ms"][kind].append(exporter.startup_ms)
                    self.stop(exporter)
        finally:
            self.raw["mover_cpu_seconds"]["startup"] = mover.stop()

    def phase_rounds(self):
        p = self.p
        mover = Mover(trees=[(self.tree(2), 2)])
        try:
            for index in range(p["rounds"]):
                log(f"round {index + 1}/{p['rounds']}: wrk at {p['conns']} connections, "
                    f"{p['scrapers']} concurrent scrapers")
                for kind in self.order(index):
                    exporter = self.start(kind)
                    body_bytes = exporter.validate(2)
                    time.sleep(p["settle"])
                    record = {"exporter": kind, "round": index, "startup_ms": exporter.startup_ms,
                              "body_bytes": body_bytes, "memory_after_start_kb": exporter.memory(), "load": [],
                              "scrapers": []}
                    for connections in p["conns"]:
                        if p["warmup"]:
                            run_load(exporter, connections, p["warmup"])
                        record["load"].append(run_load(exporter, connections, p["wrk_seconds"], cut_short=self.quick))
                    for instances in p["scrapers"]:
                        record["scrapers"].append(run_load(exporter, 1, p["scraper_seconds"], instances=instances,
                                                           cut_short=self.quick))
                    record["memory_after_load_kb"] = exporter.memory()
                    exporter.validate(2)
                    self.stop(exporter)
                    self.raw["rounds"].append(record)
        finally:
            self.raw["mover_cpu_seconds"]["rounds"] = mover.stop()

    def phase_defaults(self):
        """What the benchmark flags change: footprint with its default per-IP limit at 64 connections (errors
        tolerated and counted), and whether each exporter keeps a connection alive between scrapes."""
        p = self.p
        log("defaults: keep-alive of both exporters; footprint at 64 connections with its default per-IP limit")
        mover = Mover(trees=[(self.tree(2), 2)])
        try:
            record = {"keep_alive": {}}
            for kind in (FP, NE):
                exporter = self.start(kind)
                record["keep_alive"][kind] = keeps_alive(exporter.port)
                self.stop(exporter)
            exporter = self.start(FP, default_limits=True)
            if p["warmup"]:
                run_load(exporter, 64, p["warmup"], tolerate_errors=True)
            record["footprint_64_default_limits"] = run_load(exporter, 64, p["wrk_seconds"], cut_short=self.quick,
                                                             tolerate_errors=True)
            self.stop(exporter)
            self.raw["defaults"] = record
        finally:
            self.raw["mover_cpu_seconds"]["defaults"] = mover.stop()

    def phase_idle(self):
        """Every idle measurement in one window: no scrapes at all during it. footprint samples at 1 s and at 100 ms;
        node_exporter has no sampling, so its idle is just the process waiting. The 100 ms processes over 2/8/32
        sockets and 1/8/64 GPUs give the sampling cost's growth."""
        p = self.p
        seconds = p["idle_seconds"]
        log(f"idle window of {seconds:g} s: footprint at 1 s and 100 ms, node_exporter, and the sampling-cost scaling "
            f"(sockets {p['sockets']}, GPUs {p['gpus']}, footprint at 100 ms)")
        trees = [(self.tree(s), s) for s in p["sockets"]]
        scripts = [(self.gpu_script_path(g), g) for g in p["gpus"]]
        mover = Mover(trees=trees, scripts=scripts)
        try:
            cases = [("fp_1s", FP, 2, "1s", 0), ("fp_100ms", FP, 2, "100ms", 0), ("ne", NE, 2, None, 0)]
            cases += [(f"fp_100ms_sockets_{s}", FP, s, "100ms", 0) for s in p["sockets"] if s != 2]
            cases += [(f"fp_100ms_gpus_{g}", FP, 2, "100ms", g) for g in p["gpus"]]
            started = []
            for name, kind, sockets, interval, gpus in cases:
                kwargs = {}
                if kind == FP:
                    kwargs = dict(interval=interval, gpus=gpus, nvml_library=self.nvml_library,
                                  gpu_script_path=self.gpu_script_path(gpus) if gpus else None)
                # Launched together and waited for after: their start-up times are not measured here.
                started.append((name, self.start(kind, sockets=sockets, wait=False, **kwargs), sockets, gpus,
                                interval))
            for name, exporter, sockets, gpus, interval in started:
                exporter.wait_ready()
                exporter.validate(sockets)
            counters_before = {name: e.counter() for name, e, *_ in started if name in ("fp_100ms", "ne")}
            time.sleep(p["idle_settle"])
            window = []
            for name, exporter, sockets, gpus, interval in started:
                window.append((name, exporter, sockets, gpus, interval, exporter.cpu(), PerfClock(exporter.pid)))
            began = time.perf_counter()
            time.sleep(seconds)
            elapsed = time.perf_counter() - began
            for name, exporter, sockets, gpus, interval, cpu_before, perf in window:
                cpu = exporter.cpu() - cpu_before
                perf_cpu = perf.stop()
                self.raw["idle"][name] = {
                    "exporter": exporter.kind, "sockets": sockets, "gpus": gpus, "interval": interval,
                    "seconds": elapsed, "cpu_seconds_proc": cpu, "cpu_seconds_perf": perf_cpu,
                    "memory_kb": exporter.memory(),
                }
            # The fake library's own cost per sample (it re-reads its script on every call), measured apart.
            for gpus in p["gpus"]:
                self.raw["fake_nvml_us_per_sample"][str(gpus)] = self.fake_nvml_cost(gpus)
            # The fixture counters moved during the window, and the exporters saw it (given up to 5 s more on a
            # loaded machine).
            for name, exporter, *_ in started:
                if name not in counters_before:
                    continue
                deadline = time.perf_counter() + 5
                while not exporter.counter() > counters_before[name]:
                    if time.perf_counter() > deadline:
                        raise BenchError(f"{name}: the energy counter did not grow while the fixture moved")
                    time.sleep(0.1)
            for _, exporter, *_ in started:
                self.stop(exporter)
        finally:
            self.raw["mover_cpu_seconds"]["idle"] = mover.stop()

    def fake_nvml_cost(self, gpus):
        result = subprocess.run([self.fake_cost, self.nvml_library, str(self.p["fake_sweeps"])], capture_output=True,
                                text=True, timeout=120,
                                env={**os.environ, "FAKE_NVML_SCRIPT": self.gpu_script_path(gpus)})
        fields = result.stdout.split()
        if result.returncode != 0 or len(fields) != 2 or int(fields[0]) != gpus:
            raise BenchError(f"fake-nvml-cost failed for {gpus} GPUs: {result.stdout}{result.stderr}")
        return float(fields[1])

    def scaled_scrape_cost(self, exporter, sockets):
        """Checks the exporter's body for `sockets` sockets, warms it up, then loads it at 8 connections."""
        body_bytes = exporter.validate(sockets)
        if self.p["warmup"]:
            run_load(exporter, 8, self.p["warmup"])
        result = run_load(exporter, 8, self.p["scale_wrk_seconds"], cut_short=self.quick)
        result["body_bytes"] = body_bytes
        return result

    def phase_scaling(self):
        """Scrape cost with more zones (both exporters) and more GPUs (footprint; node_exporter has no NVML)."""
        p = self.p
        log(f"scrape cost at 8 connections over sockets {p['sockets']} and GPUs {p['gpus']}")
        for sockets in p["sockets"]:
            mover = Mover(trees=[(self.tree(sockets), sockets)])
            try:
                for kind in self.order(sockets):
                    exporter = self.start(kind, sockets=sockets)
                    result = self.scaled_scrape_cost(exporter, sockets)
                    result.update(exporter=kind, sockets=sockets)
                    self.raw["scale_sockets"].append(result)
                    self.stop(exporter)
            finally:
                self.raw["mover_cpu_seconds"][f"scale_sockets_{sockets}"] = mover.stop()
        for gpus in p["gpus"]:
            mover = Mover(trees=[(self.tree(2), 2)], scripts=[(self.gpu_script_path(gpus), gpus)])
            try:
                exporter = self.start(FP, sockets=2, gpus=gpus, nvml_library=self.nvml_library,
                                      gpu_script_path=self.gpu_script_path(gpus))
                result = self.scaled_scrape_cost(exporter, 2)
                result.update(exporter=FP, gpus=gpus)
                self.raw["scale_gpus"].append(result)
                self.stop(exporter)
            finally:
                self.raw["mover_cpu_seconds"][f"scale_gpus_{gpus}"] = mover.stop()


# ---------------------------------------------------------------------------------------------------------------------
# Summary


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def linearity(points):
    """Least-squares line through (n, cost) and how far the points are from it: the largest residual relative to the
    cost at the largest n. Linear (or better) when the marginal cost per unit does not grow with n."""
    points = [(n, c) for n, c in points if c is not None]
    if len(points) < 2:
        return None
    xs, ys = zip(*points)
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx if sxx else 0.0
    intercept = mean_y - slope * mean_x
    residual = max(abs(y - (intercept + slope * x)) for x, y in points)
    marginals = [(points[i + 1][1] - points[i][1]) / (points[i + 1][0] - points[i][0])
                 for i in range(len(points) - 1)]
    return {"slope": slope, "intercept": intercept, "max_residual_fraction": residual / max(ys) if max(ys) else 0.0,
            "marginal_per_unit": marginals,
            "marginal_growth": (marginals[-1] / marginals[0]) if len(marginals) > 1 and marginals[0] > 0 else None}


def summarize(raw, mode):
    s = {"startup_ms": {}, "load": {}, "memory_kb": {}, "scrapers": {}, "idle": {}, "scale_sockets": {},
         "scale_gpus": {}, "body_bytes": {}}
    for kind in (FP, NE):
        samples = raw["startup_ms"][kind] + [r["startup_ms"] for r in raw["rounds"] if r["exporter"] == kind]
        s["startup_ms"][kind] = {"median": median(samples), "max": max(samples), "min": min(samples),
                                 "runs": len(samples)}
        rounds = [r for r in raw["rounds"] if r["exporter"] == kind]
        s["body_bytes"][kind] = median([r["body_bytes"] for r in rounds])
        s["memory_kb"][kind] = {
            "rss_after_start": median([r["memory_after_start_kb"]["VmRSS"] for r in rounds]),
            "rss_after_load": median([r["memory_after_load_kb"]["VmRSS"] for r in rounds]),
            "hwm_after_load": median([r["memory_after_load_kb"]["VmHWM"] for r in rounds]),
            "anon_after_load": median([r["memory_after_load_kb"]["RssAnon"] for r in rounds]),
            "file_after_load": median([r["memory_after_load_kb"]["RssFile"] for r in rounds]),
            "threads_after_load": median([r["memory_after_load_kb"]["Threads"] for r in rounds]),
            "pss_after_start": median([r["memory_after_start_kb"].get("Pss") for r in rounds]),
            "pss_after_load": median([r["memory_after_load_kb"].get("Pss") for r in rounds]),
            "private_after_load": median([r["memory_after_load_kb"].get("Private") for r in rounds]),
        }
        s["load"][kind] = {}
        for connections in MODES[mode]["conns"]:
            runs = [l for r in rounds for l in r["load"] if l["connections"] == connections]
            s["load"][kind][str(connections)] = {
                key: median([run[key] for run in runs])
                for key in ("rps", "p50_ms", "p99_ms", "max_ms", "cpu_ms_per_1000_scrapes", "bytes_per_response")}
        s["scrapers"][kind] = {}
        for instances in MODES[mode]["scrapers"]:
            runs = [l for r in rounds for l in r["scrapers"] if l["instances"] == instances]
            s["scrapers"][kind][str(instances)] = {
                key: median([run[key] for run in runs]) for key in ("rps", "p99_ms", "cpu_ms_per_1000_scrapes")}
    for name, idle in raw["idle"].items():
        per_hour = {}
        for source in ("proc", "perf"):
            cpu = idle[f"cpu_seconds_{source}"]
            per_hour[source] = cpu / idle["seconds"] * 3600 if cpu is not None else None
        s["idle"][name] = {
            "cpu_seconds_per_hour_proc": per_hour["proc"], "cpu_seconds_per_hour_perf": per_hour["perf"],
            "core_percent_proc": per_hour["proc"] / 36 if per_hour["proc"] is not None else None,
            "core_percent_perf": per_hour["perf"] / 36 if per_hour["perf"] is not None else None,
            "rss_kb": idle["memory_kb"]["VmRSS"], "sockets": idle["sockets"], "gpus": idle["gpus"],
            "interval": idle["interval"], "window_seconds": idle["seconds"],
        }
    for entry in raw["scale_sockets"]:
        s["scale_sockets"].setdefault(entry["exporter"], {})[str(entry["sockets"])] = {
            key: entry[key] for key in ("rps", "p99_ms", "cpu_ms_per_1000_scrapes", "body_bytes")}
    for entry in raw["scale_gpus"]:
        s["scale_gpus"][str(entry["gpus"])] = {
            key: entry[key] for key in ("rps", "p99_ms", "cpu_ms_per_1000_scrapes", "body_bytes")}

    def idle_cost(name):
        """CPU seconds per hour of an idle process; perf's figure where perf ran (10 ms /proc ticks are coarse)."""
        entry = s["idle"].get(name)
        if not entry:
            return None
        perf = entry["cpu_seconds_per_hour_perf"]
        return perf if perf is not None else entry["cpu_seconds_per_hour_proc"]

    def idle_cost_without_fake(name, gpus):
        """Idle cost less the fake NVML library's own work (measured apart by fake-nvml-cost), per hour at 100 ms."""
        cost = idle_cost(name)
        fake = raw.get("fake_nvml_us_per_sample", {}).get(str(gpus))
        if cost is None or fake is None:
            return None
        return cost - fake * 36000 / 1e6

    sockets_points = [(n, idle_cost("fp_100ms" if n == 2 else f"fp_100ms_sockets_{n}"))
                      for n in MODES[mode]["sockets"]]
    gpu_points = [(n, idle_cost(f"fp_100ms_gpus_{n}")) for n in MODES[mode]["gpus"]]
    gpu_points_own = [(n, idle_cost_without_fake(f"fp_100ms_gpus_{n}", n)) for n in MODES[mode]["gpus"]]
    s["sampling_growth"] = {
        "sockets": {"points": sockets_points, "fit": linearity([(4 * n, c) for n, c in sockets_points])},
        "gpus": {"points": gpu_points, "fit": linearity(gpu_points)},
        "gpus_without_fake_library": {"points": gpu_points_own, "fit": linearity(gpu_points_own)},
        "fake_library_cpu_s_per_hour": {
            n: (us * 36000 / 1e6) for n, us in raw.get("fake_nvml_us_per_sample", {}).items()},
    }

    fp_load8, ne_load8 = s["load"][FP]["8"], s["load"][NE]["8"]
    fp_scr, ne_scr = s["scrapers"][FP], s["scrapers"][NE]
    figures = {
        "rps_8": (fp_load8["rps"], ne_load8["rps"]),
        "p99_ms_8": (fp_load8["p99_ms"], ne_load8["p99_ms"]),
        "rss_after_start_kb": (s["memory_kb"][FP]["rss_after_start"], s["memory_kb"][NE]["rss_after_start"]),
        "rss_after_load_kb": (s["memory_kb"][FP]["rss_after_load"], s["memory_kb"][NE]["rss_after_load"]),
        "startup_ms": (s["startup_ms"][FP]["median"], s["startup_ms"][NE]["median"]),
        "cpu_ms_per_1000_scrapes_8": (fp_load8["cpu_ms_per_1000_scrapes"], ne_load8["cpu_ms_per_1000_scrapes"]),
        "idle_cpu_s_per_hour": (idle_cost("fp_1s"), idle_cost("ne")),
    }
    s["ratios"] = {key: ratio(a, b) for key, (a, b) in figures.items()}
    for connections in MODES[mode]["conns"]:
        for key in ("rps", "p50_ms", "p99_ms", "cpu_ms_per_1000_scrapes"):
            s["ratios"][f"{key}_{connections}"] = ratio(s["load"][FP][str(connections)][key],
                                                        s["load"][NE][str(connections)][key])

    scrapers_fp = [fp_scr[str(i)]["cpu_ms_per_1000_scrapes"] for i in MODES[mode]["scrapers"]]
    scraper_growth = ratio(scrapers_fp[-1], scrapers_fp[0])
    fp_1s = idle_cost("fp_1s")
    fp_100 = idle_cost("fp_100ms")
    sg = s["sampling_growth"]
    socket_growth = sg["sockets"]["fit"]["marginal_growth"] if sg["sockets"]["fit"] else None
    gpu_growth_own = (sg["gpus_without_fake_library"]["fit"]["marginal_growth"]
                      if sg["gpus_without_fake_library"]["fit"] else None)
    s["targets"] = [
        target("scrape throughput at 8 connections ≥ 10× node_exporter's", s["ratios"]["rps_8"], ">=", 10.0, "×"),
        target("p99 latency at 8 connections ≤ 1/10 of node_exporter's", s["ratios"]["p99_ms_8"], "<=", 0.1, "×"),
        target("resident memory after load ≤ node_exporter's", s["ratios"]["rss_after_load_kb"], "<=", 1.0, "×"),
        target("resident memory after start ≤ node_exporter's", s["ratios"]["rss_after_start_kb"], "<=", 1.0, "×"),
        target("idle cost at 1 s sampling ≤ 0.1 % of one core", fp_1s / 36 if fp_1s is not None else None, "<=",
               0.1, "% of a core"),
        target("start-up to first scrape ≤ 100 ms (median)", s["startup_ms"][FP]["median"], "<=", 100.0, "ms"),
        target("start-up to first scrape ≤ 100 ms (worst run)", s["startup_ms"][FP]["max"], "<=", 100.0, "ms"),
        target("sampling cost linear in zones (marginal cost per zone, last step ÷ first step: 1 linear, 4 quadratic)",
               socket_growth, "<=", 2.0, "×"),
        target("sampling cost linear in GPUs, the fake library's own work excluded (same measure: 1 linear, 8 "
               "quadratic)", gpu_growth_own, "<=", 2.0, "×"),
        target("scrape cost flat in scrapers (CPU per scrape, 8 scrapers / 1 scraper)", scraper_growth, "<=", 1.5,
               "×"),
    ]
    s["idle_100ms_core_percent"] = fp_100 / 36 if fp_100 is not None else None
    defaults = raw.get("defaults", {})
    s["defaults"] = {
        "keep_alive": defaults.get("keep_alive"),
        "footprint_64_default_limits": {
            key: defaults["footprint_64_default_limits"][key]
            for key in ("rps", "p99_ms", "cpu_ms_per_1000_scrapes", "errors")} if defaults else None,
    }
    s["system_load"] = raw.get("system_load", {})
    return s


def target(name, value, op, limit, unit):
    met = None
    if value is not None:
        met = value >= limit if op == ">=" else value <= limit
    return {"name": name, "value": value, "op": op, "limit": limit, "unit": unit, "met": met}


def command_output(argv):
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        return (result.stdout + result.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return None


def machine(binaries):
    lscpu = command_output(["lscpu"]) or ""
    model = re.search(r"^Model name:\s*(.+)$", lscpu, re.M)
    hypervisor = re.search(r"^Hypervisor vendor:\s*(.+)$", lscpu, re.M)
    memory = None
    with open("/proc/meminfo") as handle:
        match = re.search(r"MemTotal:\s+(\d+)", handle.read())
        memory = int(match.group(1)) if match else None
    ne_version = (command_output([binaries[NE], "--version"]) or "").splitlines()
    wrk_version = (command_output(["wrk", "-v"]) or "").splitlines()
    revision = command_output(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
    dirty = command_output(["git", "-C", REPO, "status", "--porcelain", "--", "Sources", "Package.swift"])
    return {
        "cpu_model": model.group(1).strip() if model else platform.processor(),
        "hypervisor": hypervisor.group(1).strip() if hypervisor else None,
        "cores": os.cpu_count(), "memory_kb": memory, "kernel": platform.release(),
        "os": command_output(["sh", "-c", ". /etc/os-release && echo \"$PRETTY_NAME\""]),
        "footprint_version": command_output([binaries[FP], "--version"]),
        "footprint_revision": f"{revision}{' (Sources modified)' if dirty else ''}" if revision else None,
        "footprint_binary": os.path.relpath(binaries[FP], REPO) if binaries[FP].startswith(REPO) else binaries[FP],
        "footprint_build": os.environ.get("BENCH_BUILD", "unknown"),
        "node_exporter_version": ne_version[0] if ne_version else None,
        "node_exporter_go": next((l.strip() for l in ne_version if "go version" in l), None),
        "swift_version": (command_output(["swift", "--version"]) or "").splitlines()[0] if shutil.which("swift")
        else None,
        "wrk_version": wrk_version[0] if wrk_version else None,
        "perf": PerfClock.check(),
    }


def ab_main(args):
    """A/B of two footprint builds (say, the tree as it is and a patched copy), alternating run by run on the same
    fixture: start-up, RSS, and wrk at each connection count. Evidence for a recommended Source change."""
    variants = {"A": os.path.abspath(args.a), "B": os.path.abspath(args.b)}
    workdir = tempfile.mkdtemp(prefix="footprint-ab-")
    tree = make_tree(os.path.join(workdir, "tree-2"), 2)
    conns = [int(c) for c in args.conns.split(",")]
    raw = {name: [] for name in variants}
    mover = Mover(trees=[(tree, 2)])
    try:
        for index in range(args.rounds):
            for name in (["A", "B"] if index % 2 == 0 else ["B", "A"]):
                exporter = Exporter(FP, {FP: variants[name]}, tree, workdir, default_limits=args.default_limits)
                exporter.start()
                exporter.validate(2)
                time.sleep(1.0)
                record = {"startup_ms": exporter.startup_ms, "rss_start_kb": exporter.memory()["VmRSS"],
                          "keeps_alive": keeps_alive(exporter.port), "load": {}}
                for c in conns:
                    run_load(exporter, c, 1.0, tolerate_errors=True)
                    record["load"][c] = run_load(exporter, c, args.seconds, tolerate_errors=True)
                memory = exporter.memory()
                record.update(rss_load_kb=memory["VmRSS"], anon_kb=memory["RssAnon"], file_kb=memory["RssFile"])
                exporter.stop()
                raw[name].append(record)
                log(f"round {index + 1} {name}: " + ", ".join(
                    f"c{c} {record['load'][c]['rps']:.0f}/s p99 {record['load'][c]['p99_ms']:.2f} ms" for c in conns))
    finally:
        mover.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    summary = {}
    for name, records in raw.items():
        summary[name] = {
            "binary": variants[name],
            "keeps_alive": all(r["keeps_alive"] for r in records),
            "startup_ms": median([r["startup_ms"] for r in records]),
            "rss_start_kb": median([r["rss_start_kb"] for r in records]),
            "rss_load_kb": median([r["rss_load_kb"] for r in records]),
            "anon_kb": median([r["anon_kb"] for r in records]), "file_kb": median([r["file_kb"] for r in records]),
            "load": {c: {key: median([r["load"][c][key] for r in records])
                         for key in ("rps", "p50_ms", "p99_ms", "cpu_ms_per_1000_scrapes")} for c in conns},
            "errors": {c: sum(sum(r["load"][c]["errors"].values()) for r in records) for c in conns},
        }
    result = {"generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "rounds": args.rounds, "seconds": args.seconds, "summary": summary, "raw": raw}
    with open(args.out, "w") as handle:
        json.dump(result, handle, indent=1)
        handle.write("\n")
    rows = [("keeps alive", *(str(summary[n]["keeps_alive"]) for n in "AB")),
            ("start-up ms (median)", *(f"{summary[n]['startup_ms']:.1f}" for n in "AB")),
            ("RSS after start MiB", *(f"{summary[n]['rss_start_kb'] / 1024:.1f}" for n in "AB")),
            ("RSS after load MiB", *(f"{summary[n]['rss_load_kb'] / 1024:.1f}" for n in "AB")),
            ("  anon / file MiB", *(f"{summary[n]['anon_kb'] / 1024:.1f} / {summary[n]['file_kb'] / 1024:.1f}"
                                    for n in "AB"))]
    for c in conns:
        for key, label in (("rps", "scrapes/s"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"),
                           ("cpu_ms_per_1000_scrapes", "CPU ms/1000 scrapes")):
            rows.append((f"{c} conn {label}", *(f"{summary[n]['load'][c][key]:.3f}" for n in "AB")))
        rows.append((f"{c} conn wrk errors (all rounds)", *(str(summary[n]["errors"][c]) for n in "AB")))
    print(f"| figure | A: {variants['A']} | B: {variants['B']} |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--mode", choices=sorted(MODES), default="full")
    run.add_argument("--footprint", required=True)
    run.add_argument("--node-exporter", required=True)
    run.add_argument("--nvml-library", required=True)
    run.add_argument("--fake-cost", required=True, help="the fake-nvml-cost binary (bench/fake-nvml-cost.c)")
    run.add_argument("--out", required=True, help="results.json to write")
    run.add_argument("--phases", default=",".join(PHASES),
                     help=f"comma-separated subset of {','.join(PHASES)} (default: all)")
    mover = sub.add_parser("mover")
    mover.add_argument("--tree", action="append", default=[])
    mover.add_argument("--gpu-script", action="append", default=[])
    mover.add_argument("--origin", type=float, default=time.time())
    again = sub.add_parser("summarize", help="recompute the summary of a results.json from its raw figures")
    again.add_argument("results")
    ab = sub.add_parser("ab", help="alternate two footprint builds: start-up, RSS, wrk")
    ab.add_argument("--a", required=True)
    ab.add_argument("--b", required=True)
    ab.add_argument("--rounds", type=int, default=4)
    ab.add_argument("--seconds", type=float, default=5.0)
    ab.add_argument("--conns", default="1,8,64")
    ab.add_argument("--default-limits", action="store_true", help="keep footprint's default per-IP limit")
    ab.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.command == "ab":
        return ab_main(args)
    if args.command == "summarize":
        with open(args.results) as handle:
            result = json.load(handle)
        result["summary"] = summarize(result["raw"], result["mode"])
        with open(args.results + ".tmp", "w") as handle:
            json.dump(result, handle, indent=1)
            handle.write("\n")
        os.replace(args.results + ".tmp", args.results)
        return 0
    if args.command == "mover":
        mover_main(args)
        return 0

    binaries = {FP: os.path.abspath(args.footprint), NE: args.node_exporter}
    workdir = tempfile.mkdtemp(prefix="footprint-bench-")
    bench = Bench(args.mode, binaries, os.path.abspath(args.nvml_library), workdir, os.path.abspath(args.fake_cost))
    began = time.time()
    try:
        info = machine(binaries)
        probe = SystemLoad()
        time.sleep(1.0)
        info["busy_before_run"] = probe.finish()["busy_fraction"]
        if args.mode == "full" and (info["busy_before_run"] or 0) > 0.25:
            log(f"warning: the machine is {100 * info['busy_before_run']:.0f} % busy before the run (other work); "
                "the figures will carry that noise (see 'Machine load during the run')")
        phases = [name for name in args.phases.split(",") if name]
        unknown = set(phases) - set(PHASES)
        if unknown or "rounds" not in phases:
            parser.error(f"--phases: unknown {sorted(unknown)}" if unknown else "--phases must include rounds")
        for name in PHASES:
            if name in phases:
                load = SystemLoad()
                getattr(bench, f"phase_{name}")()
                bench.raw["system_load"][name] = load.finish()
    except BenchError as error:
        log(f"FAILED: {error}")
        bench.stop_all()
        log(f"work directory kept for inspection: {workdir}")
        return 1
    except BaseException:
        bench.stop_all()
        raise
    summary = summarize(bench.raw, args.mode)
    result = {
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": args.mode, "phases": phases, "parameters": MODES[args.mode], "wall_seconds": time.time() - began,
        "machine": info, "summary": summary, "raw": bench.raw,
    }
    temporary = args.out + ".tmp"
    with open(temporary, "w") as handle:
        json.dump(result, handle, indent=1, sort_keys=False)
        handle.write("\n")
    os.replace(temporary, args.out)
    shutil.rmtree(workdir, ignore_errors=True)
    log(f"done in {result['wall_seconds']:.0f} s; wrote {args.out}")
    if args.mode == "quick":
        log("  quick mode: the durations are too short to judge targets; the figures below only show it all ran")
    for t in summary["targets"]:
        state = "n/a" if t["met"] is None else ("met" if t["met"] else "MISSED")
        value = "n/a" if t["value"] is None else f"{t['value']:.4g}"
        log(f"  {state:6} {t['name']}: {value} (limit {t['op']} {t['limit']:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
