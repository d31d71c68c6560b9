"""The release tarball (`make dist-package BINARY=...`, the packaging half of `make dist`), the default config it
ships, `make image` and the split of system packages between `make run` and `make test`.

Packages a stand-in binary, so no release build is needed; the config check starts the debug build
(FOOTPRINT_BINARY, default .build/debug/footprint_exporter) and is skipped without one."""

import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VERSION = re.search(r'static let version = "([^"]+)"',
                    (REPO / "Sources/FootprintExporter/Lifecycle/BuildInfo.swift").read_text()).group(1)
CONFIG = REPO / "deploy" / "config" / "config.yml"
BINARY = Path(os.environ.get("FOOTPRINT_BINARY", REPO / ".build" / "debug" / "footprint_exporter"))
MAKE = shutil.which("make")


def make(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    if MAKE is None:
        pytest.skip("make not installed")
    return subprocess.run([MAKE, "--no-print-directory", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """(tarball path, extracted directory, the stand-in binary's bytes) of one `make dist-package`."""
    work = tmp_path_factory.mktemp("dist")
    binary = work / "footprint_exporter"
    binary.write_bytes(b"#!/bin/sh\necho footprint_exporter stand-in\n")
    binary.chmod(0o755)
    out = work / "out"
    result = make("dist-package", f"BINARY={binary}", f"DIST_DIR={out}", env={**os.environ, "DIST_ARCH": "amd64"})
    assert result.returncode == 0, result.stdout + result.stderr
    tarball = out / f"footprint_exporter-{VERSION}-linux-amd64.tar.gz"
    assert result.stdout.strip().endswith(str(tarball)), result.stdout
    extracted = work / "extracted"
    with tarfile.open(tarball) as archive:
        archive.extractall(extracted, filter="data")
    return tarball, extracted / tarball.name.removesuffix(".tar.gz"), binary.read_bytes()


def expected_members() -> set[str]:
    members = {
        "footprint_exporter", "systemd/footprint-exporter.service", "systemd/footprint-exporter.default",
        "config/config.yml", "prometheus/footprint-rules.yml", "alertmanager/inhibit-rules.yml",
        "LICENSE", "README.md", "CHANGELOG.md", "SHA256SUMS",
    }
    members |= {f"grafana/dashboards/{p.name}" for p in (REPO / "grafana" / "dashboards").glob("*.json")}
    members |= {f"grafana/provisioning/{p.parent.name}/{p.name}" for p in (REPO / "grafana" / "provisioning").glob("*/*.yml")}
    return members


def test_tarball_members(package):
    tarball, _, _ = package
    name = tarball.name.removesuffix(".tar.gz")
    with tarfile.open(tarball) as archive:
        entries = archive.getmembers()
    files = {e.name.removeprefix(f"{name}/") for e in entries if e.isfile()}
    assert files == expected_members()
    assert all(e.name == name or e.name.startswith(f"{name}/") for e in entries), "one top directory"
    assert all(e.uid == 0 and e.gid == 0 for e in entries), "owned by root"
    modes = {e.name.removeprefix(f"{name}/"): e.mode & 0o777 for e in entries if e.isfile()}
    assert modes.pop("footprint_exporter") == 0o755
    assert set(modes.values()) == {0o644}


def test_tarball_contents_are_the_shipped_files(package):
    _, top, binary = package
    assert (top / "footprint_exporter").read_bytes() == binary
    shipped = {
        "systemd/footprint-exporter.service": "deploy/systemd/footprint-exporter.service",
        "systemd/footprint-exporter.default": "deploy/systemd/footprint-exporter.default",
        "config/config.yml": "deploy/config/config.yml",
        "prometheus/footprint-rules.yml": "deploy/prometheus/footprint-rules.yml",
        "alertmanager/inhibit-rules.yml": "deploy/alertmanager/inhibit-rules.yml",
        "grafana/dashboards/node.json": "grafana/dashboards/node.json",
        "LICENSE": "LICENSE",
    }
    for member, source in shipped.items():
        assert (top / member).read_bytes() == (REPO / source).read_bytes(), member
    # The unit and its defaults name the paths the tarball's instructions install to.
    assert "/usr/local/bin/footprint_exporter" in (top / "systemd/footprint-exporter.service").read_text()
    assert "--config.file=/etc/footprint-exporter/config.yml" in (top / "systemd/footprint-exporter.default").read_text()


def test_checksums_verify(package):
    tarball, top, _ = package
    sha256sum = shutil.which("sha256sum") or pytest.skip("sha256sum not installed")
    listed = [line.split("  ", 1)[1] for line in (top / "SHA256SUMS").read_text().splitlines()]
    assert set(listed) == expected_members() - {"SHA256SUMS"}
    result = subprocess.run([sha256sum, "--strict", "-c", "SHA256SUMS"], cwd=top, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # The tarball's own checksum, beside it.
    result = subprocess.run([sha256sum, "--strict", "-c", f"{tarball.name}.sha256"], cwd=tarball.parent,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # A modified file fails the check.
    (top / "config/config.yml").write_text("pue: 9\n")
    result = subprocess.run([sha256sum, "-c", "SHA256SUMS"], cwd=top, capture_output=True, text=True)
    assert result.returncode != 0


def test_dist_package_is_reproducible(package, tmp_path):
    tarball, _, binary = package
    stand_in = tmp_path / "footprint_exporter"
    stand_in.write_bytes(binary)
    stand_in.chmod(0o755)
    result = make("dist-package", f"BINARY={stand_in}", f"DIST_DIR={tmp_path}",
                  env={**os.environ, "DIST_ARCH": "amd64"})
    assert result.returncode == 0, result.stderr
    again = hashlib.sha256((tmp_path / tarball.name).read_bytes()).hexdigest()
    assert again == hashlib.sha256(tarball.read_bytes()).hexdigest()


def test_dist_package_refuses_a_missing_binary(tmp_path):
    result = make("dist-package", f"BINARY={tmp_path / 'absent'}", f"DIST_DIR={tmp_path}")
    assert result.returncode != 0
    assert "not an executable file" in result.stderr
    assert not list(tmp_path.glob("*.tar.gz"))


def test_dist_builds_the_release_binary_first():
    result = make("-n", "dist")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    build = next(i for i, line in enumerate(lines) if re.search(r"\bbuild -c release\b", line))
    assert any("scripts/dist.sh" in line for line in lines[build:]), result.stdout


# ------------------------------------------------------------------------------------------- config


def setting_names() -> set[str]:
    catalogue = next((REPO / "Sources" / "FootprintExporter").rglob("SettingCatalogue.swift"))
    return set(re.findall(r'\bSetting<[^\n]*?>(?:\.\w+)?\(\s*"([\w.\-]+)"', catalogue.read_text()))


def config_keys(mapping: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in mapping.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            keys |= config_keys(value, name)
        elif key in ("enabled", "value") and prefix:
            keys.add(prefix)
        else:
            keys.add(name)
    return keys


def test_default_config_uses_known_keys():
    config = yaml.safe_load(CONFIG.read_text())
    assert config_keys(config) <= setting_names() - {"config.file"}


def test_default_config_is_accepted_by_the_exporter(tmp_path):
    if not BINARY.exists():
        pytest.skip(f"{BINARY} not built (swift build)")
    root = REPO / "Tests" / "Fixtures" / "vm"
    log = tmp_path / "exporter.log"
    with open(log, "w") as handle:
        process = subprocess.Popen(
            [str(BINARY), f"--config.file={CONFIG}", "--web.listen-address=127.0.0.1:0",
             f"--path.sysfs={root}/sys", f"--path.procfs={root}/proc"],
            stdout=handle, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        port = None
        while port is None:
            match = re.search(r"msg=listening address=\S*:(\d+)", log.read_text())
            if match:
                port = int(match.group(1))
                break
            assert process.poll() is None, f"exporter exited ({process.returncode}):\n{log.read_text()}"
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            body = response.read().decode()
        assert "\nfootprint_pue 1.58\n" in body and "\nfootprint_grid_intensity_grams_per_kwh 432.7\n" in body
        assert "level=warn" not in log.read_text() and "level=error" not in log.read_text(), log.read_text()
    finally:
        process.terminate()
        process.wait(timeout=10)


# -------------------------------------------------------------------------------------- make targets


def test_make_run_installs_only_what_the_build_needs():
    run = make("-n", "deps")
    assert run.returncode == 0, run.stderr
    installed = set(re.search(r"for p in ([^;]*);", run.stdout).group(1).split())
    assert installed == {"libmicrohttpd-dev", "libgnutls28-dev", "libcrypt-dev", "libyaml-dev", "zlib1g-dev",
                         "libcurl4-gnutls-dev", "pkg-config"}
    assert "--no-install-recommends" in run.stdout
    tests = make("-n", "test-deps")
    assert tests.returncode == 0, tests.stderr
    assert {"openssl", "prometheus"} <= set(" ".join(re.findall(r"for p in ([^;]*);", tests.stdout)).split())
    assert "install-deps.sh" in tests.stdout


@pytest.fixture()
def bare_path(tmp_path):
    """A PATH with the few tools the Makefile's recipes use, and no container tool."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("sh", "sed", "basename", "uname", "cat"):
        found = shutil.which(name)
        if found:
            (bin_dir / name).symlink_to(found)
    return bin_dir


def test_make_image_without_a_container_tool_says_what_is_missing(bare_path):
    result = make("image", env={"PATH": str(bare_path), "HOME": os.environ.get("HOME", "/")})
    assert result.returncode != 0
    assert all(tool in result.stderr for tool in ("docker", "podman", "buildah")), result.stderr


@pytest.mark.parametrize("tool", ["docker", "podman", "buildah"])
def test_make_image_builds_the_dockerfile(tool, bare_path):
    # A stand-in that records its arguments instead of building.
    record = bare_path.parent / "args"
    (bare_path / tool).write_text(f'#!/bin/sh\necho "$@" > {record}\n')
    (bare_path / tool).chmod(0o755)
    result = make("image", "IMAGE=registry.example.com/footprint-exporter",
                  env={"PATH": str(bare_path), "HOME": os.environ.get("HOME", "/")})
    assert result.returncode == 0, result.stdout + result.stderr
    verb = "bud" if tool == "buildah" else "build"
    assert record.read_text().split() == [
        verb, "-f", "deploy/docker/Dockerfile", "-t", f"registry.example.com/footprint-exporter:{VERSION}", "."]
