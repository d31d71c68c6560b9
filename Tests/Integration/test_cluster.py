"""The cluster view against a real Prometheus: three exporters on fixture trees, Prometheus scraping them every
second with the shipped rules, and every dashboard query answered with data.

Needs the exporter binary (FOOTPRINT_BINARY, default .build/debug/footprint_exporter; skipped without it) and
Debian's `prometheus` (/usr/bin/prometheus). A C compiler, if present, builds the fake NVML library of
Tests/Fixtures/fake-nvml so that the GPU panels have GPUs to show."""

import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
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
]}
# Two GPUs for the node that loads the fake NVML library.
FAKE_GPUS = (
    "gpu index=0 uuid=GPU-11111111-2222-3333-4444-555555555555 name=NVIDIA_H100_80GB_HBM3"
    " energy_mj=1000000 power_mw=300000\n"
    "gpu index=1 uuid=GPU-66666666-7777-8888-9999-000000000000 name=NVIDIA_H100_80GB_HBM3"
    " energy_mj=2000000 power_mw=250000\n"
)

START_TIMEOUT = 30  # seconds for the exporters and Prometheus to answer
DATA_TIMEOUT = 90  # seconds for every query to have data


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 5) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


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
        self.prometheus = ""

    def start(self, name: str, args: list[str], env=None) -> None:
        log = self.root / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.processes.append((name, process, log))

    def close(self) -> None:
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
        for index, fixture in enumerate(FIXTURES):
            source = REPO / "Tests" / "Fixtures" / fixture
            assert (source / "sys").is_dir() and (source / "proc").is_dir(), f"fixture {source} is missing"
            tree = root / fixture
            shutil.copytree(source, tree, symlinks=True)
            port = free_port()
            args = [str(BINARY), f"--web.listen-address=127.0.0.1:{port}", f"--path.sysfs={tree / 'sys'}",
                    f"--path.procfs={tree / 'proc'}", "--sample.interval=100ms", f"--config.file={config}"]
            env = dict(os.environ)
            if index == 0 and nvml is not None:
                args.append(f"--collector.nvml.library={nvml}")
                env["FAKE_NVML_SCRIPT"] = str(root / "gpus.txt")
            else:
                # Never the machine's own NVML: the fixture trees describe these nodes completely.
                args.append("--no-collector.nvml")
            cluster.start(f"exporter-{fixture}", args, env)
            cluster.instances.append(f"127.0.0.1:{port}")

        port = free_port()
        cluster.prometheus = f"http://127.0.0.1:{port}"
        (root / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": cluster.instances}]}],
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
            return len(active) == len(FIXTURES) and all(t["health"] == "up" for t in active)

        wait_until("all targets up", targets_up, START_TIMEOUT, cluster.processes)
        yield cluster
    finally:
        cluster.close()


def panel_queries(cluster: Cluster) -> list[tuple[str, str, str]]:
    """(label, PromQL, instance) of every panel query, variables filled in as Grafana would: the node dashboard
    once per instance, `=~"$instance"` as its "All" (.*), $node as its All (.*), short ranges for a young
    cluster."""
    values = {"job": JOB, "node": ".*", "__range": "1m", "__rate_interval": "30s", "__interval": "15s"}
    found = []
    for path in dashboard_queries.DASHBOARDS:
        for query in dashboard_queries.queries(path):
            instances = cluster.instances if 'instance="$instance"' in query.expr else [".*"]
            for instance in instances:
                expr = dashboard_queries.substitute(query.expr, values | {"instance": instance})
                found.append((f"{query.dashboard} / {query.panel} [{query.ref_id}] {instance}", expr, instance))
    return found


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
    # GPU panels are empty on a node without GPUs, and everywhere when no C compiler built the fake NVML.
    with_gpus = {s["metric"]["instance"] for s in cluster.query(
        'count by (instance) (footprint_domain_power_watts{domain="gpu"})')}

    def may_be_empty(expr: str, instance: str) -> bool:
        return needs_gpus(expr) and (instance not in with_gpus if instance != ".*" else not with_gpus)

    def without_data():
        return [(label, expr) for label, expr, instance in queries
                if not may_be_empty(expr, instance) and not cluster.query(expr)]

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
            if variable["type"] != "query" or variable["name"] == "node":  # node comes from relabelling only
                continue
            match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", variable["query"])
            selector = dashboard_queries.substitute(match.group(1), {"job": JOB, "node": ".*"})
            query = urllib.parse.urlencode({"match[]": selector})
            url = f"{cluster.prometheus}/api/v1/label/{match.group(2)}/values?{query}"
            values = json.loads(get(url))["data"]
            expected = sorted(cluster.instances) if match.group(2) == "instance" else [JOB]
            assert sorted(values) == expected, variable["query"]


def test_cluster_co2e_rate_is_the_sum_of_node_rates(cluster):
    at = settled(cluster, f'count(count by (instance) (node:footprint_co2e_grams:rate5m{{job="{JOB}"}})) == 3',
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
    # Every window holds the whole (short) history, so they all agree, and none invents emissions for the
    # days before the exporters started.
    for window, value in values.items():
        assert math.isclose(value, values["1h"], rel_tol=1e-9), values
    emitted = float(cluster.query(f'sum(footprint_co2e_grams_total{{job="{JOB}"}})', at=at)[0]["value"][1])
    assert values["30d"] <= emitted * 1.05, (values, emitted)


def test_budgets_join_their_windows(cluster):
    settled(cluster, f'cluster:footprint_co2e_budget_used:ratio{{job="{JOB}"}}',
            f'cluster:footprint_co2e_budget_burn:ratio_rate5m{{job="{JOB}"}}')
    at = when_emitting(cluster, f'cluster:footprint_co2e_budget_burn:ratio_rate5m{{job="{JOB}"}}')
    used = cluster.query(f'cluster:footprint_co2e_budget_used:ratio{{job="{JOB}"}}', at=at)
    assert {(s["metric"]["budget"], s["metric"]["window"]) for s in used} == {("team-a", "24h"), ("team-a", "30d")}
    burn = cluster.query(f'cluster:footprint_co2e_budget_burn:ratio_rate5m{{job="{JOB}"}}', at=at)
    assert len(burn) == 2 and all(float(s["value"][1]) > 0 for s in burn), (burn, emission_history(cluster, at))
    quiet = ("FootprintCO2eBudgetWindowUnsupported", "FootprintCO2eBudgetConfigDrift", "FootprintExporterDown",
             "FootprintSamplingStale")
    for alert in quiet:
        assert cluster.query(f'ALERTS{{alertname="{alert}"}}') == [], alert
