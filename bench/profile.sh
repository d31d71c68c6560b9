#!/usr/bin/env bash
# Profiles behind bench/analysis.md, for one footprint binary (default: the release build bench/run.sh makes).
#
#   bench/profile.sh [BINARY] [OUTDIR]      (OUTDIR default: bench/profile)
#
#   rss-<name>.txt        where resident memory is, after start and one scrape (bench/rss_breakdown.py)
#   startup-<name>.txt    perf profile of 30 × `BINARY --version`: what process start-up costs before any work
#   sampling-<name>.txt   perf profile of 10 s of sampling at 100 ms with no scrapes: where each sample's CPU goes
#
# Needs perf (linux-perf) and root (pagemap, perf on a running process).
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-.build-bench/release/footprint_exporter}
out=${2:-bench/profile}
name=$(basename "$binary")
[ -x "$binary" ] || { echo "bench/profile.sh: no binary at $binary (run bench/run.sh first)" >&2; exit 1; }
command -v perf >/dev/null || { echo "bench/profile.sh: needs perf" >&2; exit 1; }
mkdir -p "$out"
work=$(mktemp -d -t footprint-profile-XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

python3 -c "import sys; sys.path.insert(0, 'bench'); import bench; bench.make_tree('$work/tree', 2)"
port=$(python3 -c "import sys; sys.path.insert(0, 'bench'); import bench; print(bench.free_port())")
start() {
    "$binary" --web.listen-address=127.0.0.1:$port --path.sysfs=$work/tree/sys --path.procfs=$work/tree/proc \
        --no-collector.hwmon --no-collector.nvml "$@" 2>"$work/log" &
    pid=$!
    for _ in $(seq 200); do
        curl -sf -o /dev/null "http://127.0.0.1:$port/metrics" && return 0
        sleep 0.02
    done
    echo "bench/profile.sh: exporter did not serve /metrics" >&2; cat "$work/log" >&2; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
demangle() { if command -v swift >/dev/null; then swift demangle --simplified; else cat; fi; }

# Resident memory after start.
start
sleep 1
python3 bench/rss_breakdown.py "$pid" >"$out/rss-$name.txt"
stop

# Start-up: 30 exec-to-exit runs of --version, all of the process's own start-up work and nothing else.
perf record -q -e cpu-clock -F 20000 -o "$work/version.data" -- \
    sh -c "for i in \$(seq 30); do '$binary' --version >/dev/null; done" 2>/dev/null
{
    echo "# perf stat -r 30 $binary --version"
    perf stat -r 30 -e task-clock "$binary" --version 2>&1 >/dev/null | grep -E "task-clock|elapsed" || true
    echo
    echo "# perf record of 30 runs of --version: top symbols of the exporter's process"
    perf report -i "$work/version.data" --stdio --no-children --sort dso,sym -q -g none \
        --comm "$(basename "$(readlink -f "$binary")" | cut -c1-15)" 2>/dev/null | head -30 | demangle | cut -c1-200 || true
} >"$out/startup-$name.txt"

# Sampling at 100 ms with no scrapes.
start --sample.interval=100ms
sleep 1
perf record -q -e cpu-clock -F 5000 -g -o "$work/sampling.data" -p "$pid" -- sleep 10 2>/dev/null
stop
{
    echo "# perf record -g, 10 s of sampling at 100 ms, no scrapes: inclusive share of the exporter's own frames"
    perf report -i "$work/sampling.data" --stdio --children --sort sym -q -g none 2>/dev/null |
        grep -E 'FootprintExporter|PowerSources|EnergyAccounting|_dispatch_worker_thread|_dispatch_mgr' | head -25 |
        demangle | cut -c1-200 || true
    echo
    echo "# self time by shared object"
    perf report -i "$work/sampling.data" --stdio --no-children --sort dso -q -g none 2>/dev/null | head -10 || true
} >"$out/sampling-$name.txt"
echo "wrote $out/rss-$name.txt $out/startup-$name.txt $out/sampling-$name.txt" >&2
