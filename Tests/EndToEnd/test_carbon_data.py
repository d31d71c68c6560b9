"""End-to-end: where the grid intensity comes from (docs/carbon-data.md) — region presets, the intensity file, the
Electricity Maps and UK providers against a local fake (Tests/EndToEnd/fake_grid_provider.py) — and embodied
emissions, with the real binary. Counters are checked exactly: the fixture's RAPL counter moves only when a test
moves it, so every joule's price is known."""

import json
import os
import signal
import time

import pytest

from fake_grid_provider import FakeGridProvider, Reply
from harness import parse_metrics, run_binary, wait_metrics, write_atomic

PACKAGE_0 = "sys/class/powercap/intel-rapl:0/energy_uj"
TOKEN = "em-token-7f3a9c1d"
CPU_CO2E = ("footprint_co2e_grams_total", frozenset({("component", "cpu")}))
INTENSITY = ("footprint_grid_intensity_grams_per_kwh", frozenset())
STALE = ("footprint_grid_intensity_stale", frozenset())


def info(source, zone):
    return ("footprint_grid_intensity_info", frozenset({("source", source), ("zone", zone)}))


def errors(provider, reason):
    return ("footprint_grid_provider_errors_total", frozenset({("provider", provider), ("reason", reason)}))


def low_counter(root):
    """Starts the fixture's package-0 counter far from its wrap, so that the test's draws never cross it."""
    with open(os.path.join(root, PACKAGE_0), "w") as handle:
        handle.write("10000000\n")


class Package:
    """The fixture's package-0 counter (started low by `low_counter`), moved by the test only."""

    def __init__(self, exporter):
        self.exporter = exporter
        with open(exporter.path(PACKAGE_0)) as handle:
            self.raw = int(handle.read().strip())
        assert self.raw == 10_000_000

    def draw(self, microjoules):
        """Moves the counter and waits until the exporter has sampled it twice."""
        self.raw += microjoules
        write_atomic(self.exporter.path(PACKAGE_0), f"{self.raw}\n")
        self.exporter.wait_samples(2)


def grams(joules, pue, intensity):
    return joules * pue / 3.6e6 * intensity


def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return str(path)


def assert_token_never_shown(exporter):
    assert TOKEN not in exporter.logs()
    assert TOKEN not in exporter.scrape()


def test_region_presets_list_and_unknown_region():
    code, out, err = run_binary("--grid.region=list")
    assert code == 0, err
    assert "FR " in out and "aws:us-east-1" in out and "docs/grid-regions.md" in out
    code, out, err = run_binary("--grid.region=XX")
    assert code == 2
    assert err.strip() == (
        'footprint_exporter: invalid value "XX" for --grid.region: unknown region: '
        'footprint_exporter --grid.region=list prints the codes (docs/grid-regions.md)')
    code, out, err = run_binary("--grid.region=FR", "--grid.intensity=100")
    assert code == 2 and "keep one" in err


def test_region_preset_prices_energy(exporter_factory):
    exporter = exporter_factory("intel-2socket", prepare=low_counter, args=["--grid.region=FR", "--pue.preset=gcp"])
    package = Package(exporter)
    samples = wait_metrics(exporter, lambda s: s.get(info("region", "FR")) == 1, what="region FR in force")
    france = samples[INTENSITY]
    assert 20 < france < 120
    assert samples[("footprint_pue", frozenset())] == 1.1
    package.draw(1_000_000)  # 1 J: a few watts, far below the plausibility ceilings
    samples = parse_metrics(exporter.scrape())
    assert samples[CPU_CO2E] == pytest.approx(grams(1, 1.1, france), rel=1e-12)


def test_provider_value_and_a_change_mid_run_price_energy_exactly(exporter_factory, tmp_path):
    with FakeGridProvider(intensity=250, token=TOKEN) as fake:
        exporter = exporter_factory("intel-2socket", prepare=low_counter, args=[
            "--grid.provider=electricitymaps", "--grid.zone=FR", f"--grid.provider.token-file={token_file(tmp_path)}",
            f"--grid.provider.url={fake.url}", "--grid.provider.refresh=1s", "--pue=1.5"])
        package = Package(exporter)
        wait_metrics(exporter, lambda s: s.get(info("electricitymaps", "FR")) == 1 and s[INTENSITY] == 250,
                     what="the provider's 250 in force")
        package.draw(2_000_000)  # 2 J at 250
        fake.set_intensity(40)
        wait_metrics(exporter, lambda s: s[INTENSITY] == 40, what="the provider's 40 in force")
        package.draw(1_000_000)  # 1 J at 40
        samples = parse_metrics(exporter.scrape())
        assert samples[CPU_CO2E] == pytest.approx(grams(2, 1.5, 250) + grams(1, 1.5, 40), rel=1e-12)
        # Fresh (waited for: a value fetched in the last second of an hour is past its period for up to a refresh).
        wait_metrics(exporter, lambda s: s.get(STALE) == 0
                     and 0 <= s[("footprint_grid_intensity_age_seconds", frozenset())] < 60, what="a fresh value")
        assert all(request.headers.get("auth-token") == TOKEN for request in fake.requests)
        assert_token_never_shown(exporter)


def test_provider_failures_are_counted_keep_the_value_and_back_off(exporter_factory, tmp_path):
    with FakeGridProvider(intensity=180, token=TOKEN) as fake:
        # The first nine fetches, in turn: 401, 429 asking for 2 s, 500, no answer within the timeout, malformed
        # JSON, a value out of range, 500 twice; then the normal answer.
        fake.enqueue(Reply(401), Reply(429, headers={"Retry-After": "2"}), Reply(500), Reply(delay=3),
                     Reply(body="{not json"), Reply(intensity=99999), Reply(500), Reply(500))
        exporter = exporter_factory("intel-2socket", prepare=low_counter, args=[
            "--grid.provider=electricitymaps", "--grid.zone=DE", f"--grid.provider.token-file={token_file(tmp_path)}",
            f"--grid.provider.url={fake.url}", "--grid.provider.refresh=1s", "--grid.provider.timeout=1s"])
        expected = {"unauthorized": 1, "rate_limited": 1, "http_error": 3, "timeout": 1, "malformed": 1,
                    "out_of_range": 1}
        samples = wait_metrics(
            exporter, lambda s: s[INTENSITY] == 180, timeout=60, what="the value after eight failures")
        assert {reason: samples[errors("electricitymaps", reason)] for reason in expected} == expected
        assert samples[errors("electricitymaps", "network")] == 0
        hits = fake.wait_for_requests(9, timeout=10)
        gaps = [b.time - a.time for a, b in zip(hits, hits[1:])]
        # Backoff with jitter: after the n-th failure in a row at least half of min(30 s, refresh) × 2^(n-1), capped
        # at 4 × refresh; after the 429 (the 2nd answer) no sooner than its Retry-After.
        assert gaps[0] >= 0.45, gaps
        assert gaps[1] >= 1.95, gaps
        assert all(gap >= 1.9 for gap in gaps[2:]), gaps
        # A failure after a good value keeps that value in force.
        fake.set_default(Reply(500))
        wait_metrics(exporter, lambda s: s[errors("electricitymaps", "http_error")] >= 4, timeout=30,
                     what="another failure")
        assert parse_metrics(exporter.scrape())[INTENSITY] == 180
        assert_token_never_shown(exporter)
        log = exporter.logs()
        assert "grid intensity fetch failed; the value in force stays" in log
        assert "grid intensity provider answers again" in log


def test_stale_provider_falls_back_to_the_region_then_recovers(exporter_factory):
    with FakeGridProvider(intensity=300) as fake:
        exporter = exporter_factory("intel-2socket", prepare=low_counter, args=[
            "--grid.provider=uk-carbon-intensity", "--grid.zone=GB", f"--grid.provider.url={fake.url}",
            "--grid.provider.refresh=1s", "--grid.provider.max-age=3s", "--grid.region=DE"])
        wait_metrics(exporter, lambda s: s.get(info("uk-carbon-intensity", "GB")) == 1 and s[INTENSITY] == 300,
                     what="the UK value in force")
        fake.set_default(Reply(503))
        samples = wait_metrics(exporter, lambda s: s.get(STALE) == 1, timeout=30, what="stale")
        assert samples.get(info("region", "DE")) == 1
        assert 200 < samples[INTENSITY] < 600 and samples[INTENSITY] != 300
        assert samples[("footprint_grid_intensity_age_seconds", frozenset())] > 3
        fake.set_default(None)
        wait_metrics(exporter, lambda s: s.get(STALE) == 0 and s[INTENSITY] == 300, timeout=30, what="recovered")


def test_intensity_file_replace_partial_write_garbage_and_removal(exporter_factory, tmp_path):
    directory = tmp_path / "intensity"
    directory.mkdir()
    path = directory / "current"
    path.write_text("123.5\n")
    exporter = exporter_factory("intel-2socket", prepare=low_counter, args=[f"--grid.intensity.file={path}", "--pue=1"])
    package = Package(exporter)
    wait_metrics(exporter, lambda s: s.get(info("file", "")) == 1 and s[INTENSITY] == 123.5, what="file value")
    package.draw(1_000_000)
    write_atomic(str(path), json.dumps({"intensity": 80, "zone": "FR", "valid_until": "2099-01-01T00:00:00Z"}))
    wait_metrics(exporter, lambda s: s.get(info("file", "FR")) == 1 and s[INTENSITY] == 80, what="replaced value")
    package.draw(1_000_000)
    samples = parse_metrics(exporter.scrape())
    assert samples[CPU_CO2E] == pytest.approx(grams(1, 1, 123.5) + grams(1, 1, 80), rel=1e-12)
    for content, reason in [('{"intensity": 9', "malformed"), ("abc", "malformed"), ("5000", "out_of_range")]:
        before = parse_metrics(exporter.scrape()).get(errors("file", reason), 0)
        with open(path, "w") as handle:  # in place, as a writer that truncates and writes would
            handle.write(content)
        wait_metrics(exporter, lambda s: s.get(errors("file", reason), 0) > before, what=f"{content!r} refused")
        assert parse_metrics(exporter.scrape())[INTENSITY] == 80
    os.remove(path)
    wait_metrics(exporter, lambda s: s.get(errors("file", "unreadable"), 0) >= 1, what="removal noticed")
    assert parse_metrics(exporter.scrape())[INTENSITY] == 80
    write_atomic(str(path), "60")
    wait_metrics(exporter, lambda s: s[INTENSITY] == 60, what="a new file")
    assert "intensity file rejected; the value in force stays" in exporter.logs()


def test_reload_switches_the_source(exporter_factory, tmp_path):
    config = tmp_path / "footprint.yml"
    config.write_text("grid:\n  region: PL\n")
    exporter = exporter_factory("intel-2socket", prepare=low_counter, args=[f"--config.file={config}"])
    wait_metrics(exporter, lambda s: s.get(info("region", "PL")) == 1, what="PL")
    value = tmp_path / "intensity"
    value.write_text("77")
    config.write_text(f"grid:\n  intensity:\n    file: {value}\n")
    exporter.process.send_signal(signal.SIGHUP)
    wait_metrics(exporter, lambda s: s.get(info("file", "")) == 1 and s[INTENSITY] == 77, what="file after reload")


def test_embodied_emissions_follow_the_uptime(exporter_factory):
    exporter = exporter_factory("intel-2socket", prepare=low_counter, args=["--embodied.kgco2e=1300", "--embodied.lifetime=4y"])
    first = wait_metrics(exporter, lambda s: s.get(("footprint_embodied_co2e_grams_total", frozenset()), 0) > 0,
                         what="embodied counting")
    started = time.monotonic()
    rate = 1_300_000 / (4 * 365 * 86400)
    later = wait_metrics(
        exporter, lambda s: s[("footprint_embodied_co2e_grams_total", frozenset())]
        >= first[("footprint_embodied_co2e_grams_total", frozenset())] + rate * 1.0, what="one more second")
    elapsed = time.monotonic() - started
    added = later[("footprint_embodied_co2e_grams_total", frozenset())] - first[
        ("footprint_embodied_co2e_grams_total", frozenset())]
    # The counter moves with the exporter's clock between its samples: about the test's elapsed time (plus the lag
    # of the samples behind the two scrapes).
    assert rate * 1.0 <= added <= rate * (elapsed + 3.0)
