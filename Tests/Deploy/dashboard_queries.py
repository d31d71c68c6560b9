"""Reading the Grafana dashboards' queries, shared by Tests/Deploy and Tests/Integration."""

import json
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((REPO / "grafana" / "dashboards").glob("*.json"))


@dataclass(frozen=True)
class Query:
    dashboard: str  # file stem: "node", "cluster"
    panel: str
    ref_id: str
    expr: str
    # What the query needs, besides exporters and the shipped rules, to have data: see needs().
    needs: frozenset[str] = frozenset()
    legend: str = ""


def panels(dashboard: dict) -> list[dict]:
    """Every panel, including those nested in collapsed rows."""
    found = []
    for panel in dashboard.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def queries(path: Path) -> list[Query]:
    dashboard = json.loads(path.read_text())
    return [
        Query(path.stem, panel.get("title", ""), target.get("refId", ""), target["expr"], needs(target["expr"]),
              target.get("legendFormat", ""))
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def annotations(dashboard: dict) -> list[dict]:
    """The dashboard's Prometheus annotation queries (Grafana's built-in one has no expr)."""
    return [a for a in dashboard.get("annotations", {}).get("list", []) if "expr" in a]


def instance_uses(expr: str) -> list[str]:
    """Where a query groups, joins or filters by `instance`: by/without/on/ignoring lists naming it, and label
    matchers on it. Dashboards key on `node`, since `instance` (a pod's address) changes at every rollout."""
    found = [m.group(0) for m in re.finditer(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", expr)
             if "instance" in {label.strip() for label in m.group(1).split(",")}]
    found += [m.group(0) for m in re.finditer(r'\binstance\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"', expr)]
    return found


# Series of workload attribution (docs/design.md §8) and the rules built on them.
_ATTRIBUTION = re.compile(
    r"^(?:(?:node|cluster|namespace|user):)?footprint_(?:workload|unattributed|expired_workload|attribut)")
# Embodied CO2e (docs/embodied.md): counted only by exporters with --embodied.* set, and the rules built on it. The
# operational-plus-embodied total is not among them: it has the operational rate wherever nothing is embodied.
_EMBODIED = re.compile(r"^(?:(?:node|cluster|namespace|user):)?footprint_(?:workload_)?embodied_")
# Series exported only with a live grid intensity source (--grid.intensity.file or --grid.provider).
_LIVE_GRID = {"footprint_grid_intensity_age_seconds", "footprint_grid_intensity_stale",
              "footprint_grid_provider_errors_total"}


def needs(expr: str) -> frozenset[str]:
    """What a query needs, besides exporters and the shipped rules, to have data:
      "attribution"         an exporter with attribution on and at least one workload (a pod, Slurm job or unit
                            cgroup) on its node;
      "kube-state-metrics"  kube_pod_info for the pods' UIDs (the namespace:* rules join it);
      "slurm"               a Slurm job whose exporter knows its user (the user:* rules, kind="slurm_job").
      "embodied"            an exporter with --embodied.* set (footprint_embodied_co2e_grams_total and its rules);
      "live-grid"           an exporter with a live grid intensity source, an intensity file or a provider (the
                            intensity's age and staleness, and the provider's errors).
    A query with none of them has data wherever exporters run; one with any may rightly be empty without it."""
    names = metric_names(expr)
    found = set()
    if any(_ATTRIBUTION.match(name) for name in names):
        found.add("attribution")
    if any(name.startswith(("kube_", "namespace:")) for name in names):
        found.add("kube-state-metrics")
    if any(name.startswith("user:") for name in names) or re.search(r'\bkind\s*=~?\s*"slurm_job"', expr):
        found.add("slurm")
    if any(_EMBODIED.match(name) for name in names):
        found.add("embodied")
    if names & _LIVE_GRID:
        found.add("live-grid")
    return frozenset(found)


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replaces Grafana's $var, ${var} and ${var:format} with values[var]; unknown names are an error."""

    def replace(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"no value for ${name} in {expr!r}")
        return values[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", replace, expr)


_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "offset", "inf", "nan", "atan2",
}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects. A small lexer, enough for dashboards and rules: strings,
    label matchers, ranges, grouping label lists, numbers and function calls are not metric names."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{?\w+(?::\w+)?\}?", " ", text)
    text = re.sub(r"(?<![\w:.])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        rest = text[match.end():].lstrip()
        if rest.startswith("(") or match.group(0) in _KEYWORDS:
            continue
        names.add(match.group(0))
    return names
