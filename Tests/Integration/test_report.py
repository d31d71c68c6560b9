"""`footprint_exporter report` against a real Prometheus holding six hours of two nodes' counters.

The counters are generated here from known power (watts per workload and component, switched on and off at whole
hours; one exporter restart that resets a counter; a Slurm job whose series begins inside the range), backfilled
with `promtool tsdb create-blocks-from openmetrics`, and served by Debian's `prometheus`. The report's numbers are
compared with the energy those powers give, and its Markdown, CSV and JSON with golden files
(Tests/Integration/golden/; UPDATE_GOLDEN=1 rewrites them). Nothing in the data depends on the clock: the range
is 2026-11-01 00:00–06:00 UTC, kept by a ten-year retention.

A second Prometheus holds the same counters plus embodied CO2e (an exporter run with --embodied.kgco2e) for node n1
and its pods: the report gains its embodied columns there, and only there.
"""

import contextlib
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BINARY = REPO / ".build" / "debug" / "footprint_exporter"
GOLDEN = Path(__file__).resolve().parent / "golden"
T0 = 1_793_491_200  # 2026-11-01T00:00:00Z
HOUR = 3600
STEP = 15
END = T0 + 6 * HOUR
PUE = 1.58
INTENSITY = 432.7  # g/kWh
FROM, TO = "2026-11-01T00:00:00Z", "2026-11-01T06:00:00Z"

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None or shutil.which("promtool") is None, reason="needs Debian's prometheus")


class Counter:
    """A workload's or a node component's power over the six hours: (watts, from hour, to hour) pieces, and
    optionally a restart of its exporter at `reset_hour` (the counter starts again at zero there), and a first sample
    at `first_hour` (the series begins inside the range)."""

    def __init__(self, pieces, reset_hour=None, first_hour=0):
        self.pieces = pieces
        self.reset_hour = reset_hour
        self.first_hour = first_hour

    def energy(self, t0, t1):
        return sum(w * max(0, min(t1, T0 + b * HOUR) - max(t0, T0 + a * HOUR)) for w, a, b in self.pieces)

    def samples(self, scale=1.0):
        """(time, value) every STEP seconds: the integral of power since the start, or since the restart."""
        start = T0 + self.first_hour * HOUR
        for t in range(start, END + 1, STEP):
            origin = start
            if self.reset_hour is not None and t >= T0 + self.reset_hour * HOUR:
                origin = T0 + self.reset_hour * HOUR
            yield t, self.energy(origin, t) * scale

    def measured(self):
        """What the counters can show: everything, less the step in which the exporter restarted (lost with it)."""
        total = self.energy(T0 + self.first_hour * HOUR, END)
        if self.reset_hour is not None:
            restart = T0 + self.reset_hour * HOUR
            total -= self.energy(restart - STEP, restart)
        return total

    def active_intervals(self):
        start = T0 + self.first_hour * HOUR
        return [(max(start, T0 + a * HOUR), T0 + b * HOUR) for w, a, b in self.pieces if w > 0]


# name: (kind, workload, node, info labels, {component: Counter})
WORKLOADS = {
    "bert-0": ("pod", "0a1b2c3d-0000-4000-8000-000000000001", "n1", {"namespace": "nlp", "pod": "bert-0"},
               {"cpu": Counter([(100, 0, 6)]), "gpu": Counter([(300, 0, 3)])}),
    "bert-1": ("pod", "0a1b2c3d-0000-4000-8000-000000000002", "n1", {"namespace": "nlp", "pod": "bert-1"},
               {"cpu": Counter([(50, 2, 6)], reset_hour=4)}),
    "resnet": ("pod", "0a1b2c3d-0000-4000-8000-000000000003", "n2", {"namespace": "cv", "pod": "resnet"},
               {"cpu": Counter([(20, 0, 6)])}),
    "4242": ("slurm_job", "4242", "n2", {"job_id": "4242", "user": "alice"},
             {"cpu": Counter([(80, 1, 5)], first_hour=1), "gpu": Counter([(250, 2, 4)], first_hour=1)}),
    "4343": ("slurm_job", "4343", "n2", {"job_id": "4343", "user": "bob"}, {"cpu": Counter([(30, 0, 6)])}),
}
NODES = {
    "n1": {"cpu": Counter([(200, 0, 6)]), "dram": Counter([(20, 0, 6)]), "gpu": Counter([(320, 0, 6)])},
    "n2": {"cpu": Counter([(150, 0, 6)]), "dram": Counter([(15, 0, 6)]), "gpu": Counter([(260, 0, 6)])},
}
GRAMS_PER_JOULE = PUE / 3.6e6 * INTENSITY
# Embodied CO2e on n1 only: 1300 kg over 4 × 365 days (docs/embodied.md), in grams a second, split among its
# workloads by their share of its IT power (constant here: 540 W).
EMBODIED_NODES = {"n1"}
EMBODIED_GRAMS_PER_SECOND = 1_300_000 / 126_144_000
NODE_WATTS = {node: sum(w for c in counters.values() for w, _, _ in c.pieces) for node, counters in NODES.items()}


def labels(**pairs):
    return "{" + ",".join(f'{k}="{v}"' for k, v in pairs.items()) + "}"


def openmetrics(embodied=False) -> str:
    """The counters as OpenMetrics; with `embodied`, also the embodied counters of EMBODIED_NODES and their
    workloads."""
    out = []

    def family(name, kind, rows):
        out.append(f"# TYPE {name} {kind}")
        for sample_name, label_text, points in rows:
            for t, value in points:
                out.append(f"{sample_name}{label_text} {value!r} {t}")

    base = {"job": "footprint-exporter"}
    energy, facility, co2e, info, workload_embodied = [], [], [], [], []
    for kind, workload, node, names, counters in WORKLOADS.values():
        ids = dict(base, node=node, kind=kind, workload=workload)
        for component, counter in counters.items():
            energy.append(("footprint_workload_energy_joules_total", labels(**ids, component=component),
                           counter.samples()))
        whole = Counter([p for c in counters.values() for p in c.pieces],
                        first_hour=min(c.first_hour for c in counters.values()))
        reset = [c.reset_hour for c in counters.values() if c.reset_hour is not None]
        whole.reset_hour = reset[0] if reset else None
        facility.append(("footprint_workload_facility_energy_joules_total", labels(**ids), whole.samples(PUE)))
        co2e.append(("footprint_workload_co2e_grams_total", labels(**ids), whole.samples(GRAMS_PER_JOULE)))
        if embodied and node in EMBODIED_NODES:
            # Its share of the node's grams: its joules × the node's grams per joule; reset with its other counters.
            workload_embodied.append(("footprint_workload_embodied_co2e_grams_total", labels(**ids),
                                      whole.samples(EMBODIED_GRAMS_PER_SECOND / NODE_WATTS[node])))
        info_labels = dict(ids, **{k: names.get(k, "") for k in ("namespace", "pod", "job_id", "user", "unit")})
        info.append(("footprint_workload_info", labels(**info_labels),
                     [(t, 1) for t, _ in whole.samples()]))
    family("footprint_workload_energy_joules", "counter", energy)
    family("footprint_workload_facility_energy_joules", "counter", facility)
    family("footprint_workload_co2e_grams", "counter", co2e)
    family("footprint_workload_info", "gauge", info)
    if embodied:
        family("footprint_workload_embodied_co2e_grams", "counter", workload_embodied)
    node_energy, node_facility, node_co2e = [], [], []
    for node, counters in NODES.items():
        for component, counter in counters.items():
            ids = labels(**base, node=node, instance=f"{node}:9636", component=component)
            node_energy.append(("footprint_energy_joules_total", ids, counter.samples()))
            node_facility.append(("footprint_facility_energy_joules_total", ids, counter.samples(PUE)))
            node_co2e.append(("footprint_co2e_grams_total", ids, counter.samples(GRAMS_PER_JOULE)))
    family("footprint_energy_joules", "counter", node_energy)
    family("footprint_facility_energy_joules", "counter", node_facility)
    family("footprint_co2e_grams", "counter", node_co2e)
    if embodied:
        family("footprint_embodied_co2e_grams", "counter",
               [("footprint_embodied_co2e_grams_total", labels(**base, node=node, instance=f"{node}:9636"),
                 Counter([(EMBODIED_GRAMS_PER_SECOND, 0, 6)]).samples()) for node in sorted(EMBODIED_NODES)])
    nlp = [WORKLOADS["bert-0"][4], WORKLOADS["bert-1"][4]]
    budget = Counter([p for counters in nlp for c in counters.values() for p in c.pieces], reset_hour=None)
    family("footprint_budget_co2e_grams", "counter",
           [("footprint_budget_co2e_grams_total", labels(**base, node="n1", budget="team-nlp"),
             budget.samples(GRAMS_PER_JOULE))])
    out.append("# EOF")
    return "\n".join(out) + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, what, timeout=60.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
            last = result
        except OSError as error:
            last = error
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}; last: {last!r}")


@contextlib.contextmanager
def serve(root, counters):
    """A Prometheus serving `counters` (OpenMetrics text) backfilled into `root`; yields its URL."""
    data = root / "data"
    source = root / "counters.om"
    source.write_text(counters)
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
                   check=True, capture_output=True, timeout=300)
    (root / "prometheus.yml").write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
    port = free_port()
    log = (root / "prometheus.log").open("wb")
    process = subprocess.Popen(
        ["prometheus", f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={data}",
         "--storage.tsdb.retention.time=10y", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        def loaded():
            query = urllib.request.urlopen(
                f"{url}/api/v1/query?query=count(footprint_energy_joules_total)&time={END}", timeout=5)
            result = json.loads(query.read())["data"]["result"]
            return result and result[0]["value"][1] == "6"
        wait_until(loaded, "Prometheus to serve the backfilled blocks")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    with serve(tmp_path_factory.mktemp("report"), openmetrics()) as url:
        yield url


@pytest.fixture(scope="module")
def prometheus_embodied(tmp_path_factory):
    with serve(tmp_path_factory.mktemp("report-embodied"), openmetrics(embodied=True)) as url:
        yield url


def report(prometheus, *args, check=True):
    result = subprocess.run([str(BINARY), "report", f"--prometheus.url={prometheus}", f"--from={FROM}", f"--to={TO}",
                             *args], capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def rows(prometheus, *args):
    document = json.loads(report(prometheus, *args, "--format=json").stdout)
    return {row["name"]: row for row in document["rows"]}, document


def kwh(joules):
    return joules / 3.6e6


def expected(names):
    """IT kWh, facility kWh·PUE, kg CO2e and active hours of the workloads `names`, from their powers."""
    joules = sum(c.measured() for name in names for c in WORKLOADS[name][4].values())
    intervals = sorted(i for name in names for c in WORKLOADS[name][4].values() for i in c.active_intervals())
    hours, end = 0.0, None
    for a, b in intervals:
        if end is None or a > end:
            hours += b - a
            end = b
        elif b > end:
            hours += b - end
            end = b
    return kwh(joules), kwh(joules) * PUE, kwh(joules) * PUE * INTENSITY / 1000, hours / HOUR


def close(actual, wanted):
    assert actual == pytest.approx(wanted, rel=1e-9, abs=1e-9), (actual, wanted)


def test_a_namespace_is_its_pods_energy_exactly(prometheus):
    table, document = rows(prometheus, "--by=namespace")
    assert set(table) == {"nlp", "cv"}
    assert document["grouped_by"] == "namespace" and document["from"] == T0 and document["to"] == END
    it, facility, kg, hours = expected(["bert-0", "bert-1"])
    close(table["nlp"]["it_kilowatt_hours"], it)
    close(table["nlp"]["facility_kilowatt_hours"], facility)
    close(table["nlp"]["co2e_kilograms"], kg)
    close(table["nlp"]["hours"], hours)
    assert hours == 6  # bert-0 ran throughout: the pods' hours overlap and are not added
    close(table["nlp"]["average_watts"]["gpu"], 300 * 3 / 6)
    # bert-1's counter restarted at hour 4: the reset is counted from zero, only the restart's step is lost.
    close(table["nlp"]["average_watts"]["cpu"], (100 * 6 * HOUR + 50 * (4 * HOUR - STEP)) / (6 * HOUR))
    close(table["cv"]["co2e_pounds"], expected(["resnet"])[2] * 1000 / 453.59237)
    assert not table["nlp"]["started_inside_range"]


def test_a_slurm_job_a_user_and_a_budget(prometheus):
    job, _ = rows(prometheus, "--job=4242")
    assert set(job) == {"4242"}
    it, facility, kg, hours = expected(["4242"])
    close(job["4242"]["it_kilowatt_hours"], it)
    close(job["4242"]["hours"], hours)
    assert hours == 4 and job["4242"]["started_inside_range"]
    users, _ = rows(prometheus, "--by=user")
    assert set(users) == {"alice", "bob"}
    close(users["bob"]["co2e_kilograms"], expected(["4343"])[2])
    only_alice, _ = rows(prometheus, "--user=alice")
    assert set(only_alice) == {"alice"}
    budgets, _ = rows(prometheus, "--by=budget")
    close(budgets["team-nlp"]["co2e_kilograms"], expected(["bert-0", "bert-1"])[2] + kwh(50 * STEP) * PUE * INTENSITY / 1000)
    nodes, _ = rows(prometheus, "--by=node", "--price.kwh=0.25", "--price.node-hour=3", "--currency=EUR")
    node_joules = sum(c.measured() for c in NODES["n1"].values())
    close(nodes["n1"]["it_kilowatt_hours"], kwh(node_joules))
    close(nodes["n1"]["energy_cost"], kwh(node_joules) * PUE * 0.25)
    close(nodes["n1"]["node_hour_cost"], 6 * 3)


def embodied_kg(names):
    """Embodied kg CO2e of the workloads `names`: their measured joules at their node's embodied grams per joule."""
    grams = 0.0
    for name in names:
        node = WORKLOADS[name][2]
        if node in EMBODIED_NODES:
            joules = sum(c.measured() for c in WORKLOADS[name][4].values())
            grams += joules * EMBODIED_GRAMS_PER_SECOND / NODE_WATTS[node]
    return grams / 1000


EMBODIED_KEYS = {"embodied_co2e_kilograms", "total_co2e_kilograms"}


def operational(row):
    return {k: v for k, v in row.items() if k not in EMBODIED_KEYS}


def test_embodied_counters_add_their_columns_and_change_no_other(prometheus, prometheus_embodied):
    table, document = rows(prometheus_embodied, "--by=namespace")
    plain, plain_document = rows(prometheus, "--by=namespace")
    # nlp's pods ran on n1: bert-0 at 400 W of its 540 W for three hours and 100 W for three; bert-1 at 50 W from
    # hour 2, its counters restarted at hour 4 (the restart's 15 s step is lost, as with its energy).
    wanted = (400 * 3 * HOUR + 100 * 3 * HOUR + 50 * (4 * HOUR - STEP)) / 540 * EMBODIED_GRAMS_PER_SECOND / 1000
    close(embodied_kg(["bert-0", "bert-1"]), wanted)
    close(table["nlp"]["embodied_co2e_kilograms"], wanted)
    close(table["nlp"]["total_co2e_kilograms"], expected(["bert-0", "bert-1"])[2] + wanted)
    assert "embodied_co2e_kilograms" not in table["cv"], "resnet ran on n2, which counts no embodied CO2e"
    close(table["cv"]["total_co2e_kilograms"], table["cv"]["co2e_kilograms"])
    close(document["total"]["embodied_co2e_kilograms"], wanted)
    close(document["total"]["total_co2e_kilograms"], expected(["bert-0", "bert-1", "resnet"])[2] + wanted)
    # The operational columns are those of the same counters without embodied ones.
    assert {k: operational(v) for k, v in table.items()} == plain
    assert operational(document["total"]) == plain_document["total"]

    nodes, node_document = rows(prometheus_embodied, "--by=node")
    # The node's counter: 1300 kg over 4 × 365 days is 1,300,000 / 35,040 g an hour, for six hours.
    close(nodes["n1"]["embodied_co2e_kilograms"], 6 * 1_300_000 / 35_040 / 1000)
    close(nodes["n1"]["total_co2e_kilograms"], nodes["n1"]["co2e_kilograms"] + 6 * 1_300_000 / 35_040 / 1000)
    assert "embodied_co2e_kilograms" not in nodes["n2"]
    close(node_document["total"]["embodied_co2e_kilograms"], 6 * 1_300_000 / 35_040 / 1000)
    assert {k: operational(v) for k, v in nodes.items()} == rows(prometheus, "--by=node")[0]

    # Slurm jobs ran on n2: no embodied series matched, so no column, byte for byte.
    for args in (["--by=user", "--format=csv"], ["--by=namespace", "--namespace=cv"], ["--by=budget"]):
        assert report(prometheus_embodied, *args).stdout == report(prometheus, *args).stdout, args
    # A budget's counter holds embodied CO2e only with include_embodied, and cannot say how much: no column.
    assert "embodied" not in report(prometheus_embodied, "--by=budget", "--format=csv").stdout


def check_golden(output, golden):
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(output)
    assert output == golden.read_text(), f"{golden} differs; UPDATE_GOLDEN=1 rewrites it"


SUFFIX = {"markdown": "md", "csv": "csv", "json": "json"}


@pytest.mark.parametrize("fmt,args", [("markdown", ["--by=namespace"]), ("csv", ["--by=user"]),
                                      ("json", ["--by=node", "--price.kwh=0.25", "--currency=EUR"])])
def test_output_matches_the_golden_files(prometheus, fmt, args):
    output = report(prometheus, *args, f"--format={fmt}").stdout
    check_golden(output, GOLDEN / f"report-{args[0][5:]}.{SUFFIX[fmt]}")


@pytest.mark.parametrize("fmt,args", [("markdown", ["--by=namespace"]), ("csv", ["--by=pod"]),
                                      ("json", ["--by=node", "--price.kwh=0.25", "--currency=EUR"])])
def test_embodied_output_matches_the_golden_files(prometheus_embodied, fmt, args):
    output = report(prometheus_embodied, *args, f"--format={fmt}").stdout
    check_golden(output, GOLDEN / f"report-embodied-{args[0][5:]}.{SUFFIX[fmt]}")


def test_errors_users_hit_are_one_line_with_their_exit_status(prometheus, tmp_path):
    nothing = report(prometheus, "--namespace=absent", check=False)
    assert nothing.returncode == 1 and nothing.stderr == "footprint_exporter report: no workload matched namespace absent\n"
    empty = subprocess.run([str(BINARY), "report", f"--prometheus.url={prometheus}", "--from=2020-01-01T00:00:00Z",
                            "--to=2020-01-02T00:00:00Z"], capture_output=True, text=True, timeout=60)
    assert empty.returncode == 1 and empty.stderr.startswith("footprint_exporter report: no workload energy between")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    down = report(f"http://127.0.0.1:{port}", check=False)
    assert down.returncode == 3 and "cannot reach Prometheus" in down.stderr and down.stderr.count("\n") == 1
    secret = report("http://alice:hunter2@127.0.0.1:9", check=False)
    assert secret.returncode == 2 and "hunter2" not in secret.stderr and "credentials" in secret.stderr
    bad = report(prometheus, "--by=team", check=False)
    assert bad.returncode == 2 and "--by must be one of" in bad.stderr

    class Refusing(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="prometheus"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        password = tmp_path / "password"
        password.write_text("wrong\n")
        refused = report(f"http://127.0.0.1:{server.server_address[1]}", "--prometheus.user=alice",
                         f"--prometheus.password-file={password}", check=False)
    finally:
        server.shutdown()
        server.server_close()
    assert refused.returncode == 3 and "answered 401" in refused.stderr and "wrong" not in refused.stderr


def test_the_exporter_does_not_link_libcurl():
    """libcurl is opened by `report` only (dlopen): the exporter's start-up and resident memory do not carry it."""
    needed = subprocess.run(["readelf", "-d", str(BINARY)], capture_output=True, text=True, check=True).stdout
    assert "libcurl" not in needed, needed
