#!/usr/bin/env bash
# Resident memory of several footprint_exporter binaries, alternated run by run on one fixture tree:
#
#   bench/ab-rss.sh [--rounds N] BINARY...
#
# For each round and binary: start it on Tests/Fixtures/intel-2socket, wait for the first 200 on /metrics, settle 1 s,
# read VmRSS ("after start"), run wrk for 2 s at 8 connections, read VmRSS again ("after load"). Prints one line per
# run and the median per binary. Used for the link-flag and start-up A/B of bench/analysis.md; build the variants
# with scripts/release-flags.sh's flags minus the one under test.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=5
if [ "${1:-}" = --rounds ]; then rounds=$2; shift 2; fi
[ $# -gt 0 ] || { sed -n '2,9p' "$0"; exit 2; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
fixture=Tests/Fixtures/intel-2socket
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for round in $(seq 1 "$rounds"); do
    for binary in "$@"; do
        "$binary" --web.listen-address=127.0.0.1:$port --path.sysfs=$fixture/sys --path.procfs=$fixture/proc \
            --no-collector.nvml --log.level=error >/dev/null 2>&1 &
        pid=$!
        until curl -sf "http://127.0.0.1:$port/metrics" >/dev/null; do sleep 0.01; done
        sleep 1
        start=$(awk '/^VmRSS/{print $2}' /proc/$pid/status)
        wrk -t2 -c8 -d2s "http://127.0.0.1:$port/metrics" >/dev/null 2>&1
        load=$(awk '/^VmRSS/{print $2}' /proc/$pid/status)
        kill $pid
        wait $pid 2>/dev/null || true
        echo "$round $binary $start $load" | tee -a "$results"
    done
done
echo "median kB after start / after load:"
for binary in "$@"; do
    awk -v b="$binary" '$2 == b {print $3, $4}' "$results" | python3 -c '
import statistics, sys
rows = [tuple(map(int, line.split())) for line in sys.stdin]
print(f"  {statistics.median(r[0] for r in rows):>8.0f} {statistics.median(r[1] for r in rows):>8.0f}  " + sys.argv[1])' "$binary"
done
