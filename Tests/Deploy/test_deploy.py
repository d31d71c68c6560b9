"""Checks of the shipped deployment artifacts, without the exporter: Prometheus rules and their unit tests,
the Alertmanager inhibit rules, the Kubernetes manifests, the systemd unit, the Dockerfile and the Grafana
dashboards.

Needs promtool (Debian's `prometheus`), amtool and alertmanager (Debian's `prometheus-alertmanager`),
kubectl, systemd-analyze (optional) and the Python packages in requirements.txt;
Tests/Deploy/install-deps.sh installs them all."""

import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jsonschema
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
import dashboard_queries  # noqa: E402

REPO = dashboard_queries.REPO
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
RULES = PROMETHEUS_DIR / "footprint-rules.yml"
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
ALERTMANAGER_DIR = REPO / "deploy" / "alertmanager"
INHIBIT_RULES = ALERTMANAGER_DIR / "inhibit-rules.yml"
KUBERNETES = REPO / "deploy" / "kubernetes"
SYSTEMD = REPO / "deploy" / "systemd"
SCHEMAS = Path(__file__).parent / "schemas"
KUBERNETES_VERSION = "1.32.0"

# docs/design.md §3 (listed in docs/metrics.md), plus the budget gauge of the emission-budget issue, the
# workload-attribution series of §8, the carbon-data series of issue #13 (grid intensity source, age,
# staleness and provider errors; embodied CO2e), Prometheus' own `up` and kube-state-metrics' kube_pod_info
# (the namespace rules' join) and kube_daemonset_status_number_unavailable (FootprintExporterPodsUnavailable).
WORKLOAD_METRICS = {
    "footprint_workload_energy_joules_total", "footprint_workload_facility_energy_joules_total",
    "footprint_workload_co2e_grams_total", "footprint_workload_info",
    "footprint_unattributed_energy_joules_total", "footprint_expired_workload_energy_joules_total",
    "footprint_workloads", "footprint_attribution_overflow_total",
    "footprint_workload_embodied_co2e_grams_total",
}
CARBON_METRICS = {
    "footprint_grid_intensity_info", "footprint_grid_intensity_age_seconds", "footprint_grid_intensity_stale",
    "footprint_grid_provider_errors_total", "footprint_embodied_co2e_grams_total",
}
CONTRACT_METRICS = {
    "footprint_domain_energy_joules_total", "footprint_domain_power_watts",
    "footprint_energy_joules_total", "footprint_facility_energy_joules_total", "footprint_co2e_grams_total",
    "footprint_power_watts", "footprint_pue", "footprint_grid_intensity_grams_per_kwh",
    "footprint_source_up", "footprint_sample_errors_total", "footprint_last_sample_timestamp_seconds",
    "footprint_gpu_info", "footprint_build_info",
    "footprint_co2e_budget_grams", "footprint_budget_co2e_grams_total", "up", "kube_pod_info", "kube_daemonset_status_number_unavailable",
} | WORKLOAD_METRICS | CARBON_METRICS

# Every flag the exporter accepts (docs/design.md §4, listed in docs/settings.md); `--no-x` is the negation of toggle `x`.
KNOWN_FLAGS = {
    "web.listen-address", "web.telemetry-path", "web.config.file", "config.file", "path.sysfs", "path.procfs",
    "sample.interval", "pue", "grid.intensity", "collector.nvml.library",
    "collector.rapl", "collector.nvml", "collector.hwmon", "collector.estimate",
    "log.level", "log.format", "estimate.cpu-min-watts", "estimate.cpu-max-watts", "estimate.dram-watts-per-gb",
    "web.max-connections", "web.max-connections-per-ip", "web.connection-timeout", "web.read-header-timeout",
    "web.max-concurrent-requests", "state.file", "state.save-interval", "rapl.max-watts",
    "max-watts.cpu", "max-watts.dram", "max-watts.gpu",
    # Workload attribution (docs/design.md §8).
    "path.cgroupfs", "path.pod-logs", "attribution", "attribution.kinds", "attribution.idle",
    "attribution.retention", "attribution.max-workloads",
}
TOGGLES = {"collector.rapl", "collector.nvml", "collector.hwmon", "collector.estimate", "attribution"}
BUDGET_WINDOWS = {"1h", "24h", "7d", "30d"}
# Window lengths in hours, of budgets and of the burn-rate windows.
HOURS = {"5m": 5 / 60, "15m": 0.25, "30m": 0.5, "45m": 0.75, "1h": 1, "6h": 6, "18h": 18, "24h": 24, "3d": 72,
         "7d": 168, "30d": 720}
# The burn-rate tiers of the SRE workbook: alert, long window, short window, share of the budget the long
# window may use. A tier's factor on a budget window is share x window / long window; a tier exists only
# for windows where that is at least 1.
BURN_TIERS = [
    ("FootprintCO2eBudgetFastBurn", "1h", "5m", 0.02),
    ("FootprintCO2eBudgetSlowBurn", "6h", "30m", 0.05),
    ("FootprintCO2eBudgetSteadyBurn", "3d", "6h", 0.10),
]
BUDGET_ALERTS = {tier[0] for tier in BURN_TIERS} | {"FootprintCO2eBudgetProjectedExhaustion"}


def tool(name: str, install: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found; install it with: {install} (or run Tests/Deploy/install-deps.sh)")
    return path


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)


def load_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def records() -> set[str]:
    return {rule["record"] for rule in load_rules() if "record" in rule}


def alerts() -> list[dict]:
    return [rule for rule in load_rules() if "alert" in rule]


# ---------------------------------------------------------------------------------------------- rules


def test_promtool_check_rules():
    promtool = tool("promtool", "apt-get install -y prometheus")
    result = run(promtool, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


SCRAPE_EXAMPLES = [PROMETHEUS_DIR / "prometheus.example.yml", PROMETHEUS_DIR / "prometheus.kubernetes.example.yml"]


def node_relabelled(job: dict, meta: dict[str, str]) -> str | None:
    """The `node` label a job's relabel_configs give a target with discovered labels `meta` (replace only)."""
    labels = dict(meta)
    for config in job.get("relabel_configs", []):
        action = config.get("action", "replace")
        value = config.get("separator", ";").join(labels.get(s, "") for s in config.get("source_labels", []))
        match = re.fullmatch(config.get("regex", "(.*)"), value)
        if action == "keep":
            if not match:
                return None
        elif action == "replace" and match:
            labels[config["target_label"]] = match.expand(config.get("replacement", "$1").replace("$", "\\"))
    return labels.get("node")


def test_scrape_examples_label_every_target_with_its_node():
    # The rules and dashboards key on `node`: every shipped scrape config sets it, the host name for static
    # targets and the Kubernetes node's name on Kubernetes (the ServiceMonitor: test_servicemonitor_sets_node).
    host = yaml.safe_load(SCRAPE_EXAMPLES[0].read_text())
    (job,) = host["scrape_configs"]
    assert re.search(re.search(r'job=~"([^"]+)"', next(r for r in alerts() if r["alert"] == "FootprintExporterDown")["expr"]).group(1),
                     job["job_name"])
    for target in job["static_configs"][0]["targets"]:
        assert node_relabelled(job, {"__address__": target}) == target.rsplit(":", 1)[0]
    (job,) = yaml.safe_load(SCRAPE_EXAMPLES[1].read_text())["scrape_configs"]
    pod = {"__meta_kubernetes_pod_label_app_kubernetes_io_name": "footprint-exporter",
           "__meta_kubernetes_pod_container_port_name": "metrics", "__meta_kubernetes_pod_node_name": "worker-7"}
    assert node_relabelled(job, pod) == "worker-7"
    assert node_relabelled(job, pod | {"__meta_kubernetes_pod_container_port_name": "other"}) is None
    for path in SCRAPE_EXAMPLES:
        assert yaml.safe_load(path.read_text())["rule_files"] == [RULES.name]


def test_scrape_examples_pass_promtool_check_config():
    promtool = tool("promtool", "apt-get install -y prometheus")
    for path in SCRAPE_EXAMPLES:
        result = run(promtool, "check", "config", str(path))
        if "kubernetes_sd_configs not found" in result.stdout + result.stderr:
            continue  # Debian's promtool is built without Kubernetes service discovery
        assert result.returncode == 0, result.stdout + result.stderr


def test_servicemonitor_sets_node(base):
    (endpoint,) = by_kind(base, "ServiceMonitor")["spec"]["endpoints"]
    assert {"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node", "action": "replace"} in endpoint["relabelings"]


@pytest.mark.parametrize("test_file", RULE_TESTS, ids=lambda p: p.name)
def test_promtool_rule_unit_tests(test_file):
    promtool = tool("promtool", "apt-get install -y prometheus")
    # Relative to the test file's directory, as its rule_files are.
    result = run(promtool, "test", "rules", test_file.name, cwd=test_file.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_tests_load_the_shipped_rules():
    for path in RULE_TESTS:
        test = yaml.safe_load(path.read_text())
        assert [(path.parent / f).resolve() for f in test["rule_files"]] == [RULES.resolve()], path.name


def test_every_alert_is_tested_firing_and_not_firing():
    firing, silent = set(), set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested not firing"


def test_every_recording_rule_value_is_tested():
    tested = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("promql_expr_test", []):
                if check.get("exp_samples"):
                    tested |= dashboard_queries.metric_names(check["expr"])
    assert records() - tested == set()


def test_recording_rule_names_follow_level_metric_operations():
    # Levels: node and cluster; namespace (pods) and user (Slurm jobs) for workload attribution.
    for name in records():
        assert re.fullmatch(r"(node|cluster|namespace|user):footprint_[a-z0-9_]+:[a-z0-9_]+", name), name


def workload_rules() -> list[dict]:
    (group,) = [g for g in yaml.safe_load(RULES.read_text())["groups"] if g["name"] == "footprint-workloads"]
    return group["rules"]


def test_workload_rules_aggregate_never_one_series_per_workload():
    rules = workload_rules()
    assert {r["record"].split(":")[0] for r in rules} == {"node", "cluster", "namespace", "user"}
    for rule in rules:
        expr = " ".join(str(rule["expr"]).split())
        outer = re.match(r"sum by \(([^)]*)\)", expr)
        if outer is None:  # ratios of earlier records
            assert dashboard_queries.metric_names(expr) <= records() | CONTRACT_METRICS, rule["record"]
            continue
        kept = {label.strip() for label in outer.group(1).split(",")}
        assert "job" in kept and not kept & {"workload", "uid", "pod", "job_id", "unit"}, rule["record"]
        level = rule["record"].split(":")[0]
        assert {"node": "node", "cluster": "job", "namespace": "namespace", "user": "user"}[level] in kept


def test_no_rule_takes_the_rate_of_the_expired_counter():
    # It steps up by a workload's whole energy when the workload expires: a rate would show a spike.
    for rule in load_rules():
        assert "footprint_expired_workload_energy_joules_total" not in str(rule["expr"]), rule.get("record")


def test_namespace_and_user_joins():
    for rule in workload_rules():
        expr = " ".join(str(rule["expr"]).split())
        if rule["record"].startswith("namespace:"):
            # kube_pod_info made one series per UID over the rate's window, joined on the UID alone.
            assert 'kind="pod"' in expr and "on (workload) group_left (namespace)" in expr, rule["record"]
            assert "max by (namespace, uid) (max_over_time(kube_pod_info[5m]))" in expr, rule["record"]
            assert 'label_replace(' in expr and '"workload", "$1", "uid", "(.+)"' in expr, rule["record"]
        if rule["record"].startswith("user:"):
            # Per scrape target: a multi-node job is described by every node's exporter.
            assert 'kind="slurm_job"' in expr and "on (job, node, workload) group_left (user)" in expr


def test_rules_use_only_contract_metrics_and_earlier_records():
    known = set(CONTRACT_METRICS)
    for rule in load_rules():
        used = dashboard_queries.metric_names(str(rule["expr"]))
        assert used <= known, f"{rule.get('record') or rule.get('alert')} uses {used - known}"
        if "record" in rule:
            known.add(rule["record"])


def test_budget_windows_agree_across_rules():
    # The windows of the increase rules, the allowed rate and the runbook must be the same four. The
    # trailing windows of the burn rates and projections (6h, 18h, 3d) carry no window: no budget joins them.
    rules = {rule.get("record"): rule for rule in load_rules()}
    increase = {r["labels"]["window"] for n, r in rules.items() if n and ":increase" in n and "labels" in r}
    assert {n for n, r in rules.items() if n and n.startswith("cluster:") and ":increase" in n and "labels" not in r} == {
        "cluster:footprint_co2e_grams:increase6h", "cluster:footprint_co2e_grams:increase18h",
        "cluster:footprint_co2e_grams:increase3d", "cluster:footprint_budget_co2e_grams:increase6h",
        "cluster:footprint_budget_co2e_grams:increase18h", "cluster:footprint_budget_co2e_grams:increase3d"}
    allowed = set(re.findall(r'window="(\w+)"', rules["cluster:footprint_co2e_budget_grams:allowed_rate"]["expr"]))
    assert increase == allowed == BUDGET_WINDOWS


def test_alerts_have_severity_and_annotations():
    for rule in alerts():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert set(rule["annotations"]) >= {"summary", "description", "runbook_url", "dashboard_url"}, rule["alert"]
        assert rule["alert"].startswith("Footprint"), rule["alert"]


def test_dashboard_urls_point_at_the_shipped_dashboards():
    # A path under Grafana's root: /d/<uid>, the uid read from the dashboard, and only its variables.
    dashboards = {}
    for path in dashboard_queries.DASHBOARDS:
        dashboard = json.loads(path.read_text())
        dashboards[dashboard["uid"]] = {v["name"] for v in dashboard["templating"]["list"]}
    for rule in alerts():
        url = rule["annotations"]["dashboard_url"]
        match = re.fullmatch(r"/d/([\w-]+)(?:\?(.*))?", url)
        assert match, f"{rule['alert']}: {url}"
        uid, query = match.groups()
        assert uid in dashboards, f"{rule['alert']}: no dashboard with uid {uid}"
        for parameter in query.split("&") if query else []:
            name, _, value = parameter.partition("=")
            if name.startswith("var-"):
                assert name[4:] in dashboards[uid], f"{rule['alert']}: {uid} has no variable {name[4:]}"
                # Label values go through urlquery: a ':' or '&' must not end up raw in the link.
                assert value == "" or re.fullmatch(r"\{\{ \$labels\.\w+ \| urlquery \}\}", value), url
            else:
                assert name in {"from", "to"}, url
        # Alerts about one node link the node dashboard with that node (never an instance, which changes with
        # every rollout); the others the cluster's.
        assert "var-instance" not in url, rule["alert"]
        if "$labels.node" in rule["annotations"]["summary"]:
            assert uid == "footprint-node" and "var-node={{ $labels.node | urlquery }}" in url, rule["alert"]
        else:
            assert uid == "footprint-cluster", rule["alert"]
        assert "$labels.instance" not in rule["annotations"]["summary"], rule["alert"]


def burn_thresholds(rule: dict) -> dict[str, dict[str, float]]:
    """{budget window: {burn-rate window: threshold}} of a burn-rate alert's expression."""
    found: dict[str, dict[str, float]] = {}
    for rate, window, threshold in re.findall(
            r'cluster:footprint_co2e_budget_burn:ratio_rate(\w+)\{window="(\w+)"\} > ([\d.]+)', str(rule["expr"])):
        assert rate not in found.setdefault(window, {}), (rule["alert"], window, rate)
        found[window][rate] = float(threshold)
    return found


def test_burn_rate_factors_follow_each_windows_budget_share():
    # The factors of the SRE workbook (14.4, 6, 1) hold for a 30-day budget only: on a 7d budget 14.4
    # means 8.6 % of it per hour. Each tier's factor is derived per budget window from its share.
    rules = {rule["alert"]: rule for rule in alerts()}
    for alert, long, short, share in BURN_TIERS:
        expected = {}
        for window in BUDGET_WINDOWS:
            factor = share * HOURS[window] / HOURS[long]
            if factor >= 1:
                expected[window] = {long: round(factor, 6), short: round(factor, 6)}
        found = {w: {r: round(t, 6) for r, t in rates.items()} for w, rates in burn_thresholds(rules[alert]).items()}
        assert found == expected, alert
        assert f"over {round(share * 100)}% of it" in rules[alert]["annotations"]["summary"], alert
    assert burn_thresholds(rules["FootprintCO2eBudgetFastBurn"]) == {
        "30d": {"1h": 14.4, "5m": 14.4}, "7d": {"1h": 3.36, "5m": 3.36}}


def test_short_budgets_have_a_projection_instead_of_burn_rates():
    # 24h and 1h budgets: no burn-rate tier (the factors would be below 1) but the projection, a quarter
    # of the window ahead: the window's last W - H plus H at the recent rate.
    rules = {rule.get("record") or rule.get("alert"): rule for rule in load_rules()}
    tiers = set().union(*(burn_thresholds(rules[tier[0]]) for tier in BURN_TIERS))
    assert tiers == {"7d", "30d"}
    projected = set()
    for name in ("cluster:footprint_co2e_budget_projected_used:ratio_rate5m",
                 "cluster:footprint_co2e_budget_projected_used:ratio_rate1h"):
        expr = " ".join(str(rules[name]["expr"]).split())
        # The window's last W - H from the raw counters (45m) or the recorded trailing window (18h); the recent
        # rate from the recorded 5m rate or the recorded last hour.
        terms = re.findall(r"(?:increase\(footprint_co2e_grams_total\[(\w+)\]\)|cluster:footprint_co2e_grams:increase(\w+))\) "
                           r"\+ sum by \(job\) \((?:cluster:footprint_co2e_grams:rate(5m)\)|"
                           r"cluster:footprint_co2e_grams:increase(1h)\) / 3600) \* (\d+) \) / on \(job\) group_right "
                           r'cluster:footprint_co2e_budget_grams:max\{window="(\w+)", scope="node"\}', expr)
        assert terms, name
        # Team budgets (scope="workloads") and node budgets with embodied CO2e (scope="node_embodied") project their
        # own counter the same way, term for term.
        team = re.findall(r"(?:increase\(footprint_budget_co2e_grams_total\[(\w+)\]\)\)|"
                          r"cluster:footprint_budget_co2e_grams:increase(\w+)) "
                          r"\+ (?:cluster:footprint_budget_co2e_grams:rate(5m)|"
                          r"sum by \(job, budget\) \(cluster:footprint_budget_co2e_grams:increase(1h)\) / 3600) \* (\d+) \) "
                          r'/ on \(job, budget\) group_right '
                          r'cluster:footprint_co2e_budget_grams:max\{window="(\w+)", scope=~"workloads\|node_embodied"\}',
                          expr)
        assert [(k1 or k2, r1 or r2, s, w) for k1, k2, r1, r2, s, w in team] == [
            (k1 or k2, r1 or r2, s, w) for k1, k2, r1, r2, s, w in terms], name
        for raw_kept, recorded_kept, rate5m, rate1h, seconds, window in terms:
            kept, rate = raw_kept or recorded_kept, rate5m or rate1h
            assert f"ratio_rate{rate}" in name, name
            horizon = int(seconds) / 3600
            assert horizon == HOURS[window] / 4, (name, window)
            assert HOURS[kept] + horizon == HOURS[window], (name, window)
            projected.add(window)
    assert projected == BUDGET_WINDOWS - tiers
    alert = " ".join(str(rules["FootprintCO2eBudgetProjectedExhaustion"]["expr"]).split())
    assert set(re.findall(r'ratio_rate\w+\{window="(\w+)"\} >= 1', alert)) == projected


def test_inhibit_rules_are_valid(tmp_path):
    # The file is a fragment: checked inside the smallest configuration that takes it.
    amtool = tool("amtool", "apt-get install -y prometheus-alertmanager")
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump(alertmanager_config()))
    result = run(amtool, "check-config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(yaml.safe_load(INHIBIT_RULES.read_text())['inhibit_rules'])} inhibit rules" in result.stdout


def alertmanager_config() -> dict:
    inhibit = yaml.safe_load(INHIBIT_RULES.read_text())
    assert set(inhibit) == {"inhibit_rules"}
    return {"route": {"receiver": "null"}, "receivers": [{"name": "null"}], **inhibit}


def test_exhausted_inhibits_every_burn_alert_of_the_same_budget():
    names = {rule["alert"] for rule in alerts()}
    covered = set()
    for rule in yaml.safe_load(INHIBIT_RULES.read_text())["inhibit_rules"]:
        # Same budget, window and job; `cluster` for the external label of several clusters.
        assert {"job", "budget", "window", "cluster"} <= set(rule["equal"]), rule
        (source,) = rule["source_matchers"]
        (target,) = rule["target_matchers"]
        source_name = re.fullmatch(r'alertname = "(\w+)"', source).group(1)
        op, pattern = re.fullmatch(r'alertname (=~?) "([^"]+)"', target).groups()
        targets = {n for n in names if (re.fullmatch(pattern, n) if op == "=~" else n == pattern)}
        assert source_name in names and targets and source_name not in targets, rule
        if source_name == "FootprintCO2eBudgetExhausted":
            covered |= targets
    assert covered == BUDGET_ALERTS
    # Every label of `equal` but cluster (an external label) is on the alerts it compares, as the rule
    # tests expect them.
    seen = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                if check["alertname"] in BUDGET_ALERTS | {"FootprintCO2eBudgetExhausted"}:
                    for expected in check.get("exp_alerts") or []:
                        assert {"job", "budget", "window"} <= set(expected["exp_labels"]), (path.name, check)
                        seen.add(check["alertname"])
    assert seen == BUDGET_ALERTS | {"FootprintCO2eBudgetExhausted"}


def test_inhibit_rules_in_a_running_alertmanager(tmp_path):
    binary = shutil.which("alertmanager") or tool("prometheus-alertmanager", "apt-get install -y prometheus-alertmanager")
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(alertmanager_config()))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'alertmanager.yml'}", f"--storage.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def alert(name: str, budget: str, window: str, **labels: str) -> dict:
        return {"labels": {"alertname": name, "job": "footprint-exporter", "budget": budget, "window": window,
                           "severity": "warning", **labels}}

    def key(labels: dict) -> tuple:
        return labels["alertname"], labels["budget"], labels["window"], labels.get("cluster", "")

    sent = [
        alert("FootprintCO2eBudgetExhausted", "team-a", "7d"),
        alert("FootprintCO2eBudgetFastBurn", "team-a", "7d"),          # same budget: silenced
        alert("FootprintCO2eBudgetSlowBurn", "team-a", "7d"),          # same budget: silenced
        alert("FootprintCO2eBudgetFastBurn", "team-a", "30d"),         # another window: not
        alert("FootprintCO2eBudgetSteadyBurn", "team-a", "30d"),       # silenced by that FastBurn
        alert("FootprintCO2eBudgetFastBurn", "team-b", "7d"),          # another budget: not
        alert("FootprintCO2eBudgetFastBurn", "team-a", "7d", cluster="eu-1"),  # another cluster: not
        alert("FootprintCO2eBudgetExhausted", "team-c", "24h"),
        alert("FootprintCO2eBudgetProjectedExhaustion", "team-c", "24h"),  # silenced
        alert("FootprintSourceDown", "team-c", "24h"),                 # not a budget alert: not
    ]
    silenced = {("FootprintCO2eBudgetFastBurn", "team-a", "7d", ""), ("FootprintCO2eBudgetSlowBurn", "team-a", "7d", ""),
                ("FootprintCO2eBudgetSteadyBurn", "team-a", "30d", ""),
                ("FootprintCO2eBudgetProjectedExhaustion", "team-c", "24h", "")}
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/-/ready", timeout=1)
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
                time.sleep(0.1)
        request = urllib.request.Request(f"{base}/api/v2/alerts", data=json.dumps(sent).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(request, timeout=5)
        # The inhibitor learns of the sources asynchronously: wait until the answer is the expected one.
        while True:
            shown = json.load(urllib.request.urlopen(f"{base}/api/v2/alerts", timeout=5))
            states = {key(a["labels"]): a["status"]["state"] for a in shown}
            if len(states) == len(sent) and {k for k, s in states.items() if s == "suppressed"} == silenced:
                break
            assert time.monotonic() < deadline, states
            time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_runbook_urls_point_at_runbook_sections():
    # docs/runbook.md, one `### <AlertName>` section per alert.
    runbook = (REPO / "docs" / "runbook.md").read_text()
    # GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens.
    anchors = {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#{2,4} (.+)$", runbook, flags=re.M)
    }
    bases = set()
    for rule in alerts():
        base, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        bases.add(base)
        assert anchor == rule["alert"].lower(), rule["alert"]
        assert anchor in anchors, f"docs/runbook.md has no section for {rule['alert']}"
        assert base.startswith("https://") and base.endswith("/blob/main/docs/runbook.md")
    assert len(bases) == 1, bases


def test_rules_readme_lists_every_rule():
    readme = (PROMETHEUS_DIR / "README.md").read_text()
    for name in records() | {rule["alert"] for rule in alerts()}:
        assert re.search(rf"^\| `?{re.escape(name)}`? \|", readme, flags=re.M), name


# ----------------------------------------------------------------------------------------- kubernetes


def test_prometheusrule_is_generated_from_the_rules_file():
    result = run("sh", str(KUBERNETES / "generate-prometheusrule.sh"), "--check")
    assert result.returncode == 0, result.stderr
    generated = yaml.safe_load((KUBERNETES / "base" / "prometheusrule.yaml").read_text())
    assert generated["spec"] == yaml.safe_load(RULES.read_text())


def kustomize(path: Path) -> list[dict]:
    kubectl = tool("kubectl", "apt-get install -y kubectl")
    result = run(kubectl, "kustomize", str(path))
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def base() -> list[dict]:
    return kustomize(KUBERNETES)


@pytest.fixture(scope="module")
def nvidia() -> list[dict]:
    return kustomize(KUBERNETES / "overlays" / "nvidia")


def by_kind(docs: list[dict], kind: str) -> dict:
    (found,) = [doc for doc in docs if doc["kind"] == kind]
    return found


@pytest.mark.parametrize("build", ["base", "nvidia"])
def test_manifests_validate(build, request):
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    docs = request.getfixturevalue(build)
    assert sorted(doc["kind"] for doc in docs) == sorted(
        ["Namespace", "ConfigMap", "Service", "DaemonSet", "ServiceMonitor", "PrometheusRule"])
    for doc in docs:
        schema = SCHEMAS / f"{doc['kind'].lower()}.schema.json"
        if schema.exists():  # custom resources: our own schema of the fields we use
            jsonschema.validate(doc, json.loads(schema.read_text()))
        else:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "footprint", doc["kind"]


def test_daemonset_reads_host_sys_and_proc_read_only(base):
    pod = by_kind(base, "DaemonSet")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert volumes[mounts["/host/sys"]["name"]]["hostPath"]["path"] == "/sys"
    assert volumes[mounts["/host/proc"]["name"]]["hostPath"]["path"] == "/proc"
    assert all(mounts[path].get("readOnly") for path in ("/host/sys", "/host/proc", "/etc/footprint-exporter"))
    # The state file lives in the node's own directory, so counters survive the pod.
    (state_flag,) = [a for a in container["args"] if a.startswith("--state.file=")]
    state_volume = volumes[mounts[str(Path(state_flag.split("=", 1)[1]).parent)]["name"]]
    assert state_volume["hostPath"]["path"] == "/var/lib/footprint-exporter"
    assert {"--path.sysfs=/host/sys", "--path.procfs=/host/proc"} <= set(container["args"])
    # The config file flag names a file inside the mounted config map.
    (config_flag,) = [a for a in container["args"] if a.startswith("--config.file=")]
    config_path = Path(config_flag.split("=", 1)[1])
    config_volume = volumes[mounts[str(config_path.parent)]["name"]]
    config_map = by_kind(base, "ConfigMap")
    assert config_volume["configMap"]["name"] == config_map["metadata"]["name"]
    assert config_path.name in config_map["data"]


def test_daemonset_security_and_resources(base):
    pod = by_kind(base, "DaemonSet")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["runAsUser"] == 0
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert "add" not in security["capabilities"]
    assert container["resources"] == {
        "requests": {"cpu": "5m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}
    assert {"operator": "Exists"} in pod["tolerations"]
    assert container["ports"] == [{"name": "metrics", "containerPort": 9636, "protocol": "TCP"}]


def test_daemonset_explains_why_it_runs_as_root():
    text = (KUBERNETES / "base" / "daemonset.yaml").read_text()
    assert "CVE-2020-8694" in text


def test_daemonset_can_attribute_workloads(base):
    pod = by_kind(base, "DaemonSet")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    # NVML's PIDs are the host's; cgroup.procs lists PIDs as the reader's PID namespace sees them.
    assert pod["hostPID"] is True
    assert "hostNetwork" not in pod and "hostIPC" not in pod
    # The cgroup tree comes through the host /sys mount: --path.cgroupfs is its default
    # (<path.sysfs>/fs/cgroup) or a path under that mount, and every submount is read-only where possible.
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    cgroupfs = [a.split("=", 1)[1] for a in container["args"] if a.startswith("--path.cgroupfs=")]
    assert all(Path(path).is_relative_to("/host/sys") for path in cgroupfs), cgroupfs
    assert mounts["/host/sys"]["readOnly"] is True and mounts["/host/sys"]["recursiveReadOnly"] == "IfPossible"
    assert mounts["/host/proc"]["recursiveReadOnly"] == "IfPossible"
    # /var/log/pods is opt-in: nothing mounts it, and --path.pod-logs is left empty.
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert not [v for v in volumes.values() if v.get("hostPath", {}).get("path", "").startswith("/var/log")]
    assert not [a for a in container["args"] if a.startswith("--path.pod-logs")]


def test_daemonset_documents_the_optional_pod_logs_mount():
    text = (KUBERNETES / "base" / "daemonset.yaml").read_text()
    commented = "\n".join(line.strip().lstrip("#").strip() for line in text.splitlines() if line.strip().startswith("#"))
    # The flag, the mount and the volume are there to uncomment, read-only, with the privacy trade-off.
    assert "- --path.pod-logs=/host/var/log/pods" in commented
    assert "mountPath: /host/var/log/pods" in commented and "path: /var/log/pods" in commented
    block = text[text.index("# - name: pod-logs"):]
    assert "#   readOnly: true" in block
    assert "log files" in text and "kube_pod_info" in text


def test_servicemonitor_keeps_workload_namespace_and_pod_labels(base):
    # The Prometheus Operator's own namespace and pod target labels would clash with footprint_workload_info's.
    (endpoint,) = by_kind(base, "ServiceMonitor")["spec"]["endpoints"]
    drops = [r for r in endpoint["relabelings"] if r.get("action", "").lower() == "labeldrop"]
    assert [re.fullmatch(d["regex"], "namespace") is not None for d in drops] == [True]
    assert re.fullmatch(drops[0]["regex"], "pod") and not re.fullmatch(drops[0]["regex"], "node")


def test_daemonset_alert_names_the_daemonset(base):
    # A node without an exporter pod has no scrape target: kube-state-metrics tells, by the DaemonSet's name.
    (rule,) = [r for r in alerts() if r["alert"] == "FootprintExporterPodsUnavailable"]
    name = re.search(r'kube_daemonset_status_number_unavailable\{daemonset="([^"]+)"\}', rule["expr"]).group(1)
    assert name == by_kind(base, "DaemonSet")["metadata"]["name"]


def test_service_and_servicemonitor_agree(base):
    service = by_kind(base, "Service")
    monitor = by_kind(base, "ServiceMonitor")
    pod_labels = by_kind(base, "DaemonSet")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["ports"][0]["name"] == "metrics" and service["spec"]["ports"][0]["port"] == 9636
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    # The job is the Service's name, which FootprintExporterDown's job matcher must catch.
    (down,) = [r for r in alerts() if r["alert"] == "FootprintExporterDown"]
    pattern = re.search(r'job=~"([^"]+)"', down["expr"]).group(1)
    assert re.fullmatch(pattern, service["metadata"]["name"])


def test_nvidia_overlay_adds_runtime_and_env(base, nvidia):
    pod = by_kind(nvidia, "DaemonSet")["spec"]["template"]["spec"]
    assert pod["runtimeClassName"] == "nvidia"
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env == {"NVIDIA_VISIBLE_DEVICES": "all", "NVIDIA_DRIVER_CAPABILITIES": "utility"}
    # Nothing else changes.
    for doc in nvidia:
        if doc["kind"] != "DaemonSet":
            assert doc in base


def test_config_file_uses_known_keys_and_supported_budget_windows():
    config = yaml.safe_load((KUBERNETES / "base" / "config.yml").read_text())
    budgets = config.pop("budgets")

    def keys(mapping, prefix=""):
        for key, value in mapping.items():
            name = f"{prefix}.{key}" if prefix else key
            yield from keys(value, name) if isinstance(value, dict) else [name]

    assert set(keys(config)) <= KNOWN_FLAGS - {"config.file"}
    for budget in budgets:
        assert set(budget) == {"name", "window", "grams"}
        assert budget["window"] in BUDGET_WINDOWS and budget["grams"] > 0


# -------------------------------------------------------------------------------------------- flags


def flags_of(words: list[str]) -> set[str]:
    names = set()
    for word in words:
        if word.startswith("--"):
            name = word[2:].split("=", 1)[0]
            if name.startswith("no-") and name[3:] in TOGGLES:
                name = name[3:]
            names.add(name)
    return names


def deployed_flags(base, nvidia) -> dict[str, set[str]]:
    default = (SYSTEMD / "footprint-exporter.default").read_text()
    (args,) = re.findall(r'^FOOTPRINT_EXPORTER_ARGS="([^"]*)"$', default, flags=re.M)

    def container_args(docs):
        return by_kind(docs, "DaemonSet")["spec"]["template"]["spec"]["containers"][0]["args"]

    return {
        "footprint-exporter.default": flags_of(args.split()),
        "DaemonSet": flags_of(container_args(base)),
        "DaemonSet (nvidia)": flags_of(container_args(nvidia)),
    }


def test_deployed_flags_are_known(base, nvidia):
    for where, flags in deployed_flags(base, nvidia).items():
        assert flags, where
        assert flags <= KNOWN_FLAGS, f"{where}: unknown {flags - KNOWN_FLAGS}"


def test_deployed_flags_exist_in_the_exporter(base, nvidia):
    # The exporter's own list of settings, where the source is there to read: each is declared as
    # `Setting<Type>.kind("name", ...)` (or `Setting<Type>("name", ...)`), the name maybe on the next line.
    found = sorted((REPO / "Sources" / "FootprintExporter").rglob("SettingCatalogue.swift"))
    if not found:
        pytest.skip("Sources/FootprintExporter/**/SettingCatalogue.swift not found")
    names = set(re.findall(r'\bSetting<[^\n]*?>(?:\.\w+)?\(\s*"([\w.\-]+)"', found[0].read_text()))
    assert {"web.listen-address", "path.sysfs", "collector.nvml"} <= names, "settings not found in SettingCatalogue.swift"
    for where, flags in deployed_flags(base, nvidia).items():
        assert flags <= names, f"{where}: not in the exporter: {flags - names}"


# ------------------------------------------------------------------------------------------ systemd


def unit_directives() -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for line in (SYSTEMD / "footprint-exporter.service").read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            directives.setdefault(key.strip(), []).append(value.strip())
    return directives


def test_systemd_unit_is_hardened():
    d = unit_directives()
    expected = {
        "ProtectSystem": "strict", "ProtectHome": "yes", "NoNewPrivileges": "yes", "PrivateTmp": "yes",
        "ProtectKernelTunables": "yes", "ProtectControlGroups": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "MemoryDenyWriteExecute": "yes",
        "LockPersonality": "yes", "SystemCallArchitectures": "native", "CapabilityBoundingSet": "",
        "ReadOnlyPaths": "/sys", "StateDirectory": "footprint-exporter",
        "EnvironmentFile": "-/etc/default/footprint-exporter",
        "ExecStart": "/usr/local/bin/footprint_exporter $FOOTPRINT_EXPORTER_ARGS",
    }
    for key, value in expected.items():
        assert d.get(key) == [value], key
    # ProcSubset=pid would hide /proc/stat and /proc/meminfo from the estimate.
    assert "ProcSubset" not in d


def test_systemd_unit_reads_the_cgroup_tree():
    d = unit_directives()
    # Read-only and whole: =private or =strict (systemd 257+) would show the service its own cgroup only, and a
    # private PID namespace would number processes unlike NVML and the host's cgroup.procs.
    assert d["ProtectControlGroups"] == ["yes"]
    assert "PrivatePIDs" not in d and "TemporaryFileSystem" not in d
    assert not [p for v in d.get("InaccessiblePaths", []) for p in v.split() if "/sys" in p]
    assert d["ReadOnlyPaths"] == ["/sys"]


def test_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    # verify insists that ExecStart's binary exists: point it at a stand-in, keep everything else.
    binary = tmp_path / "footprint_exporter"
    shutil.copy("/bin/true", binary)
    unit = tmp_path / "footprint-exporter.service"
    unit.write_text((SYSTEMD / "footprint-exporter.service").read_text().replace(
        "/usr/local/bin/footprint_exporter", str(binary)))
    result = run(analyze, "verify", str(unit))
    if result.returncode != 0 and re.search(r"Failed to (connect|initialize|set up)|not been booted", result.stderr):
        pytest.skip(f"systemd-analyze cannot run here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


# ------------------------------------------------------------------------------------------- docker


def test_dockerfile_builds_static_and_runs_slim():
    text = (REPO / "deploy" / "docker" / "Dockerfile").read_text()
    tools_version = re.search(r"swift-tools-version:\s*([\d.]+)", (REPO / "Package.swift").read_text())
    builder = re.search(r"^ARG SWIFT_VERSION=([\d.]+)$", text, flags=re.M).group(1)
    if tools_version:  # the toolchain must read the manifest
        assert tuple(map(int, builder.split("."))) >= tuple(map(int, tools_version.group(1).split(".")))
    assert re.search(r"^FROM swift:\$\{SWIFT_VERSION\}-bookworm AS build$", text, flags=re.M)
    for package in ("libmicrohttpd-dev", "libgnutls28-dev", "libcrypt-dev", "libyaml-dev"):  # what Package.swift links
        assert package in text, package
    assert "scripts/release-flags.sh" in text and "--static-swift-stdlib" in (REPO / "scripts" / "release-flags.sh").read_text()
    assert re.search(r"^FROM debian:bookworm-slim$", text, flags=re.M)
    assert all(package in text for package in ("libmicrohttpd12", "libgnutls30", "libyaml-0-2", "zlib1g", "ca-certificates"))
    assert re.search(r"^EXPOSE 9636$", text, flags=re.M)
    assert re.search(r'^ENTRYPOINT \["/usr/local/bin/footprint_exporter"\]$', text, flags=re.M)
    assert "CVE-2020-8694" in text and not re.search(r"^USER ", text, flags=re.M)


# ------------------------------------------------------------------------------------------ grafana


DASHBOARD_IDS = [p.stem for p in dashboard_queries.DASHBOARDS]
VARIABLE_VALUES = {
    "job": "footprint-exporter", "node": ".+", "datasource": "prometheus",
    "__range": "1h", "__rate_interval": "1m", "__interval": "15s",
}


def load_dashboard(name: str) -> dict:
    return json.loads((REPO / "grafana" / "dashboards" / f"{name}.json").read_text())


def test_both_dashboards_exist():
    assert DASHBOARD_IDS == ["cluster", "node"]


@pytest.mark.parametrize("name", DASHBOARD_IDS)
def test_dashboard_is_importable(name):
    dashboard = load_dashboard(name)
    assert dashboard["__inputs"] == [{
        "name": "DS_PROMETHEUS", "label": "Prometheus", "description": dashboard["__inputs"][0]["description"],
        "type": "datasource", "pluginId": "prometheus", "pluginName": "Prometheus"}]
    assert dashboard["id"] is None and dashboard["uid"] == f"footprint-{name}"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    # Nodes are chosen by `node`, never by `instance` (a pod's address, new at every rollout).
    assert set(variables) == {"datasource", "job", "node"}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    # File provisioning has no ${DS_PROMETHEUS} to fill in: the variable starts on the default data source.
    assert variables["datasource"]["current"] == {}
    assert "${DS_PROMETHEUS}" not in json.dumps(dashboard["templating"])
    assert variables["node"]["query"] == 'label_values(footprint_build_info{job=~"$job"}, node)'
    # The cluster dashboard shows any set of nodes, the node dashboard exactly one.
    assert variables["node"]["includeAll"] == variables["node"]["multi"] == (name == "cluster")
    for variable in variables.values():
        # "All" is one regex, not an alternation of every value (1,000 node names at 1,000 nodes).
        if variable.get("includeAll"):
            assert variable.get("allValue") in {".*", ".+"}, variable["name"]
    # schemaVersion 39 is what Grafana 10.3 and later write.
    assert dashboard["schemaVersion"] == 39
    (grafana,) = [r for r in dashboard["__requires"] if r["id"] == "grafana"]
    assert tuple(map(int, grafana["version"].split("."))) >= (10, 3, 0)
    panels = dashboard_queries.panels(dashboard)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


@pytest.mark.parametrize("name", DASHBOARD_IDS)
def test_dashboard_datasources_are_the_variable(name):
    dashboard = load_dashboard(name)
    for panel in dashboard_queries.panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


@pytest.mark.parametrize("name", DASHBOARD_IDS)
def test_dashboard_queries_use_contract_metrics_and_recording_rules(name):
    known = CONTRACT_METRICS | records()
    dashboard = load_dashboard(name)
    exprs = [q.expr for q in dashboard_queries.queries(REPO / "grafana" / "dashboards" / f"{name}.json")]
    exprs += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    assert exprs
    for expr in exprs:
        used = dashboard_queries.metric_names(re.sub(r"label_values\((.*),\s*\w+\)$", r"\1", expr))
        assert used, expr
        assert used <= known, f"{expr}: unknown {used - known}"


@pytest.mark.parametrize("name", DASHBOARD_IDS)
def test_dashboard_queries_parse(name, tmp_path):
    # promtool parses every expression of a rules file: wrap each query, variables filled in, as one.
    promtool = tool("promtool", "apt-get install -y prometheus")
    queries = dashboard_queries.queries(REPO / "grafana" / "dashboards" / f"{name}.json")
    rules = [{"record": f"dashboard:query_{i}:check", "expr": dashboard_queries.substitute(q.expr, VARIABLE_VALUES)}
             for i, q in enumerate(queries)]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": name, "rules": rules}]}))
    result = run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


WORKLOAD_PANELS = {
    "node": {"Top workloads by power", "Workload power by kind"},
    "cluster": {"Emissions by namespace", "Emissions by Slurm user", "Power by workload kind", "Attributed energy",
                "Workloads", "Attribution overflows"},
}
FLIGHT_GRAMS = "(1984 * 453.59237)"  # NY<->SF, one passenger, round trip (Strubell et al. 2019, Table 1)
CAR_GRAMS = "(126000 * 453.59237)"  # average car, fuel included, one lifetime


def panel_queries(name: str, title: str) -> list[dashboard_queries.Query]:
    return [q for q in dashboard_queries.queries(REPO / "grafana" / "dashboards" / f"{name}.json") if q.panel == title]


@pytest.mark.parametrize("name", DASHBOARD_IDS)
def test_workload_panels_are_collected_with_what_they_need(name):
    # Every workload panel's queries are collected like the others' (the integration test runs them all), and say
    # what they need beyond exporters: attribution, and kube-state-metrics or Slurm for the namespace and user views.
    titles = {p["title"] for p in dashboard_queries.panels(load_dashboard(name))}
    assert WORKLOAD_PANELS[name] <= titles
    for query in dashboard_queries.queries(REPO / "grafana" / "dashboards" / f"{name}.json"):
        assert ("attribution" in query.needs) == (query.panel in WORKLOAD_PANELS[name]), query
    for query in panel_queries("cluster", "Emissions by namespace"):
        assert query.needs == {"attribution", "kube-state-metrics"}
    for query in panel_queries("cluster", "Emissions by Slurm user"):
        assert query.needs == {"attribution", "slurm"}


def test_needs_reads_the_query():
    assert dashboard_queries.needs('sum(cluster:footprint_power_watts:sum{job=~"$job"})') == frozenset()
    assert dashboard_queries.needs("sum(footprint_workloads)") == {"attribution"}
    assert dashboard_queries.needs("cluster:footprint_attributed_energy:ratio_rate5m") == {"attribution"}
    assert dashboard_queries.needs("kube_pod_info") == {"kube-state-metrics"}
    assert dashboard_queries.needs('rate(footprint_workload_co2e_grams_total{kind="slurm_job"}[5m])') == {
        "attribution", "slurm"}
    assert dashboard_queries.needs("cluster:footprint_embodied_co2e_grams:rate5m") == {"embodied"}
    assert dashboard_queries.needs("cluster:footprint_co2e_with_embodied_grams:rate5m") == frozenset()
    assert dashboard_queries.needs("footprint_workload_embodied_co2e_grams_total") == {"attribution", "embodied"}
    assert dashboard_queries.needs("footprint_grid_intensity_stale == 1") == {"live-grid"}
    assert dashboard_queries.needs("footprint_grid_intensity_grams_per_kwh * on (job, node) group_left (source, zone)"
                                   " footprint_grid_intensity_info") == frozenset()


def test_emissions_by_namespace_and_user_read_the_recorded_series():
    for title, level, label in (("Emissions by namespace", "namespace", "namespace"),
                                ("Emissions by Slurm user", "user", "user")):
        queries = panel_queries("cluster", title)
        exprs = [q.expr for q in queries]
        used = set().union(*(dashboard_queries.metric_names(e) for e in exprs))
        assert used and all(n.startswith(f"{level}:") for n in used), used
        assert all(e.startswith(f"sum by ({label}) (") for e in exprs), exprs
        # Grams over the range: the recorded g/s integrated at a fixed 1m step, whatever the rule interval.
        grams = f"sum by ({label}) (sum_over_time({level}:footprint_workload_co2e_grams:rate5m{{job=~\"$job\"}}[$__range:1m])) * 60"
        assert grams in exprs
        assert f"{grams} / {FLIGHT_GRAMS}" in exprs and f"{grams} / {CAR_GRAMS}" in exprs
        panel = next(p for p in dashboard_queries.panels(load_dashboard("cluster")) if p["title"] == title)
        renamed = next(t for t in panel["transformations"] if t["id"] == "organize")["options"]["renameByName"]
        assert {"NY↔SF flights", "Car lifetimes", "CO2e", "Facility energy (kWh·PUE)"} <= set(renamed.values())


def test_every_flight_and_car_equivalent_uses_the_papers_figures():
    for path in dashboard_queries.DASHBOARDS:
        for query in dashboard_queries.queries(path):
            if "1984" in query.expr:
                assert FLIGHT_GRAMS in query.expr, query
            if "126000" in query.expr:
                assert CAR_GRAMS in query.expr, query
    # 1984 lbs = 899.9 kg; 126,000 lbs = 57.15 t.
    assert round(1984 * 453.59237 / 1e5) == 9 and round(126000 * 453.59237 / 1e6) == 57


def test_top_workloads_are_named_from_the_info_series():
    (query,) = panel_queries("node", "Top workloads by power")
    expr = query.expr
    assert expr.startswith("topk(10, sum by (kind, workload) (rate(footprint_workload_energy_joules_total{")
    assert 'node="$node"' in expr
    assert "group_left (namespace, pod, job_id, user, unit, sluid)" in expr
    assert "footprint_workload_info{" in expr
    # Workloads without an info series are listed too, unnamed.
    assert "\nor on (kind, workload)\n" in expr


def test_grafana_provisioning():
    datasources = yaml.safe_load((REPO / "grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"] is True
    providers = yaml.safe_load((REPO / "grafana/provisioning/dashboards/footprint.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/")


# ------------------------------------------------------------------------------------ dashboards at scale


@pytest.mark.parametrize("name", DASHBOARD_IDS)
def test_dashboards_key_on_node_not_instance(name):
    # A pod's address changes at every rollout: grouping, filtering or naming by it splits a node in two.
    for query in dashboard_queries.queries(REPO / "grafana" / "dashboards" / f"{name}.json"):
        assert dashboard_queries.instance_uses(query.expr) == [], query
        assert "instance" not in query.legend, query
    for annotation in dashboard_queries.annotations(load_dashboard(name)):
        assert dashboard_queries.instance_uses(annotation["expr"]) == [], annotation["name"]


def test_instance_uses_reads_the_query():
    assert dashboard_queries.instance_uses('sum by (job, instance) (up)') == ["by (job, instance)"]
    assert dashboard_queries.instance_uses('sum without (instance) (up)') == ["without (instance)"]
    assert dashboard_queries.instance_uses('up{instance=~"$instance"}') == ['instance=~"$instance"']
    assert dashboard_queries.instance_uses('a * on (instance) group_left b') == ["on (instance)"]
    assert dashboard_queries.instance_uses('sum by (job, node) (up{node=~"$node"})') == []


def test_cluster_dashboard_reads_recorded_series_over_long_ranges():
    # Over 30 days at 1,000 nodes, raw counters are millions of samples a panel: every query over the
    # dashboard's range on the cluster dashboard reads recorded series.
    for query in dashboard_queries.queries(REPO / "grafana" / "dashboards" / "cluster.json"):
        if "$__range" in query.expr:
            raw = {n for n in dashboard_queries.metric_names(query.expr) if ":" not in n}
            assert raw <= {"footprint_attribution_overflow_total"}, query


@pytest.mark.parametrize("name", DASHBOARD_IDS)
def test_dashboard_units(name):
    panels = dashboard_queries.panels(load_dashboard(name))
    for panel in panels:
        fields = [panel.get("fieldConfig", {}).get("defaults", {})] + [
            {p["id"]: p["value"] for p in o["properties"]} for o in panel.get("fieldConfig", {}).get("overrides", [])]
        for field in fields:
            # A custom g/h suffix never scales to kg or t: CO2e per hour is a mass (massg), per hour.
            assert "g/h" not in str(field.get("unit", "")), panel["title"]
        if "rate(" in json.dumps(panel.get("targets", [])) and "errors" in panel["title"].lower():
            assert panel["fieldConfig"]["defaults"]["unit"] in {"cps", "ops", "reqps", "cpm"}, panel["title"]
        assert "kWh·PUE" not in panel["title"] or panel["title"].startswith("Facility energy"), panel["title"]
    titles = {p["title"]: p for p in panels}
    age = titles["Age of last sample"]["fieldConfig"]["defaults"]
    assert age["custom"]["thresholdsStyle"]["mode"] == "line"
    assert [s["value"] for s in age["thresholds"]["steps"]] == [None, 60]  # FootprintSamplingStale's 60 s
    if name == "node":
        (measured,) = titles["Measured domains"]["targets"]
        assert 'source!="estimate"' in measured["expr"]
        assert titles["Sample errors"]["fieldConfig"]["defaults"]["unit"] == "cps"


def test_cluster_dashboard_budget_panels():
    titles = {p["title"]: p for p in dashboard_queries.panels(load_dashboard("cluster"))}
    # No single axis holds 1 hour and 30 days: the trailing windows are split by size.
    windows = {title: {re.search(r"increase(\w+)", t["expr"]).group(1) for t in titles[title]["targets"]}
               for title in ("Emissions over the last hour and day", "Emissions over the last week and month")}
    assert windows == {"Emissions over the last hour and day": {"1h", "24h"},
                       "Emissions over the last week and month": {"7d", "30d"}}
    # Threshold lines only where an alert uses them: each burn panel holds one budget window, its lines
    # the factors of that window's tiers.
    rules = {rule["alert"]: rule for rule in alerts()}
    for title, window in (("Burn rate, 30d budgets", "30d"), ("Burn rate, 7d budgets", "7d")):
        panel = titles[title]
        assert all(f'window="{window}"' in t["expr"] for t in panel["targets"]), title
        steps = {s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]} - {None}
        factors = {f for alert, *_ in BURN_TIERS for f in burn_thresholds(rules[alert]).get(window, {}).values()}
        assert steps == factors, (title, steps, factors)
    assert not [p for p in titles.values() if "burn" in p["title"].lower() and "30d" not in p["title"]
                and "7d" not in p["title"]]
    # The budget table names its columns, not __name__.
    for target in titles["Budget table"]["targets"]:
        assert target["legendFormat"] != "__auto"
    assert "__name__" in next(t for t in titles["Budget table"]["transformations"]
                              if t["id"] == "organize")["options"]["excludeByName"]


def test_cluster_dashboard_for_a_platform_team():
    dashboard = load_dashboard("cluster")
    titles = {p["title"]: p for p in dashboard_queries.panels(dashboard)}
    table = titles["Nodes"]
    exprs = " ".join(t["expr"] for t in table["targets"])
    # Per node: IT and facility power, CO2e (grams and pounds), facility energy, measured or estimated, version.
    for needed in ("node:footprint_power_watts:sum", "node:footprint_facility_energy_joules:rate5m",
                   "node:footprint_co2e_grams:increase1h", "node:footprint_facility_energy_joules:increase1h",
                   'source="estimate"', "footprint_build_info", "453.59237"):
        assert needed in exprs, needed
    assert all(t["expr"].startswith(("sum by (job, node)", "2 * (count by (job, node)", "count by (job, node)",
                                     "max by (job, node, version)")) for t in table["targets"])
    links = json.dumps(table["fieldConfig"])
    assert "var-node=${__data.fields.node}" in links and "var-job=${__data.fields.job}" in links
    for title in ("Top nodes by power", "Top nodes by CO2e"):
        link = titles[title]["fieldConfig"]["defaults"]["links"][0]["url"]
        assert "var-node=${__field.labels.node}" in link and "var-job=${__field.labels.job}" in link
    # Grams beside pounds, and budget history and exhaustion.
    co2e = titles["CO2e"]
    assert [t["expr"].endswith("/ 453.59237") for t in co2e["targets"]] == [False, True]
    assert {"Budget use over time", "Time to exhaustion", "PUE in force", "Grid intensity in force"} <= set(titles)
    # Annotations: firing footprint alerts and PUE and intensity changes.
    exprs = [a["expr"] for a in dashboard_queries.annotations(dashboard)]
    assert 'ALERTS{alertname=~"Footprint.*", alertstate="firing", job=~"$job"}' in exprs
    assert any("footprint_pue" in e for e in exprs) and any("footprint_grid_intensity" in e for e in exprs)
    # Links between the dashboards keep job and node.
    assert any(link.get("includeVars") and "footprint" in link.get("tags", []) for link in dashboard["links"])


def test_carbon_data_panels():
    # Issue #13. The cluster dashboard: each node's intensity in force joined with its source and zone on (job, node),
    # never on instance, beside its age and staleness; operational, embodied and their sum from the recorded rates.
    titles = {p["title"]: p for p in dashboard_queries.panels(load_dashboard("cluster"))}
    table = titles["Grid intensity by node"]
    exprs = [" ".join(t["expr"].split()) for t in table["targets"]]
    assert exprs[0].startswith("max by (job, node) (footprint_grid_intensity_grams_per_kwh{")
    assert "* on (job, node) group_left (source, zone) max by (job, node, source, zone) (footprint_grid_intensity_info{" in exprs[0]
    assert [dashboard_queries.metric_names(e) for e in exprs[1:]] == [
        {"footprint_grid_intensity_age_seconds"}, {"footprint_grid_intensity_stale"}]
    assert all(e.startswith("max by (job, node) (") for e in exprs) and all(t["format"] == "table" for t in table["targets"])
    renamed = next(t for t in table["transformations"] if t["id"] == "organize")["options"]["renameByName"]
    assert {"g/kWh", "Source", "Zone", "Age", "Stale"} <= set(renamed.values())
    assert "var-node=${__data.fields.node}" in json.dumps(table["fieldConfig"])
    for title in ("CO2e per hour, operational and embodied", "CO2e with embodied"):
        used = [dashboard_queries.metric_names(t["expr"]) for t in titles[title]["targets"]]
        assert used == [{"cluster:footprint_co2e_grams:rate5m"}, {"cluster:footprint_embodied_co2e_grams:rate5m"},
                        {"cluster:footprint_co2e_with_embodied_grams:rate5m"}], title
        assert [t["legendFormat"] for t in titles[title]["targets"]] == ["operational", "embodied", "total"], title
    # The stale count marks what FootprintGridIntensityStale fires on.
    rules = {rule["alert"]: rule for rule in alerts()}
    assert rules["FootprintGridIntensityStale"]["expr"] in titles["Nodes on a stale grid intensity"]["targets"][0]["expr"].replace(
        '{job=~"$job", node=~"$node"}', "")
    # The node dashboard: the source and zone in force, its age and staleness, the provider's errors by reason,
    # embodied CO2e.
    titles = {p["title"]: p for p in dashboard_queries.panels(load_dashboard("node"))}
    assert titles["Intensity source"]["targets"][0]["legendFormat"] == "{{source}} {{zone}}"
    assert titles["Intensity source"]["options"]["textMode"] == "name"
    mapped = titles["Intensity stale"]["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert (mapped["0"]["text"], mapped["1"]["text"]) == ("fresh", "stale")
    (errors,) = titles["Grid provider errors"]["targets"]
    assert errors["expr"].startswith("sum by (provider, reason) (rate(footprint_grid_provider_errors_total{")
    assert "footprint_embodied_co2e_grams_total" in titles["Embodied CO2e"]["targets"][0]["expr"]
    assert {"node:footprint_co2e_grams:rate5m", "node:footprint_embodied_co2e_grams:rate5m"} == set().union(
        *(dashboard_queries.metric_names(t["expr"]) for t in titles["CO2e per hour, operational and embodied"]["targets"]))


@pytest.mark.parametrize("name", DASHBOARD_IDS)
def test_dashboard_annotations_parse(name, tmp_path):
    promtool = tool("promtool", "apt-get install -y prometheus")
    rules = [{"record": f"dashboard:annotation_{i}:check", "expr": dashboard_queries.substitute(a["expr"], VARIABLE_VALUES)}
             for i, a in enumerate(dashboard_queries.annotations(load_dashboard(name)))]
    assert rules
    path = tmp_path / "annotation-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": name, "rules": rules}]}))
    result = run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
