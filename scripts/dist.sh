#!/bin/sh
# Packages a built footprint_exporter for a host without the source tree:
#
#   scripts/dist.sh BINARY [OUTDIR]      (make dist builds the release binary first; make dist-package BINARY=...)
#
# writes OUTDIR/footprint_exporter-<version>-linux-<arch>.tar.gz (OUTDIR defaults to dist) and its .sha256. The
# tarball holds one directory of that name:
#
#   footprint_exporter                   the binary given, as it is
#   systemd/footprint-exporter.service   the unit, and its defaults file for /etc/default/footprint-exporter
#   systemd/footprint-exporter.default
#   config/config.yml                    the default config for /etc/footprint-exporter/config.yml
#   prometheus/footprint-rules.yml       recording rules and alerts; alertmanager/inhibit-rules.yml beside them
#   alertmanager/inhibit-rules.yml
#   grafana/dashboards/{node,cluster}.json, grafana/provisioning/...
#   LICENSE README.md CHANGELOG.md
#   SHA256SUMS                           of every other file: `sha256sum -c SHA256SUMS` inside the directory
#
# <version> is BuildInfo.version; <arch> is Debian's name of this machine's architecture (amd64, arm64), or
# DIST_ARCH. Files are stored owned by root, sorted by name, dated at the last commit (SOURCE_DATE_EPOCH wins).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
binary=${1:?usage: scripts/dist.sh BINARY [OUTDIR]}
outdir=${2:-dist}
[ -f "$binary" ] && [ -x "$binary" ] || { echo "scripts/dist.sh: $binary is not an executable file; build it first (make build-release)" >&2; exit 1; }

version=$(sed -n 's/.*static let version = "\(.*\)".*/\1/p' "$root/Sources/FootprintExporter/Lifecycle/BuildInfo.swift")
[ -n "$version" ] || { echo "scripts/dist.sh: no version in Sources/FootprintExporter/Lifecycle/BuildInfo.swift" >&2; exit 1; }
if [ -z "${DIST_ARCH:-}" ]; then
    case $(uname -m) in
    x86_64) DIST_ARCH=amd64 ;;
    aarch64 | arm64) DIST_ARCH=arm64 ;;
    *) DIST_ARCH=$(uname -m) ;;
    esac
fi
name=footprint_exporter-$version-linux-$DIST_ARCH
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT INT TERM
top=$stage/$name
mkdir -p "$top"

put() { # put SOURCE DESTINATION MODE
    install -D -m "$3" "$1" "$top/$2"
}
put "$binary" footprint_exporter 0755
put "$root/deploy/systemd/footprint-exporter.service" systemd/footprint-exporter.service 0644
put "$root/deploy/systemd/footprint-exporter.default" systemd/footprint-exporter.default 0644
put "$root/deploy/config/config.yml" config/config.yml 0644
put "$root/deploy/prometheus/footprint-rules.yml" prometheus/footprint-rules.yml 0644
put "$root/deploy/alertmanager/inhibit-rules.yml" alertmanager/inhibit-rules.yml 0644
for dashboard in "$root"/grafana/dashboards/*.json; do
    put "$dashboard" "grafana/dashboards/$(basename "$dashboard")" 0644
done
for provisioning in "$root"/grafana/provisioning/*/*.yml; do
    put "$provisioning" "grafana/provisioning/$(basename "$(dirname "$provisioning")")/$(basename "$provisioning")" 0644
done
for doc in LICENSE README.md CHANGELOG.md; do
    put "$root/$doc" "$doc" 0644
done
(cd "$top" && find . -type f ! -name SHA256SUMS | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum > SHA256SUMS)

tarball=$outdir/$name.tar.gz
tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -cf - "$name" | gzip -9n > "$tarball"
(cd "$outdir" && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")
echo "$tarball"
