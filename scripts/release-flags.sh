#!/bin/sh
# Prints the `swift build` flags of the shipped binary, for `make build-release`, `make run`, the benchmark and the
# container image: one list, so that what is measured is what ships.
#
#   -c release --static-swift-stdlib   the Swift runtime linked in: only the code used is mapped, no dynamic
#                                      symbol lookups at start (bench/analysis.md: -6.7 MiB RSS, start-up halved)
#   -use-ld=lld, -z pack-relative-relocs
#                                      packed relative relocations: the loader touches 34 KB, not 1.9 MiB
#   --no-export-dynamic                the runtime's link file exports every symbol of the executable; nothing
#                                      looks them up, and their table and names are 0.5 MiB the loader maps
#   libstdc++ linked in                only the parts the Swift runtime uses, instead of all of libstdc++.so and
#                                      its start-up (locale, iostreams: 1.1 MiB resident)
#   --defsym=footprint_revision_*      the git revision, for footprint_build_info{revision}: set at link time
#                                      (Sources/CBuildInfo/build_revision.c says how), so a commit only relinks
#
# The last one works through a linker script named libstdc++.so in .build-link/ that points at the compiler's
# libstdc++.a; the runtime's link file asks for -lstdc++ and finds it there first. Without a static libstdc++ (no
# gcc) the flag is left out and the binary links libstdc++.so as before.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
flags="-c release --static-swift-stdlib -Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs -Xlinker --no-export-dynamic"
archive=$(${CC:-cc} -print-file-name=libstdc++.a 2>/dev/null || true)
case "$root" in
*[[:space:]]*)
    # The flags are split on blanks by whoever uses them: a -L path with a blank would break the build.
    echo "scripts/release-flags.sh: $root has a blank in it; linking libstdc++.so instead of libstdc++.a" >&2
    archive=
    ;;
esac
case "$archive" in
/*)
    if [ -f "$archive" ]; then
        mkdir -p "$root/.build-link"
        printf 'INPUT("%s")\n' "$archive" >"$root/.build-link/libstdc++.so"
        flags="$flags -Xswiftc -L$root/.build-link"
    fi
    ;;
esac
revision=$(git -C "$root" rev-parse HEAD 2>/dev/null | cut -c1-12 || true)
case "$revision" in
*[!0-9a-f]* | "") ;;
*)
    for part in 0 1 2; do
        digits=$(printf '%s' "$revision" | cut -c$((part * 4 + 1))-$((part * 4 + 4)))
        flags="$flags -Xlinker --defsym=footprint_revision_$part=0x1$digits"
    done
    git -C "$root" diff --quiet HEAD 2>/dev/null || flags="$flags -Xlinker --defsym=footprint_revision_dirty=1"
    ;;
esac
echo "$flags"
