#!/bin/sh
# Installs what Tests/Deploy, Tests/Integration and Tests/UI need: promtool and prometheus (Debian's `prometheus`),
# amtool and alertmanager (Debian's `prometheus-alertmanager`, which names the server prometheus-alertmanager),
# kubectl (with kustomize built in), systemd-analyze (optional), chromium (Tests/UI) and the Python packages of
# requirements.txt.
# Idempotent: installs only what is missing. Run as root, or with sudo available for apt-get.
set -eu
here=$(cd "$(dirname "$0")" && pwd)

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

updated=no
need() {
    command -v "$1" >/dev/null 2>&1 && return 1
    if [ "$updated" = no ]; then as_root apt-get update -qq; updated=yes; fi
    return 0
}

if need promtool || need prometheus; then apt_install prometheus; fi
if need amtool || { need alertmanager && need prometheus-alertmanager; }; then apt_install prometheus-alertmanager; fi
if need systemd-analyze; then apt_install systemd; fi
# kubectl comes from the Kubernetes or Google Cloud apt repository where one is configured; Debian's own
# kubernetes-client (1.20) is too old for this kustomization's `labels:` field, so it is not a fallback.
if need kubectl; then
    apt_install kubectl || echo "warning: no kubectl package; the kustomize tests of Tests/Deploy will fail" >&2
fi

# Headless chromium for the live page's tests (Tests/UI); without it they are skipped, saying why.
if need chromium; then
    apt_install chromium || echo "warning: no chromium package; the browser tests of Tests/UI will be skipped" >&2
fi

python3 -m pip install -q -r "$here/requirements.txt"
