"""`footprint_exporter intensity fetch` against the fake provider (fake_grid_provider.py): one fetch, one file."""

import json
import os
import stat
import time

import pytest

from fake_grid_provider import FakeGridProvider, Reply, fake_grid_provider  # noqa: F401 (fixture)
from harness import BINARY, run_binary

TOKEN = "em-secret-7d41c0a9"

pytestmark = pytest.mark.skipif(not os.access(BINARY, os.X_OK), reason=f"{BINARY} is missing: run `make build`")


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return str(path)


def fetch(*args, timeout=20):
    return run_binary("intensity", "fetch", *args, timeout=timeout)


def one_line(stderr):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert TOKEN not in stderr
    return lines[0]


def test_electricity_maps_value_is_written_as_an_intensity_file(tmp_path, token_file):
    output = tmp_path / "out" / "intensity.json"
    output.parent.mkdir()
    with FakeGridProvider(intensity=57.5, token=TOKEN) as fake:
        code, stdout, stderr = fetch("--provider", "electricitymaps", "--zone", "DE", "--token-file", token_file,
                                     "--url", fake.url, "--output", str(output))
        assert code == 0, stderr
        line = one_line(stderr)
        assert "57.5 g/kWh" in line and "DE" in line and TOKEN not in stdout
        (request,) = fake.requests
        assert request.path == "/v3/carbon-intensity/latest" and request.query == {"zone": "DE"}
        assert request.headers["auth-token"] == TOKEN
    written = json.loads(output.read_text())
    assert written["intensity"] == 57.5 and written["zone"] == "DE" and written["source"] == "electricitymaps"
    assert written["valid_until"].endswith(":00:00Z") and written["fetched_at"].endswith("Z")
    assert stat.S_IMODE(output.stat().st_mode) == 0o644
    assert os.listdir(output.parent) == ["intensity.json"]  # no temporary file left behind


def test_uk_regional_value_replaces_the_previous_file(tmp_path, fake_grid_provider):
    output = tmp_path / "intensity.json"
    output.write_text("100\n")
    fake_grid_provider.set_intensity(164)
    code, _, stderr = fetch("--provider", "uk-carbon-intensity", "--zone", "13", "--url", fake_grid_provider.url,
                            "--output", str(output))
    assert code == 0, stderr
    assert json.loads(output.read_text())["intensity"] == 164
    assert [r.path for r in fake_grid_provider.requests] == ["/regional/regionid/13"]
    assert "auth-token" not in fake_grid_provider.requests[0].headers


@pytest.mark.parametrize("reply, reason", [
    (Reply(401, fixture="electricitymaps-error-401.json"), "unauthorized"),
    (Reply(429, headers={"Retry-After": "30"}), "rate_limited"),
    (Reply(500), "http_error"),
    (Reply(body="{\"zone\": \"FR\", \"carbonInt"), "malformed"),
    (Reply(intensity=99999), "out_of_range"),
])
def test_a_provider_failure_exits_1_and_leaves_the_file_alone(tmp_path, token_file, fake_grid_provider, reply, reason):
    output = tmp_path / "intensity.json"
    output.write_text("321\n")
    fake_grid_provider.enqueue(reply)
    code, stdout, stderr = fetch("--provider", "electricitymaps", "--zone", "FR", "--token-file", token_file,
                                 "--url", fake_grid_provider.url, "--output", str(output))
    assert code == 1, stderr
    assert f"electricitymaps: {reason}:" in one_line(stderr)
    assert TOKEN not in stdout
    assert output.read_text() == "321\n"
    assert sorted(os.listdir(tmp_path)) == ["intensity.json", "token"]  # no temporary file left behind


def test_401_writes_no_file(tmp_path, token_file, fake_grid_provider):
    output = tmp_path / "intensity.json"
    fake_grid_provider.set_default(Reply(401))
    code, _, stderr = fetch("--provider", "electricitymaps", "--zone", "FR", "--token-file", token_file,
                            "--url", fake_grid_provider.url, "--output", str(output))
    assert code == 1 and "unauthorized" in one_line(stderr)
    assert not output.exists()


def test_a_provider_that_does_not_answer_in_time_is_a_timeout(tmp_path, fake_grid_provider):
    fake_grid_provider.enqueue(Reply(delay=20))
    started = time.monotonic()
    code, _, stderr = fetch("--provider", "uk-carbon-intensity", "--url", fake_grid_provider.url, "--timeout", "1s",
                            "--output", str(tmp_path / "intensity.json"))
    assert code == 1 and "uk-carbon-intensity: timeout:" in one_line(stderr)
    assert time.monotonic() - started < 15
    assert not (tmp_path / "intensity.json").exists()


@pytest.mark.parametrize("args, fragment", [
    (["--provider", "watttime", "--zone", "FR"], "--provider must be one of electricitymaps, uk-carbon-intensity"),
    (["--provider", "electricitymaps", "--zone", "FR"], "--token-file"),
    (["--provider", "electricitymaps"], "--zone is required"),
    (["--provider", "uk-carbon-intensity", "--zone", "18"], "--zone must be GB"),
    (["--provider", "uk-carbon-intensity", "--timeout", "soon"], "--timeout"),
    (["--provider", "electricitymaps", "--zone", "FR", "--token-file", "{token}", "--url", "http://proxy.example"],
     "plain http"),
    (["--provider", "uk-carbon-intensity", "--token-file", "{token}"], "takes no token"),
    (["--provider", "electricitymaps", "--zone", "FR", "--token-file", "/nonexistent/token"], "--token-file"),
    (["--zone", "FR"], "--provider"),
])
def test_usage_mistakes_exit_2_before_any_request(tmp_path, token_file, fake_grid_provider, args, fragment):
    args = [a.replace("{token}", token_file) for a in args]
    if "--url" not in args:
        args += ["--url", fake_grid_provider.url]
    code, _, stderr = fetch(*args, "--output", str(tmp_path / "intensity.json"))
    assert code == 2, stderr
    assert fragment in stderr
    assert TOKEN not in stderr
    assert fake_grid_provider.requests == []
    assert not (tmp_path / "intensity.json").exists()


def test_an_unwritable_output_exits_1(tmp_path, fake_grid_provider):
    code, _, stderr = fetch("--provider", "uk-carbon-intensity", "--url", fake_grid_provider.url,
                            "--output", str(tmp_path / "missing-dir" / "intensity.json"))
    assert code == 1 and "cannot write" in one_line(stderr)
