#!/usr/bin/env python3
"""Renders bench/results.json (written by bench/bench.py) as the Markdown of bench/RESULTS.md.

    python3 bench/render.py bench/results.json > bench/RESULTS.md

Every number in the output comes from the JSON. The hand-written profile of missed targets, bench/analysis.md, is
appended when it exists: it refers to the run it was written for, named at its top.
"""

import json
import os
import sys

FP = "footprint"
NE = "node_exporter"
HERE = os.path.dirname(os.path.abspath(__file__))


def num(value, digits=3):
    """A number with `digits` significant digits, thousands separated; '–' for none."""
    if value is None:
        return "–"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 10 ** digits:
        return f"{value:,.0f}"
    text = f"{value:.{digits}g}"
    if "e" in text:
        text = f"{value:.{max(digits, 6)}f}".rstrip("0").rstrip(".")
    return text


def ratio(a, b):
    if a is None or b in (None, 0):
        return "–"
    value = a / b
    return f"{num(value)}×"


def mib(kb):
    return None if kb is None else kb / 1024


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def render(result, directory=HERE):
    """`directory`: where the results file is; a carried section written there (bench/carbon.py's CARBON.md, which
    bench/run.sh writes beside results.json) is taken before the one in bench/."""
    s = result["summary"]
    m = result["machine"]
    p = result["parameters"]
    out = []
    w = out.append
    w("# footprint_exporter vs node_exporter — benchmark results\n")
    w(f"Generated from `bench/results.json` by `bench/render.py`: one **{result['mode']}** run of `bench/run.sh` "
      f"(`make bench`) on {result['generated']}, {result['wall_seconds'] / 60:.1f} minutes in all. "
      "Regenerate both files with `make bench`; `bench/run.sh --quick` runs the same code paths in seconds.\n")
    if result["mode"] != "full":
        w("> **Quick mode**: durations are too short for the figures to mean anything; this file only shows that "
          "every path ran.\n")

    w("## Machine\n")
    w(table(["", ""], [
        ["CPU", f"{m['cpu_model']}{' (' + m['hypervisor'] + ' guest)' if m.get('hypervisor') else ''}"],
        ["cores", m["cores"]],
        ["memory", f"{num(mib(m['memory_kb']) / 1024)} GiB" if m.get("memory_kb") else "–"],
        ["kernel", m["kernel"]],
        ["OS", m.get("os") or "–"],
        ["footprint_exporter", f"{m['footprint_version']}, revision {m['footprint_revision']}, "
                               f"{m['footprint_build']}, built with {m['swift_version']}"],
        ["node_exporter", " ".join(f"{m['node_exporter_version']}, {m['node_exporter_go']}".split())],
        ["load generator", m["wrk_version"]],
        ["perf", "yes (task-clock for idle CPU, cpu-clock profiles)" if m["perf"] else "no (/proc ticks only)"],
    ]))
    w("")

    w("## How it was measured\n")
    w(f"""- **Fixture**: one sysfs tree read by both exporters: `class/powercap/intel-rapl:N` (package-N) and
  `intel-rapl:N:0..2` (core, uncore, dram) per socket, each with `name`, `energy_uj`, `max_energy_range_uj` and a
  power constraint; 2 sockets unless stated. A background process rewrites every `energy_uj` (and the fake NVML
  script) every 100 ms by atomic rename, so the counters move throughout.
- **Exporters**: footprint `--web.listen-address=127.0.0.1:PORT --path.sysfs=TREE/sys --path.procfs=TREE/proc
  --sample.interval=1s --no-collector.hwmon --no-collector.nvml --web.max-connections-per-ip=128` (100 ms and the
  NVML flags where stated; the per-IP limit is lifted from its default of 64, see "Defaults" below).
  node_exporter `--collector.disable-defaults --collector.rapl --web.listen-address=127.0.0.1:PORT
  --path.sysfs=TREE/sys --web.max-requests=0`: its default `--web.max-requests=40` answers 503 to the 41st
  concurrent scrape, which at 64 connections would compare rejections with scrapes; it changes nothing at 1 and 8.
  node_exporter serves its own `go_*`/`process_*`/`promhttp_*` families as by default, so its body is larger (below).
- **Alternation**: {p['rounds']} rounds; in each, one exporter is started fresh, measured, stopped, then the other;
  the order alternates round by round. Figures are the median over rounds. A round: start (time to first 200),
  {p['settle']:g} s settle, RSS, then `wrk -t1 --latency` at {', '.join(map(str, p['conns']))} connections for
  {p['wrk_seconds']:g} s each (after a {p['warmup']:g} s warm-up), then 1 and 8 concurrent `wrk -c1` instances for
  {p['scraper_seconds']:g} s, then RSS again. One wrk thread leaves the second core to the exporter.
- **CPU per scrape**: utime+stime of the exporter (`/proc/PID/stat`, all threads) over a wrk run, divided by the
  scrapes it answered. footprint's figure includes its 1 s sampling during the run (negligible, see idle).
- **Idle**: one window of {p['idle_seconds']:g} s with no scrape at all, every idle process running side by side
  (footprint at 1 s and 100 ms sampling, node_exporter, and the scaling processes). CPU from `perf stat -e task-clock
  -p PID` (sub-ms resolution) and from `/proc/PID/stat` (10 ms ticks), extrapolated to an hour. node_exporter has no
  sampling: it reads RAPL only when scraped, so its idle is a process with nothing to do.
- **Start-up**: from `fork/exec` to the first `GET /metrics` that answers 200, polled every 0.5 ms (footprint answers
  503 until its first sample); {p['startup_runs']} alternating starts each plus one per round.
- **Scaling**: sampling cost = idle CPU of footprint at 100 ms over {', '.join(map(str, p['sockets']))} sockets
  (4 zones each) and {', '.join(map(str, p['gpus']))} GPUs on the fake NVML library (with the 2-socket RAPL tree);
  scrape cost = CPU per scrape at 8 connections for {p['scale_wrk_seconds']:g} s, fresh processes.
""")

    w("## Targets\n")
    rows = []
    for t in s["targets"]:
        state = "–" if t["met"] is None else ("**met**" if t["met"] else "**missed**")
        rows.append([t["name"], f"{num(t['value'])} {t['unit']}", f"{t['op']} {num(t['limit'])}", state])
    w(table(["target", "measured", "limit", ""], rows))
    w("")

    w("## Every figure, both exporters\n")
    rows = []
    for c in p["conns"]:
        f, n = s["load"][FP][str(c)], s["load"][NE][str(c)]
        rows.append([f"scrapes/s, {c} conn", num(f["rps"]), num(n["rps"]), ratio(f["rps"], n["rps"])])
    for c in p["conns"]:
        f, n = s["load"][FP][str(c)], s["load"][NE][str(c)]
        rows.append([f"latency p50, {c} conn (ms)", num(f["p50_ms"]), num(n["p50_ms"]), ratio(f["p50_ms"], n["p50_ms"])])
        rows.append([f"latency p99, {c} conn (ms)", num(f["p99_ms"]), num(n["p99_ms"]), ratio(f["p99_ms"], n["p99_ms"])])
    for c in p["conns"]:
        f, n = s["load"][FP][str(c)], s["load"][NE][str(c)]
        rows.append([f"CPU per 1000 scrapes, {c} conn (ms)", num(f["cpu_ms_per_1000_scrapes"]),
                     num(n["cpu_ms_per_1000_scrapes"]),
                     ratio(f["cpu_ms_per_1000_scrapes"], n["cpu_ms_per_1000_scrapes"])])
    rows.append(["/metrics body (bytes)", num(s["body_bytes"][FP]), num(s["body_bytes"][NE]),
                 ratio(s["body_bytes"][FP], s["body_bytes"][NE])])
    mf, mn = s["memory_kb"][FP], s["memory_kb"][NE]
    for key, label in [("rss_after_start", "RSS after start (MiB)"), ("rss_after_load", "RSS after load (MiB)"),
                       ("hwm_after_load", "peak RSS, VmHWM (MiB)"), ("anon_after_load", "  of it anonymous, after load (MiB)"),
                       ("file_after_load", "  of it file-backed, after load (MiB)"),
                       ("pss_after_start", "PSS after start (MiB; shared pages split among their users)"),
                       ("pss_after_load", "PSS after load (MiB)"),
                       ("private_after_load", "private (USS) after load (MiB; freed on exit)")]:
        if key not in mf:
            continue
        rows.append([label, num(mib(mf[key])), num(mib(mn[key])), ratio(mf[key], mn[key])])
    rows.append(["threads", num(mf["threads_after_load"]), num(mn["threads_after_load"]), ""])
    sf, sn = s["startup_ms"][FP], s["startup_ms"][NE]
    rows.append([f"start-up to first 200, median of {sf['runs']} (ms)", num(sf["median"]), num(sn["median"]),
                 ratio(sf["median"], sn["median"])])
    rows.append(["start-up, worst run (ms)", num(sf["max"]), num(sn["max"]), ratio(sf["max"], sn["max"])])
    i = s["idle"]
    for name, label in [("fp_1s", "idle CPU, footprint at 1 s sampling"),
                        ("fp_100ms", "idle CPU, footprint at 100 ms sampling")]:
        if name not in i:
            continue
        rows.append([f"{label} (CPU s/hour, perf)", num(i[name]["cpu_seconds_per_hour_perf"]),
                     num(i["ne"]["cpu_seconds_per_hour_perf"]),
                     ratio(i[name]["cpu_seconds_per_hour_perf"], i["ne"]["cpu_seconds_per_hour_perf"])])
        rows.append([f"  same, % of one core", num(i[name]["core_percent_perf"]), num(i["ne"]["core_percent_perf"]),
                     ""])
        rows.append([f"  same, from /proc ticks (CPU s/hour)", num(i[name]["cpu_seconds_per_hour_proc"]),
                     num(i["ne"]["cpu_seconds_per_hour_proc"]), ""])
    for instances in p["scrapers"]:
        f, n = s["scrapers"][FP][str(instances)], s["scrapers"][NE][str(instances)]
        rows.append([f"{instances} concurrent scraper(s) × 1 conn: scrapes/s", num(f["rps"]), num(n["rps"]),
                     ratio(f["rps"], n["rps"])])
        rows.append([f"  p99 (ms, worst instance)", num(f["p99_ms"]), num(n["p99_ms"]), ratio(f["p99_ms"], n["p99_ms"])])
        rows.append([f"  CPU per 1000 scrapes (ms)", num(f["cpu_ms_per_1000_scrapes"]),
                     num(n["cpu_ms_per_1000_scrapes"]),
                     ratio(f["cpu_ms_per_1000_scrapes"], n["cpu_ms_per_1000_scrapes"])])
    w(table(["figure", "footprint", "node_exporter", "footprint / node_exporter"], rows))
    if "fp_1s" in i:
        w("\nThe idle node_exporter column is the same process in both idle rows (it does not sample).\n")
    else:
        w("")

    d = s.get("defaults") or {}
    if d.get("keep_alive") is not None:
        w("## Defaults the benchmark flags change\n")
        ka = d["keep_alive"]
        dl = d["footprint_64_default_limits"]
        errors = sum(dl["errors"].values())
        w(table(["check", "footprint", "node_exporter"], [
            ["keeps an HTTP/1.1 connection alive between two scrapes", "yes" if ka[FP] else "**no** (`Connection: close`)",
             "yes" if ka[NE] else "**no**"],
            ["64 connections at footprint's default per-IP limit (64): scrapes/s",
             num(dl["rps"]), "(n/a)"],
            ["  connections reset by the server (wrk read/connect errors)",
             f"{errors:,}" + (" (" + ", ".join(f"{k[4:]} {v:,}" for k, v in dl["errors"].items() if v) + ")"
                               if errors else ""), "(n/a)"],
        ]))
        w("")
    if s["idle"]:
        w("## How cost grows\n")
        w(growth_section(s, p))
    load = s.get("system_load") or {}
    if load:
        w("## Machine load during the run\n")
        w("The machine is shared (other builds and tests may run beside the benchmark); this is what it carried. "
          "`busy` is the share of both cores in use over the phase, the benchmark's own processes included: in the "
          "idle phase anything above a few % is someone else.\n")
        if m.get("busy_before_run") is not None:
            w(f"Both cores were {num(100 * m['busy_before_run'])} % busy in the second before the run began.\n")
        w(table(["phase", "load average (1 min) at start", "busy, both cores", "seconds"],
                [[name, num(v["loadavg_1m_at_start"]), f"{num(100 * v['busy_fraction'])} %" if v["busy_fraction"]
                  is not None else "–", num(v["seconds"])] for name, v in load.items()]))
        w("")

    w("## Reading\n")
    w(reading(s, p))
    w("")

    analysis = os.path.join(HERE, "analysis.md")
    if os.path.exists(analysis) and result["mode"] == "full":
        with open(analysis) as handle:
            w(handle.read().rstrip() + "\n")
    # The benchmarks of other issues, each measured side by side with its own peer and written by its own script,
    # are carried here whole so that this file stays the one place with every latest result.
    if result["mode"] == "full":
        for name in ("ATTRIBUTION.md", "PAGE.md", "RULES.md", "CARBON.md"):
            path = os.path.join(directory, name)
            if not os.path.exists(path):
                path = os.path.join(HERE, name)
            if os.path.exists(path):
                w(demoted(path))
    return "\n".join(out)


def demoted(path):
    """A markdown file's text with every heading one level deeper, under a note naming the file it comes from."""
    with open(path) as handle:
        lines = handle.read().rstrip().split("\n")
    fenced = False
    for index, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            lines[index] = "#" + line
    title, body = lines[0], lines[1:]
    name = os.path.basename(path)
    return f"{title}\n\n*Copied from [bench/{name}]({name}) when this file was rendered.*\n" + "\n".join(body) + "\n"


def growth_section(s, p):
    out = []
    w = out.append
    i = s["idle"]
    w("**Sampling cost** (footprint at 100 ms, no scrapes; node_exporter does no sampling):\n")
    growth = s["sampling_growth"]
    rows = []
    for n, cost in growth["sockets"]["points"]:
        rows.append([f"{n} sockets ({4 * n} zones)", num(cost), num(cost / 36 if cost is not None else None),
                     num(cost / (4 * n) if cost else None)])
    w(table(["RAPL", "CPU s/hour", "% of one core", "CPU s/hour per zone"], rows))
    fit = growth["sockets"]["fit"]
    if fit:
        w(f"\nLeast-squares line: {num(fit['intercept'])} + {num(fit['slope'])} × zones CPU s/hour; marginal cost per "
          f"zone between steps {', '.join(num(x) for x in fit['marginal_per_unit'])} CPU s/hour.\n")
    rows = []
    own_points = dict(growth["gpus_without_fake_library"]["points"])
    fake_cost = growth.get("fake_library_cpu_s_per_hour") or {}
    for n, cost in growth["gpus"]["points"]:
        rows.append([f"{n} GPU{'s' if n != 1 else ''}", num(cost), num(cost / 36 if cost is not None else None),
                     num(fake_cost.get(str(n))), num(own_points.get(n))])
    w(table(["fake NVML (+ 2-socket RAPL)", "CPU s/hour", "% of one core", "of it the fake library's own work",
             "CPU s/hour without it"], rows))
    fit = growth["gpus_without_fake_library"]["fit"]
    if fit:
        w(f"\nWithout the fake library's own work: {num(fit['intercept'])} + {num(fit['slope'])} × GPUs CPU s/hour; "
          f"marginal cost per GPU between steps {', '.join(num(x) for x in fit['marginal_per_unit'])} CPU s/hour. "
          "The fake re-reads and parses its whole script on every NVML call, so its own cost grows with the square "
          "of the GPU count (a real driver's does not); `bench/fake-nvml-cost.c` measures it apart, making the calls "
          "footprint makes per sample, and it is subtracted.\n")

    w("**Scrape cost** (8 connections; CPU per 1000 scrapes in ms):\n")
    rows = []
    for n in p["sockets"]:
        f = s["scale_sockets"].get(FP, {}).get(str(n), {})
        ne = s["scale_sockets"].get(NE, {}).get(str(n), {})
        rows.append([f"{n} sockets ({4 * n} zones)", num(f.get("cpu_ms_per_1000_scrapes")),
                     num(ne.get("cpu_ms_per_1000_scrapes")),
                     ratio(f.get("cpu_ms_per_1000_scrapes"), ne.get("cpu_ms_per_1000_scrapes")),
                     num(f.get("rps")), num(ne.get("rps")), num(f.get("body_bytes")), num(ne.get("body_bytes"))])
    for n in p["gpus"]:
        f = s["scale_gpus"].get(str(n), {})
        rows.append([f"{n} GPU{'s' if n != 1 else ''} (+ 2 sockets)", num(f.get("cpu_ms_per_1000_scrapes")), "no NVML collector", "",
                     num(f.get("rps")), "", num(f.get("body_bytes")), ""])
    w(table(["zones / GPUs", "footprint CPU/1000", "node_exporter CPU/1000", "ratio", "footprint scrapes/s",
             "node_exporter scrapes/s", "footprint bytes", "node_exporter bytes"], rows))
    w("")
    return "\n".join(out)


def reading(s, p):
    """One paragraph, generated from the figures, so that it cannot disagree with them."""
    f8, n8 = s["load"][FP]["8"], s["load"][NE]["8"]
    mf, mn = s["memory_kb"][FP], s["memory_kb"][NE]
    i = s["idle"]
    missed = [t["name"] for t in s["targets"] if t["met"] is False]
    flat = s["scrapers"][FP]
    scraper_flat = next((t["met"] for t in s["targets"] if t["name"].startswith("scrape cost flat")), None) is not False
    parts = [
        f"At 8 connections footprint answered {num(f8['rps'])} scrapes/s against node_exporter's {num(n8['rps'])} "
        f"({ratio(f8['rps'], n8['rps'])}), with a p99 of {num(f8['p99_ms'])} ms against {num(n8['p99_ms'])} ms "
        f"({ratio(f8['p99_ms'], n8['p99_ms'])}), and spent {num(f8['cpu_ms_per_1000_scrapes'])} ms of CPU per 1000 "
        f"scrapes against {num(n8['cpu_ms_per_1000_scrapes'])} ms: a scrape is a copy of bytes rendered at the last "
        "sample, where node_exporter reads every zone and encodes the exposition on each request.",
        f"Its CPU per scrape with {p['scrapers'][-1]} concurrent single-connection scrapers was "
        f"{ratio(flat[str(p['scrapers'][-1])]['cpu_ms_per_1000_scrapes'], flat[str(p['scrapers'][0])]['cpu_ms_per_1000_scrapes'])} "
        "that with one" + (", so more Prometheus servers cost no more per scrape." if scraper_flat else
                           ": the cost per scrape grows with the number of scrapers."),
    ] + ([
        f"Idle, it samples at 1 s for {num(i['fp_1s']['core_percent_perf'])} % of one core "
        f"({num(i['fp_1s']['cpu_seconds_per_hour_perf'])} CPU s/hour) and at 100 ms for "
        f"{num(i['fp_100ms']['core_percent_perf'])} %, while node_exporter, which does nothing until scraped, used "
        f"{num(i['ne']['cpu_seconds_per_hour_perf'])} CPU s/hour.",
    ] if "fp_1s" in i else []) + [
        f"It was ready to serve {num(s['startup_ms'][FP]['median'])} ms after exec (worst "
        f"{num(s['startup_ms'][FP]['max'])} ms) against node_exporter's {num(s['startup_ms'][NE]['median'])} ms.",
        f"Resident memory is {num(mib(mf['rss_after_start']))} MiB after start and {num(mib(mf['rss_after_load']))} "
        f"MiB after load against {num(mib(mn['rss_after_start']))} and {num(mib(mn['rss_after_load']))} MiB; "
        f"footprint's anonymous memory after load is {num(mib(mf['anon_after_load']))} MiB against "
        f"{num(mib(mn['anon_after_load']))} MiB, the rest is mapped code and data of shared libraries "
        f"({num(mib(mf['file_after_load']))} MiB file-backed against node_exporter's "
        f"{num(mib(mn['file_after_load']))} MiB of its Go binary and libc).",
    ]
    growth = s.get("sampling_growth") or {}
    zones_fit = (growth.get("sockets") or {}).get("fit")
    gpus_fit = (growth.get("gpus_without_fake_library") or {}).get("fit")
    scale_fp, scale_ne = s["scale_sockets"].get(FP, {}), s["scale_sockets"].get(NE, {})
    if zones_fit and gpus_fit and scale_fp and scale_ne:
        lo, hi = str(p["sockets"][0]), str(p["sockets"][-1])
        parts.append(
            f"Sampling at 100 ms costs {num(zones_fit['slope'])} CPU s/hour more per RAPL zone and "
            f"{num(gpus_fit['slope'])} per GPU (least squares; the last step's marginal cost is "
            f"{num(zones_fit['marginal_growth'])}× and {num(gpus_fit['marginal_growth'])}× the first's, where 1 is "
            f"linear and 4–8 quadratic over these sizes); from {4 * int(lo)} to "
            f"{4 * int(hi)} zones footprint's CPU per scrape went from {num(scale_fp[lo]['cpu_ms_per_1000_scrapes'])} "
            f"to {num(scale_fp[hi]['cpu_ms_per_1000_scrapes'])} ms per 1000, node_exporter's from "
            f"{num(scale_ne[lo]['cpu_ms_per_1000_scrapes'])} to {num(scale_ne[hi]['cpu_ms_per_1000_scrapes'])} ms.")
    if missed:
        parts.append("Missed: " + "; ".join(missed) + " — see the profile below.")
    else:
        parts.append("Every target is met.")
    return " ".join(parts)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1]) as handle:
        result = json.load(handle)
    sys.stdout.write(render(result, os.path.dirname(os.path.abspath(sys.argv[1]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
