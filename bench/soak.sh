#!/usr/bin/env bash
# Soak: wrk on /metrics for SOAK_SECONDS (default 600) against a release build sampling every 100 ms over a
# moving two-socket RAPL fixture; records RSS every 30 s and fails on any non-2xx answer or socket error.
# Usage: bench/soak.sh [seconds]   (writes bench/SOAK.md)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-${SOAK_SECONDS:-600}}
make -s build-release >/dev/null
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cp -r Tests/Fixtures/intel-2socket "$work/tree"
# Counters move every 100 ms, rewritten by rename as sysfs values change.
(
  energy=1000000
  while true; do
    energy=$((energy + 20000))
    for zone in intel-rapl:0 intel-rapl:1 intel-rapl:0:0 intel-rapl:1:0 intel-rapl:0:2 intel-rapl:1:2; do
      f="$work/tree/sys/class/powercap/$zone/energy_uj"; echo "$energy" > "$f.tmp"; mv "$f.tmp" "$f"
    done
    sleep 0.1
  done
) &
./.build/release/footprint_exporter --web.listen-address=127.0.0.1:19700 --sample.interval=100ms \
  --path.sysfs="$work/tree/sys" --path.procfs="$work/tree/proc" --no-collector.nvml --no-collector.hwmon \
  > "$work/exporter.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:19700/metrics && break; sleep 0.05; done
rss() { awk '/VmRSS/ {print $2}' /proc/$pid/status; }
start_rss=$(rss)
samples="$work/rss.txt"; : > "$samples"
( while sleep 30; do echo "$(date +%s) $(rss)" >> "$samples"; done ) &
wrk -t2 -c8 -d"${seconds}s" --latency http://127.0.0.1:19700/metrics > "$work/wrk.txt"
end_rss=$(rss)
cat "$work/wrk.txt"
errors=$(grep -E "Non-2xx|Socket errors" "$work/wrk.txt" || true)
max_rss=$(awk 'BEGIN{m=0} {if ($2>m) m=$2} END{print m}' "$samples")
{
  echo "# Soak: ${seconds} s of wrk on /metrics at 100 ms sampling"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p'))."
  echo "wrk -t2 -c8 against a release build over a moving two-socket RAPL fixture."
  echo
  echo "| figure | value |"
  echo "|---|---|"
  echo "| requests | $(awk '/requests in/ {print $1}' "$work/wrk.txt") |"
  echo "| requests/s | $(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt") |"
  echo "| latency p50 / p99 | $(awk '$1=="50%" {p50=$2} $1=="99%" {p99=$2} END {print p50 " / " p99}' "$work/wrk.txt") |"
  echo "| errors (non-2xx, socket) | ${errors:-none} |"
  echo "| RSS at start | ${start_rss} kB |"
  echo "| RSS at end | ${end_rss} kB |"
  echo "| highest RSS seen (every 30 s) | ${max_rss} kB |"
  echo
  echo "RSS every 30 s (kB): $(awk '{printf "%s ", $2}' "$samples")"
} > bench/SOAK.md
cat bench/SOAK.md
kill -TERM $pid; wait $pid || true
[ -z "$errors" ]
