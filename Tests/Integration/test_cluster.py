"""The cluster view against a real Prometheus: three exporters on fixture trees, Prometheus scraping them every
second with the shipped rules, and every dashboard query answered with data.

Each node also runs workloads (a cgroup tree of its own layout, whose CPU counters and the node's /proc/stat a
background thread advances), and a static kube-state-metrics serves kube_pod_info for the pods, so that the workload
attribution panels, per namespace and per Slurm user included, have data too.

Needs the exporter binary (FOOTPRINT_BINARY, default .build/debug/footprint_exporter; skipped without it) and
Debian's `prometheus` (/usr/bin/prometheus). A C compiler, if present, builds the fake NVML library of
Tests/Fixtures/fake-nvml so that the GPU panels have GPUs to show."""

import http.server
import json
import math
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Deploy"))
import dashboard_queries  # noqa: E402

REPO = dashboard_queries.REPO
BINARY = Path(os.environ.get("FOOTPRINT_BINARY", REPO / ".build" / "debug" / "footprint_exporter"))
PROMETHEUS = os.environ.get("PROMETHEUS_BINARY", "/usr/bin/prometheus")
RULES = REPO / "deploy" / "prometheus" / "footprint-rules.yml"
FIXTURES = ["intel-2socket", "amd", "vm"]
JOB = "footprint-exporter"  # contains "footprint", like the job FootprintExporterDown watches

# Budgets as the issue writes them; the exporter prints windows its own way (24h may become 1d), which
# the rules must map back onto their windows.
CONFIG = {"budgets": [
    {"name": "team-a", "window": "24h", "grams": 50000},
    {"name": "team-a", "window": "30d", "grams": 1000000},
    {"name": "team-b", "window": "7d", "grams": 300000},
    # A team's budget (scope="workloads"): every pod's CO2e, measured by footprint_budget_co2e_grams_total.
    {"name": "pods", "window": "30d", "grams": 200000, "match": {"kind": "pod"}},
]}
# Two GPUs for the node that loads the fake NVML library.
FAKE_GPUS = (
    "gpu index=0 uuid=GPU-11111111-2222-3333-4444-555555555555 name=NVIDIA_H100_80GB_HBM3"
    " energy_mj=1000000 power_mw=300000\n"
    "gpu index=1 uuid=GPU-66666666-7777-8888-9999-000000000000 name=NVIDIA_H100_80GB_HBM3"
    " energy_mj=2000000 power_mw=250000\n"
)

# Workloads (docs/design.md §8), one cgroup layout per node, each with a pod and, on two nodes, a Slurm job:
#   intel-2socket  cgroup v2, kubelet with the systemd driver: ml/train-0 (burstable), web/api-0 (best effort)
#   amd            hybrid (unified/ beside v1 controllers), cgroupfs driver: web/api-1; Slurm job 77 of uid 1001
#   vm             cgroup v1, cgroupfs driver: ml/train-1; Slurm job 78 of uid 1000
# What moves is estimated: vm's CPU and DRAM, amd's DRAM (its RAPL has no DRAM domain). The RAPL fixtures' counters
# and the fake GPUs' energy stand still, so intel-2socket's pods draw 0 W; every namespace and user still has a
# workload on vm or amd, and so a positive rate.
KSM_JOB = "kube-state-metrics"
PODS = {  # uid: (namespace, pod, node)
    "3f1c2b7a-5d4e-4c8b-9a6f-0e1d2c3b4a59": ("ml", "train-0", "intel-2socket"),
    "8a7b6c5d-4e3f-4a1b-8c2d-1e0f9a8b7c6d": ("web", "api-0", "intel-2socket"),
    "c0ffee00-1234-4abc-8def-0123456789ab": ("web", "api-1", "amd"),
    "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9": ("ml", "train-1", "vm"),
}
SLURM_USERS = (1000, 1001)  # the uids of the Slurm jobs below


def systemd_pod(qos: str, uid: str) -> str:
    return f"kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{uid.replace('-', '_')}.slice"


GiB = 1 << 30
# node: (cgroup layout, [(cgroup path in each hierarchy, share of the node's busy CPU time, memory in bytes)])
WORKLOADS = {
    "intel-2socket": ("v2", [
        (systemd_pod("burstable", "3f1c2b7a-5d4e-4c8b-9a6f-0e1d2c3b4a59"), 0.3, 64 * GiB),
        (systemd_pod("besteffort", "8a7b6c5d-4e3f-4a1b-8c2d-1e0f9a8b7c6d"), 0.1, 4 * GiB),
    ]),
    "amd": ("hybrid", [
        ("kubepods/burstable/podc0ffee00-1234-4abc-8def-0123456789ab", 0.2, 8 * GiB),
        ("slurm/uid_1001/job_77", 0.5, 32 * GiB),
    ]),
    "vm": ("v1", [
        ("kubepods/pod5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9", 0.2, 1 * GiB),
        ("slurm/uid_1000/job_78", 0.4, 2 * GiB),
    ]),
}
BUSY = 0.5  # the nodes' CPUs are half busy
# Carbon data (issue #13): every node reads an intensity file and counts embodied CO2e, so that the panels of the
# intensity's source, age and staleness, the provider errors and embodied CO2e have data. intel-2socket's file is
# valid for a day (source file, zone DE); amd's expired an hour ago, so its --grid.region preset (FR) stands in,
# marked stale; vm's is a plain number, without a zone or a preset. kg CO2e of the servers, and of each GPU.
GRID_FILES = {
    "intel-2socket": lambda now: json.dumps({"intensity": 250, "zone": "DE", "valid_until": now + 86400}),
    "amd": lambda now: json.dumps({"intensity": 120, "zone": "FR", "valid_until": now - 3600}),
    "vm": lambda now: "300\n",
}
GRID_REGIONS = {"amd": "FR"}
EMBODIED_KG = {"intel-2socket": 1300, "amd": 1000, "vm": 500}
EMBODIED_GPU_KG = 150
LIFETIME_SECONDS = 4 * 365 * 86400  # the default --embodied.lifetime, 4y
# What the cluster runs, besides exporters and the shipped rules, in the terms of dashboard_queries.needs().
PROVIDED = frozenset({"attribution", "kube-state-metrics", "slurm", "embodied", "live-grid"})

START_TIMEOUT = 30  # seconds for the exporters and Prometheus to answer
# Seconds for every query to have data. The rules tile windows over an hour with 5-minute rates, evaluated every 2
# minutes (footprint-budget-windows): a young cluster has them from its first 5-minute boundary on, up to 7 minutes
# after Prometheus starts.
DATA_TIMEOUT = 480


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 5) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def write_atomically(path: Path, text: str) -> None:
    """The exporter never reads a half-written file: a temporary file renamed over the old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def user_name(uid: int) -> str:
    """The `user` label the exporter gives a Slurm job of `uid`: its name through NSS, else its number."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


class NodeLoad:
    """One fixture node's moving counters: the aggregate `cpu` line of its /proc/stat (busy and idle ticks) and
    each workload's CPU time, all as functions of the time since start, so they only ever grow."""

    def __init__(self, tree: Path, layout: str, workloads: list[tuple[str, float, int]]):
        self.stat = tree / "proc" / "stat"
        lines = self.stat.read_text().splitlines(keepends=True)
        self.head, self.rest = lines[0].split(), lines[1:]
        assert self.head[0] == "cpu", f"{self.stat} starts with {lines[0]!r}"
        self.cpus = sum(1 for line in self.rest if re.match(r"cpu\d+ ", line))
        self.ticks = os.sysconf("SC_CLK_TCK")
        self.counters: list[tuple[Path, str, float]] = []  # file, format, CPU seconds per second
        cgroup = tree / "cgroup"
        if layout == "v2":
            write_atomically(cgroup / "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")
        else:
            if layout == "hybrid":
                write_atomically(cgroup / "unified" / "cgroup.controllers", "")
            for name, value in (("cpu,cpuacct/cpuacct.usage", 0), ("memory/memory.usage_in_bytes", 100 * GiB)):
                write_atomically(cgroup / name, f"{value}\n")
        for path, share, memory in workloads:
            seconds = self.cpus * BUSY * share
            if layout == "v2":
                write_atomically(cgroup / path / "memory.current", f"{memory}\n")
                self.counters.append((cgroup / path / "cpu.stat", "usage_usec {us}\nuser_usec {us}\nsystem_usec 0\n",
                                      seconds))
            else:
                write_atomically(cgroup / "memory" / path / "memory.usage_in_bytes", f"{memory}\n")
                self.counters.append((cgroup / "cpu,cpuacct" / path / "cpuacct.usage", "{ns}\n", seconds))

    def advance(self, elapsed: float) -> None:
        head = [int(v) for v in self.head[1:]]
        head[0] += int(elapsed * self.ticks * self.cpus * BUSY)  # user
        head[3] += int(elapsed * self.ticks * self.cpus * (1 - BUSY))  # idle
        write_atomically(self.stat, "cpu  " + " ".join(map(str, head)) + "\n" + "".join(self.rest))
        for path, form, seconds in self.counters:
            write_atomically(path, form.format(us=int(elapsed * seconds * 1e6), ns=int(elapsed * seconds * 1e9)))


class Load(threading.Thread):
    """Advances every node's counters every 50 ms until stopped."""

    def __init__(self, nodes: list[NodeLoad]):
        super().__init__(name="fixture-load", daemon=True)
        self.nodes = nodes
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.start_time = time.monotonic()
        for node in nodes:
            node.advance(0)

    def run(self) -> None:
        try:
            while not self.stopping.wait(0.05):
                elapsed = time.monotonic() - self.start_time
                for node in self.nodes:
                    node.advance(elapsed)
        except BaseException as error:  # noqa: BLE001 - reported by check()
            self.error = error

    def check(self) -> None:
        if self.error is not None or not self.is_alive():
            pytest.fail(f"the fixture load thread stopped: {self.error!r}")


def kube_pod_info() -> bytes:
    """What kube-state-metrics would say of the fixture pods (one series per pod; the rules reduce replicas)."""
    lines = ["# HELP kube_pod_info Information about pod.", "# TYPE kube_pod_info gauge"]
    for uid, (namespace, pod, node) in PODS.items():
        lines.append(f'kube_pod_info{{namespace="{namespace}",pod="{pod}",uid="{uid}",node="{node}",'
                     f'created_by_kind="StatefulSet",created_by_name="{pod.rsplit("-", 1)[0]}",priority_class="",'
                     f'host_network="false"}} 1')
    return ("\n".join(lines) + "\n").encode()


def serve_static_metrics(body: bytes) -> http.server.ThreadingHTTPServer:
    """A stand-in for kube-state-metrics on 127.0.0.1: `body` at /metrics, in the Prometheus text format."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, name="kube-state-metrics", daemon=True).start()
    return server


def wait_until(what: str, check, timeout: float, processes=()):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        for name, process, log in processes:
            if process.poll() is not None:
                log_tail = log.read_text()[-3000:]
                pytest.fail(f"{name} exited with {process.returncode} while waiting for {what}:\n{log_tail}")
        try:
            result = check()
            if result:
                return result
            last = result
        except (OSError, urllib.error.URLError, ValueError) as error:
            last = error
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


class Cluster:
    """Processes it started, stopped in `close` whatever happens."""

    def __init__(self, root: Path):
        self.root = root
        self.processes: list[tuple[str, subprocess.Popen, Path]] = []
        self.instances: list[str] = []
        self.nodes: dict[str, str] = {}  # instance: node
        self.prometheus = ""
        self.load: Load | None = None
        self.servers: list[http.server.ThreadingHTTPServer] = []

    def start(self, name: str, args: list[str], env=None) -> None:
        log = self.root / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.processes.append((name, process, log))

    def close(self) -> None:
        if self.load is not None:
            self.load.stopping.set()
            self.load.join(timeout=10)
        for server in self.servers:
            server.shutdown()
            server.server_close()
        for _, process, _ in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _, process, _ in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def query(self, expr: str, at: float | None = None) -> list[dict]:
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        url = f"{self.prometheus}/api/v1/query?{urllib.parse.urlencode(params)}"
        try:
            body = json.loads(get(url))
        except urllib.error.HTTPError as error:
            body = json.loads(error.read() or b"{}")
        assert body.get("status") == "success", f"{expr}: {body}"
        return body["data"]["result"]


def build_fake_nvml(root: Path) -> Path | None:
    script = REPO / "Tests" / "Fixtures" / "fake-nvml" / "build.sh"
    if shutil.which(os.environ.get("CC", "cc")) is None or not script.exists():
        return None
    result = subprocess.run(["sh", str(script), str(root / "fake-nvml")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not BINARY.exists():
        pytest.skip(f"exporter binary {BINARY} not built (set FOOTPRINT_BINARY or run swift build)")
    if not Path(PROMETHEUS).exists():
        pytest.fail(f"{PROMETHEUS} not found: apt-get install -y prometheus")
    root = tmp_path_factory.mktemp("cluster")
    config = root / "footprint.yml"
    config.write_text(yaml.safe_dump(CONFIG))
    nvml = build_fake_nvml(root)
    (root / "gpus.txt").write_text(FAKE_GPUS)

    cluster = Cluster(root)
    try:
        loads = []
        for fixture in FIXTURES:
            source = REPO / "Tests" / "Fixtures" / fixture
            assert (source / "sys").is_dir() and (source / "proc").is_dir(), f"fixture {source} is missing"
            shutil.copytree(source, root / fixture, symlinks=True)
            loads.append(NodeLoad(root / fixture, *WORKLOADS[fixture]))
        cluster.load = Load(loads)
        cluster.load.start()
        kube_state_metrics = serve_static_metrics(kube_pod_info())
        cluster.servers.append(kube_state_metrics)

        for index, fixture in enumerate(FIXTURES):
            tree = root / fixture
            port = free_port()
            args = [str(BINARY), f"--web.listen-address=127.0.0.1:{port}", f"--path.sysfs={tree / 'sys'}",
                    f"--path.procfs={tree / 'proc'}", f"--path.cgroupfs={tree / 'cgroup'}",
                    "--sample.interval=100ms", f"--config.file={config}"]
            grid = root / "grid" / fixture / "intensity.json"
            write_atomically(grid, GRID_FILES[fixture](time.time()))
            args += [f"--grid.intensity.file={grid}", f"--embodied.kgco2e={EMBODIED_KG[fixture]}",
                     f"--embodied.gpu-kgco2e={EMBODIED_GPU_KG}"]
            if fixture in GRID_REGIONS:
                args.append(f"--grid.region={GRID_REGIONS[fixture]}")
            env = dict(os.environ)
            if index == 0 and nvml is not None:
                args.append(f"--collector.nvml.library={nvml}")
                env["FAKE_NVML_SCRIPT"] = str(root / "gpus.txt")
            else:
                # Never the machine's own NVML: the fixture trees describe these nodes completely.
                args.append("--no-collector.nvml")
            cluster.start(f"exporter-{fixture}", args, env)
            cluster.instances.append(f"127.0.0.1:{port}")
            cluster.nodes[f"127.0.0.1:{port}"] = fixture

        port = free_port()
        cluster.prometheus = f"http://127.0.0.1:{port}"
        (root / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [
                # Each target labelled with its node, as deploy/prometheus/prometheus.example.yml shows for
                # targets given by address: the rules and dashboards key on `node`.
                {"job_name": JOB, "static_configs": [{"targets": [instance], "labels": {"node": node}}
                                                      for instance, node in cluster.nodes.items()]},
                {"job_name": KSM_JOB, "honor_labels": True,
                 "static_configs": [{"targets": [f"127.0.0.1:{kube_state_metrics.server_address[1]}"]}]},
            ],
        }))
        cluster.start("prometheus", [
            PROMETHEUS, f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={root / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"])

        for instance in cluster.instances:
            scraped = lambda i=instance: b"footprint_build_info" in get(f"http://{i}/metrics")  # noqa: E731
            wait_until(f"{instance}/metrics", scraped, START_TIMEOUT, cluster.processes)
        wait_until("Prometheus ready", lambda: get(f"{cluster.prometheus}/-/ready"), START_TIMEOUT, cluster.processes)

        def targets_up():
            active = json.loads(get(f"{cluster.prometheus}/api/v1/targets"))["data"]["activeTargets"]
            return len(active) == len(FIXTURES) + 1 and all(t["health"] == "up" for t in active)

        wait_until("all targets up", targets_up, START_TIMEOUT, cluster.processes)
        yield cluster
    finally:
        cluster.close()


def all_values(path: Path) -> dict[str, str]:
    """What Grafana sends for each variable with "All" selected: its allValue."""
    return {v["name"]: v["allValue"] for v in json.loads(path.read_text())["templating"]["list"] if v.get("includeAll")}


def panel_queries(cluster: Cluster) -> list[tuple[str, str, str]]:
    """(label, PromQL, node) of every panel query, variables filled in as Grafana would: the node dashboard once per
    node, the cluster dashboard with "All" (each variable's allValue), short ranges for a young cluster."""
    values = {"__range": "1m", "__rate_interval": "30s", "__interval": "15s"}
    found = []
    for path in dashboard_queries.DASHBOARDS:
        for query in dashboard_queries.queries(path):
            nodes = sorted(cluster.nodes.values()) if 'node="$node"' in query.expr else [".*"]
            for node in nodes:
                filled = values | all_values(path) | {"job": JOB} | ({"node": node} if node != ".*" else {})
                expr = dashboard_queries.substitute(query.expr, filled)
                found.append((f"{query.dashboard} / {query.panel} [{query.ref_id}] {node}", expr, node))
    return found


def needs_an_hour(expr: str) -> bool:
    """Per-node totals over the range sum node:*:increase1h hour by hour ([$__range:1h]): a cluster younger than an
    hour has no whole hour to show."""
    return ":1h])" in expr


def needs_gpus(expr: str) -> bool:
    return "footprint_gpu_info" in expr or 'domain="gpu"' in expr


def settled(cluster: Cluster, *exprs: str) -> float:
    """A time, 3 s in the past, at which every expr has data. Comparisons read at such a time: by then all
    rules of one evaluation have been written, and each has data whatever order the tests run in."""

    def ready():
        at = time.time() - 3
        return at if all(cluster.query(expr, at=at) for expr in exprs) else None

    return wait_until(f"data for {exprs}", ready, DATA_TIMEOUT, cluster.processes)


def test_rules_load_and_evaluate_without_errors(cluster):
    shipped = sum(len(g["rules"]) for g in yaml.safe_load(RULES.read_text())["groups"])

    def evaluated():
        groups = json.loads(get(f"{cluster.prometheus}/api/v1/rules"))["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        return rules if len(rules) == shipped and all(r["health"] != "unknown" for r in rules) else None

    rules = wait_until("every rule evaluated", evaluated, DATA_TIMEOUT, cluster.processes)
    broken = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
    assert broken == {}


def test_every_dashboard_query_has_data(cluster):
    queries = panel_queries(cluster)
    assert len(queries) > 30
    # Every query needs only what this cluster runs: a panel that needs something new fails here, by name,
    # rather than as a query without data.
    unmet = [(label, sorted(dashboard_queries.needs(expr) - PROVIDED)) for label, expr, _ in queries
             if dashboard_queries.needs(expr) - PROVIDED]
    assert not unmet, unmet
    # The only exemption: GPU panels are empty on a node without GPUs (amd, vm), and everywhere when no C compiler
    # built the fake NVML. Everything else, the workload panels per node, namespace and Slurm user included, has
    # data: every node runs workloads, kube-state-metrics names the pods and the Slurm jobs have users.
    with_gpus = {s["metric"]["node"] for s in cluster.query(
        'count by (node) (footprint_domain_power_watts{domain="gpu"})')}
    # Measured domains leave estimates out: empty on vm, whose CPU and DRAM power are only estimated.
    measuring = {s["metric"]["node"] for s in cluster.query(
        'count by (node) (footprint_domain_power_watts{domain!="gpu", source!="estimate"})')}

    def may_be_empty(expr: str, node: str) -> bool:
        if needs_an_hour(expr):
            return True
        if 'source!="estimate"' in expr and node != ".*":
            return node not in measuring
        return needs_gpus(expr) and (node not in with_gpus if node != ".*" else not with_gpus)

    def without_data():
        cluster.load.check()
        return [(label, expr) for label, expr, node in queries
                if not may_be_empty(expr, node) and not cluster.query(expr)]

    deadline = time.monotonic() + DATA_TIMEOUT
    missing = without_data()
    while missing and time.monotonic() < deadline:
        time.sleep(2)
        missing = without_data()
    assert not missing, "queries without data:\n" + "\n".join(f"{label}: {expr}" for label, expr in missing)


def test_template_variables_have_values(cluster):
    for path in dashboard_queries.DASHBOARDS:
        variables = json.loads(path.read_text())["templating"]["list"]
        for variable in variables:
            if variable["type"] != "query":
                continue
            match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", variable["query"])
            selector = dashboard_queries.substitute(match.group(1), {"job": JOB, "node": ".*"})
            query = urllib.parse.urlencode({"match[]": selector})
            url = f"{cluster.prometheus}/api/v1/label/{match.group(2)}/values?{query}"
            values = json.loads(get(url))["data"]
            expected = sorted(FIXTURES) if match.group(2) == "node" else [JOB]
            assert sorted(values) == expected, variable["query"]
            # "All" is one regex that matches every value (and the job's every node), never a list of them.
            if variable.get("includeAll"):
                assert variable["allValue"] in {".*", ".+"}, variable["name"]
                assert all(re.fullmatch(variable["allValue"], value) for value in values), variable["name"]


def test_panels_key_on_node_not_instance(cluster):
    """No panel groups, joins, filters or names series by `instance`, which changes whenever an exporter pod is
    replaced: read from every query and legend, and from what Prometheus answers, where no two series of a panel
    query may differ by their instance alone (two rows, or two lines, for one node)."""
    for path in dashboard_queries.DASHBOARDS:
        for query in dashboard_queries.queries(path):
            assert dashboard_queries.instance_uses(query.expr) == [], query
            assert "instance" not in query.legend, query
        for annotation in dashboard_queries.annotations(json.loads(path.read_text())):
            assert dashboard_queries.instance_uses(annotation["expr"]) == [], annotation
    settled(cluster, f'cluster:footprint_co2e_budget_used:ratio{{job="{JOB}"}}')
    for label, expr, _ in panel_queries(cluster):
        keys = [tuple(sorted((k, v) for k, v in s["metric"].items() if k != "instance")) for s in cluster.query(expr)]
        assert len(keys) == len(set(keys)), f"{label}: series that differ by instance only: {expr}"


def test_annotation_queries_run(cluster):
    # Firing alerts and PUE or intensity changes: usually none here, but every query must be valid PromQL that
    # Prometheus answers.
    for path in dashboard_queries.DASHBOARDS:
        for annotation in dashboard_queries.annotations(json.loads(path.read_text())):
            # The node dashboard has no "All" for node: one node's annotations, as it shows them.
            values = {"node": sorted(cluster.nodes.values())[0]} | all_values(path) | {"job": JOB}
            cluster.query(dashboard_queries.substitute(annotation["expr"], values))


def test_cluster_co2e_rate_is_the_sum_of_node_rates(cluster):
    at = settled(cluster, f'count(count by (node) (node:footprint_co2e_grams:rate5m{{job="{JOB}"}})) == 3',
                 f'cluster:footprint_co2e_grams:rate5m{{job="{JOB}"}}')
    node = cluster.query(f'sum(node:footprint_co2e_grams:rate5m{{job="{JOB}"}})', at=at)
    total = cluster.query(f'sum(cluster:footprint_co2e_grams:rate5m{{job="{JOB}"}})', at=at)
    (node,), (total,) = node, total
    assert float(total["value"][1]) > 0, "the estimate node emits, so the cluster does"
    assert math.isclose(float(total["value"][1]), float(node["value"][1]), rel_tol=1e-9)
    # The rule against the raw counters at the rule's own timestamp: a young series' rate grows with every
    # scrape, and a scrape may land just after the evaluation, hence the loose tolerance.
    stamp = f'timestamp(cluster:footprint_co2e_grams:rate5m{{job="{JOB}", component="cpu"}})'
    (evaluated,) = cluster.query(stamp, at=at)
    (raw,) = cluster.query(f'sum(rate(footprint_co2e_grams_total{{job="{JOB}"}}[5m]))', at=float(evaluated["value"][1]))
    assert math.isclose(float(total["value"][1]), float(raw["value"][1]), rel_tol=0.25)
    by_component = cluster.query(f'cluster:footprint_co2e_grams:rate5m{{job="{JOB}"}}', at=at)
    assert {s["metric"]["component"] for s in by_component} == {"cpu", "dram", "gpu"}


def emission_history(cluster: Cluster, at: float) -> str:
    """What Prometheus holds of every CO2e counter up to `at`, and the tail of each process's log: the context a
    failed comparison of emission figures needs."""
    lines = []
    for series in cluster.query('footprint_co2e_grams_total[1h]', at=at):
        values = series["values"]
        first, last = values[0], values[-1]
        lines.append(f'{series["metric"].get("instance")} {series["metric"].get("component")}: {len(values)} samples, '
                     f'{first[1]} at {first[0]} .. {last[1]} at {last[0]}')
    for name, _, log in cluster.processes:
        lines.append(f"--- {name} log tail:\n{log.read_text()[-1500:]}")
    return "\n".join(lines)


def when_emitting(cluster: Cluster, expr: str) -> float:
    """A settled time at which `expr` has data and every series of it is positive: the rules have seen the
    counters move. Comparisons then never read an evaluation made before the first increase was scraped, whatever
    the timing of the machine; counters that never move still fail, after DATA_TIMEOUT, with their history."""

    def positive():
        at = time.time() - 3
        result = cluster.query(expr, at=at)
        return at if result and all(float(s["value"][1]) > 0 for s in result) else None

    try:
        return wait_until(f"{expr} positive", positive, DATA_TIMEOUT, cluster.processes)
    except pytest.fail.Exception as failure:
        at = time.time() - 3
        pytest.fail(f"{failure}\nat {at:.3f}: {cluster.query(expr, at=at)}\n{emission_history(cluster, at)}")


def test_long_windows_have_data_from_a_short_history(cluster):
    windows = ("1h", "24h", "7d", "30d")
    settled(cluster, *(f'cluster:footprint_co2e_grams:increase{w}{{job="{JOB}"}}' for w in windows))
    at = when_emitting(cluster, " and ".join(
        f'sum(cluster:footprint_co2e_grams:increase{w}{{job="{JOB}"}}) > 0' for w in windows))
    values = {}
    for window in windows:
        result = cluster.query(f'sum(cluster:footprint_co2e_grams:increase{window}{{job="{JOB}"}})', at=at)
        assert result, window
        values[window] = float(result[0]["value"][1])
    # Every window holds the whole (short) history, so the tiled ones (24h, 7d, 30d: 5-minute rates up to the
    # last 5-minute boundary) agree exactly, and hold no more than the last hour read from the raw counters up to
    # now; none invents emissions for the days before the exporters started.
    for window in ("7d", "30d"):
        assert math.isclose(values[window], values["24h"], rel_tol=1e-9), values
    assert values["24h"] <= values["1h"] * 1.05, values
    emitted = float(cluster.query(f'sum(footprint_co2e_grams_total{{job="{JOB}"}})', at=at)[0]["value"][1])
    assert values["1h"] <= emitted * 1.05, (values, emitted)


def test_budgets_join_their_windows(cluster):
    settled(cluster, f'cluster:footprint_co2e_budget_used:ratio{{job="{JOB}"}}',
            f'cluster:footprint_co2e_budget_burn:ratio_rate5m{{job="{JOB}"}}')
    at = when_emitting(cluster, f'cluster:footprint_co2e_budget_burn:ratio_rate5m{{job="{JOB}"}}')
    used = cluster.query(f'cluster:footprint_co2e_budget_used:ratio{{job="{JOB}"}}', at=at)
    assert {(s["metric"]["budget"], s["metric"]["window"], s["metric"]["scope"]) for s in used} == {
        ("team-a", "24h", "node"), ("team-a", "30d", "node"), ("team-b", "7d", "node"), ("pods", "30d", "workloads")}
    burn = cluster.query(f'cluster:footprint_co2e_budget_burn:ratio_rate5m{{job="{JOB}"}}', at=at)
    assert len(burn) == 4 and all(float(s["value"][1]) > 0 for s in burn), (burn, emission_history(cluster, at))
    # The team's budget burns at its pods' rate, a part of the cluster's: less than a cluster budget of the same
    # size would.
    team = cluster.query(f'cluster:footprint_budget_co2e_grams:rate5m{{job="{JOB}", budget="pods"}}', at=at)
    whole = cluster.query(f'sum(cluster:footprint_co2e_grams:rate5m{{job="{JOB}"}})', at=at)
    assert 0 < float(team[0]["value"][1]) < float(whole[0]["value"][1]), (team, whole)
    quiet = ("FootprintCO2eBudgetWindowUnsupported", "FootprintCO2eBudgetConfigDrift", "FootprintExporterDown",
             "FootprintSamplingStale")
    for alert in quiet:
        assert cluster.query(f'ALERTS{{alertname="{alert}"}}') == [], alert


def test_workload_views_name_namespaces_and_users(cluster):
    """The namespace and user rules join every fixture pod with kube_pod_info and every Slurm job with its user,
    losing no energy on the way: kube-state-metrics knows every pod, and every job has a user."""
    namespaces = f'namespace:footprint_workload_co2e_grams:rate5m{{job="{JOB}"}}'
    users = f'user:footprint_workload_co2e_grams:rate5m{{job="{JOB}"}}'
    expected_users = {user_name(uid) for uid in SLURM_USERS}

    def joined():
        # A job's user reads as its uid until the exporter's NSS lookup answers, from a later sample on. Read 3 s
        # back, as when_emitting does, so that the times read below are past that too.
        at = time.time() - 3
        found_namespaces = {s["metric"].get("namespace") for s in cluster.query(namespaces, at=at)}
        found_users = {s["metric"].get("user") for s in cluster.query(users, at=at)}
        return (found_namespaces, found_users) == ({"ml", "web"}, expected_users)

    wait_until("a series per namespace and per user", joined, DATA_TIMEOUT, cluster.processes)
    at = when_emitting(cluster, f"{namespaces} or {users}")
    assert {s["metric"]["namespace"] for s in cluster.query(namespaces, at=at)} == {"ml", "web"}
    assert {s["metric"]["user"] for s in cluster.query(users, at=at)} == expected_users
    # Each view against the raw counters at the rule's own timestamp (loosely, as for the cluster rate).
    for view, kind in ((namespaces, "pod"), (users, "slurm_job")):
        (total,) = cluster.query(f"sum({view})", at=at)
        (evaluated,) = cluster.query(f"max(timestamp({view}))", at=at)
        (raw,) = cluster.query(f'sum(rate(footprint_workload_co2e_grams_total{{job="{JOB}", kind="{kind}"}}[5m]))',
                               at=float(evaluated["value"][1]))
        assert math.isclose(float(total["value"][1]), float(raw["value"][1]), rel_tol=0.25), (view, total, raw)


def test_carbon_data_views(cluster):
    """The cluster dashboard's intensity table (intensity joined with its source on node, age, staleness) as Grafana
    queries it, the stale alert on real data, and embodied CO2e beside the operational: their recorded sum is
    exactly both, and the embodied rate is what the nodes' kg over 4 years give."""
    (table,) = [p for p in dashboard_queries.panels(json.loads((REPO / "grafana/dashboards/cluster.json").read_text()))
                if p["title"] == "Grid intensity by node"]
    values = {"job": JOB, "node": ".+"}
    intensity, age, stale = (dashboard_queries.substitute(t["expr"], values) for t in table["targets"])

    def read():
        rows = {s["metric"]["node"]: (s["metric"]["source"], s["metric"].get("zone", ""), float(s["value"][1]))
                for s in cluster.query(intensity)}
        return rows if len(rows) == 3 else None

    rows = wait_until("an intensity per node", read, START_TIMEOUT, cluster.processes)
    (fr,) = cluster.query(f'footprint_grid_intensity_grams_per_kwh{{job="{JOB}", node="amd"}}')
    assert rows == {"intel-2socket": ("file", "DE", 250.0), "amd": ("region", "FR", float(fr["value"][1])),
                    "vm": ("file", "", 300.0)}
    assert float(fr["value"][1]) not in (120.0, 432.7)  # the preset, neither the expired file nor the default
    assert {s["metric"]["node"]: float(s["value"][1]) for s in cluster.query(stale)} == {
        "intel-2socket": 0, "amd": 1, "vm": 0}
    assert {s["metric"]["node"] for s in cluster.query(age)} == set(FIXTURES)
    # Stale for less than its 10 minutes: pending, on amd only.
    pending = wait_until("FootprintGridIntensityStale pending", lambda: cluster.query(
        'ALERTS{alertname="FootprintGridIntensityStale"}'), START_TIMEOUT, cluster.processes)
    assert [(s["metric"]["node"], s["metric"]["alertstate"]) for s in pending] == [("amd", "pending")]
    for alert in ("FootprintGridProviderFailing", "FootprintGridProviderUnauthorized", "FootprintGridIntensityFileInvalid"):
        assert cluster.query(f'ALERTS{{alertname="{alert}"}}') == [], alert

    embodied = f'cluster:footprint_embodied_co2e_grams:rate5m{{job="{JOB}"}}'
    at = when_emitting(cluster, embodied)
    (total,) = cluster.query(f'cluster:footprint_co2e_with_embodied_grams:rate5m{{job="{JOB}"}}', at=at)
    (operational,) = cluster.query(f'sum(cluster:footprint_co2e_grams:rate5m{{job="{JOB}"}})', at=at)
    (embodied_rate,) = cluster.query(embodied, at=at)
    assert math.isclose(float(total["value"][1]), float(operational["value"][1]) + float(embodied_rate["value"][1]),
                        rel_tol=1e-9)
    # The rule against the raw counters at its own timestamp, loosely as for the CO2e rate (a young series' 5-minute
    # rate grows with every scrape); and the counters against the nodes' kg: straight-line amortisation over wall-clock
    # time, the same rate whatever the load: each counter's rise over its samples of the last 30 s, once they span 10 s.
    (evaluated,) = cluster.query(f"timestamp({embodied})", at=at)
    (raw,) = cluster.query(f'sum(rate(footprint_embodied_co2e_grams_total{{job="{JOB}"}}[5m]))',
                           at=float(evaluated["value"][1]))
    assert math.isclose(float(embodied_rate["value"][1]), float(raw["value"][1]), rel_tol=0.25), (embodied_rate, raw)
    gpus = {s["metric"]["node"]: int(s["value"][1]) for s in cluster.query('count by (node) (footprint_gpu_info)', at=at)}
    expected = sum((EMBODIED_KG[n] + gpus.get(n, 0) * EMBODIED_GPU_KG) * 1000 / LIFETIME_SECONDS for n in FIXTURES)

    def measured():
        series = cluster.query(f'footprint_embodied_co2e_grams_total{{job="{JOB}"}}[30s]', at=time.time() - 3)
        spans = [(s["values"][0], s["values"][-1]) for s in series]
        if len(spans) != len(FIXTURES) or any(last[0] - first[0] < 10 for first, last in spans):
            return None
        return sum((float(last[1]) - float(first[1])) / (last[0] - first[0]) for first, last in spans)

    rate = wait_until("10 s of embodied CO2e on every node", measured, START_TIMEOUT, cluster.processes)
    assert math.isclose(rate, expected, rel_tol=0.05), (rate, expected)
