#!/usr/bin/env bash
# Runs a test command N times in a row while a CPU hog keeps one core busy, the way a loaded CI machine runs it,
# and stops at the first failure. Independent of the Makefile.
#
#   scripts/test-repeat.sh N                      swift test --skip-build, N times (build first)
#   scripts/test-repeat.sh N -- COMMAND [ARG...]   COMMAND, N times, e.g.
#       scripts/test-repeat.sh 20 -- python3 -m pytest -q Tests/Integration
#
# The hog is `stress-ng --cpu 1` where installed, else a Python (or, without Python, shell) busy loop. It is
# stopped however the script ends: on success, failure, Ctrl-C or SIGTERM by the trap (a SIGTERM sent to this
# script alone takes effect when the current run ends, as the shell waits for it), and if the script is killed
# with SIGKILL, by a watchdog that notices within a second. Commands run from the repository root.
# Prints "N passed, 0 failed" at the end, or which run failed; the exit status is the failed run's, else 0.
set -u

usage() {
    echo "usage: $0 N [-- COMMAND [ARG...]]" >&2
    exit 2
}

[ $# -ge 1 ] || usage
runs=$1
shift
case $runs in
'' | *[!0-9]*) usage ;;
esac
[ "$runs" -ge 1 ] || usage
if [ $# -gt 0 ]; then
    [ "$1" = "--" ] || usage
    shift
    [ $# -gt 0 ] || usage
    command=("$@")
else
    command=(swift test --skip-build)
fi

cd "$(dirname "$0")/.." || exit 1

hog_pid=
watchdog_pid=
stop_hog() {
    if [ -n "$watchdog_pid" ]; then
        kill -TERM "$watchdog_pid" 2>/dev/null
        wait "$watchdog_pid" 2>/dev/null
        watchdog_pid=
    fi
    if [ -n "$hog_pid" ]; then
        # stress-ng stops its worker on SIGTERM; the busy loops are single processes.
        kill -TERM "$hog_pid" 2>/dev/null
        wait "$hog_pid" 2>/dev/null
        hog_pid=
    fi
}
passed=0
run=0
interrupted() {
    stop_hog
    echo "test-repeat: interrupted during run $run of $runs"
    echo "$passed passed, 0 failed (interrupted)"
    exit "$1"
}
trap stop_hog EXIT
trap 'interrupted 129' HUP
trap 'interrupted 130' INT
trap 'interrupted 143' TERM

if command -v stress-ng >/dev/null 2>&1; then
    hog="stress-ng --cpu 1"
    stress-ng --cpu 1 --quiet >/dev/null 2>&1 &
elif command -v python3 >/dev/null 2>&1; then
    hog="python3 busy loop"
    python3 -c 'while True: pass' &
else
    hog="shell busy loop"
    sh -c 'while :; do :; done' &
fi
hog_pid=$!
# No trap runs on SIGKILL: this watchdog stops the hog once the script ($$, also in the subshell) is gone.
script_pid=$$
(
    trap - EXIT HUP INT TERM
    while kill -0 "$script_pid" 2>/dev/null && kill -0 "$hog_pid" 2>/dev/null; do
        sleep 1
    done
    kill -TERM "$hog_pid" 2>/dev/null
) >/dev/null 2>&1 </dev/null &
watchdog_pid=$!
echo "test-repeat: $runs run(s) of: ${command[*]}" >&2
echo "test-repeat: one core kept busy by $hog (pid $hog_pid)" >&2

run=1
while [ "$run" -le "$runs" ]; do
    if ! kill -0 "$hog_pid" 2>/dev/null; then
        echo "test-repeat: the CPU hog ($hog) exited before run $run; stopping" >&2
        echo "$passed passed, 0 failed (incomplete: no load)"
        exit 1
    fi
    echo "test-repeat: run $run of $runs" >&2
    "${command[@]}"
    status=$?
    if [ "$status" -ne 0 ]; then
        echo "test-repeat: run $run of $runs FAILED (exit status $status): ${command[*]}"
        echo "$passed passed, 1 failed"
        exit "$status"
    fi
    passed=$((passed + 1))
    run=$((run + 1))
done
echo "$passed passed, 0 failed"
