#!/usr/bin/env bash
# footprint_exporter vs node_exporter's RAPL collector, side by side on one fixture sysfs tree.
#
#   bench/run.sh            full run (about 13 minutes): release build, every figure, writes bench/results.json and
#                           renders bench/RESULTS.md from it; then bench/carbon.py (about 6 minutes: what the live
#                           grid intensity costs, bench/CARBON.md), whose section RESULTS.md carries
#   bench/run.sh --quick    every code path with tiny durations (about 10 s) on the debug build that `make test`
#                           has just made; writes nothing in the tree; exits non-zero if anything breaks
#
# Options: --binary PATH (footprint binary to use instead of building), --out DIR (where results.json and RESULTS.md
# go; default bench/ for a full run, a temporary directory for --quick), --no-render, --phases LIST (a subset of
# startup,rounds,defaults,idle,scaling; rounds is always needed), e.g. to compare a patched build quickly,
# --no-carbon (leave bench/carbon.py out of a full run; --quick never runs it: `make test` must stay fast).
# Environment: NODE_EXPORTER (default: prometheus-node-exporter or node_exporter on PATH), SWIFT (default: swift),
# CODECARBON_PYTHON (a Python with codecarbon installed: bench/carbon.py then measures its live path too).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=full
binary=${FOOTPRINT_BINARY:-}
out=
render=yes
phases=
carbon=yes
while [ $# -gt 0 ]; do
    case $1 in
    --quick) mode=quick ;;
    --binary) binary=$2; shift ;;
    --binary=*) binary=${1#*=} ;;
    --out) out=$2; shift ;;
    --out=*) out=${1#*=} ;;
    --no-render) render=no ;;
    --no-carbon) carbon=no ;;
    --phases) phases=$2; shift ;;
    --phases=*) phases=${1#*=} ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

say() { echo "[bench] $*" >&2; }

# Tools: installed with apt when run as root (as `make deps` does), otherwise named.
need_apt=""
command -v wrk >/dev/null || need_apt="$need_apt wrk"
NODE_EXPORTER=${NODE_EXPORTER:-$(command -v prometheus-node-exporter || command -v node_exporter || true)}
[ -n "$NODE_EXPORTER" ] || need_apt="$need_apt prometheus-node-exporter"
command -v cc >/dev/null || need_apt="$need_apt gcc"
command -v python3 >/dev/null || need_apt="$need_apt python3"
if [ -n "$need_apt" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing:$need_apt"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need_apt >/dev/null
        NODE_EXPORTER=${NODE_EXPORTER:-$(command -v prometheus-node-exporter || command -v node_exporter || true)}
    else
        echo "bench/run.sh: missing:$need_apt (sudo apt-get install$need_apt)" >&2
        exit 1
    fi
fi
command -v perf >/dev/null || say "perf not found: idle CPU comes from /proc ticks only (apt-get install linux-perf)"

SWIFT=${SWIFT:-swift}
if [ -z "$binary" ]; then
    if [ "$mode" = full ]; then
        # A scratch path of its own: no fight over .build's lock with other builds, and a release build kept apart.
        # The same flags as `make build-release` (the shipped build).
        release_flags=${RELEASE_FLAGS:-$(scripts/release-flags.sh)}
        say "building release (swift build $release_flags --scratch-path .build-bench)"
        "$SWIFT" build $release_flags --scratch-path .build-bench >&2
        binary="$("$SWIFT" build $release_flags --scratch-path .build-bench --show-bin-path)/footprint_exporter"
        export BENCH_BUILD="release (swift build $release_flags)"
    else
        say "building debug (swift build)"
        "$SWIFT" build >&2
        binary="$("$SWIFT" build --show-bin-path)/footprint_exporter"
        export BENCH_BUILD="debug (swift build)"
    fi
fi
export BENCH_BUILD=${BENCH_BUILD:-"given with --binary"}
[ -x "$binary" ] || { echo "bench/run.sh: no footprint binary at $binary" >&2; exit 1; }

work=$(mktemp -d -t footprint-bench-run-XXXXXX)
trap 'rm -rf "$work"' EXIT
nvml=$(Tests/Fixtures/fake-nvml/build.sh "$work/fake-nvml")
cc -std=c11 -O2 -Wall -Wextra -Werror -o "$work/fake-nvml-cost" bench/fake-nvml-cost.c -ldl

if [ -z "$out" ]; then
    if [ "$mode" = full ]; then out=bench; else out="$work/out"; fi
fi
mkdir -p "$out"

python3 bench/bench.py run --mode "$mode" --footprint "$binary" --node-exporter "$NODE_EXPORTER" \
    --nvml-library "$nvml" --fake-cost "$work/fake-nvml-cost" --out "$out/results.json" ${phases:+--phases "$phases"}

# The live grid intensity's cost (issue #13): full runs only, after the main phases and before rendering, so that
# RESULTS.md carries the fresh CARBON.md.
if [ "$mode" = full ] && [ "$carbon" = yes ]; then
    python3 bench/carbon.py --binary "$binary" --out-json "$out/carbon-results.json" --out-md "$out/CARBON.md" \
        ${CODECARBON_PYTHON:+--codecarbon-python "$CODECARBON_PYTHON"}
fi

if [ "$render" = yes ]; then
    python3 bench/render.py "$out/results.json" >"$out/RESULTS.md.tmp"
    mv "$out/RESULTS.md.tmp" "$out/RESULTS.md"
    [ -s "$out/RESULTS.md" ] || { echo "bench/run.sh: rendering produced nothing" >&2; exit 1; }
    say "wrote $out/results.json and $out/RESULTS.md"
fi
