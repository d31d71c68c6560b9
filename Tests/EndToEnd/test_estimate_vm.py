"""End-to-end: a VM with no powercap, where the estimate supplies cpu and dram from procfs."""

import os
import subprocess
import sys
import time

from harness import compare_golden, mask, parse_metrics, promtool_check, value, write_atomic

VOLATILE = [r"_joules_total\{", r"^footprint_co2e_grams_total", r"^footprint_last_sample_timestamp_seconds ",
            r"^footprint_source_duration_seconds"]


def stat(busy, idle, cpus=4):
    lines = [f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0"]
    lines += [f"cpu{i} {busy // cpus} 0 0 {idle // cpus} 0 0 0 0 0 0" for i in range(cpus)]
    return "\n".join(lines) + "\nintr 1 0\nctxt 2\n"


def test_vm_estimate_follows_utilisation(exporter_factory):
    exporter = exporter_factory("vm")
    exporter.wait_samples(2)
    idle = parse_metrics(exporter.scrape())
    assert value(idle, "footprint_power_watts", component="cpu") == 4 * 0.74  # no tick elapsed yet: idle
    write_atomic(exporter.path("proc/stat"), stat(1100, 9300))  # 100 busy of 400 ticks: 25 %
    exporter.wait_samples(2)
    quarter = parse_metrics(exporter.scrape())
    assert abs(value(quarter, "footprint_power_watts", component="cpu") - 4 * (0.74 + 0.25 * (3.5 - 0.74))) < 1e-9
    write_atomic(exporter.path("proc/stat"), stat(1500, 9300))  # 400 busy of 400 ticks: 100 %
    exporter.wait_samples(2)
    text = exporter.scrape()
    promtool_check(text)
    busy = parse_metrics(text)
    assert abs(value(busy, "footprint_power_watts", component="cpu") - 4 * 3.5) < 1e-9
    assert abs(value(busy, "footprint_power_watts", component="dram") - 16 * 0.392) < 1e-9
    assert value(busy, "footprint_source_up", source="estimate") == 1
    assert not any(name == "footprint_source_up" and ("source", "rapl") in labels for name, labels in busy)
    assert value(busy, "footprint_energy_joules_total", component="cpu") > \
        value(quarter, "footprint_energy_joules_total", component="cpu")
    facility = value(busy, "footprint_facility_energy_joules_total", component="cpu")
    assert abs(facility / value(busy, "footprint_energy_joules_total", component="cpu") - 1.58) < 1e-12
    compare_golden("vm", mask(text, VOLATILE))


def test_estimate_on_this_machine_rises_with_load(exporter_factory):
    """What `make run` shows here: estimated CPU power from the real /proc/stat follows real load.

    Other work on the machine makes the quiet reading vary, so the test asserts only that it lies between idle and
    the maximum, vcpus × 3.5 W, and that saturating every CPU drives the estimate to (nearly) that maximum. The
    burners spin until killed; the test waits, with a generous deadline, for the reading to get there.
    """
    exporter = exporter_factory(None, args=["--path.procfs=/proc"], interval="200ms")
    exporter.wait_samples(3)
    quiet = value(parse_metrics(exporter.scrape()), "footprint_power_watts", component="cpu")
    vcpus = os.cpu_count()
    maximum = vcpus * 3.5
    assert vcpus * 0.74 <= quiet <= maximum, (quiet, maximum)
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(vcpus)]
    readings = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            readings.append(value(parse_metrics(exporter.scrape()), "footprint_power_watts", component="cpu"))
            if readings[-1] >= 0.9 * maximum:
                break
            time.sleep(0.1)
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    assert readings[-1] >= 0.9 * maximum, (
        f"with all {vcpus} CPUs busy the estimate never reached 90 % of {maximum} W in 60 s: {readings}")
    assert all(vcpus * 0.74 <= reading <= maximum for reading in readings), (readings, maximum)
