#!/usr/bin/env python3
"""Workload attribution and the gzip-compressed /metrics body: what they cost footprint_exporter.

    python3 bench/attribution.py --binary PATH            full run (about 20 minutes on 2 cores, more while other
                                                          work keeps the machine busy); writes
                                                          bench/attribution-results.json
    python3 bench/attribution.py --binary PATH --quick    every code path with tiny durations (about 45 s); writes
                                                          the results to a temporary file and nothing in the tree

Options: --out FILE (results file), --phases LIST (a subset of sampling,churn,scrape,scrape_pinned,profile),
--tmpdir DIR (where the fixture trees go; default /dev/shm when it exists, since a real cgroupfs is memory-backed,
else the system's temporary directory), --max-attempts N (a round run while other work kept more than 25 % of the
machine busy is repeated, at most N tries in all), --wrk-rounds N (alternating wrk rounds per encoding, default 3),
--pin LOAD:SERVER (CPUs of the scrape_pinned phase, default 0:1). Needs wrk and nginx (apt-get install -y
--no-install-recommends nginx-light wrk); perf for the task-clock cross-check and the profile phase (linux-perf).
Everything listens on 127.0.0.1 and every load is bounded in time.

Fixture (one per workload count): a cgroup v2 tree (`cgroup.controllers` at the root, a few `system.slice` services,
and N pods `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uuid with _>.slice/` with `cpu.stat`,
`memory.current` and two `cri-containerd-<64 hex>.scope` containers with their own files), the intel-2socket RAPL
and procfs fixture (Tests/Fixtures/intel-2socket, copied). A background writer (`attribution.py writer`, a process
of its own whose CPU is reported apart) advances every pod's `usage_usec`, the `cpu` line of procfs `stat` and every
RAPL `energy_uj` once a second, each file replaced by atomic rename; in the churn phase it also creates and removes
pods.

Phases:
  sampling       footprint at --sample.interval=1s with 0, 250, 500, 1000, 2000 workloads (attribution on) and with
                 --no-attribution at 1000, all six side by side, no scrape at all; CPU from /proc/PID/stat
                 (utime+stime) and perf task-clock over a 60 s window; VmRSS at its end; 3 rounds of fresh
                 processes, median; least-squares cost per workload per sample
  churn          2,000 pods created and removed over ~3 minutes, 200 at a time, --attribution.retention=10s; VmRSS
                 (and a gzip scrape, as Prometheus would) every 10 s
  scrape         the /metrics body at 1000 workloads, plain and gzip; wrk -t1 -c8 -d10s -H 'Accept-Encoding: gzip'
                 against footprint and against nginx (1 worker, no access log, keep-alive) serving the same gzip
                 bytes with gzip_static, alternating; then the same without gzip, for reference
  scrape_pinned  the scrape phase again with wrk on one CPU and the server (all its threads) on another
  profile        perf record -g of footprint at 1000 workloads, 30 s idle and 30 s under gzip wrk (top symbols,
                 inclusive and by object, into the results)

Every exporter start, scrape and wrk run is checked; a failure exits non-zero. Uses bench/bench.py's helpers.
"""

import argparse
import datetime
import gzip
import http.client
import json
import os
import random
import re
import resource
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
sys.path.insert(0, HERE)
import bench as base  # noqa: E402  (bench/bench.py: process measurements, wrk runner, PerfClock)

FIXTURE = os.path.join(REPO, "Tests", "Fixtures", "intel-2socket")
BenchError = base.BenchError
log = base.log

MODES = {
    "full": dict(
        counts=[0, 250, 500, 1000, 2000], off_count=1000, rounds=3, settle=15.0, window=60.0,
        churn_batches=10, churn_size=200, churn_every=18.0, churn_retention="10s", churn_tail=40.0, rss_every=10.0,
        scrape_count=1000, wrk_seconds=10.0, wrk_rounds=3, wrk_connections=8, quiet_wait=180.0, profile_seconds=30.0,
        scrape_every=15.0),
    "quick": dict(
        counts=[0, 10, 20, 40, 80], off_count=40, rounds=1, settle=2.5, window=3.0,
        churn_batches=4, churn_size=20, churn_every=2.0, churn_retention="1s", churn_tail=4.0, rss_every=1.0,
        scrape_count=40, wrk_seconds=0.4, wrk_rounds=1, wrk_connections=8, quiet_wait=0.0, profile_seconds=2.0,
        scrape_every=1.0),
}
PHASES = ["sampling", "churn", "scrape", "scrape_pinned", "profile"]
WRITE_INTERVAL = 1.0
NCPU_FIXTURE = 96  # the intel-2socket procfs has 96 cpuN lines
ZONE_WATTS = {"package": 120.0, "core": 80.0, "uncore": 10.0, "dram": 15.0, "psys": 200.0}
# A round is repeated when work that is not the benchmark's kept more than this share of both cores busy.
BUSY_LIMIT = 0.25
LOADAVG_QUIET = 1.5


# ---------------------------------------------------------------------------------------------------------------------
# Fixture


def pod_uid(rng):
    return "%08x-%04x-%04x-%04x-%012x" % (rng.getrandbits(32), rng.getrandbits(16), 0x4000 | rng.getrandbits(12),
                                          0x8000 | rng.getrandbits(14), rng.getrandbits(48))


def cpu_stat_text(usage):
    # cgroup v2 cpu.stat with the cpu controller enabled (kubepods have it): usage_usec comes first.
    user = usage * 7 // 10
    return (f"usage_usec {usage}\nuser_usec {user}\nsystem_usec {usage - user}\nnr_periods 0\nnr_throttled 0\n"
            f"throttled_usec 0\nnr_bursts 0\nburst_usec 0\n")


def write_file(path, text):
    with open(path, "w") as handle:
        handle.write(text)


def write_atomic(path, text):
    temporary = path + ".tmp"
    with open(temporary, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


def pods_dir(root):
    return os.path.join(root, "cgroup", "kubepods.slice", "kubepods-burstable.slice")


def make_pod(root, uid, rng):
    """One pod slice with two containerd scopes, the way the kubelet's systemd driver lays them out."""
    pod = os.path.join(pods_dir(root), f"kubepods-burstable-pod{uid.replace('-', '_')}.slice")
    os.makedirs(pod)
    usage = rng.randrange(1_000_000, 100_000_000)
    write_file(os.path.join(pod, "cpu.stat"), cpu_stat_text(usage))
    memory = rng.randrange(16, 512) << 20
    write_file(os.path.join(pod, "memory.current"), f"{memory}\n")
    for index in range(2):
        scope = os.path.join(pod, f"cri-containerd-{rng.getrandbits(256):064x}.scope")
        os.mkdir(scope)
        write_file(os.path.join(scope, "cpu.stat"), cpu_stat_text(usage // 2))
        write_file(os.path.join(scope, "memory.current"), f"{memory // 2}\n")
    return pod


def make_tree(root, pods, seed):
    """A fixture root: sys/ and proc/ copied from Tests/Fixtures/intel-2socket, cgroup/ a v2 tree with `pods` pods."""
    os.makedirs(root)
    shutil.copytree(os.path.join(FIXTURE, "sys"), os.path.join(root, "sys"))
    shutil.copytree(os.path.join(FIXTURE, "proc"), os.path.join(root, "proc"))
    cgroup = os.path.join(root, "cgroup")
    os.makedirs(pods_dir(root))
    os.makedirs(os.path.join(cgroup, "kubepods.slice", "kubepods-besteffort.slice"))
    write_file(os.path.join(cgroup, "cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma misc\n")
    for name in ["containerd.service", "kubelet.service", "sshd.service", "systemd-journald.service"]:
        service = os.path.join(cgroup, "system.slice", name)
        os.makedirs(service)
        write_file(os.path.join(service, "cpu.stat"), cpu_stat_text(5_000_000))
        write_file(os.path.join(service, "memory.current"), f"{64 << 20}\n")
    os.makedirs(os.path.join(cgroup, "user.slice"))
    rng = random.Random(seed)
    for _ in range(pods):
        make_pod(root, pod_uid(rng), rng)
    return root


def writer_main(args):
    """Advances every pod's usage_usec, procfs stat's cpu line and every RAPL energy_uj once a second (atomic renames);
    with --churn, creates and removes pods of the first tree on a schedule and logs each step as a JSON line."""
    trees = []
    for root in args.tree:
        pods = {}
        for index, name in enumerate(sorted(os.listdir(pods_dir(root)))):
            path = os.path.join(pods_dir(root), name, "cpu.stat")
            with open(path) as handle:
                usage = int(handle.readline().split()[1])
            pods[name] = [path, usage, 1000 + (index * 7919) % 20000]
        with open(os.path.join(root, "proc", "stat")) as handle:
            stat_lines = handle.read().splitlines()
        fields = [int(x) for x in stat_lines[0].split()[1:]]
        zones = []
        powercap = os.path.join(root, "sys", "class", "powercap")
        for zone in sorted(os.listdir(powercap)):
            energy = os.path.join(powercap, zone, "energy_uj")
            if not os.path.exists(energy):
                continue
            with open(os.path.join(powercap, zone, "name")) as handle:
                domain = handle.read().strip().split("-")[0]
            with open(energy) as handle:
                value = int(handle.read())
            with open(os.path.join(powercap, zone, "max_energy_range_uj")) as handle:
                wrap = int(handle.read())
            zones.append([energy, value, wrap, ZONE_WATTS.get(domain, 10.0)])
        trees.append({"root": root, "pods": pods, "stat_lines": stat_lines, "fields": fields, "zones": zones})

    churn = None
    if args.churn:
        size, every, batches = args.churn.split(",")
        churn = {"size": int(size), "every": float(every), "batches": int(batches), "step": 0, "live": [],
                 "rng": random.Random(4242), "created": 0, "removed": 0}
        events = open(args.events, "a")

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    began = time.monotonic()
    next_time = began
    while not stop:
        now = time.monotonic()
        if churn and churn["step"] <= churn["batches"] + 1 and now - began >= churn["step"] * churn["every"]:
            tree = trees[0]
            created = removed = 0
            if churn["step"] < churn["batches"]:
                batch = []
                for _ in range(churn["size"]):
                    pod = make_pod(tree["root"], pod_uid(churn["rng"]), churn["rng"])
                    name = os.path.basename(pod)
                    tree["pods"][name] = [os.path.join(pod, "cpu.stat"), 1_000_000, 1000 + created * 37 % 20000]
                    batch.append(name)
                    created += 1
                churn["live"].append(batch)
            # Each batch lives two steps: at step k the batch of step k-2 goes (the last two after the schedule).
            if churn["step"] >= 2 and churn["live"]:
                for name in churn["live"].pop(0):
                    tree["pods"].pop(name, None)
                    shutil.rmtree(os.path.join(pods_dir(tree["root"]), name))
                    removed += 1
            churn["created"] += created
            churn["removed"] += removed
            events.write(json.dumps({"t": round(time.monotonic() - began, 3), "step": churn["step"],
                                     "created": created, "removed": removed, "created_total": churn["created"],
                                     "removed_total": churn["removed"], "live": len(tree["pods"])}) + "\n")
            events.flush()
            churn["step"] += 1
        for tree in trees:
            busy_us = 0
            for entry in tree["pods"].values():
                entry[1] += entry[2]
                busy_us += entry[2]
                write_atomic(entry[0], cpu_stat_text(entry[1]))
            fields = tree["fields"]
            busy_ticks = busy_us // 10_000 + 50  # 100 Hz ticks; 0.5 s of system work besides the pods
            idle_ticks = max(0, NCPU_FIXTURE * 100 - busy_ticks)
            fields[0] += busy_ticks * 7 // 10
            fields[2] += busy_ticks - busy_ticks * 7 // 10
            fields[3] += idle_ticks
            tree["stat_lines"][0] = "cpu  " + " ".join(str(x) for x in fields)
            write_atomic(os.path.join(tree["root"], "proc", "stat"), "\n".join(tree["stat_lines"]) + "\n")
            for zone in tree["zones"]:
                zone[1] = (zone[1] + int(zone[3] * 1e6 * WRITE_INTERVAL)) % (zone[2] + 1)
                write_atomic(zone[0], f"{zone[1]}\n")
        next_time += WRITE_INTERVAL
        delay = next_time - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            next_time = time.monotonic()
    return 0


class Writer:
    def __init__(self, roots, churn=None, events=None):
        argv = [sys.executable, os.path.abspath(__file__), "writer"]
        for root in roots:
            argv += ["--tree", root]
        if churn:
            argv += ["--churn", churn, "--events", events]
        self.process = subprocess.Popen(argv)

    @property
    def pid(self):
        return self.process.pid

    def cpu(self):
        if self.process.poll() is not None:
            raise BenchError(f"the fixture writer exited with {self.process.returncode}")
        return base.cpu_seconds(self.process.pid)

    def stop(self):
        if self.process.poll() is not None:
            raise BenchError(f"the fixture writer had exited with {self.process.returncode}")
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.returncode not in (0, -signal.SIGTERM):
            raise BenchError(f"the fixture writer exited with {self.process.returncode}")


# ---------------------------------------------------------------------------------------------------------------------
# Processes


def pinning(cpus):
    """A preexec_fn that pins the child (and the threads it will start) to `cpus`, or None."""
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def http_get(port, path="/metrics", accept_gzip=False, timeout=5.0):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Accept-Encoding": "gzip"} if accept_gzip else {})
        response = connection.getresponse()
        return response.status, dict((k.lower(), v) for k, v in response.getheaders()), response.read()
    finally:
        connection.close()


def metric_value(body, pattern):
    match = re.search(rf"^{pattern} (\S+)$", body, re.M)
    return float(match.group(1)) if match else None


class Footprint:
    def __init__(self, binary, root, workdir, attribution=True, extra=(), cpus=None):
        self.port = base.free_port()
        self.cpus = cpus
        self.attribution = attribution
        self.log_path = os.path.join(workdir, f"footprint-{self.port}.log")
        self.argv = [binary, f"--web.listen-address=127.0.0.1:{self.port}", f"--path.sysfs={root}/sys",
                     f"--path.procfs={root}/proc", f"--path.cgroupfs={root}/cgroup", "--sample.interval=1s",
                     "--no-collector.hwmon", "--no-collector.nvml",
                     "--attribution" if attribution else "--no-attribution", *extra]
        self.process = None

    def start(self):
        self.logfile = open(self.log_path, "w")
        self.process = subprocess.Popen(self.argv, stdout=self.logfile, stderr=subprocess.STDOUT,
                                        preexec_fn=pinning(self.cpus))
        return self

    @property
    def pid(self):
        return self.process.pid

    def logs(self):
        with open(self.log_path) as handle:
            return handle.read()

    def check_alive(self):
        if self.process.poll() is not None:
            raise BenchError(f"footprint died with {self.process.returncode}:\n{self.logs()}")

    def cpu(self):
        self.check_alive()
        return base.cpu_seconds(self.pid)

    def memory(self):
        self.check_alive()
        return base.memory_kb(self.pid)

    def scrape(self, accept_gzip=False):
        status, headers, body = http_get(self.port, accept_gzip=accept_gzip)
        if status != 200:
            raise BenchError(f"footprint answered {status} to GET /metrics")
        if accept_gzip:
            if headers.get("content-encoding") != "gzip":
                raise BenchError(f"footprint answered a gzip-accepting scrape with {headers}")
            return body, gzip.decompress(body).decode()
        if "content-encoding" in headers:
            raise BenchError(f"footprint compressed a scrape that did not accept it: {headers}")
        return body, body.decode()

    def wait_workloads(self, expected, timeout):
        """Waits until /metrics reports `expected` pods (with attribution; without it, until it answers and exports
        no workload series). Returns the last body."""
        deadline = time.perf_counter() + timeout
        last = None
        while True:
            self.check_alive()
            try:
                status, _, body = http_get(self.port)
                if status != 200:  # 503 until the first sample
                    raise OSError(f"status {status}")
                text = body.decode()
                if self.attribution:
                    last = metric_value(text, r'footprint_workloads\{kind="pod"\}')
                    if last == expected:
                        return text
                else:
                    last = len(re.findall(r"^footprint_workload_(?:info|energy)", text, re.M))
                    if last == 0 and "footprint_energy_joules_total" in text:
                        return text
            except (OSError, http.client.HTTPException):
                pass
            if time.perf_counter() > deadline:
                raise BenchError(f"footprint on :{self.port} reports {last} workloads after {timeout} s, expected "
                                 f"{expected}:\n{self.logs()[-2000:]}")
            time.sleep(0.1)

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
                raise BenchError("footprint did not stop on SIGTERM within 10 s")
        self.logfile.close()
        if not alive:
            raise BenchError(f"footprint had died with {self.process.returncode}:\n{self.logs()}")


NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 100000000;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {html};
        location = /metrics {{
            default_type "text/plain; version=0.0.4; charset=utf-8";
            gzip_static on;
            gzip_vary on;
        }}
    }}
}}
"""


class Nginx:
    """nginx-light with its own prefix and configuration: one worker, no access log, keep-alive, /metrics served from
    metrics (plain) or, with gzip_static, from metrics.gz to clients that accept gzip."""

    def __init__(self, workdir, plain, compressed, cpus=None):
        self.cpus = cpus
        self.prefix = os.path.join(workdir, "nginx")
        html = os.path.join(self.prefix, "html")
        os.makedirs(os.path.join(self.prefix, "tmp"))
        os.makedirs(html)
        with open(os.path.join(html, "metrics"), "wb") as handle:
            handle.write(plain)
        with open(os.path.join(html, "metrics.gz"), "wb") as handle:
            handle.write(compressed)
        # The worker runs as nobody when nginx starts as root: it must be able to read the files.
        for path in [workdir, self.prefix, html]:
            os.chmod(path, 0o755)
        for name in ["metrics", "metrics.gz"]:
            os.chmod(os.path.join(html, name), 0o644)
        self.port = base.free_port()
        self.conf = os.path.join(self.prefix, "nginx.conf")
        with open(self.conf, "w") as handle:
            handle.write(NGINX_CONF.format(prefix=self.prefix, port=self.port, html=html))
        self.log_path = os.path.join(self.prefix, "stdout.log")
        self.process = None

    def start(self, timeout=10.0):
        self.logfile = open(self.log_path, "w")
        self.process = subprocess.Popen(["nginx", "-p", self.prefix, "-e", os.path.join(self.prefix, "error.log"),
                                         "-c", self.conf], stdout=self.logfile, stderr=subprocess.STDOUT,
                                        preexec_fn=pinning(self.cpus))
        deadline = time.perf_counter() + timeout
        while True:
            try:
                status, _, _ = http_get(self.port, accept_gzip=True, timeout=1.0)
                if status == 200:
                    break
            except (OSError, http.client.HTTPException):
                pass
            if self.process.poll() is not None or time.perf_counter() > deadline:
                raise BenchError(f"nginx did not start:\n{self.logs()}")
            time.sleep(0.02)
        with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as handle:
            workers = handle.read().split()
        if len(workers) != 1:
            raise BenchError(f"nginx has {len(workers)} workers, expected 1")
        self.worker = int(workers[0])
        return self

    def logs(self):
        text = ""
        for name in ["stdout.log", "error.log"]:
            path = os.path.join(self.prefix, name)
            if os.path.exists(path):
                with open(path) as handle:
                    text += handle.read()
        return text

    def cpu(self):
        if self.process.poll() is not None:
            raise BenchError(f"nginx died with {self.process.returncode}:\n{self.logs()}")
        return base.cpu_seconds(self.worker) + base.cpu_seconds(self.process.pid)

    def stop(self):
        if self.process is None:
            return
        self.process.send_signal(signal.SIGQUIT)  # graceful: the master stops its worker and exits
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.logfile.close()
        try:
            os.kill(self.worker, 0)
        except ProcessLookupError:
            return
        os.kill(self.worker, signal.SIGKILL)


# ---------------------------------------------------------------------------------------------------------------------
# Machine load


class Load:
    """The machine's load over a window, and how much of it was not ours: busy jiffies of all CPUs less the CPU of
    the processes this benchmark runs (the exporters, the writer, nginx, perf, and wrk through RUSAGE_CHILDREN)."""

    def __init__(self, own):
        self.own = own  # callable: the benchmark's own CPU seconds in its long-lived processes
        self.loadavg = os.getloadavg()
        self.busy, self.total = base.system_busy_jiffies()
        self.own_before = own()
        self.children_before = self.children()
        self.began = time.perf_counter()

    @staticmethod
    def children():
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def finish(self):
        busy, total = base.system_busy_jiffies()
        own = (self.own() - self.own_before) + (self.children() - self.children_before)
        own_jiffies = own * base.CLK_TCK
        span = total - self.total
        result = {"loadavg_1m_at_start": self.loadavg[0], "loadavg_1m_at_end": os.getloadavg()[0],
                  "seconds": time.perf_counter() - self.began,
                  "busy_fraction": (busy - self.busy) / span if span else None,
                  "others_busy_fraction": max(0.0, (busy - self.busy - own_jiffies) / span) if span else None}
        others = result["others_busy_fraction"]
        result["high"] = bool(others is not None and others > BUSY_LIMIT)
        return result


def wait_quiet(max_wait):
    """Waits (at most max_wait s) until the 1-minute load average is under LOADAVG_QUIET or a 2 s probe finds the
    machine under BUSY_LIMIT busy; returns what it saw."""
    began = time.perf_counter()
    while True:
        busy, total = base.system_busy_jiffies()
        time.sleep(2.0 if max_wait > 0 else 0.05)
        busy2, total2 = base.system_busy_jiffies()
        fraction = (busy2 - busy) / (total2 - total) if total2 > total else 0.0
        loadavg = os.getloadavg()[0]
        waited = time.perf_counter() - began
        if fraction <= BUSY_LIMIT or waited >= max_wait:
            if waited >= max_wait and fraction > BUSY_LIMIT and max_wait > 0:
                log(f"the machine is still {100 * fraction:.0f} % busy (load {loadavg:.2f}) after {waited:.0f} s; "
                    "measuring anyway (the round is repeated if the load stays high)")
            return {"waited_s": round(waited, 1), "busy_fraction": fraction, "loadavg_1m": loadavg}
        time.sleep(3.0)


# ---------------------------------------------------------------------------------------------------------------------
# Phases


def linear_fit(points):
    """Least squares y = a + b x; returns a, b and R²."""
    n = len(points)
    if n < 2:
        return None
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    b = sum((x - mx) * (y - my) for x, y in points) / sxx
    a = my - b * mx
    ss_tot = sum((y - my) ** 2 for _, y in points)
    ss_res = sum((y - (a + b * x)) ** 2 for x, y in points)
    return {"intercept": a, "slope": b, "r2": 1 - ss_res / ss_tot if ss_tot else 1.0,
            "max_residual_share": max(abs(y - (a + b * x)) for x, y in points) / max(abs(y) for _, y in points)}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


class Run:
    def __init__(self, args):
        self.args = args
        self.mode = "quick" if args.quick else "full"
        self.p = dict(MODES[self.mode])
        if args.wrk_rounds:
            self.p["wrk_rounds"] = args.wrk_rounds
        self.binary = os.path.abspath(args.binary)
        self.max_attempts = args.max_attempts if not args.quick else 1
        # scrape_pinned: wrk on one CPU, the server under test (footprint or nginx, all its threads) on another.
        self.pin = tuple({int(c)} for c in args.pin.split(":"))
        tmp_root = args.tmpdir or ("/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK)
                                   else None)
        self.workdir = tempfile.mkdtemp(prefix="footprint-attribution-", dir=tmp_root)
        os.chmod(self.workdir, 0o755)  # nginx's worker (nobody, when started as root) reads its files below it
        self.trees = {}
        self.running = []
        self.raw = {"sampling": [], "churn": None, "scrape": None, "scrape_pinned": None, "profile": None}

    def tree(self, count):
        if count not in self.trees:
            began = time.perf_counter()
            self.trees[count] = make_tree(os.path.join(self.workdir, f"tree-{count}"), count, seed=count)
            log(f"fixture with {count} pods in {time.perf_counter() - began:.1f} s")
        return self.trees[count]

    def stop_all(self):
        for process in reversed(self.running):
            try:
                process.stop()
            except BenchError as error:
                log(f"while stopping: {error}")
        self.running = []

    # -- sampling --------------------------------------------------------------------------------------------------

    def sampling_round(self, index, writer):
        p = self.p
        configs = [(f"on-{n}", n, True) for n in p["counts"]] + [(f"off-{p['off_count']}", p["off_count"], False)]
        # The same count again, scraped (gzip) every scrape_every seconds as Prometheus would: the body is rendered and
        # compressed by the first scrape after a sample, so the cost of serving it belongs in the figure.
        scraped = f"scraped-{p['off_count']}"
        configs.append((scraped, p["off_count"], True))
        quiet = wait_quiet(p["quiet_wait"])
        exporters = {}
        for name, count, attribution in configs:
            extra = [f"--attribution.max-workloads={max(p['counts'])}"] if attribution else []
            exporters[name] = Footprint(self.binary, self.tree(count), self.workdir, attribution, extra).start()
            self.running.append(exporters[name])
        for name, count, _ in configs:
            exporters[name].wait_workloads(count, timeout=30.0)
        time.sleep(p["settle"])  # past the first samples and the first 10 s rescan
        own = lambda: sum(e.cpu() for e in exporters.values()) + writer.cpu()  # noqa: E731
        load = Load(own)
        clocks = {name: base.PerfClock(e.pid) for name, e in exporters.items()}
        before = {name: e.cpu() for name, e in exporters.items()}
        writer_before = writer.cpu()
        began = time.perf_counter()
        scrapes = 0
        while time.perf_counter() < began + p["window"]:
            due = began + (scrapes + 1) * p["scrape_every"]
            if due >= began + p["window"]:
                time.sleep(max(0.0, began + p["window"] - time.perf_counter()))
                break
            time.sleep(max(0.0, due - time.perf_counter()))
            exporters[scraped].scrape(accept_gzip=True)
            scrapes += 1
        elapsed = time.perf_counter() - began
        after = {name: e.cpu() for name, e in exporters.items()}
        writer_cpu = writer.cpu() - writer_before
        perf = {name: clock.stop() for name, clock in clocks.items()}
        machine = load.finish()
        memory = {name: e.memory() for name, e in exporters.items()}
        record = {"round": index, "quiet_wait": quiet, "window_s": elapsed, "load": machine,
                  "writer_cpu_s": writer_cpu, "writer_core_percent": 100 * writer_cpu / elapsed, "configs": {}}
        for name, count, attribution in configs:
            _, text = exporters[name].scrape()  # after the window: the split did happen
            attributed = sum(float(v) for v in re.findall(
                r'^footprint_workload_energy_joules_total\{[^}]*component="cpu"\} (\S+)$', text, re.M))
            cpu = after[name] - before[name]
            record["configs"][name] = {
                "workloads": count, "attribution": attribution,
                "scraped_every_s": p["scrape_every"] if name == scraped else None,
                "scrapes_in_window": scrapes if name == scraped else 0, "cpu_s": cpu, "core_percent": 100 * cpu / elapsed,
                "perf_cpu_s": perf[name],
                "perf_core_percent": 100 * perf[name] / elapsed if perf[name] is not None else None,
                "rss_kb": memory[name]["VmRSS"], "anon_kb": memory[name]["RssAnon"],
                "file_kb": memory[name]["RssFile"], "hwm_kb": memory[name].get("VmHWM"),
                "threads": memory[name].get("Threads"),
                "workloads_exported": metric_value(text, r'footprint_workloads\{kind="pod"\}'),
                "attributed_cpu_joules": attributed,
                "cpu_joules": metric_value(text, r'footprint_energy_joules_total\{component="cpu"\}'),
                "overflow_samples": metric_value(text, "footprint_attribution_overflow_total"),
                "body_bytes": len(text.encode())}
            if attribution and count > 0 and not attributed > 0:
                raise BenchError(f"{name}: no CPU energy attributed to the {count} pods (writer not moving?)")
        for e in exporters.values():
            e.stop()
            self.running.remove(e)
        log(f"sampling round {index + 1}: " + ", ".join(
            f"{n} {c['core_percent']:.2f}%" for n, c in record["configs"].items()) +
            f"; writer {record['writer_core_percent']:.1f}%; others busy "
            f"{100 * machine['others_busy_fraction']:.0f}% (load {machine['loadavg_1m_at_start']:.2f})")
        return record

    def phase_sampling(self):
        p = self.p
        roots = [self.tree(n) for n in p["counts"]]
        if p["off_count"] not in p["counts"]:
            roots.append(self.tree(p["off_count"]))
        writer = Writer(roots)
        self.running.append(writer)
        try:
            accepted = 0
            attempts = 0
            while accepted < p["rounds"] and attempts < p["rounds"] + self.max_attempts - 1:
                record = self.sampling_round(attempts, writer)
                attempts += 1
                record["accepted"] = not record["load"]["high"] or self.mode == "quick"
                self.raw["sampling"].append(record)
                if record["accepted"]:
                    accepted += 1
                else:
                    log("  others kept the machine busy: this round is repeated")
            if accepted < p["rounds"]:
                # Not enough quiet rounds: take the least loaded ones.
                ordered = sorted(self.raw["sampling"], key=lambda r: r["load"]["others_busy_fraction"])
                for record in ordered[:p["rounds"]]:
                    record["accepted"] = True
                log(f"only {accepted} quiet sampling rounds; the {p['rounds']} least loaded are used")
        finally:
            writer.stop()
            self.running.remove(writer)

    # -- churn -----------------------------------------------------------------------------------------------------

    def phase_churn(self):
        p = self.p
        root = make_tree(os.path.join(self.workdir, "tree-churn"), 0, seed=99)
        exporter = Footprint(self.binary, root, self.workdir, True,
                             [f"--attribution.retention={p['churn_retention']}"]).start()
        self.running.append(exporter)
        exporter.wait_workloads(0, timeout=30.0)
        time.sleep(p["settle"])
        events_path = os.path.join(self.workdir, "churn-events.jsonl")
        own = lambda: exporter.cpu()  # noqa: E731
        load = Load(own)
        began = time.perf_counter()
        samples = []

        def sample():
            memory = exporter.memory()
            body, text = exporter.scrape(accept_gzip=True)
            samples.append({
                "t": round(time.perf_counter() - began, 1), "rss_kb": memory["VmRSS"], "anon_kb": memory["RssAnon"],
                "hwm_kb": memory.get("VmHWM"),
                "tracked": metric_value(text, r'footprint_workloads\{kind="pod"\}'),
                "series": len(re.findall(r"^footprint_workload_info\{", text, re.M)),
                "on_disk": len(os.listdir(pods_dir(root))), "body_bytes": len(text.encode()),
                "gzip_bytes": len(body),
                "expired_cpu_joules": metric_value(
                    text, r'footprint_expired_workload_energy_joules_total\{component="cpu"\}'),
                "overflow_samples": metric_value(text, "footprint_attribution_overflow_total")})

        sample()
        writer = Writer([root], churn=f"{p['churn_size']},{p['churn_every']},{p['churn_batches']}",
                        events=events_path)
        self.running.append(writer)
        writer_before = writer.cpu()
        schedule = (p["churn_batches"] + 1) * p["churn_every"] + p["churn_tail"]
        next_sample = began + p["rss_every"]
        while True:
            delay = next_sample - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sample()
            next_sample += p["rss_every"]
            if time.perf_counter() - began >= schedule + p["rss_every"] / 2:
                break
        writer_cpu = writer.cpu() - writer_before
        writer.stop()
        self.running.remove(writer)
        machine = load.finish()
        with open(events_path) as handle:
            events = [json.loads(line) for line in handle]
        exporter.stop()
        self.running.remove(exporter)
        created = events[-1]["created_total"] if events else 0
        removed = events[-1]["removed_total"] if events else 0
        if created != p["churn_batches"] * p["churn_size"] or removed != created:
            raise BenchError(f"churn: {created} pods created and {removed} removed, expected "
                             f"{p['churn_batches'] * p['churn_size']} of each: {events}")
        if samples[-1]["tracked"] != 0 or samples[-1]["series"] != 0:
            raise BenchError(f"churn: workloads still exported after every pod went and its retention passed: "
                             f"{samples[-1]}")
        if not max(s["tracked"] or 0 for s in samples) > 0:
            raise BenchError("churn: the exporter never saw a pod")
        self.raw["churn"] = {"samples": samples, "events": events, "load": machine, "writer_cpu_s": writer_cpu,
                             "seconds": time.perf_counter() - began}
        rss = [s["rss_kb"] for s in samples]
        log(f"churn: {created} pods created and removed; RSS first {rss[0]} kB, last {rss[-1]} kB, max {max(rss)} kB; "
            f"at most {max(s['tracked'] for s in samples):.0f} tracked; others busy "
            f"{100 * machine['others_busy_fraction']:.0f}%")

    # -- scrape ----------------------------------------------------------------------------------------------------

    def wrk(self, port, accept_gzip, seconds, server_cpu, pin=None):
        argv = ["wrk", "-t1", f"-c{self.p['wrk_connections']}", f"-d{max(1, int(round(seconds)))}s", "--timeout",
                "2s", "--latency", "-s", base.WRK_SCRIPT]
        if accept_gzip:
            argv += ["-H", "Accept-Encoding: gzip"]
        argv.append(f"http://127.0.0.1:{port}/metrics")
        cpu_before = server_cpu()
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   preexec_fn=pinning(pin and pin[0]))
        if seconds < 1:
            time.sleep(seconds)
            process.send_signal(signal.SIGINT)  # wrk's shortest -d is 1 s; SIGINT ends it early and it still reports
        result = base.wrk_finish(process, seconds)
        cpu = server_cpu() - cpu_before
        requests = result["requests"]
        seconds_run = result["duration_us"] / 1e6
        return {"requests": requests, "rps": requests / seconds_run, "seconds": seconds_run,
                "p50_ms": result["p50_us"] / 1000, "p99_ms": result["p99_us"] / 1000, "max_ms": result["max_us"] / 1000,
                "bytes_per_response": result["bytes"] / requests, "cpu_s": cpu,
                "cpu_us_per_scrape": cpu * 1e6 / requests,
                "errors": {k: v for k, v in result.items() if k.startswith("err_")}}

    def phase_scrape_pinned(self):
        if os.cpu_count() < 2 or len(os.sched_getaffinity(0)) < 2:
            log("scrape_pinned: fewer than 2 CPUs, skipped")
            return
        self.phase_scrape(key="scrape_pinned", pin=self.pin)

    def phase_scrape(self, key="scrape", pin=None):
        p = self.p
        count = p["scrape_count"]
        root = self.tree(count)
        writer = Writer([root])
        self.running.append(writer)
        exporter = Footprint(self.binary, root, self.workdir, True, cpus=pin and pin[1]).start()
        self.running.append(exporter)
        exporter.wait_workloads(count, timeout=30.0)
        time.sleep(min(p["settle"], 5.0))
        # Bodies: plain, and gzip, from the same sample (retried until both carry the same timestamp).
        for _ in range(20):
            plain, text = exporter.scrape()
            compressed, unzipped = exporter.scrape(accept_gzip=True)
            stamp = r"footprint_last_sample_timestamp_seconds"
            if metric_value(text, stamp) == metric_value(unzipped, stamp):
                break
        else:
            raise BenchError("could not fetch a plain and a gzip body of the same sample")
        if unzipped != text:
            raise BenchError("the gzip body does not decompress to the plain body of the same sample")
        curl = None
        if shutil.which("curl"):
            out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{size_download}",
                                  f"http://127.0.0.1:{exporter.port}/metrics"], capture_output=True, text=True,
                                 timeout=20)
            out_gz = subprocess.run(["curl", "-s", "--compressed", "-o", "/dev/null", "-w", "%{size_download}",
                                     f"http://127.0.0.1:{exporter.port}/metrics"], capture_output=True, text=True,
                                    timeout=20)
            curl = {"plain_bytes": int(out.stdout), "compressed_bytes": int(out_gz.stdout)}
        body = {"workloads": count, "plain_bytes": len(plain), "gzip_bytes": len(compressed),
                "ratio": len(compressed) / len(plain), "python_gzip6_bytes": len(gzip.compress(plain, 6)),
                "python_gzip9_bytes": len(gzip.compress(plain, 9)), "series": text.count("\n") - text.count("\n#"),
                "curl": curl}
        log(f"/metrics at {count} workloads: {len(plain):,} bytes plain, {len(compressed):,} gzip "
            f"({100 * body['ratio']:.1f} %)")

        nginx = Nginx(os.path.join(self.workdir, key), plain, compressed, cpus=pin and pin[1]).start()
        self.running.append(nginx)
        status, headers, served = http_get(nginx.port, accept_gzip=True)
        if status != 200 or headers.get("content-encoding") != "gzip" or served != compressed:
            raise BenchError(f"nginx does not serve the saved gzip body: {status} {headers}")
        status, headers, served = http_get(nginx.port)
        if status != 200 or "content-encoding" in headers or served != plain:
            raise BenchError(f"nginx does not serve the saved plain body: {status} {headers}")

        targets = {"footprint": (exporter.port, exporter.cpu), "nginx": (nginx.port, nginx.cpu)}
        own = lambda: exporter.cpu() + nginx.cpu() + writer.cpu()  # noqa: E731
        runs = []
        for encoding, accept in (("gzip", True), ("plain", False)):
            for index in range(p["wrk_rounds"]):
                order = ["footprint", "nginx"]
                for attempt in range(self.max_attempts):
                    quiet = wait_quiet(min(p["quiet_wait"], 60.0))
                    load = Load(own)
                    pair = {}
                    for server in order:
                        port, cpu = targets[server]
                        pair[server] = self.wrk(port, accept, p["wrk_seconds"], cpu, pin)
                        expected = len(compressed) if accept else len(plain)
                        if pair[server]["bytes_per_response"] < expected:
                            raise BenchError(f"{server} answered {pair[server]['bytes_per_response']:.0f} bytes per "
                                             f"{encoding} scrape, less than the body's {expected}")
                    machine = load.finish()
                    record = {"encoding": encoding, "round": index, "attempt": attempt, "load": machine,
                              "quiet_wait": quiet, **pair}
                    record["accepted"] = not machine["high"] or self.mode == "quick" or \
                        attempt == self.max_attempts - 1
                    runs.append(record)
                    log(f"{key}: wrk {encoding} round {index + 1}: footprint {pair['footprint']['rps']:,.0f}/s, nginx "
                        f"{pair['nginx']['rps']:,.0f}/s; others busy {100 * machine['others_busy_fraction']:.0f}% "
                        f"(load {machine['loadavg_1m_at_start']:.2f})" + ("" if record["accepted"] else ", repeated"))
                    if record["accepted"]:
                        break
        memory = exporter.memory()
        nginx.stop()
        self.running.remove(nginx)
        exporter.stop()
        self.running.remove(exporter)
        writer.stop()
        self.running.remove(writer)
        self.raw[key] = {"body": body, "runs": runs, "pinned": [sorted(c) for c in pin] if pin else None,
                         "rss_after_load_kb": memory["VmRSS"],
                              "anon_after_load_kb": memory["RssAnon"], "hwm_kb": memory.get("VmHWM")}


    # -- profile (optional: --phases ...,profile) ------------------------------------------------------------------

    def perf_report(self, data, children, sort="symbol"):
        argv = ["perf", "report", "-i", data, "--stdio", "--sort", sort, "--percent-limit", "0.5",
                "--children" if children else "--no-children", "-g", "none"]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise BenchError(f"perf report failed: {result.stderr[-2000:]}")
        text = result.stdout
        demangler = shutil.which("swift-demangle")
        if demangler or shutil.which("swift"):
            argv = [demangler] if demangler else ["swift", "demangle"]
            demangled = subprocess.run(argv + ["--simplified"], input=text, capture_output=True, text=True,
                                       timeout=120)
            if demangled.returncode == 0:
                text = demangled.stdout
        rows = []
        for line in text.splitlines():
            match = re.match(r"^\s+([\d.]+)%\s+(?:([\d.]+)%\s+)?(?:\[[.k]\]\s+)?(.+?)\s*$", line)
            if match:
                rows.append({"percent": float(match.group(1)),
                             "self_percent": float(match.group(2)) if match.group(2) else None,
                             "symbol": re.sub(r"(\s+-)+$", "", match.group(3)).strip()})
        return rows[:60]

    def phase_profile(self):
        """perf record -g of footprint at the scrape count of workloads: idle (sampling only), then under gzip wrk."""
        if not base.PerfClock.check():
            log("profile: perf not found or not usable (apt-get install -y linux-perf), skipped")
            return
        p = self.p
        count = p["scrape_count"]
        root = self.tree(count)
        writer = Writer([root])
        self.running.append(writer)
        exporter = Footprint(self.binary, root, self.workdir, True).start()
        self.running.append(exporter)
        exporter.wait_workloads(count, timeout=30.0)
        time.sleep(p["settle"])
        profiles = {}
        for name, load in (("sampling", None), ("gzip_scrapes", True)):
            data = os.path.join(self.workdir, f"perf-{name}.data")
            record = subprocess.Popen(["perf", "record", "-F", "997", "-g", "-o", data, "-p", str(exporter.pid)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            time.sleep(0.5)
            if load:
                self.wrk(exporter.port, True, p["profile_seconds"], exporter.cpu)
            else:
                time.sleep(p["profile_seconds"])
            record.send_signal(signal.SIGINT)
            _, err = record.communicate(timeout=60)
            if record.returncode not in (0, -signal.SIGINT):
                raise BenchError(f"perf record failed: {err[-2000:]}")
            profiles[name] = {"self": self.perf_report(data, False), "inclusive": self.perf_report(data, True),
                              "by_object": self.perf_report(data, False, "dso")}
            top = profiles[name]["self"][:3]
            log(f"profile {name}: " + ", ".join(f"{r['percent']:.1f}% {r['symbol'][:60]}" for r in top))
        exporter.stop()
        self.running.remove(exporter)
        writer.stop()
        self.running.remove(writer)
        self.raw["profile"] = {"workloads": count, "seconds": p["profile_seconds"], **profiles}


# ---------------------------------------------------------------------------------------------------------------------
# Summary


def summarize(raw, mode):
    p = MODES[mode]
    s = {}
    rounds = [r for r in raw["sampling"] if r.get("accepted")]
    if rounds:
        configs = {}
        for name in rounds[0]["configs"]:
            cells = [r["configs"][name] for r in rounds]
            configs[name] = {
                "workloads": cells[0]["workloads"], "attribution": cells[0]["attribution"],
                "scraped_every_s": cells[0].get("scraped_every_s"),
                "core_percent": median([c["core_percent"] for c in cells]),
                "core_percent_rounds": [c["core_percent"] for c in cells],
                "perf_core_percent": median([c["perf_core_percent"] for c in cells]),
                "ms_per_sample": median([c["cpu_s"] / r["window_s"] * 1000 for c, r in zip(cells, rounds)]),
                "perf_ms_per_sample": median([c["perf_cpu_s"] / r["window_s"] * 1000 if c["perf_cpu_s"] is not None
                                              else None for c, r in zip(cells, rounds)]),
                "rss_kb": median([c["rss_kb"] for c in cells]), "anon_kb": median([c["anon_kb"] for c in cells]),
                "rss_kb_rounds": [c["rss_kb"] for c in cells],
                "body_bytes": median([c["body_bytes"] for c in cells])}
        s["sampling"] = configs
        on = [c for c in configs.values() if c["attribution"] and not c.get("scraped_every_s")]
        # ms per sample at 1 s sampling = CPU seconds per second × 1000; the slope is ms per workload per sample.
        fit = linear_fit([(c["workloads"], c["ms_per_sample"]) for c in on])
        perf_fit = linear_fit([(c["workloads"], c["perf_ms_per_sample"]) for c in on
                               if c["perf_ms_per_sample"] is not None])
        s["sampling_fit"] = {
            "proc": fit and {**fit, "us_per_workload_per_sample": fit["slope"] * 1000},
            "perf": perf_fit and {**perf_fit, "us_per_workload_per_sample": perf_fit["slope"] * 1000}}
        steps = [(a["workloads"], b["workloads"], (b["ms_per_sample"] - a["ms_per_sample"]) * 1000 /
                  (b["workloads"] - a["workloads"])) for a, b in zip(on, on[1:])]
        s["sampling_steps_us_per_workload"] = steps
        s["writer_core_percent"] = median([r["writer_core_percent"] for r in rounds])
        s["sampling_load"] = [r["load"] for r in rounds]
    churn = raw.get("churn")
    if churn:
        rss = [x["rss_kb"] for x in churn["samples"]]
        half = len(rss) // 2
        s["churn"] = {"first_kb": rss[0], "last_kb": rss[-1], "max_kb": max(rss),
                      "max_first_half_kb": max(rss[:half]) if half else None,
                      "max_second_half_kb": max(rss[half:]) if half else None,
                      "created": churn["events"][-1]["created_total"], "removed": churn["events"][-1]["removed_total"],
                      "max_tracked": max(x["tracked"] or 0 for x in churn["samples"]),
                      "overflow_samples": churn["samples"][-1]["overflow_samples"],
                      "slope_second_half_kb_per_min": (linear_fit(
                          [(x["t"] / 60, x["rss_kb"]) for x in churn["samples"][half:]]) or {}).get("slope"),
                      "writer_core_percent": 100 * churn["writer_cpu_s"] / churn["seconds"], "load": churn["load"]}
    for key in ("scrape", "scrape_pinned"):
        scrape = raw.get(key)
        if not scrape:
            continue
        table = {}
        for encoding in ("gzip", "plain"):
            runs = [r for r in scrape["runs"] if r["encoding"] == encoding and r["accepted"]]
            table[encoding] = {server: {k: median([r[server][k] for r in runs])
                                        for k in ("rps", "p50_ms", "p99_ms", "cpu_us_per_scrape",
                                                  "bytes_per_response")}
                               for server in ("footprint", "nginx")}
            for server in ("footprint", "nginx"):
                table[encoding][server]["rps_rounds"] = [r[server]["rps"] for r in runs]
                table[encoding][server]["cpu_us_per_scrape_rounds"] = [r[server]["cpu_us_per_scrape"] for r in runs]
            table[encoding]["ratio_rounds"] = [r["footprint"]["rps"] / r["nginx"]["rps"] for r in runs]
            # The median of the per-round ratios (each round runs both back to back under the same conditions).
            table[encoding]["ratio"] = median(table[encoding]["ratio_rounds"])
            table[encoding]["ratio_of_medians"] = table[encoding]["footprint"]["rps"] / table[encoding]["nginx"]["rps"]
            table[encoding]["load"] = [r["load"] for r in runs]
        s[key] = {"body": scrape["body"], "wrk": table, "pinned": scrape.get("pinned"),
                  "rss_after_load_kb": scrape["rss_after_load_kb"]}
    scrape = raw.get("scrape")

    targets = []
    if rounds:
        at = configs.get(f"on-{p['off_count']}")
        off = configs.get(f"off-{p['off_count']}")
        targets.append(target(f"sampling cost at {p['off_count']} workloads ≤ 3 % of one core",
                              at["core_percent"], "<=", 3.0, "% of a core"))
        scraped = configs.get(f"scraped-{p['off_count']}")
        if scraped:
            targets.append(target(
                f"sampling and a gzip scrape every {p['scrape_every']:g} s at {p['off_count']} workloads ≤ 3 % of one "
                "core", scraped["core_percent"], "<=", 3.0, "% of a core"))
        targets.append(target("sampling cost linear in workloads (R² of the least-squares line)",
                              s["sampling_fit"]["proc"]["r2"] if s["sampling_fit"]["proc"] else None, ">=", 0.95, ""))
        targets.append(target(f"RSS growth with attribution at {p['off_count']} workloads ≤ 10 MiB",
                              (at["rss_kb"] - off["rss_kb"]) / 1024, "<=", 10.0, "MiB"))
    if churn:
        c = s["churn"]
        targets.append(target("RSS flat under churn: max − first ≤ 10 MiB", (c["max_kb"] - c["first_kb"]) / 1024,
                              "<=", 10.0, "MiB"))
        if c["max_first_half_kb"] is not None:
            targets.append(target("RSS flat under churn: no growth from the first half to the second (max, MiB)",
                                  (c["max_second_half_kb"] - c["max_first_half_kb"]) / 1024, "<=", 1.0, "MiB"))
    if scrape:
        targets.append(target("gzip scrapes/s ≥ 0.8× nginx serving the same bytes (median of the rounds' ratios)",
                              s["scrape"]["wrk"]["gzip"]["ratio"], ">=", 0.8, "×"))
    s["targets"] = targets
    return s


def target(name, value, op, limit, unit):
    met = None
    if value is not None:
        met = value >= limit if op == ">=" else value <= limit
    return {"name": name, "value": value, "op": op, "limit": limit, "unit": unit, "met": met}


def machine_info(binary):
    lscpu = base.command_output(["lscpu"]) or ""
    model = re.search(r"^Model name:\s*(.+)$", lscpu, re.M)
    with open("/proc/meminfo") as handle:
        memory = int(re.search(r"MemTotal:\s+(\d+)", handle.read()).group(1))
    with open(binary, "rb") as handle:
        import hashlib
        digest = hashlib.sha256(handle.read()).hexdigest()
    return {"cpu_model": model.group(1).strip() if model else None, "cores": os.cpu_count(), "memory_kb": memory,
            "kernel": os.uname().release,
            "os": base.command_output(["sh", "-c", ". /etc/os-release && echo \"$PRETTY_NAME\""]),
            "footprint_binary": binary, "footprint_sha256": digest,
            "footprint_version": base.command_output([binary, "--version"]),
            "repo_revision": base.command_output(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]),
            "nginx_version": base.command_output(["nginx", "-v"]),
            "wrk_version": (base.command_output(["wrk", "-v"]) or "").splitlines()[0:1],
            "perf": base.PerfClock.check()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    writer = sub.add_parser("writer", help="internal: the fixture writer")
    writer.add_argument("--tree", action="append", default=[])
    writer.add_argument("--churn", help="size,every_seconds,batches")
    writer.add_argument("--events")
    parser.add_argument("--binary")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out")
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--tmpdir")
    parser.add_argument("--max-attempts", type=int, default=3)
    parser.add_argument("--pin", default="0:1", help="scrape_pinned phase: LOAD_CPU:SERVER_CPU (default 0:1)")
    parser.add_argument("--wrk-rounds", type=int, help="alternating wrk rounds per encoding (default: 3, quick 1)")
    args = parser.parse_args()
    if args.command == "writer":
        return writer_main(args)
    if not args.binary:
        parser.error("--binary is required")
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool):
            parser.error(f"{tool} not found (apt-get install -y --no-install-recommends nginx-light wrk)")
    phases = [x for x in args.phases.split(",") if x]
    if set(phases) - set(PHASES):
        parser.error(f"--phases: unknown {sorted(set(phases) - set(PHASES))}")
    run = Run(args)
    out = args.out or (os.path.join(HERE, "attribution-results.json") if not args.quick
                       else os.path.join(run.workdir + "-results.json"))
    began = time.time()
    info = machine_info(run.binary)
    info["busy_before_run"] = wait_quiet(0)["busy_fraction"]
    log(f"{run.mode} run of {', '.join(phases)} in {run.workdir}")
    loads = {}
    try:
        for phase in PHASES:
            if phase in phases:
                getattr(run, f"phase_{phase}")()
                loads[phase] = os.getloadavg()
    except BenchError as error:
        log(f"FAILED: {error}")
        run.stop_all()
        log(f"work directory kept for inspection: {run.workdir}")
        return 1
    except BaseException:
        run.stop_all()
        raise
    result = {"generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "mode": run.mode, "phases": phases, "parameters": run.p, "wall_seconds": time.time() - began,
              "machine": info, "loadavg_after_phase": loads, "summary": summarize(run.raw, run.mode), "raw": run.raw}
    with open(out + ".tmp", "w") as handle:
        json.dump(result, handle, indent=1)
        handle.write("\n")
    os.replace(out + ".tmp", out)
    shutil.rmtree(run.workdir, ignore_errors=True)
    log(f"done in {result['wall_seconds']:.0f} s; wrote {out}")
    if run.mode == "quick":
        log("  quick mode: the durations are too short to judge targets; the figures below only show it all ran")
    for t in result["summary"]["targets"]:
        state = "n/a" if t["met"] is None else ("met" if t["met"] else "MISSED")
        value = "n/a" if t["value"] is None else f"{t['value']:.4g}"
        log(f"  {state:6} {t['name']}: {value} {t['unit']} (limit {t['op']} {t['limit']:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
