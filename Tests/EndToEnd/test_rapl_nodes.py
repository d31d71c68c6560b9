"""End-to-end: the real binary against RAPL fixture trees whose counters move, wrap, reset and go bad."""

import os

from harness import compare_golden, mask, parse_metrics, promtool_check, value, write_atomic

PUE = 1.58
INTENSITY = 432.7
POWERCAP = "sys/class/powercap"

# Values that depend on timing; masked in the golden files, asserted separately where they matter.
TIMING = [r"_power_watts\{", r"^footprint_last_sample_timestamp_seconds ", r"^footprint_source_duration_seconds",
          r"^footprint_sample_errors_total"]
# Facility energy and CO2e are float sums whose last digit depends on which sample saw which zone move first;
# assert_component_maths checks them exactly against the (integer-exact) IT energy instead.
TIMING += [r"^footprint_facility_energy_joules_total", r"^footprint_co2e_grams_total"]


def run_steps(exporter, steps):
    """Writes each step's energy_uj values and waits until the exporter has sampled that state twice."""
    for step in steps:
        for zone, energy in step.items():
            write_atomic(exporter.path(f"{POWERCAP}/{zone}/energy_uj"), f"{energy}\n")
        exporter.wait_samples(2)


def assert_component_maths(samples):
    """facility / energy equals the PUE, and CO2e equals facility × intensity, for every component."""
    for component in ("cpu", "dram", "gpu"):
        it = value(samples, "footprint_energy_joules_total", component=component)
        facility = value(samples, "footprint_facility_energy_joules_total", component=component)
        grams = value(samples, "footprint_co2e_grams_total", component=component)
        if it == 0:
            assert facility == 0 and grams == 0
            continue
        assert abs(facility / it - PUE) < 1e-12, (component, facility, it)
        assert abs(grams - facility * INTENSITY / 3.6e6) <= 1e-12 * grams, (component, grams, facility)


def test_two_socket_intel_server(exporter_factory):
    exporter = exporter_factory("intel-2socket")
    exporter.wait_samples(2)
    # Per step: package-0 moves, wraps at its own max_energy_range_uj, goes garbled, resets; dram-0 wraps at its
    # smaller range; the MMIO duplicate of package-0 races ahead and must never be counted.
    package0 = [262143300000, 500000, "abc", 2500000, 100, 1100]
    dram0 = [65712999000, 1000, 201000, 401000, 601000, 801000]
    steps = []
    for index in range(6):
        step = {
            "intel-rapl:0": package0[index],
            "intel-rapl:0:0": 1000000 + 100000 * (index + 1),
            "intel-rapl:0:1": 2000000 + 50000 * (index + 1),
            "intel-rapl:0:2": dram0[index],
            "intel-rapl:1": 50000000 + 1500000 * (index + 1),
            "intel-rapl:1:0": 4000000 + 100000 * (index + 1),
            "intel-rapl:1:1": 5000000 + 100000 * (index + 1),
            "intel-rapl:1:2": 6000000 + 300000 * (index + 1),
            "intel-rapl:2": 7000000 + 5000000 * (index + 1),
            "intel-rapl-mmio:0": 123456789 + 999999999 * (index + 1),
        }
        steps.append(step)
    run_steps(exporter, steps[:3])
    during_garbage = parse_metrics(exporter.scrape())
    assert value(during_garbage, "footprint_source_up", source="rapl") == 0
    assert value(during_garbage, "footprint_sample_errors_total", source="rapl") >= 1
    run_steps(exporter, steps[3:])

    text = exporter.scrape()
    promtool_check(text)
    samples = parse_metrics(text)
    # package-0: +300000, wrap +(262143328850 − 262143300000 + 500000), garbled (baseline kept), +2000000 since the
    # last good read, reset to 100 (a wrap would imply ~262 kJ in a fraction of a second: nothing added), +1000.
    package0_uj = 300000 + (262143328850 - 262143300000 + 500000) + 2000000 + 1000
    package1_uj = 6 * 1500000
    dram0_uj = 99000 + (65712999613 - 65712999000 + 1000) + 4 * 200000
    dram1_uj = 6 * 300000
    assert value(samples, "footprint_domain_energy_joules_total", source="rapl", domain="package", device="0") == \
        package0_uj / 1e6
    assert value(samples, "footprint_domain_energy_joules_total", source="rapl", domain="dram", device="0") == \
        dram0_uj / 1e6
    assert value(samples, "footprint_domain_energy_joules_total", source="rapl", domain="psys", device="0") == 30.0
    assert value(samples, "footprint_energy_joules_total", component="cpu") == (package0_uj + package1_uj) / 1e6
    assert value(samples, "footprint_energy_joules_total", component="dram") == (dram0_uj + dram1_uj) / 1e6
    assert value(samples, "footprint_energy_joules_total", component="gpu") == 0
    assert value(samples, "footprint_source_up", source="rapl") == 1
    assert not any(name == "footprint_source_up" and ("source", "estimate") in labels for name, labels in samples)
    assert_component_maths(samples)
    assert "treated as a reset" in exporter.logs()
    compare_golden("intel-2socket", mask(text, TIMING))


def test_amd_node_package_and_core_only(exporter_factory):
    exporter = exporter_factory("amd")
    exporter.wait_samples(2)
    package = [65532600000, 400000, 900000]
    run_steps(exporter, [{"intel-rapl:0": energy, "intel-rapl:0:0": 1000000 + 100000 * (index + 1)}
                         for index, energy in enumerate(package)])
    text = exporter.scrape()
    promtool_check(text)
    samples = parse_metrics(text)
    package_uj = 600000 + (65532610987 - 65532600000 + 400000) + 500000
    assert value(samples, "footprint_energy_joules_total", component="cpu") == package_uj / 1e6
    assert value(samples, "footprint_domain_energy_joules_total", source="rapl", domain="core", device="0") == 0.3
    # AMD has no DRAM zone: the estimate stands in for dram only, never for the measured cpu.
    dram_watts = 263840000 * 1024 / 2**30 * 0.392
    assert abs(value(samples, "footprint_domain_power_watts", source="estimate", domain="dram", device="0")
               - dram_watts) < 1e-9
    assert ("footprint_domain_energy_joules_total",
            frozenset({("source", "estimate"), ("domain", "package"), ("device", "0")})) not in samples
    assert value(samples, "footprint_energy_joules_total", component="dram") > 0
    assert_component_maths(samples)
    compare_golden("amd", mask(text, TIMING + [r'source="estimate"', r'component="dram"']))


def test_failed_read_keeps_baseline_and_vanished_zone_comes_back(exporter_factory):
    exporter = exporter_factory("intel-2socket")
    exporter.wait_samples(2)
    zone = exporter.path(f"{POWERCAP}/intel-rapl:1")
    write_atomic(f"{zone}/energy_uj", "51000000\n")
    exporter.wait_samples(2)
    hidden = f"{zone}.gone"
    os.rename(zone, hidden)  # the zone vanishes (driver unload)
    exporter.wait_samples(3)
    down = parse_metrics(exporter.scrape())
    assert value(down, "footprint_source_up", source="rapl") == 0
    assert value(down, "footprint_domain_energy_joules_total", source="rapl", domain="package", device="1") == 1.0
    write_atomic(f"{hidden}/energy_uj", "53500000\n")
    os.rename(hidden, zone)  # it comes back having counted on
    exporter.wait_samples(3)
    up = parse_metrics(exporter.scrape())
    assert value(up, "footprint_source_up", source="rapl") == 1
    # 1 J before it vanished, 2.5 J drawn while it was gone: nothing lost, nothing twice.
    assert value(up, "footprint_domain_energy_joules_total", source="rapl", domain="package", device="1") == 3.5
    assert exporter.logs().count("source read failed") == 1  # logged once, not every sample


def test_gzip_scrape_is_the_same_exposition(exporter_factory):
    """A client that accepts gzip (Prometheus always does) gets the same exposition compressed, with the headers a
    cache needs; one that does not gets it plain."""
    import gzip
    import urllib.request
    exporter = exporter_factory("intel-2socket")
    exporter.wait_samples(2)

    def fetch(encoding):
        headers = {"Accept-Encoding": encoding} if encoding else {}
        with urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{exporter.port}/metrics", headers=headers), timeout=10) as response:
            return response.headers, response.read()

    # Both requests must see the same sample: retry until two in a row agree (a sample may land in between).
    for _ in range(50):
        plain_headers, plain = fetch(None)
        zipped_headers, zipped = fetch("gzip")
        if gzip.decompress(zipped) == plain:
            break
    assert gzip.decompress(zipped) == plain
    assert zipped_headers["Content-Encoding"] == "gzip" and zipped_headers["Vary"] == "Accept-Encoding"
    assert plain_headers.get("Content-Encoding") is None
    assert len(zipped) < len(plain) / 3
