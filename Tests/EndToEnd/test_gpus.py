"""End-to-end: GPUs through the fake NVML library (the real C ABI, scripted) and through hwmon fixtures."""

import os
import subprocess
import time

import pytest

from harness import FIXTURES, compare_golden, mask, parse_metrics, promtool_check, value, write_atomic

FAKE_NVML = os.path.join(FIXTURES, "fake-nvml", "build.sh")


@pytest.fixture(scope="session")
def fake_nvml(tmp_path_factory):
    """Builds the fake libnvidia-ml.so.1 once per test session."""
    out = tmp_path_factory.mktemp("fake-nvml")
    library = subprocess.run(["sh", FAKE_NVML, str(out)], check=True, capture_output=True, text=True).stdout.strip()
    assert os.path.exists(library)
    return library


class Script:
    """The fake library's script: one `gpu` line per GPU, rewritten atomically between samples."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "nvml-script")

    def write(self, gpus):
        lines = []
        for index, gpu in enumerate(gpus):
            fields = {"index": index, "uuid": f"GPU-fake-{index:04d}", "name": "NVIDIA_H100_80GB_HBM3", **gpu}
            lines.append("gpu " + " ".join(f"{k}={v}" for k, v in fields.items()))
        write_atomic(self.path, "\n".join(lines) + "\n")


def start_with_gpus(exporter_factory, fake_nvml, fixture, gpus, tmp_path, extra=()):
    script = Script(str(tmp_path))
    script.write(gpus)
    exporter = exporter_factory(fixture, args=[f"--collector.nvml.library={fake_nvml}", *extra],
                                env={"FAKE_NVML_SCRIPT": script.path})
    return exporter, script


def gpu_energy(samples, device):
    return value(samples, "footprint_domain_energy_joules_total", source="nvml", domain="gpu", device=str(device))


def test_eight_gpus_and_two_sockets_sum_exactly(exporter_factory, fake_nvml, tmp_path):
    start = [1_000_000 * (index + 1) for index in range(8)]
    exporter, script = start_with_gpus(exporter_factory, fake_nvml, "intel-2socket",
                                       [{"energy_mj": mj, "power_mw": 300000} for mj in start], tmp_path)
    exporter.wait_samples(2)
    drawn = [0] * 8
    for step in range(1, 4):
        for index in range(8):
            drawn[index] += 250 * step + 17 * index  # millijoules, different per GPU and step
        script.write([{"energy_mj": start[i] + drawn[i], "power_mw": 300000} for i in range(8)])
        exporter.wait_samples(2)
    text = exporter.scrape()
    promtool_check(text)
    samples = parse_metrics(text)
    for index in range(8):
        assert gpu_energy(samples, index) == drawn[index] / 1000, index
        assert value(samples, "footprint_gpu_info", device=str(index), uuid=f"GPU-fake-{index:04d}",
                     name="NVIDIA H100 80GB HBM3") == 1
    per_gpu_sum = sum(gpu_energy(samples, index) for index in range(8))
    assert value(samples, "footprint_energy_joules_total", component="gpu") == per_gpu_sum == sum(drawn) / 1000
    assert value(samples, "footprint_source_up", source="nvml") == 1
    facility = value(samples, "footprint_facility_energy_joules_total", component="gpu")
    assert abs(facility / per_gpu_sum - 1.58) < 1e-12
    assert value(samples, "footprint_domain_energy_joules_total", source="rapl", domain="package", device="1") == 0


def test_power_only_gpu_is_integrated(exporter_factory, fake_nvml, tmp_path):
    exporter, _ = start_with_gpus(exporter_factory, fake_nvml, "vm",
                                  [{"energy_mj": "unsupported", "power_mw": 250000}], tmp_path)
    exporter.wait_samples(3)
    first = parse_metrics(exporter.scrape())
    time.sleep(2)
    second = parse_metrics(exporter.scrape())
    elapsed = value(second, "footprint_last_sample_timestamp_seconds") - \
        value(first, "footprint_last_sample_timestamp_seconds")
    watts = (gpu_energy(second, 0) - gpu_energy(first, 0)) / elapsed
    # Integration of a constant 250 W over ~2 s sampled every 100 ms: within 5 % (sample-time jitter at both ends).
    assert abs(watts - 250) < 12.5, watts
    assert value(second, "footprint_domain_power_watts", source="nvml", domain="gpu", device="0") == 250


def test_energy_counter_reset_adds_nothing(exporter_factory, fake_nvml, tmp_path):
    exporter, script = start_with_gpus(exporter_factory, fake_nvml, "vm", [{"energy_mj": 5_000_000}], tmp_path)
    exporter.wait_samples(2)
    script.write([{"energy_mj": 5_000_400}])
    exporter.wait_samples(2)
    script.write([{"energy_mj": 100}])  # driver reload: the counter restarts
    exporter.wait_samples(2)
    script.write([{"energy_mj": 700}])
    exporter.wait_samples(2)
    assert gpu_energy(parse_metrics(exporter.scrape()), 0) == (400 + 600) / 1000


def test_lost_gpu_does_not_stop_the_others(exporter_factory, fake_nvml, tmp_path):
    gpus = [{"energy_mj": 1000}, {"energy_mj": 2000}, {"energy_mj": 3000}]
    exporter, script = start_with_gpus(exporter_factory, fake_nvml, "vm", gpus, tmp_path)
    exporter.wait_samples(2)
    script.write([{"energy_mj": 1500}, {"energy_mj": 2500, "fault": "lost"}, {"energy_mj": 3500}])
    exporter.wait_samples(3)
    lost = parse_metrics(exporter.scrape())
    assert value(lost, "footprint_source_up", source="nvml") == 0
    assert value(lost, "footprint_sample_errors_total", source="nvml") >= 1
    assert gpu_energy(lost, 0) == 0.5 and gpu_energy(lost, 2) == 0.5 and gpu_energy(lost, 1) == 0
    script.write([{"energy_mj": 1600}, {"energy_mj": 2900}, {"energy_mj": 3600}])  # it answers again
    exporter.wait_samples(3)
    back = parse_metrics(exporter.scrape())
    assert value(back, "footprint_source_up", source="nvml") == 1
    assert gpu_energy(back, 1) == 0.9  # the energy drawn while it was lost is counted once it answers
    assert value(back, "footprint_energy_joules_total", component="gpu") == 0.6 + 0.9 + 0.6
    assert "GPU is lost" in exporter.logs()


def test_hung_gpu_stalls_neither_metrics_nor_cpu(exporter_factory, fake_nvml, tmp_path):
    exporter, script = start_with_gpus(exporter_factory, fake_nvml, "vm", [{"energy_mj": 1000}], tmp_path)
    exporter.wait_samples(2)
    script.write([{"energy_mj": 2000, "fault": "hang", "hang_seconds": 30}])
    time.sleep(0.5)
    before = parse_metrics(exporter.scrape())
    for _ in range(5):
        began = time.time()
        exporter.scrape()
        assert time.time() - began < 1.0
        time.sleep(0.2)
    after = parse_metrics(exporter.scrape())
    assert value(after, "footprint_source_up", source="nvml") == 0
    assert value(after, "footprint_energy_joules_total", component="cpu") > \
        value(before, "footprint_energy_joules_total", component="cpu")
    assert value(after, "footprint_last_sample_timestamp_seconds") > \
        value(before, "footprint_last_sample_timestamp_seconds")
    began = time.time()
    assert exporter.stop() == 0  # a thread stuck in NVML does not hold up shutdown
    assert time.time() - began < 3


def test_no_nvml_library_is_not_an_error(exporter_factory):
    exporter = exporter_factory("vm", args=["--collector.nvml.library=/nonexistent/libnvidia-ml.so.1"])
    exporter.wait_samples(2)
    samples = parse_metrics(exporter.scrape())
    assert not any(("source", "nvml") in labels for _, labels in samples)
    assert exporter.logs().count("source=nvml") == 1 and "level=info" in exporter.logs()


def test_hwmon_gpus(exporter_factory):
    exporter = exporter_factory("gpu-hwmon", args=["--no-collector.nvml"])
    exporter.wait_samples(2)
    for step in range(1, 4):
        write_atomic(exporter.path("sys/class/hwmon/hwmon3/energy1_input"), f"{1000000 + 400000 * step}\n")
        write_atomic(exporter.path("sys/class/hwmon/hwmon4/energy1_input"), f"{5000000 + 700000 * step}\n")
        write_atomic(exporter.path("sys/class/hwmon/hwmon4/energy2_input"), f"{9000000 + 999000 * step}\n")
        write_atomic(exporter.path("sys/class/hwmon/hwmon2/power1_average"), f"{75000000 + 1000000 * step}\n")
        exporter.wait_samples(2)
    text = exporter.scrape()
    promtool_check(text)
    samples = parse_metrics(text)
    assert value(samples, "footprint_domain_energy_joules_total", source="i915", domain="gpu", device="0") == 1.2
    assert value(samples, "footprint_domain_energy_joules_total", source="xe", domain="gpu", device="0") == 2.1
    # Device numbers follow PCI order, not hwmon order: 0000:03:00.0 (hwmon2) is amdgpu 0.
    assert value(samples, "footprint_domain_power_watts", source="amdgpu", domain="gpu", device="0") == 78
    assert value(samples, "footprint_domain_power_watts", source="amdgpu", domain="gpu", device="1") == 150
    gpu_sum = sum(v for (name, labels), v in samples.items()
                  if name == "footprint_domain_energy_joules_total" and ("domain", "gpu") in labels)
    assert abs(value(samples, "footprint_energy_joules_total", component="gpu") - gpu_sum) < 1e-9
    assert value(samples, "footprint_source_up", source="hwmon") == 1
    compare_golden("gpu-hwmon", mask(text, [
        r"_joules_total\{(?!source=\"(i915|xe)\")", r"^footprint_co2e_grams_total", r"_power_watts\{component",
        r'_power_watts\{source="(i915|xe|estimate)"', r"^footprint_last_sample_timestamp_seconds ",
        r"^footprint_source_duration_seconds", r'source_up\{source="estimate"', r'errors_total\{source="estimate"']))
