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

    def write(self, gpus, init=None):
        """`init`: an `init=` mode of the fake (fail, mismatch, no_permission, unknown); None: a working driver."""
        lines = [f"init={init}"] if init else []
        for index, gpu in enumerate(gpus):
            fields = {"index": index, "uuid": f"GPU-fake-{index:04d}", "name": "NVIDIA_H100_80GB_HBM3", **gpu}
            lines.append("gpu " + " ".join(f"{k}={v}" for k, v in fields.items()))
        write_atomic(self.path, "\n".join(lines) + "\n")


def start_with_gpus(exporter_factory, fake_nvml, fixture, gpus, tmp_path, extra=(), init=None):
    script = Script(str(tmp_path))
    script.write(gpus, init=init)
    exporter = exporter_factory(fixture, args=[f"--collector.nvml.library={fake_nvml}", *extra],
                                env={"FAKE_NVML_SCRIPT": script.path})
    return exporter, script


def gpu_energy(samples, device):
    return value(samples, "footprint_domain_energy_joules_total", source="nvml", domain="gpu", device=str(device))


def nvml_series(samples):
    """Every series labelled source="nvml" (health and GPU domains alike)."""
    return sorted(name for name, labels in samples if ("source", "nvml") in labels)


def wait_for_metrics(exporter, condition, what, timeout=30):
    """Scrapes until `condition(samples)` holds and returns those samples; the deadline is generous, not a bound."""
    deadline = time.monotonic() + timeout
    samples = {}
    while time.monotonic() < deadline:
        samples = parse_metrics(exporter.scrape())
        if condition(samples):
            return samples
        time.sleep(0.05)
    shown = {f"{name}{dict(labels)}": number for (name, labels), number in samples.items() if "nvml" in str(labels)}
    raise AssertionError(f"{what} did not happen within {timeout}s; nvml series: {shown}\n{exporter.logs()}")


def log_lines(exporter, message, source):
    """The exporter's log lines with this message about this source."""
    return [line for line in exporter.logs().splitlines() if f'msg="{message}"' in line and f"source={source}" in line]


def wait_for_log_lines(exporter, message, source, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = log_lines(exporter, message, source)
        if lines:
            return lines
        time.sleep(0.05)
    raise AssertionError(f"no {message!r} line for source={source} within {timeout}s:\n{exporter.logs()}")


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
    exporter.wait_samples(20, timeout=60)
    second = parse_metrics(exporter.scrape())
    elapsed = value(second, "footprint_last_sample_timestamp_seconds") - \
        value(first, "footprint_last_sample_timestamp_seconds")
    joules = gpu_energy(second, 0) - gpu_energy(first, 0)
    # The exporter integrates exactly: 250 W × the time between the GPU reads that end the two samples (boot clock).
    # What varies is the exposed timestamp: the wall clock taken when a sample is published, after the other sources
    # (here the estimate) have been read too. That lag differs from sample to sample, so the energy may differ from
    # 250 W × the timestamps' difference by 250 W × the difference of the two lags: about 0.1 ms on an idle machine,
    # up to 12 ms with 4 busy loops on 2 cores. Allow 0.1 s of it: 25 J, 5 % of the ~2 s (20 samples) between.
    assert elapsed > 1.0, elapsed  # 20 samples of 100 ms, however late the first one was
    assert abs(joules - 250 * elapsed) <= 250 * 0.1, (joules, elapsed, joules / elapsed)
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
    before = wait_for_metrics(exporter, lambda samples: value(samples, "footprint_source_up", source="nvml") == 0,
                              "nvml going down while its read hangs")
    # The hang lasts 30 s: a scrape or a sample that waited for it would take that long. Each scrape must answer
    # within 5 s (generous on a loaded machine, far below the hang), and sampling must go on meanwhile.
    for _ in range(5):
        began = time.monotonic()
        exporter.scrape()
        took = time.monotonic() - began
        assert took < 5, f"a scrape took {took:.2f}s while a GPU read hangs"
        exporter.wait_samples(1, timeout=5)
    after = parse_metrics(exporter.scrape())
    assert value(after, "footprint_source_up", source="nvml") == 0
    assert value(after, "footprint_energy_joules_total", component="cpu") > \
        value(before, "footprint_energy_joules_total", component="cpu")
    assert value(after, "footprint_last_sample_timestamp_seconds") > \
        value(before, "footprint_last_sample_timestamp_seconds")
    began = time.monotonic()
    assert exporter.stop(timeout=40) == 0  # a thread stuck in NVML does not hold up shutdown
    took = time.monotonic() - began
    assert took < 10, f"stopping took {took:.2f}s: shutdown waited for the 30 s hang"


# MARK: - NVML present but broken, or absent

def test_version_mismatch_marks_nvml_down_until_a_retry_succeeds(exporter_factory, fake_nvml, tmp_path):
    """A driver upgraded without a reboot: the library loads, nvmlInit says the kernel module does not match. That is
    a present source that fails (down, counted, warned about), not an absent one; a retry picks the GPUs up."""
    gpu = {"energy_mj": 1_000_000, "power_mw": 300000}
    exporter, script = start_with_gpus(exporter_factory, fake_nvml, "vm", [gpu], tmp_path, init="mismatch")
    exporter.wait_samples(2)
    down = parse_metrics(exporter.scrape())
    assert value(down, "footprint_source_up", source="nvml") == 0
    errors = value(down, "footprint_sample_errors_total", source="nvml")
    assert errors >= 1
    assert not any(name == "footprint_domain_energy_joules_total" and ("source", "nvml") in labels
                   for name, labels in down), "a GPU was read although nvmlInit failed"
    assert value(down, "footprint_energy_joules_total", component="gpu") == 0
    warnings = wait_for_log_lines(exporter, "source read failed; marking it down until it recovers", "nvml")
    assert warnings and all("level=warn" in line for line in warnings), exporter.logs()
    assert "RM has detected an NVML/RM version mismatch" in warnings[0], warnings
    assert not log_lines(exporter, "source has nothing to read on this node", "nvml"), exporter.logs()
    # The other sources go on: the estimate keeps counting cpu energy.
    exporter.wait_samples(2)
    still_down = parse_metrics(exporter.scrape())
    assert value(still_down, "footprint_source_up", source="estimate") == 1
    assert value(still_down, "footprint_energy_joules_total", component="cpu") > \
        value(down, "footprint_energy_joules_total", component="cpu")
    assert value(still_down, "footprint_source_up", source="nvml") == 0

    # The driver is reloaded: nvmlInit works again. The source retries every 30 samples (3 s at 100 ms).
    script.write([gpu])
    up = wait_for_metrics(exporter, lambda samples: value(samples, "footprint_source_up", source="nvml") == 1,
                          "nvml recovering after the version mismatch went away", timeout=60)
    assert gpu_energy(up, 0) == 0  # the first reading after recovery is the baseline
    assert value(up, "footprint_sample_errors_total", source="nvml") >= errors
    wait_for_log_lines(exporter, "source recovered", "nvml")
    script.write([{**gpu, "energy_mj": 1_000_000 + 2_500}])
    exporter.wait_samples(2)
    counted = parse_metrics(exporter.scrape())
    assert value(counted, "footprint_source_up", source="nvml") == 1
    assert gpu_energy(counted, 0) == 2.5
    assert value(counted, "footprint_energy_joules_total", component="gpu") == 2.5
    assert value(counted, "footprint_gpu_info", device="0", uuid="GPU-fake-0000", name="NVIDIA H100 80GB HBM3") == 1


@pytest.mark.parametrize("init, message", [("no_permission", "Insufficient Permissions"),
                                           ("unknown", "Unknown Error")])
def test_nvml_init_error_marks_the_source_down(exporter_factory, fake_nvml, tmp_path, init, message):
    exporter, _ = start_with_gpus(exporter_factory, fake_nvml, "vm", [{"energy_mj": 1000}], tmp_path, init=init)
    exporter.wait_samples(2)
    samples = parse_metrics(exporter.scrape())
    assert value(samples, "footprint_source_up", source="nvml") == 0
    assert value(samples, "footprint_sample_errors_total", source="nvml") >= 1
    assert value(samples, "footprint_source_up", source="estimate") == 1
    assert nvml_series(samples) == ["footprint_sample_errors_total", "footprint_source_duration_seconds",
                                    "footprint_source_up"], nvml_series(samples)
    warnings = wait_for_log_lines(exporter, "source read failed; marking it down until it recovers", "nvml")
    assert warnings and "level=warn" in warnings[0] and message in warnings[0], exporter.logs()


@pytest.mark.parametrize("init, gpus", [("fail", [{"energy_mj": 1000}]), (None, [])],
                         ids=["driver-not-loaded", "zero-gpus"])
def test_absent_nvml_exports_nothing(exporter_factory, fake_nvml, tmp_path, init, gpus):
    """No driver (nvmlInit: DRIVER_NOT_LOADED) or a driver without GPUs: nothing to read, which is not a failure."""
    exporter, _ = start_with_gpus(exporter_factory, fake_nvml, "vm", gpus, tmp_path, init=init)
    exporter.wait_samples(3)
    samples = parse_metrics(exporter.scrape())
    assert nvml_series(samples) == [], nvml_series(samples)
    assert value(samples, "footprint_source_up", source="estimate") == 1
    absent = wait_for_log_lines(exporter, "source has nothing to read on this node", "nvml")
    assert len(absent) == 1 and "level=info" in absent[0], exporter.logs()
    assert not log_lines(exporter, "source read failed; marking it down until it recovers", "nvml"), exporter.logs()


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
