#!/usr/bin/env bash
# The build-flag half of the resident-memory fix in bench/analysis.md, reproducible without touching Sources:
# builds the tree as it is with the Swift runtime linked statically and relative relocations packed (RELR), then
# alternates it with the plain release build: start-up, RSS, and wrk at 8 connections.
#
#   bench/ab-static.sh [ROUNDS]       writes bench/profile/ab-dynamic-vs-static-relr.json
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-6}
SWIFT=${SWIFT:-swift}
"$SWIFT" build -c release --scratch-path .build-bench --product footprint_exporter >&2
"$SWIFT" build -c release --scratch-path .build-bench-static --product footprint_exporter \
    --static-swift-stdlib -Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs >&2
dynamic="$("$SWIFT" build -c release --scratch-path .build-bench --show-bin-path)/footprint_exporter"
static="$("$SWIFT" build -c release --scratch-path .build-bench-static --show-bin-path)/footprint_exporter"
mkdir -p bench/profile
python3 bench/bench.py ab --a "$dynamic" --b "$static" --rounds "$rounds" --seconds 3 --conns 8 \
    --out bench/profile/ab-dynamic-vs-static-relr.json
