#!/usr/bin/env python3
"""Tables for bench/RULES.md from bench/rules-results.json (written by bench/rules_backfill.py).

    python3 bench/rules_report.py [bench/rules-results.json]   # prints Markdown
"""
import json
import sys
from collections import defaultdict
from pathlib import Path

RANGES = ["24h", "7d", "30d"]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("rules-results.json")
    r = json.loads(path.read_text())
    out = []
    s = r["scale"]
    out.append(f"Scale: {s['nodes']:,} nodes, {s['days']} days; {s['total_samples'] / 1e6:,.0f} M samples backfilled "
               f"({s['openmetrics_bytes'] / 2**30:,.1f} GiB of OpenMetrics, {s['data_bytes'] / 2**20:,.0f} MiB of TSDB); "
               f"generation {s['generate_seconds']:.0f} s, backfill {s['backfill_seconds']:.0f} s.")
    m = r["machine"]
    out.append(f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; {m['prometheus']}.")
    out.append("")
    out.append("Rule groups (evaluation time, median of the evaluations seen; every group evaluated every "
               f"{r['evaluation_interval']} for the measurement):")
    out.append("")
    out.append("| group | old: median ms | old: max ms | new: median ms | new: max ms |")
    out.append("|---|---:|---:|---:|---:|")
    groups = sorted(set(r["old"]["groups"]) | set(r["new"]["groups"]),
                    key=lambda g: ["footprint-power", "footprint-budget-windows", "footprint-budgets",
                                   "footprint-workloads", "footprint-alerts"].index(g))
    totals = {"old": 0.0, "new": 0.0}
    for group in groups:
        cells = []
        for label in ("old", "new"):
            g = r[label]["groups"].get(group)
            cells += [ms(g["median_s"]), ms(g["max_s"])] if g else ["—", "—"]
            totals[label] += g["median_s"] if g else 0
        out.append(f"| {group} | " + " | ".join(cells) + " |")
    out.append(f"| **all groups** | **{ms(totals['old'])}** | | **{ms(totals['new'])}** | |")
    out.append("")
    out.append("Dashboard panel queries (seconds for all of a dashboard's queries, each the median of "
               f"{r['runs']} runs, the time range's end now):")
    out.append("")
    out.append("| dashboard | range | old: queries | old: total s | old: slowest | new: queries | new: total s | new: slowest |")
    out.append("|---|---|---:|---:|---|---:|---:|---|")
    for dashboard in ("cluster", "node"):
        for range_name in RANGES:
            cells = []
            for label in ("old", "new"):
                panels = [p for p in r[label]["panels"] if p["dashboard"] == dashboard and p["range"] == range_name]
                slowest = max(panels, key=lambda p: p["median_s"])
                errors = sum(1 for p in panels if p.get("error"))
                cells += [f"{len(panels)}" + (f" ({errors} failed)" if errors else ""),
                          f"{sum(p['median_s'] for p in panels):.2f}",
                          f"{slowest['panel']} [{slowest['ref']}] {slowest['median_s']:.2f} s"]
            out.append(f"| {dashboard} | {range_name} | " + " | ".join(cells) + " |")
    out.append("")
    out.append("Slowest panel queries over 30d:")
    out.append("")
    out.append("| rules | dashboard | panel | query | s | series |")
    out.append("|---|---|---|---|---:|---:|")
    for label in ("old", "new"):
        panels = sorted((p for p in r[label]["panels"] if p["range"] == "30d"), key=lambda p: -p["median_s"])[:6]
        for p in panels:
            note = f" ({p['error'][:60]})" if p.get("error") else ""
            out.append(f"| {label} | {p['dashboard']} | {p['panel']} | {p['ref']}{note} | {p['median_s']:.3f} | {p['series']} |")
    errors = defaultdict(list)
    for label in ("old", "new"):
        for p in r[label]["panels"]:
            if p.get("error"):
                errors[label].append(f"{p['dashboard']} / {p['panel']} [{p['ref']}] {p['range']}: {p['error'][:100]}")
    if errors:
        out.append("")
        out.append("Failed queries:")
        for label, lines in errors.items():
            for line in lines:
                out.append(f"- {label}: {line}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
