#!/bin/sh
# Builds the fake NVML library used by the end-to-end tests.
#
#   build.sh OUTDIR               -> OUTDIR/libnvidia-ml.so.1
#   build.sh OUTDIR --selftest    -> also builds and runs the selftest against it
#
# stdout carries only the library's absolute path (so `LIB=$(build.sh dir)`
# works); compiler and selftest chatter goes to stderr. $CC overrides `cc`.
set -eu

usage() {
    echo "usage: $0 OUTDIR [--selftest]" >&2
    exit 2
}

[ $# -ge 1 ] || usage
outdir=$1
shift
selftest=no
for arg in "$@"; do
    case $arg in
    --selftest) selftest=yes ;;
    *) usage ;;
    esac
done

here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
cc=${CC:-cc}
cflags="-std=c11 -O2 -Wall -Wextra -Werror -pthread"

# The soname matters: the exporter dlopen()s "libnvidia-ml.so.1", and a
# mismatched DT_SONAME would make tools like ldconfig file it elsewhere.
# Hidden-by-default visibility keeps the export list to the NVML symbols.
# shellcheck disable=SC2086 # cflags is a deliberate word list
"$cc" -shared -fPIC -fvisibility=hidden $cflags \
    -Wl,-soname,libnvidia-ml.so.1 \
    -o "$outdir/libnvidia-ml.so.1.tmp" "$here/fake_nvml.c" >&2
# Rename into place so a test already running never dlopen()s a half-written file.
mv -f "$outdir/libnvidia-ml.so.1.tmp" "$outdir/libnvidia-ml.so.1"

if [ "$selftest" = yes ]; then
    # -ldl is a no-op on glibc >= 2.34 but needed on older ones.
    # shellcheck disable=SC2086
    "$cc" $cflags -o "$outdir/fake-nvml-selftest" "$here/selftest.c" -ldl >&2
    # Load through the library search path by soname, as the exporter does.
    LD_LIBRARY_PATH="$outdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        "$outdir/fake-nvml-selftest" >&2
fi

echo "$outdir/libnvidia-ml.so.1"
