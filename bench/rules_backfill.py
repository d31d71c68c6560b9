#!/usr/bin/env python3
"""The cost of the Prometheus rules and Grafana dashboards at 1,000 nodes, before and after issue #15.

Synthesises an OpenMetrics file of N nodes' worth of the exporter's series (the metric names and labels of
docs/metrics.md) over D days, backfills it with `promtool tsdb create-blocks-from openmetrics` into a data
directory, then starts Debian's `prometheus` on that directory twice: with the OLD rules (`git show
b121450:deploy/prometheus/footprint-rules.yml`) and with the NEW ones (the working tree's). Each time it
records every rule group's evaluation time over several evaluations (`evaluationTime` of /api/v1/rules, which
is prometheus_rule_group_last_duration_seconds) and the time of every dashboard panel query (the b121450
dashboards with the old rules, the working tree's with the new ones) over 24h, 7d and 30d, through the HTTP
API as Grafana sends them (query_range for time series, instant queries for stats and tables), median of a
few runs. Writes bench/rules-results.json; bench/RULES.md is written from it by hand.

    flock /tmp/bench.lock python3 bench/rules_backfill.py [--nodes 1000] [--days 30] [--workdir DIR]

Scale. 30 days of 1,000 nodes scraped every 15 s is about 0.5 G samples per series kind, far beyond what a
shared 2-core machine can generate and backfill in minutes. So the history is sampled every --history-step
(5 minutes) and only the last --dense-minutes (135) every 15 s, the scrape interval, so that the rules'
windows of an hour or less (rate over 5m, increase over 30m, 45m and 1h) read what they read in production.
The raw samples a long window reads are therefore fewer than in production (15 s / 5 min = 1/20 for the old
rules' 30d increase), which understates the old rules' cost, never the new ones'.

Recorded series need their own history: a Prometheus started on backfilled data has evaluated no rule over
the past. The recorded series the dashboards and the new long-window rules read are synthesised from the
same model as the raw series, exactly as the rules would have recorded them (cluster series every minute,
the per-node hourly increases every 5 minutes). The data ends --future-minutes after generation, so that
the live Prometheus evaluates its rules on "now" inside dense data; its own recorded samples are then
older than the backfilled blocks' end and are refused as out of bounds, which does not change the
evaluation's cost (the query is the cost; appending a few thousand samples is not).
"""
import argparse
import json
import math
import multiprocessing
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OLD_COMMIT = "b121450"
JOB = "footprint-exporter"
DAY = 86400
COMPONENT_WATTS = {"cpu": 250.0, "dram": 40.0, "gpu": 1200.0}
INTENSITIES = [420.0, 310.0, 260.0, 380.0]  # g/kWh, one per 6-hour period of the day (a grid's day)
PUE_BEFORE, PUE_AFTER = 1.45, 1.38  # the PUE changes once, 12 days before the end
BUDGETS = [("team-a", "24h", 9.0e6), ("team-b", "7d", 6.0e7), ("team-a", "30d", 2.4e8)]
RANGES = {"24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY}


# ------------------------------------------------------------------------------------------- the model


class Model:
    """Every node's power per component, PUE and intensity as functions of time, on one time grid."""

    def __init__(self, nodes: int, days: int, end: int, history_step: int, dense_minutes: int, scrape: int):
        self.nodes, self.end = nodes, end
        self.start = end - days * DAY
        dense_start = end - dense_minutes * 60
        history = np.arange(self.start, dense_start, history_step, dtype=np.int64)
        dense = np.arange(dense_start, end + 1, scrape, dtype=np.int64)
        self.t = np.concatenate([history, dense])
        self.ts = [str(int(x)) for x in self.t]
        self.dt = np.diff(self.t, prepend=self.t[0]).astype(float)
        self.pue = self.pue_at(self.t)
        self.intensity = self.intensity_at(self.t)
        rng = np.random.default_rng(15)
        self.scale = rng.uniform(0.7, 1.3, nodes)
        self.phase = rng.uniform(0, 2 * math.pi, nodes)
        self.offset = rng.uniform(0, 5e8, nodes)  # counters were running before the data starts

    def pue_at(self, t):
        return np.where(t < self.end - 12 * DAY, PUE_BEFORE, PUE_AFTER)

    def intensity_at(self, t):
        return np.array(INTENSITIES)[((t % DAY) // (6 * 3600)).astype(int)]

    @staticmethod
    def components(n: int) -> list[str]:
        return ["cpu", "dram", "gpu"] if n % 4 == 0 else ["cpu", "dram"]

    @staticmethod
    def node(n: int) -> str:
        return f"node-{n:04d}"

    @staticmethod
    def instance(n: int) -> str:
        return f"10.{n // 62500}.{(n // 250) % 250}.{n % 250 + 1}:9636"

    def labels(self, n: int) -> str:
        return f'job="{JOB}",instance="{self.instance(n)}",node="{self.node(n)}"'

    def power(self, n: int, component: str, t=None):
        t = self.t if t is None else t
        return COMPONENT_WATTS[component] * self.scale[n] * (1 + 0.2 * np.sin(2 * math.pi * t / DAY + self.phase[n]))

    def cluster_power(self, component: str, t):
        """Σ over nodes of power(n, component, t), in closed form: Σ a_n (1 + 0.2 sin(ωt + φ_n))."""
        nodes = [n for n in range(self.nodes) if component in self.components(n)]
        a = COMPONENT_WATTS[component] * self.scale[nodes]
        s, c = (a * np.cos(self.phase[nodes])).sum(), (a * np.sin(self.phase[nodes])).sum()
        w = 2 * math.pi * t / DAY
        return a.sum() + 0.2 * (s * np.sin(w) + c * np.cos(w))


def counter(rate: np.ndarray, dt: np.ndarray, offset: float) -> np.ndarray:
    """A counter advancing at `rate` (left Riemann sum over the grid)."""
    return offset + np.cumsum(np.concatenate([[0.0], rate[:-1]]) * dt)


def lines(name: str, labels: str, values, ts) -> str:
    prefix = f"{name}{{{labels}}} "
    return "".join([f"{prefix}{v:.6f} {t}\n" for v, t in zip(values.tolist() if hasattr(values, "tolist") else values, ts)])


class Chunked:
    """Writes each series' samples to the file of the time chunk they fall in (chunks of CHUNK seconds, aligned
    to multiples of it as promtool aligns its blocks), so that promtool backfills one chunk at a time: a single
    block of 30 days would hold every sample in memory at once (over 20 GiB here)."""

    def __init__(self, paths: dict[int, Path]):
        self.files = {start: open(path, "w", buffering=1 << 22) for start, path in paths.items()}
        self.starts = sorted(self.files)

    def write_series(self, name: str, labels: str, values, t: np.ndarray, ts: list[str]) -> int:
        values = np.asarray(values, dtype=float)
        bounds = np.searchsorted(t, self.starts + [self.starts[-1] + CHUNK])
        for i, start in enumerate(self.starts):
            a, b = bounds[i], bounds[i + 1]
            if b > a:
                self.files[start].write(lines(name, labels, values[a:b], ts[a:b]))
        return len(t)

    def close(self):
        for f in self.files.values():
            f.close()


CHUNK = 72 * 3600  # seconds of data per backfill run (a multiple of 2h, as promtool's block ranges are)


# --------------------------------------------------------------------------------------- the families


def family_raw(model: Model, family: str, out) -> int:
    written = 0
    t, ts, dt = model.t, model.ts, model.dt
    ones = np.ones(len(t))
    for n in range(model.nodes):
        base = model.labels(n)
        if family in ("footprint_energy_joules_total", "footprint_facility_energy_joules_total",
                      "footprint_co2e_grams_total", "footprint_power_watts"):
            for component in model.components(n):
                p = model.power(n, component)
                if family == "footprint_power_watts":
                    values = p
                elif family == "footprint_energy_joules_total":
                    values = counter(p, dt, model.offset[n])
                elif family == "footprint_facility_energy_joules_total":
                    values = counter(p * model.pue, dt, model.offset[n] * 1.4)
                else:
                    values = counter(p * model.pue * model.intensity / 3.6e6, dt, model.offset[n] * 1.4e-4)
                out.write_series(family, f'{base},component="{component}"', values, t, ts)
                written += len(t)
        elif family == "footprint_domain_energy_joules_total":
            # One node in five is a VM without RAPL: its package and dram come from the estimate. GPUs: NVML.
            source = "estimate" if n % 5 == 4 else "rapl"
            for domain, component in (("package", "cpu"), ("dram", "dram")):
                values = counter(model.power(n, component), dt, model.offset[n])
                out.write_series(family, f'{base},source="{source}",domain="{domain}",device="0"', values, t, ts)
                written += len(t)
            if "gpu" in model.components(n):
                values = counter(model.power(n, "gpu"), dt, model.offset[n])
                out.write_series(family, f'{base},source="nvml",domain="gpu",device="0"', values, t, ts)
                written += len(t)
        elif family == "footprint_domain_power_watts":
            source, domain = ("estimate", "package") if n % 5 == 4 else ("rapl", "package")
            out.write_series(family, f'{base},source="{source}",domain="{domain}",device="0"', model.power(n, "cpu"), t, ts)
            written += len(t)
        elif family == "footprint_last_sample_timestamp_seconds":
            out.write_series(family, base, t - 1.0, t, ts); written += len(t)
        elif family in ("footprint_source_up", "footprint_sample_errors_total"):
            sources = ["estimate" if n % 5 == 4 else "rapl"] + (["nvml"] if n % 4 == 0 else [])
            for source in sources:
                out.write_series(family, f'{base},source="{source}"', ones if family == "footprint_source_up" else 0 * ones, t, ts)
                written += len(t)
        elif family == "footprint_pue":
            out.write_series(family, base, model.pue, t, ts); written += len(t)
        elif family == "footprint_grid_intensity_grams_per_kwh":
            out.write_series(family, base, model.intensity, t, ts); written += len(t)
        elif family == "footprint_build_info":
            out.write_series(family, f'{base},version="0.9.0",revision="b121450"', ones, t, ts); written += len(t)
        elif family == "up":
            out.write_series(family, base, ones, t, ts); written += len(t)
        elif family == "footprint_co2e_budget_grams":
            for budget, window, grams in BUDGETS:
                out.write_series(family, f'{base},budget="{budget}",window="{window}"', ones * grams, t, ts)
                written += len(t)
    return written


WINDOWS = {"5m": 300, "30m": 1800, "1h": 3600, "6h": 6 * 3600, "18h": 18 * 3600, "24h": DAY, "3d": 3 * DAY,
           "7d": 7 * DAY, "30d": 30 * DAY}


def family_recorded(model: Model, out) -> int:
    """The cluster series both rule sets record, every minute, as the rules would have recorded them."""
    t = np.arange(model.start, model.end + 1, 60, dtype=np.int64)
    ts = [str(int(x)) for x in t]
    dt = np.full(len(t), 60.0)
    pue, intensity = model.pue_at(t), model.intensity_at(t)
    written = 0
    job = f'job="{JOB}"'
    grams = {}
    for component in ("cpu", "dram", "gpu"):
        p = model.cluster_power(component, t)
        rate = p * pue * intensity / 3.6e6
        for name, values in (("cluster:footprint_power_watts:sum", p),
                             ("cluster:footprint_facility_energy_joules:rate5m", p * pue),
                             ("cluster:footprint_co2e_grams:rate5m", rate)):
            out.write_series(name, f'{job},component="{component}"', values, t, ts); written += len(t)
        cumulative = counter(rate, dt, 0.0)
        grams[component] = cumulative
        for window, seconds in WINDOWS.items():
            if window in ("5m", "30m"):
                continue
            k = seconds // 60
            lagged = np.concatenate([np.zeros(min(k, len(t))), cumulative[:-k]]) if k < len(t) else np.zeros(len(t))
            extra = f',window="{window}"' if window in ("1h", "24h", "7d", "30d") else ""
            out.write_series(f"cluster:footprint_co2e_grams:increase{window}", f'{job},component="{component}"{extra}',
                             cumulative - lagged, t, ts)
            written += len(t)
    total = sum(grams.values())
    for budget, window, budget_grams in BUDGETS:
        labels = f'{job},budget="{budget}",window="{window}"'
        allowed = budget_grams / WINDOWS[window]
        out.write_series("cluster:footprint_co2e_budget_grams:max", labels, np.full(len(t), budget_grams), t, ts)
        out.write_series("cluster:footprint_co2e_budget_grams:allowed_rate", labels, np.full(len(t), allowed), t, ts)
        k = WINDOWS[window] // 60
        lagged = np.concatenate([np.zeros(min(k, len(t))), total[:-k]]) if k < len(t) else np.zeros(len(t))
        out.write_series("cluster:footprint_co2e_budget_used:ratio", labels, (total - lagged) / budget_grams, t, ts)
        written += 3 * len(t)
        rates = {}
        for rate_window in ("5m", "30m", "1h", "6h", "3d"):
            k = WINDOWS[rate_window] // 60
            lagged = np.concatenate([np.zeros(min(k, len(t))), total[:-k]])
            rates[rate_window] = (total - lagged) / WINDOWS[rate_window]
            burn = rates[rate_window] / allowed
            out.write_series(f"cluster:footprint_co2e_budget_burn:ratio_rate{rate_window}", labels, burn, t, ts)
            written += len(t)
        if window == "24h":  # the projections: the last 18h, plus 6h at the recent rate
            k = 18 * 60
            kept = total - np.concatenate([np.zeros(k), total[:-k]])
            for rate_window in ("5m", "1h"):
                projected = (kept + rates[rate_window] * 21600) / budget_grams
                out.write_series(f"cluster:footprint_co2e_budget_projected_used:ratio_rate{rate_window}", labels,
                                 projected, t, ts)
                written += len(t)
    return written


def family_node_recorded(model: Model, out) -> int:
    """The new rules' per-node series: hourly increases at every whole hour of the history (the per-node table
    reads them at hour steps), and the per-node power and rates every minute over the last 150 minutes."""
    # The hourly increases at each whole hour only: the dashboards read them at hour steps, nothing else does.
    t = np.arange(-(-model.start // 3600) * 3600, model.end + 1, 3600, dtype=np.int64)
    ts = [str(int(x)) for x in t]
    pue, intensity = model.pue_at(t), model.intensity_at(t)
    recent = np.arange(model.end - 150 * 60, model.end + 1, 60, dtype=np.int64)
    recent_ts = [str(int(x)) for x in recent]
    written = 0
    for n in range(model.nodes):
        labels = f'job="{JOB}",node="{model.node(n)}"'
        # The old rules kept instance as well: with it, both dashboards find these series.
        with_instance = f'job="{JOB}",instance="{model.instance(n)}",node="{model.node(n)}"'
        co2e = np.zeros(len(t)); facility = np.zeros(len(t))
        for component in model.components(n):
            # Hourly increase of a slowly varying rate: the rate at the middle of the hour times an hour.
            p = model.power(n, component, t - 1800)
            facility += p * pue * 3600
            co2e += p * pue * intensity / 3.6e6 * 3600
            p_recent = model.power(n, component, recent)
            r_pue = model.pue_at(recent)
            for name, values in (("node:footprint_power_watts:sum", p_recent),
                                 ("node:footprint_facility_energy_joules:rate5m", p_recent * r_pue),
                                 ("node:footprint_co2e_grams:rate5m",
                                  p_recent * r_pue * model.intensity_at(recent) / 3.6e6)):
                out.write_series(name, f'{with_instance},component="{component}"', values, recent, recent_ts)
                written += len(recent)
        out.write_series("node:footprint_co2e_grams:increase1h", labels, co2e, t, ts)
        out.write_series("node:footprint_facility_energy_joules:increase1h", labels, facility, t, ts)
        written += 2 * len(t)
    return written


RAW_FAMILIES = ["footprint_co2e_grams_total", "footprint_facility_energy_joules_total", "footprint_energy_joules_total",
                "footprint_power_watts", "footprint_domain_energy_joules_total", "footprint_domain_power_watts",
                "footprint_last_sample_timestamp_seconds", "footprint_sample_errors_total", "footprint_source_up", "footprint_pue",
                "footprint_grid_intensity_grams_per_kwh", "footprint_build_info", "up", "footprint_co2e_budget_grams"]


def write_family(args) -> tuple[str, int, float]:
    model_args, family, paths = args
    started = time.monotonic()
    model = Model(*model_args)
    out = Chunked(paths)
    try:
        if family == "recorded":
            written = family_recorded(model, out)
        elif family == "node-recorded":
            written = family_node_recorded(model, out)
        else:
            written = family_raw(model, family, out)
    finally:
        out.close()
    return family, written, time.monotonic() - started


def generate(args, work: Path) -> dict:
    end = (int(time.time()) // 300) * 300 + args.future_minutes * 60
    model_args = (args.nodes, args.days, end, args.history_step, args.dense_minutes, args.scrape)
    parts = work / "parts"
    chunks = list(range((end - args.days * DAY) // CHUNK * CHUNK, end + 1, CHUNK))
    for chunk in chunks:
        (parts / str(chunk)).mkdir(parents=True, exist_ok=True)
    families = RAW_FAMILIES + ["recorded", "node-recorded"]
    started = time.monotonic()
    with multiprocessing.Pool(args.jobs) as pool:
        done = pool.map(write_family, [(model_args, f, {c: parts / str(c) / f"{i:02d}-{f}.om" for c in chunks})
                                       for i, f in enumerate(families)], chunksize=1)
    generated = time.monotonic() - started
    data = work / "data"
    size, started = 0, time.monotonic()
    for chunk in chunks:  # one OpenMetrics file and one promtool run per chunk: one block each
        openmetrics = work / f"footprint-{chunk}.om"
        with open(openmetrics, "wb") as out:  # one family after the other, each part deleted once copied
            for i, family in enumerate(families):
                part_path = parts / str(chunk) / f"{i:02d}-{family}.om"
                with open(part_path, "rb") as part:
                    shutil.copyfileobj(part, out, 1 << 24)
                part_path.unlink()
            out.write(b"# EOF\n")
        size += openmetrics.stat().st_size
        result = subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics",
                                 f"--max-block-duration={CHUNK // 3600}h", "-q", str(openmetrics), str(data)],
                                capture_output=True, text=True)
        openmetrics.unlink()
        if result.returncode != 0:
            sys.exit(f"promtool failed on chunk {chunk}: {result.stdout[-2000:]} {result.stderr[-3000:]}")
        print(f"backfilled chunk {chunks.index(chunk) + 1}/{len(chunks)}", flush=True)
    backfilled = time.monotonic() - started
    shutil.rmtree(parts)
    samples = {family: written for family, written, _ in done}
    return {"end": end, "start": end - args.days * DAY, "samples": samples, "total_samples": sum(samples.values()),
            "openmetrics_bytes": size, "generate_seconds": round(generated, 1), "backfill_seconds": round(backfilled, 1),
            "data_bytes": sum(f.stat().st_size for f in data.rglob("*") if f.is_file())}


# ------------------------------------------------------------------------------------------ measuring


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, timeout: float = 120) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def dashboard_targets(dashboard: dict) -> list[dict]:
    found = []
    for panel in dashboard.get("panels", []):
        for p in [panel] + panel.get("panels", []):
            for target in p.get("targets", []):
                if "expr" in target:
                    found.append({"panel": p.get("title", ""), "type": p.get("type"), "ref": target.get("refId"),
                                  "expr": target["expr"], "instant": bool(target.get("instant"))})
    return found


def substitute(expr: str, values: dict) -> str:
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", lambda m: values[m.group(1) or m.group(2)], expr)


def step_for(seconds: int) -> int:
    # Grafana asks for about one point per pixel of a panel: ~1,000 points, at least the scrape interval.
    return max(15, seconds // 1000)


def query_time(base: str, expr: str, instant: bool, range_seconds: int, now: float, runs: int) -> dict:
    if instant:
        params = {"query": expr, "time": f"{now:.3f}"}
        url = f"{base}/api/v1/query?" + urllib.parse.urlencode(params)
    else:
        params = {"query": expr, "start": f"{now - range_seconds:.3f}", "end": f"{now:.3f}",
                  "step": str(step_for(range_seconds))}
        url = f"{base}/api/v1/query_range?" + urllib.parse.urlencode(params)
    times, series, error = [], 0, None
    for _ in range(runs):
        started = time.monotonic()
        try:
            body = get_json(url)
            series = len(body["data"]["result"])
        except urllib.error.HTTPError as e:
            error = json.loads(e.read() or b"{}").get("error", str(e))
        except Exception as e:  # noqa: BLE001 - a timeout is a result too
            error = str(e)
        times.append(time.monotonic() - started)
        if error:
            break
    return {"median_s": round(statistics.median(times), 4), "series": series, **({"error": error} if error else {})}


def measure(rules: Path, dashboards: dict[str, dict], data: Path, work: Path, label: str, args,
            instances_all: str, evaluation_interval: str) -> dict:
    port = free_port()
    config = work / f"prometheus-{label}.yml"
    config.write_text(json.dumps({"global": {"evaluation_interval": evaluation_interval, "scrape_interval": "15s"},
                                  "rule_files": [str(rules)], "scrape_configs": []}))
    log = open(work / f"prometheus-{label}.log", "w")
    process = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={data}",
                                "--storage.tsdb.retention.time=90d", f"--web.listen-address=127.0.0.1:{port}",
                                "--log.level=warn"], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        while True:
            try:
                urllib.request.urlopen(f"{base}/-/ready", timeout=2)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() - started > 300:
                    sys.exit(f"prometheus did not start: {(work / f'prometheus-{label}.log').read_text()[-3000:]}")
                time.sleep(1)
        startup = time.monotonic() - started
        # Rule groups: every evaluation seen, until each group has been evaluated --evaluations times.
        seen: dict[str, dict[str, float]] = {}
        deadline = time.monotonic() + args.rules_seconds
        while time.monotonic() < deadline:
            for group in get_json(f"{base}/api/v1/rules")["data"]["groups"]:
                if group.get("lastEvaluation", "").startswith("0001"):
                    continue
                seen.setdefault(group["name"], {})[group["lastEvaluation"]] = group["evaluationTime"]
            if seen and all(len(v) >= args.evaluations + 1 for v in seen.values()):
                break
            time.sleep(1)
        groups = {}
        for name, evaluations in seen.items():
            durations = [d for _, d in sorted(evaluations.items())][1:] or list(evaluations.values())
            groups[name] = {"median_s": round(statistics.median(durations), 4), "evaluations": len(durations),
                            "max_s": round(max(durations), 4)}
        rules_state = get_json(f"{base}/api/v1/rules")["data"]["groups"]
        rule_errors = {r.get("name"): r.get("lastError") for g in rules_state for r in g["rules"]
                       if r.get("health") == "err" and "out of bounds" not in (r.get("lastError") or "")}
        # Panel queries, the variables as Grafana fills them with "All" selected (the node dashboard on one node).
        now = time.time()
        panels = []
        for name, dashboard in dashboards.items():
            variables = {v["name"]: v for v in dashboard["templating"]["list"]}
            for target in dashboard_targets(dashboard):
                for range_name, seconds in RANGES.items():
                    values = {"job": JOB, "datasource": "prometheus", "__range": range_name,
                              "__rate_interval": f"{max(60, 4 * step_for(seconds))}s",
                              "__interval": f"{step_for(seconds)}s", "__range_s": str(seconds)}
                    if name == "node":
                        values |= {"node": Model.node(0), "instance": Model.instance(0)}  # a GPU node
                    else:
                        # Without an allValue, Grafana sends "All" as a regex of every value: 1,000 instances.
                        for var in ("node", "instance"):
                            if var in variables:
                                values[var] = variables[var].get("allValue") or (
                                    instances_all if var == "instance" else args.nodes_all)
                    expr = substitute(target["expr"], values)
                    instant = target["instant"] or target["type"] in ("stat", "table", "bargauge", "gauge")
                    result = query_time(base, expr, instant, seconds, now, args.runs)
                    panels.append({"dashboard": name, "panel": target["panel"], "ref": target["ref"],
                                   "range": range_name, "instant": instant, **result})
        return {"startup_s": round(startup, 1), "groups": groups, "rule_errors": rule_errors, "panels": panels}
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def old_file(path: str) -> str:
    return subprocess.run(["git", "show", f"{OLD_COMMIT}:{path}"], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--history-step", type=int, default=300, help="seconds between samples of the history")
    parser.add_argument("--dense-minutes", type=int, default=135, help="minutes sampled every --scrape seconds")
    parser.add_argument("--scrape", type=int, default=15)
    parser.add_argument("--future-minutes", type=int, default=45,
                        help="the data ends this many minutes after generation starts")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--evaluations", type=int, default=5)
    parser.add_argument("--evaluation-interval", default="20s",
                        help="every group's interval for the measurement (the new slow group's 2m included)")
    parser.add_argument("--rules-seconds", type=int, default=240)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--reuse", action="store_true", help="measure an existing --workdir's data")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "rules-results.json")
    args = parser.parse_args()
    for tool in ("promtool", "prometheus"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: apt-get install -y prometheus")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="rules-backfill-"))
    work.mkdir(parents=True, exist_ok=True)
    args.nodes_all = "(" + "|".join(Model.node(n) for n in range(args.nodes)) + ")"
    # Grafana escapes regex metacharacters of each value, and PromQL strings their backslashes.
    instances_all = "(" + "|".join(re.escape(Model.instance(n)).replace("\\", "\\\\") for n in range(args.nodes)) + ")"
    try:
        if args.reuse:
            scale = json.loads((work / "scale.json").read_text())
        else:
            print(f"generating {args.nodes} nodes x {args.days} days in {work}", flush=True)
            scale = generate(args, work)
            (work / "scale.json").write_text(json.dumps(scale))
        print(json.dumps({k: v for k, v in scale.items() if k != "samples"}), flush=True)
        rules_dir = work / "rules"
        rules_dir.mkdir(exist_ok=True)
        # The measurement evaluates every group at the same interval, so that each has several evaluations
        # in a few minutes: the new rules' 2m group is set to it as well.
        old_rules = rules_dir / "old-footprint-rules.yml"
        old_rules.write_text(old_file("deploy/prometheus/footprint-rules.yml"))
        new_rules = rules_dir / "new-footprint-rules.yml"
        new_rules.write_text(re.sub(r"^    interval: \S+$", f"    interval: {args.evaluation_interval}",
                                    (REPO / "deploy/prometheus/footprint-rules.yml").read_text(), flags=re.M))
        old_dashboards = {n: json.loads(old_file(f"grafana/dashboards/{n}.json")) for n in ("cluster", "node")}
        new_dashboards = {n: json.loads((REPO / f"grafana/dashboards/{n}.json").read_text()) for n in ("cluster", "node")}
        results = {"machine": machine(), "scale": {**scale, "nodes": args.nodes, "days": args.days,
                                                   "history_step_s": args.history_step,
                                                   "dense_minutes": args.dense_minutes, "scrape_s": args.scrape},
                   "evaluation_interval": args.evaluation_interval, "runs": args.runs}
        for label, rules, dashboards in (("old", old_rules, old_dashboards), ("new", new_rules, new_dashboards)):
            print(f"measuring the {label} rules and dashboards", flush=True)
            results[label] = measure(rules, dashboards, work / "data", work, label, args, instances_all,
                                     args.evaluation_interval)
            print(json.dumps(results[label]["groups"]), flush=True)
        args.output.write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {args.output}")
    finally:
        if not args.keep and not args.reuse:
            shutil.rmtree(work, ignore_errors=True)


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "")
    memory = next((int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    version = subprocess.run(["prometheus", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(memory / 2**20, 1), "prometheus": version}


if __name__ == "__main__":
    main()
