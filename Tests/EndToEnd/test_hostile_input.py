"""End-to-end: hostile and absurd input — huge power readings, glitching counters, over-long sysfs values, RAPL
zones that swap with their MMIO duplicates, poisoned state files, SIGPIPE, unsafe state paths, two exporters on one
state file, counters that step back across restarts, and configuration or state files built to hang or bloat the
exporter. Every test names, in its docstring, the fault it guards against.

Each test bounds its own duration (≤ 30 s) and waits on conditions with generous deadlines, never on fixed sleeps."""

import json
import os
import re
import resource
import select
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from harness import BINARY, FIXTURES, Exporter, parse_metrics, value, write_atomic
from test_gpus import Script, fake_nvml  # noqa: F401  (fake_nvml is a pytest fixture used below)
from test_lifecycle_state import ZONES

POWERCAP = "sys/class/powercap"
BOOT_ID = "3f1c2a9e-5b7d-4e8f-9a01-23456789abcd"
OTHER_BOOT_ID = "c0ffee00-1111-4222-8333-444455556666"
PUE = 1.58
INTENSITY = 432.7
# A guard for the tests that feed the exporter something built to blow up memory: a fault makes it fail, not the
# machine. A normal exporter needs a small fraction of this.
ADDRESS_SPACE_LIMIT = 4 << 30


# MARK: - Helpers

def describe_exit(code):
    if code is None:
        return "still running"
    if code < 0:
        return f"killed by {signal.Signals(-code).name} ({code}; a shell reports {128 - code})"
    return f"exit code {code}"


def log_excerpt(text, limit=2500):
    """The end of a log, or, after a crash, its fatal error and the crashed thread's top frames."""
    if "Program crashed" not in text:
        return text[-limit:]
    lines = text.splitlines()
    keep = [line for line in lines if "Fatal error" in line or "Program crashed" in line]
    for index, line in enumerate(lines):
        if line.rstrip().endswith("crashed:"):
            keep += lines[index:index + 8]
    return "\n".join(keep)


def assert_alive(exporter, what):
    code = exporter.process.poll()
    assert code is None, f"the exporter died {what}: {describe_exit(code)}\n{log_excerpt(exporter.logs())}"


def wait_samples_alive(exporter, count=2, timeout=20, what="while sampling"):
    """Like Exporter.wait_samples, but a dead exporter fails at once with its exit status instead of a refused
    connection."""
    seen = set()
    start = time.time()
    while time.time() - start < timeout:
        assert_alive(exporter, what)
        try:
            stamp = exporter.last_sample()
        except (OSError, urllib.error.URLError):
            time.sleep(0.05)
            continue
        if stamp > start:
            seen.add(stamp)
            if len(seen) >= count:
                return
        time.sleep(0.03)
    assert_alive(exporter, what)
    raise AssertionError(f"fewer than {count} samples in {timeout}s\n{log_excerpt(exporter.logs())}")


def scrape(exporter, what="when scraped"):
    assert_alive(exporter, what)
    return parse_metrics(exporter.scrape())


def settle(exporter, condition, timeout=10):
    """Scrapes until `condition(samples)` holds (a read that missed a loaded machine's sampling deadline is taken
    up later) and returns those samples; after `timeout` seconds returns the last ones, for the caller's assertions
    to explain."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(exporter)
        if condition(samples) or time.monotonic() >= deadline:
            return samples
        time.sleep(0.05)


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def limit_address_space():
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))


def run_to_exit(args, timeout=10, fixture="vm", memory_limit=False):
    """Starts the binary (loopback port, a fixture's sysfs and procfs, read only) and waits up to `timeout` seconds
    for it to exit. Returns (code, stdout, stderr, seconds); code None: it was still running then, and was killed."""
    root = os.path.join(FIXTURES, fixture)
    command = [BINARY, "--web.listen-address=127.0.0.1:0", "--sample.interval=100ms",
               f"--path.sysfs={root}/sys", f"--path.procfs={root}/proc", *args]
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=limit_address_space if memory_limit else None)
    code = None
    try:
        stdout, stderr = process.communicate(timeout=timeout)
        code = process.returncode
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return code, stdout, stderr, time.monotonic() - started


def assert_refused(code, stderr, took):
    """Start-up refused: exit code 2, within run_to_exit's timeout."""
    assert code == 2, (f"expected exit code 2, got: {describe_exit(code)} after {took:.1f}s"
                       f"{' (killed)' if code is None else ''}; stderr:\n{log_excerpt(stderr)}")


def one_line(stderr, tmp_path=None):
    """The only line on stderr; with `tmp_path`, that directory's name replaced by <tmp> (a test's temporary
    directory is named after the test, whose words must not satisfy a check of the message)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected exactly one line on stderr, got {len(lines)}:\n{log_excerpt(stderr)}"
    return lines[0].replace(str(tmp_path), "<tmp>") if tmp_path else lines[0]


def write_boot_id(root, boot_id):
    path = os.path.join(root, "proc", "sys", "kernel", "random", "boot_id")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_atomic(path, boot_id + "\n")


def read_state(path):
    with open(path) as handle:
        return json.load(handle)


def read_bytes(path):
    with open(path, "rb") as handle:
        return handle.read()


def wait_for_state(path, condition, what, timeout=15):
    """Waits until the state file parses and `condition(state)` holds; returns the state."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = read_state(path)
            if condition(last):
                return last
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout}s; last state: {str(last)[:500]}")


def totals(samples):
    return {key: number for key, number in samples.items() if key[0].startswith("footprint_") and
            key[0].endswith("_total")}


def series(key):
    name, labels = key
    return f"{name}{dict(sorted(labels))}"


def rapl(samples, domain, device):
    return value(samples, "footprint_domain_energy_joules_total", source="rapl", domain=domain, device=device)


@pytest.fixture(scope="module")
def saved_state(tmp_path_factory):
    """The bytes of a state file the exporter really wrote for the intel-2socket fixture, after energy moved, and
    the boot id it was written in."""
    directory = tmp_path_factory.mktemp("hostile-state")
    path = str(directory / "state.json")
    exporter = Exporter("intel-2socket", args=[f"--state.file={path}", "--state.save-interval=1s"],
                        prepare=lambda root: write_boot_id(root, BOOT_ID))
    try:
        exporter.wait_samples(2)
        write_atomic(exporter.path(f"{POWERCAP}/intel-rapl:0/energy_uj"), "262143300000\n")
        write_atomic(exporter.path(f"{POWERCAP}/intel-rapl:1/energy_uj"), "51000000\n")
        exporter.wait_samples(2)
        assert exporter.stop() == 0
        data = read_bytes(path)
    finally:
        exporter.cleanup()
    state = json.loads(data)
    assert state["version"] == 1 and any(d["microjoules"] > 0 for d in state["ledger"]["domains"]), state
    return data


# MARK: - 1. Huge power readings

def test_huge_amdgpu_power_reading_neither_crashes_nor_adds_energy(exporter_factory):
    """Fault: an amdgpu `power1_average` of 1e19 µW (1e13 W) was integrated as is; over a 2 s interval the µJ delta
    overflows UInt64(Double) and the exporter dies of SIGILL (exit 132), and over shorter ones it books ~1e12 J.
    After the fix a reading above --max-watts.gpu (default 3000 W) adds nothing and counts as a sample error."""
    exporter = exporter_factory("gpu-hwmon", args=["--no-collector.nvml"], interval="2s")
    power = exporter.path("sys/class/hwmon/hwmon2/power1_average")
    wait_samples_alive(exporter, 2)
    before = scrape(exporter)
    for huge in (10**19, 10**19 + 1, 10**19 + 2):  # a new value each sample
        write_atomic(power, f"{huge}\n")
        wait_samples_alive(exporter, 1, what="after a power1_average of 1e19 µW")
    write_atomic(power, "75000000\n")
    wait_samples_alive(exporter, 1, what="after a power1_average of 1e19 µW")
    after = scrape(exporter)
    elapsed = value(after, "footprint_last_sample_timestamp_seconds") - \
        value(before, "footprint_last_sample_timestamp_seconds")
    # Whatever is counted, it cannot exceed the ceiling over the time between the scrapes (plus two intervals).
    ceiling = 3000 * (elapsed + 4)
    for key in (("footprint_energy_joules_total", {"component": "gpu"}),
                ("footprint_domain_energy_joules_total", {"source": "amdgpu", "domain": "gpu", "device": "0"})):
        grown = value(after, key[0], **key[1]) - value(before, key[0], **key[1])
        assert 0 <= grown <= ceiling, f"{key}: +{grown} J in {elapsed:.1f}s: the implausible reading was counted"
    assert value(after, "footprint_sample_errors_total", source="hwmon") > \
        value(before, "footprint_sample_errors_total", source="hwmon"), "the implausible reading was not counted"
    assert exporter.get("/metrics")[0] == 200


def test_absurd_memtotal_neither_crashes_nor_adds_dram_energy(exporter_factory):
    """Fault: the estimate multiplies MemTotal by --estimate.dram-watts-per-gb without a ceiling; an absurd MemTotal
    (1.7e16 kB, 1000 W/GiB: 1.6e13 W) overflows UInt64(Double) over a 2 s interval (SIGILL, exit 132) and books
    ~1e13 J otherwise. After the fix a power above --max-watts.dram (default 1000 W) adds nothing and is a sample
    error of the estimate."""
    def half_a_gibibyte(root):  # 0.5 GiB × 1000 W/GiB = 500 W: plausible, under the 1000 W dram ceiling
        write_atomic(os.path.join(root, "proc", "meminfo"), "MemTotal:         524288 kB\nMemFree:   1000 kB\n")

    exporter = exporter_factory("vm", args=["--estimate.dram-watts-per-gb=1000"], interval="2s",
                                prepare=half_a_gibibyte)
    wait_samples_alive(exporter, 2)
    before = scrape(exporter)
    assert value(before, "footprint_domain_power_watts", source="estimate", domain="dram", device="0") == 500
    for kibibytes in (17 * 10**15, 17 * 10**15 + 1):
        write_atomic(exporter.path("proc/meminfo"), f"MemTotal:       {kibibytes} kB\nMemFree:   1000 kB\n")
        wait_samples_alive(exporter, 1, what="after an absurd MemTotal")
    after = scrape(exporter)
    elapsed = value(after, "footprint_last_sample_timestamp_seconds") - \
        value(before, "footprint_last_sample_timestamp_seconds")
    ceiling = 1000 * (elapsed + 4)
    for key in (("footprint_energy_joules_total", {"component": "dram"}),
                ("footprint_domain_energy_joules_total", {"source": "estimate", "domain": "dram", "device": "0"})):
        grown = value(after, key[0], **key[1]) - value(before, key[0], **key[1])
        assert 0 <= grown <= ceiling, f"{key}: +{grown} J in {elapsed:.1f}s: the absurd MemTotal was counted"
    assert value(after, "footprint_sample_errors_total", source="estimate") > \
        value(before, "footprint_sample_errors_total", source="estimate"), "the absurd reading was not counted"
    assert exporter.get("/metrics")[0] == 200


def test_power_ceiling_flags_are_declared_with_their_defaults():
    """Fault: no per-domain-kind power ceiling existed, so nothing bounded power readings (the faults above). The
    settings --max-watts.cpu (2000), --max-watts.dram (1000) and --max-watts.gpu (3000) declare them."""
    result = subprocess.run([BINARY, "--help"], capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for flag, default in (("--max-watts.cpu", "2000"), ("--max-watts.dram", "1000"), ("--max-watts.gpu", "3000")):
        match = re.search(re.escape(flag) + r" <[^>]*> (.*?)\(default: ([^)]*)\)", text)
        assert match, f"{flag} is not a setting:\n{result.stdout}"
        assert float(match.group(2)) == float(default), (flag, match.group(2))


def test_gpu_power_above_the_configured_ceiling_adds_nothing(exporter_factory):
    """Fault: hwmon power readings had no ceiling at all. With --max-watts.gpu=100, the 150 W amdgpu (device 1)
    reading is implausible: it adds nothing and counts as an error, while the 75 W one (device 0) counts."""
    # Checked first: the harness leaves its temporary tree behind for an exporter that exits at start-up.
    usage = subprocess.run([BINARY, "--help"], capture_output=True, text=True, timeout=10).stdout
    assert "--max-watts.gpu" in usage, "--max-watts.gpu is not a setting"
    exporter = exporter_factory("gpu-hwmon", args=["--no-collector.nvml", "--max-watts.gpu=100"])
    wait_samples_alive(exporter, 3)
    first = scrape(exporter)
    wait_samples_alive(exporter, 5)
    later = scrape(exporter)
    device1 = ("footprint_domain_energy_joules_total",
               frozenset({("source", "amdgpu"), ("domain", "gpu"), ("device", "1")}))
    assert later.get(device1, 0) == 0, later.get(device1)
    assert value(later, "footprint_domain_energy_joules_total", source="amdgpu", domain="gpu", device="0") > \
        value(first, "footprint_domain_energy_joules_total", source="amdgpu", domain="gpu", device="0")
    assert value(later, "footprint_sample_errors_total", source="hwmon") > \
        value(first, "footprint_sample_errors_total", source="hwmon")


# MARK: - 2. A counter without a wrap range glitches once

def test_nvml_energy_glitch_adds_nothing(exporter_factory, fake_nvml, tmp_path):  # noqa: F811
    """Fault: a counter without a wrap range (NVML total energy) and no ceiling took any forward jump as energy: one
    glitched reading of 18446744073709551 mJ booked 1.8e13 J. The glitch and the step back add nothing; only the
    plausible deltas (≤ 1 J here) count."""
    script = Script(str(tmp_path))
    script.write([{"energy_mj": 5_000_000}])
    exporter = exporter_factory("vm", args=[f"--collector.nvml.library={fake_nvml}"],
                                env={"FAKE_NVML_SCRIPT": script.path})
    wait_samples_alive(exporter, 2)
    for millijoules in (18446744073709551, 5_000_500, 5_001_000):
        script.write([{"energy_mj": millijoules}])
        wait_samples_alive(exporter, 2)
    samples = settle(exporter, lambda samples: value(samples, "footprint_domain_energy_joules_total", source="nvml",
                                                     domain="gpu", device="0") >= 0.5)
    joules = value(samples, "footprint_domain_energy_joules_total", source="nvml", domain="gpu", device="0")
    # The last step (0.5 J) is plausible and counts; the step back to 5_000_500 counts too if the glitch was skipped
    # with the baseline kept (another 0.5 J). Nothing else.
    assert 0.5 <= joules <= 1.0, f"GPU energy {joules} J after a glitch: only 0.5–1 J were drawn"
    assert value(samples, "footprint_energy_joules_total", component="gpu") == joules
    assert exporter.get("/metrics")[0] == 200


def test_i915_energy_glitch_adds_nothing(exporter_factory):
    """Fault: the same for hwmon's i915 `energy1_input` (µJ, never wraps, no ceiling): one glitched reading near
    2^64 booked 1.8e13 J. The glitch and the step back add nothing; only the plausible deltas (≤ 0.8 J) count."""
    exporter = exporter_factory("gpu-hwmon", args=["--no-collector.nvml"])
    counter = exporter.path("sys/class/hwmon/hwmon3/energy1_input")
    wait_samples_alive(exporter, 2)
    for microjoules in (18446744073709551000, 1_400_000, 1_800_000):  # from 1_000_000 in the fixture
        write_atomic(counter, f"{microjoules}\n")
        wait_samples_alive(exporter, 2)
    samples = settle(exporter, lambda samples: value(samples, "footprint_domain_energy_joules_total", source="i915",
                                                     domain="gpu", device="0") >= 0.4)
    joules = value(samples, "footprint_domain_energy_joules_total", source="i915", domain="gpu", device="0")
    assert 0.4 <= joules <= 0.8, f"i915 energy {joules} J after a glitch: only 0.4–0.8 J were drawn"


# MARK: - 3. A sysfs value longer than the read buffer

def test_overlong_energy_value_is_garbled_not_parsed(exporter_factory):
    """Fault: `energy_uj` is read with one bounded read(2) of 64 bytes; 70 leading zeros followed by 123 were cut to
    64 zeros and parsed as 0, a counter reset that moved the baseline to 0, so the next good reading booked its whole
    value (1.3 J on core-0, 50.8 J on package-1) and no error was counted. It must be garbled: error counted,
    baseline kept, and only the deltas written count."""
    exporter = exporter_factory("intel-2socket")
    core, package = exporter.path(f"{POWERCAP}/intel-rapl:0:0/energy_uj"), \
        exporter.path(f"{POWERCAP}/intel-rapl:1/energy_uj")
    wait_samples_alive(exporter, 2)
    write_atomic(core, "1100000\n")  # from 1_000_000: +0.1 J
    write_atomic(package, "50300000\n")  # from 50_000_000: +0.3 J
    wait_samples_alive(exporter, 2)
    before = scrape(exporter)
    overlong = "0" * 70 + "123\n"
    write_atomic(core, overlong)
    write_atomic(package, overlong)
    wait_samples_alive(exporter, 3)
    during = scrape(exporter)
    assert value(during, "footprint_source_up", source="rapl") == 0, "the over-long value was read as a number"
    assert value(during, "footprint_sample_errors_total", source="rapl") > \
        value(before, "footprint_sample_errors_total", source="rapl"), "the over-long value was not counted as an error"
    write_atomic(core, "1300000\n")  # +0.2 J since the last good reading
    write_atomic(package, "50800000\n")  # +0.5 J
    wait_samples_alive(exporter, 2)
    after = settle(exporter, lambda samples: value(samples, "footprint_source_up", source="rapl") == 1 and
                   rapl(samples, "core", "0") >= 0.3 and rapl(samples, "package", "1") >= 0.8)
    assert rapl(after, "core", "0") == (100000 + 200000) / 1e6
    assert rapl(after, "package", "1") == (300000 + 500000) / 1e6
    assert value(after, "footprint_source_up", source="rapl") == 1


# MARK: - 4. An MSR zone vanishes while its MMIO duplicate stays

def test_msr_zone_swapping_with_its_mmio_duplicate_invents_no_energy(exporter_factory):
    """Fault: when intel-rapl:0 vanished, its MMIO duplicate intel-rapl-mmio:0 (same package-0, its own counter
    value) took over the same series, and the delta between the two unrelated counters was booked as energy (20 J
    here); the MSR zone was never used again once back. The package energy must advance only by the deltas written:
    those while both zones are present always, those while the MSR zone is gone at most once."""
    counters = {"msr": 10_000_000, "mmio": 30_000_000}

    def initial(root):
        write_atomic(os.path.join(root, POWERCAP, "intel-rapl:0", "energy_uj"), f"{counters['msr']}\n")
        write_atomic(os.path.join(root, POWERCAP, "intel-rapl-mmio:0", "energy_uj"), f"{counters['mmio']}\n")

    exporter = exporter_factory("intel-2socket", prepare=initial)
    msr = exporter.path(f"{POWERCAP}/intel-rapl:0")
    hidden = exporter.path(f"{POWERCAP}/intel-rapl:0.gone")
    mmio = exporter.path(f"{POWERCAP}/intel-rapl-mmio:0/energy_uj")

    def write(msr_directory, **moves):
        for name, microjoules in moves.items():
            counters[name] += microjoules
        write_atomic(os.path.join(msr_directory, "energy_uj"), f"{counters['msr']}\n")
        write_atomic(mmio, f"{counters['mmio']}\n")

    wait_samples_alive(exporter, 2)
    must, may = 0, 0  # µJ that must be counted, µJ that may be counted (drawn while the MSR zone was gone)
    for cycle, mmio_offset in enumerate((+20_000_000, -20_000_000)):
        # Both zones present (the MSR one in use): the MMIO counter sits 20 J above (then below) the MSR one.
        counters["mmio"] = counters["msr"] + mmio_offset
        write(msr, msr=300_000, mmio=300_000)
        must += 300_000
        wait_samples_alive(exporter, 2)
        os.rename(msr, hidden)  # the MSR zone vanishes; the MMIO duplicate stays
        wait_samples_alive(exporter, 3)
        write(hidden, msr=500_000, mmio=500_000)  # the same package draws 0.5 J, seen by both counters
        may += 500_000
        wait_samples_alive(exporter, 2)
        joules = rapl(scrape(exporter), "package", "0")
        assert joules <= (must + may) / 1e6, (
            f"cycle {cycle}: package-0 has {joules} J while the MSR zone is gone; at most {(must + may) / 1e6} J were "
            f"drawn: the difference between the MSR and MMIO counters ({mmio_offset / 1e6:+} J) was counted")
        os.rename(hidden, msr)  # it comes back
        wait_samples_alive(exporter, 3)
        # The MSR zone must be used again, while the MMIO counter races ahead 5 kJ a step (never plausible). Until
        # the exporter has switched back, an MSR step may be counted at the switch or lost with the old baseline.
        returned = rapl(scrape(exporter), "package", "0")
        deadline = time.monotonic() + 10
        while True:
            write(msr, msr=100_000, mmio=5_000_000_000)
            may += 100_000
            wait_samples_alive(exporter, 2)
            if rapl(scrape(exporter), "package", "0") > returned:
                break
            assert time.monotonic() < deadline, f"cycle {cycle}: the MSR zone was not used again within 10s"
        write(msr, msr=700_000, mmio=5_000_000_000)  # now it must count
        must += 700_000
        wait_samples_alive(exporter, 2)
        joules = rapl(settle(exporter, lambda samples: rapl(samples, "package", "0") >= must / 1e6), "package", "0")
        assert must / 1e6 <= joules <= (must + may) / 1e6, (
            f"cycle {cycle}: package-0 has {joules} J; the deltas written were {must / 1e6} J, plus at most "
            f"{may / 1e6} J drawn while the MSR zone was gone")
    assert rapl(scrape(exporter), "package", "1") == 0


# MARK: - 5. A restored error counter at 2^64 − 1

def test_restored_error_counter_at_the_maximum_does_not_crash(exporter_factory, tmp_path):
    """Fault: the error counter restored from the state file (here 18446744073709551615 for rapl) was incremented
    with overflow checking on the next failed read: the exporter died of SIGILL. It must stay up, and the counter
    must not wrap to a small number."""
    state = str(tmp_path / "state.json")
    args = [f"--state.file={state}", "--state.save-interval=1s"]
    first = exporter_factory("intel-2socket", args=args, prepare=lambda root: write_boot_id(root, BOOT_ID))
    wait_samples_alive(first, 2)
    assert first.stop() == 0
    saved = read_state(state)
    assert "rapl" in saved["sampleErrors"], saved["sampleErrors"]
    saved["sampleErrors"]["rapl"] = 2**64 - 1
    with open(state, "w") as handle:
        json.dump(saved, handle)

    second = exporter_factory(root=first.root, args=args)
    wait_samples_alive(second, 2)
    assert value(scrape(second), "footprint_sample_errors_total", source="rapl") >= 1.8e19, second.logs()
    write_atomic(second.path(f"{POWERCAP}/intel-rapl:1/energy_uj"), "garbage\n")  # the next read fails
    wait_samples_alive(second, 3, what="after a failed read with the error counter at 2^64 − 1")
    samples = scrape(second)
    assert value(samples, "footprint_source_up", source="rapl") == 0
    assert value(samples, "footprint_sample_errors_total", source="rapl") >= 1.8e19, "the error counter wrapped"


# MARK: - 6. SIGPIPE

def test_sigpipe_does_not_kill(exporter_factory):
    """Fault: SIGPIPE kept its default action, so `kill -PIPE` (or any write to a closed pipe or socket) killed
    the exporter. It must stay alive and keep serving."""
    exporter = exporter_factory("vm")
    wait_samples_alive(exporter, 1)
    os.kill(exporter.process.pid, signal.SIGPIPE)
    wait_samples_alive(exporter, 3, what="after kill -PIPE")
    assert exporter.get("/metrics")[0] == 200


def _http_metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return parse_metrics(response.read().decode())


def test_log_write_to_a_closed_stderr_pipe_does_not_kill(tmp_path):
    """Fault: with stderr a pipe whose reader went away (a log shipper that died), the first log line written —
    here by a SIGHUP reload — raised SIGPIPE and killed the exporter. It must stay alive, reload and serve."""
    config = str(tmp_path / "footprint.yml")
    write_atomic(config, "pue: 1.4\n")
    root = os.path.join(FIXTURES, "vm")
    process = subprocess.Popen(
        [BINARY, "--web.listen-address=127.0.0.1:0", "--sample.interval=100ms", f"--path.sysfs={root}/sys",
         f"--path.procfs={root}/proc", f"--config.file={config}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # Reads the log (stderr) until the listening line names the port.
        port, seen, deadline = None, b"", time.monotonic() + 10
        while port is None:
            assert time.monotonic() < deadline, f"no listening line within 10s:\n{seen.decode(errors='replace')}"
            assert process.poll() is None, f"exited early: {describe_exit(process.returncode)}"
            if select.select([process.stderr], [], [], 0.1)[0]:
                chunk = os.read(process.stderr.fileno(), 65536)
                seen += chunk
                match = re.search(rb"msg=listening address=\S*:(\d+)", seen)
                port = int(match.group(1)) if match else None
        process.stderr.close()  # nobody reads the log any more

        def wait_for_pue(expected):
            deadline = time.monotonic() + 10
            while True:
                code = process.poll()
                assert code is None, f"the exporter died writing its log to a closed pipe: {describe_exit(code)}"
                try:
                    if value(_http_metrics(port), "footprint_pue") == expected:
                        return
                except (OSError, urllib.error.URLError):
                    pass
                assert time.monotonic() < deadline, f"pue never became {expected}"
                time.sleep(0.05)

        wait_for_pue(1.4)
        # Two reloads, one after the other: the second applies only after the first finished logging.
        for pue in (1.3, 1.2):
            write_atomic(config, f"pue: {pue}\n")
            process.send_signal(signal.SIGHUP)
            wait_for_pue(pue)
        assert process.poll() is None
        assert value(_http_metrics(port), "footprint_pue") == 1.2  # still serving
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# MARK: - 7. State-file safety

def test_symlink_at_the_temporary_state_path_is_not_followed(exporter_factory, tmp_path):
    """Fault: the state file was saved through `<state>.tmp` opened with O_CREAT|O_TRUNC, following a symlink
    planted there: the victim it pointed at was truncated and overwritten with the state, and the rename then made
    the state file itself that symlink. After several saves the victim must be unchanged and the state file a
    regular file."""
    directory = tmp_path / "state"
    directory.mkdir(mode=0o700)
    state = str(directory / "state.json")
    victim = str(tmp_path / "victim.txt")
    with open(victim, "w") as handle:
        handle.write("precious: do not overwrite\n")
    os.symlink(victim, state + ".tmp")
    exporter = exporter_factory("vm", args=[f"--state.file={state}", "--state.save-interval=1s"])
    saves = set()

    def three_saves(saved):
        saves.add(saved["savedAtBootSeconds"])
        return len(saves) >= 3

    wait_for_state(state, three_saves, "three saves of the state file", timeout=20)
    assert_alive(exporter, "while saving")
    assert read_bytes(victim) == b"precious: do not overwrite\n", "the symlinked victim file was overwritten"
    assert os.path.isfile(state) and not os.path.islink(state), "the state file is not a regular file"


def test_state_directory_writable_by_others_is_refused(tmp_path):
    """Fault: a state directory writable by everyone without the sticky bit (0777) let any local user swap the state
    file (or plant links) under the exporter. Start-up must refuse it: exit 2, one line naming the directory."""
    directory = tmp_path / "open"
    directory.mkdir()
    os.chmod(directory, 0o777)
    code, _, stderr, took = run_to_exit([f"--state.file={directory}/state.json"])
    assert_refused(code, stderr, took)
    assert str(directory) in one_line(stderr), stderr
    assert not os.path.exists(directory / "state.json")


def test_state_file_pointing_at_the_config_file_is_refused(tmp_path):
    """Fault: --state.file pointed at the exporter's own YAML config file was taken for a corrupt state file and then
    overwritten with JSON by the first save, destroying the configuration. Start-up must refuse (exit 2, one line
    saying it is not a footprint_exporter state file) and leave the config file byte for byte as it was."""
    config = str(tmp_path / "footprint.yml")
    text = b"# the operator's configuration\npue: 1.4\ngrid:\n  intensity: 100\n"
    with open(config, "wb") as handle:
        handle.write(text)
    code, _, stderr, took = run_to_exit([f"--config.file={config}", f"--state.file={config}"])
    assert read_bytes(config) == text, f"the config file was overwritten ({describe_exit(code)} after {took:.1f}s)"
    assert_refused(code, stderr, took)
    line = one_line(stderr, tmp_path)
    assert re.search(r"not a footprint(_exporter)? state file", line, re.IGNORECASE), line


def test_state_file_of_a_newer_version_is_left_alone(exporter_factory, tmp_path, saved_state):
    """Fault: a state file written by a newer exporter (format version 99) was ignored with a warning and then
    overwritten by the next save, destroying the newer version's counters on a downgrade. The exporter must start
    from zero, log at error, and leave the file byte for byte as it was, through saves and SIGTERM."""
    newer = json.loads(saved_state)
    newer["version"] = 99
    data = json.dumps(newer).encode()
    state = str(tmp_path / "state.json")
    with open(state, "wb") as handle:
        handle.write(data)
    exporter = exporter_factory("intel-2socket", args=[f"--state.file={state}", "--state.save-interval=1s"],
                                prepare=lambda root: write_boot_id(root, BOOT_ID))
    first = scrape(exporter)
    for component in ("cpu", "dram", "gpu"):
        assert value(first, "footprint_energy_joules_total", component=component) == 0, component
    errors = [line for line in exporter.logs().splitlines() if "level=error" in line and "state" in line]
    assert errors, f"no error-level line about the state file:\n{exporter.logs()}"
    # Several save intervals pass (samples keep coming for over 3 s of 1 s save intervals).
    start = value(first, "footprint_last_sample_timestamp_seconds")
    deadline = time.monotonic() + 20
    while value(scrape(exporter), "footprint_last_sample_timestamp_seconds") < start + 3.5:
        assert time.monotonic() < deadline, "the exporter stopped sampling"
        time.sleep(0.1)
    assert read_bytes(state) == data, "the newer state file was overwritten while running"
    exporter.process.send_signal(signal.SIGTERM)
    exporter.process.wait(timeout=10)
    assert read_bytes(state) == data, "the newer state file was overwritten at shutdown"


def test_second_exporter_on_the_same_state_file_is_refused(exporter_factory, tmp_path):
    """Fault: two exporters could share one state file, each overwriting the other's counters. The second must exit
    with code 2 and one line mentioning the `.lock` file, while the first keeps running."""
    state = str(tmp_path / "state.json")
    first = exporter_factory("intel-2socket", args=[f"--state.file={state}", "--state.save-interval=1s"])
    wait_samples_alive(first, 2)
    code, _, stderr, took = run_to_exit([f"--state.file={state}", "--state.save-interval=1s"],
                                        fixture="intel-2socket")
    assert_refused(code, stderr, took)
    assert ".lock" in one_line(stderr, tmp_path), stderr
    wait_samples_alive(first, 2, what="after a second exporter tried its state file")
    assert first.get("/metrics")[0] == 200


# MARK: - 8. Counters never step back across a restart

# The vm fixture's static /proc/stat reads as idle: the estimate draws exactly these watts.
VM_WATTS = {"cpu": 4 * 0.74, "dram": 16 * 0.392, "gpu": 0.0}
VM_DOMAIN = {"package": "cpu", "dram": "dram"}


def _vm_with_boot(boot_id):
    return lambda root: write_boot_id(root, boot_id)


def _scrapes(exporter, count):
    """`count` scrapes, each after a fresh sample; returns the last one's totals."""
    last = None
    for _ in range(count):
        wait_samples_alive(exporter, 1)
        last = totals(scrape(exporter))
    return last


def _assert_not_below(after, before, where):
    for key, number in before.items():
        assert key in after, f"{where}: series {series(key)} vanished"
        assert after[key] >= number, f"{where}: {series(key)} stepped back: {number} → {after[key]}"


def test_kill_9_restart_never_serves_less_than_was_scraped(exporter_factory, tmp_path):
    """Fault: the exporter served counters it had not saved (the state file is written every 10 s by default), so a
    kill -9 and restart restored less than Prometheus had already scraped: every footprint_*_total stepped back,
    which a rate() reads as a reset and a budget alert as a whole window's worth. The first scrape after the
    restart must be at least the last one before the kill, for every series."""
    state = str(tmp_path / "state.json")
    first = exporter_factory("vm", args=[f"--state.file={state}"], prepare=_vm_with_boot(BOOT_ID))
    before = _scrapes(first, 10)
    assert before[("footprint_energy_joules_total", frozenset({("component", "dram")}))] > 0
    first.process.kill()
    first.process.wait()
    second = exporter_factory(root=first.root, args=[f"--state.file={state}"])
    _assert_not_below(totals(scrape(second)), before, "after kill -9 and a restart")


def test_clean_stop_then_reboot_restores_the_counters(exporter_factory, tmp_path):
    """Guards the fix above from overreaching: after a clean stop (SIGTERM saves the state) and a reboot (another
    boot_id), the totals are restored: the first scrape is at least the last one before the stop."""
    state = str(tmp_path / "state.json")
    first = exporter_factory("vm", args=[f"--state.file={state}"], prepare=_vm_with_boot(BOOT_ID))
    before = _scrapes(first, 5)
    assert first.stop() == 0
    second = exporter_factory(root=first.root, args=[f"--state.file={state}"], prepare=_vm_with_boot(OTHER_BOOT_ID))
    _assert_not_below(totals(scrape(second)), before, "after SIGTERM, a reboot and a restart")


def test_kill_9_then_reboot_resets_rather_than_steps_back(exporter_factory, tmp_path):
    """Fault: after a kill -9 and a reboot, the restart restored the totals of the last periodic save, below what
    had been scraped since: a step back. Counters must either start at zero (a reset Prometheus handles), with the
    log saying why, or be at least what was scraped; never in between."""
    state = str(tmp_path / "state.json")
    # Saves every 2 s rather than 10 s: a periodic save with energy in it comes within the test's time.
    args = [f"--state.file={state}", "--state.save-interval=2s"]
    first = exporter_factory("vm", args=args, prepare=_vm_with_boot(BOOT_ID))
    initial = wait_for_state(state, lambda saved: True, "the first save")
    # A periodic save with energy in it, then more samples scraped after it, then kill -9 well before the next save.
    wait_for_state(state, lambda saved: saved["savedAtBootSeconds"] > initial["savedAtBootSeconds"] and
                   any(d["microjoules"] > 0 for d in saved["ledger"]["domains"]), "a periodic save", timeout=20)
    before = _scrapes(first, 5)
    first.process.kill()
    first.process.wait()

    restarted = time.monotonic()
    second = exporter_factory(root=first.root, args=args, prepare=_vm_with_boot(OTHER_BOOT_ID))
    after = totals(scrape(second))
    up_for = time.monotonic() - restarted
    reset = []
    for key, number in before.items():
        assert key in after, f"series {series(key)} vanished"
        if after[key] >= number:
            continue
        # Below what was scraped: allowed only as a reset, i.e. no more than the restart itself can have counted.
        name, labels = key[0], dict(key[1])
        component = labels.get("component") or VM_DOMAIN.get(labels.get("domain"))
        joules = VM_WATTS.get(component, 0.0) * up_for
        bound = {"footprint_energy_joules_total": joules, "footprint_domain_energy_joules_total": joules,
                 "footprint_facility_energy_joules_total": joules * PUE,
                 "footprint_co2e_grams_total": joules * PUE * INTENSITY / 3.6e6}.get(name, 0.0)
        assert after[key] <= bound * 1.000001 + 1e-9, (
            f"{series(key)} stepped back from {number} to {after[key]}: neither restored (≥ {number}) nor reset "
            f"(≤ {bound:.6g}, what {up_for:.2f}s since the restart can hold)")
        reset.append(series(key))
    if reset:
        why = [line for line in second.logs().splitlines()
               if re.search(r"level=(warn|error)", line) and re.search(r"state|zero|reset", line, re.IGNORECASE)]
        assert why, f"counters reset ({reset}) without a warning saying why:\n{second.logs()}"


# MARK: - 9. observedBootSeconds in the future

def test_future_observation_time_does_not_skip_the_power_ceiling(exporter_factory, tmp_path, saved_state):
    """Fault: a same-boot state file whose domain `observedBootSeconds` lay in the future (1e9) made the elapsed time
    negative, which skipped the plausibility ceiling: a 200 kJ counter move while the exporter was down was booked
    in full at the restart. The increase over the file's totals must stay plausible (< 1000 J)."""
    state = str(tmp_path / "state.json")
    args = [f"--state.file={state}", "--state.save-interval=1s"]
    edited = json.loads(saved_state)
    package = next(d for d in edited["ledger"]["domains"]
                   if (d["source"], d["domain"], d["device"]) == ("rapl", "package", "0"))
    package["observedBootSeconds"] = 1e9
    package["counterMicrojoules"] = 10_000_000

    def same_boot_and_moved(root):
        write_boot_id(root, BOOT_ID)
        # Every zone reads what the file saved, except package-0, which moved 200 kJ past its saved baseline (inside
        # its wrap range) while the exporter was down.
        zone_of = {key: zone for zone, key in ZONES.items()}
        for domain in edited["ledger"]["domains"]:
            zone = zone_of.get((domain["domain"], domain["device"])) if domain["source"] == "rapl" else None
            if zone:
                counter = domain["counterMicrojoules"] + (200_000_000_000 if zone == "intel-rapl:0" else 0)
                write_atomic(os.path.join(root, POWERCAP, zone, "energy_uj"), f"{counter}\n")
        # Saved a moment ago, in this boot: the restart credits the outage, if plausible.
        edited["savedAtBootSeconds"] = time.clock_gettime(time.CLOCK_BOOTTIME)
        edited["savedAtUnixSeconds"] = time.time()
        with open(state, "w") as handle:
            json.dump(edited, handle)

    exporter = exporter_factory("intel-2socket", args=args, prepare=same_boot_and_moved)
    wait_samples_alive(exporter, 2)
    samples = scrape(exporter)
    increase = rapl(samples, "package", "0") - package["microjoules"] / 1e6
    assert -1e-6 <= increase < 1000, f"package-0 gained {increase} J at the restart"
    saved_cpu = next(c["itMicrojoules"] for c in edited["ledger"]["components"] if c["component"] == "cpu")
    assert value(samples, "footprint_energy_joules_total", component="cpu") - saved_cpu / 1e6 < 1000


# MARK: - 10. Hangs: YAML alias bombs and FIFOs

def _alias_bomb(shape):
    """Nine levels, each referring nine times to the one before, under `pue:` (9^9 leaves once expanded)."""
    if shape == "lists":
        levels = ["&a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        levels += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
        return "pue: [" + ", ".join(levels) + "]\n"
    text = "pue:\n  l0: &a0 {" + ", ".join(f"x{j}: lol" for j in range(9)) + "}\n"
    for i in range(1, 9):
        text += f"  l{i}: &a{i} {{" + ", ".join(f"x{j}: *a{i - 1}" for j in range(9)) + "}\n"
    return text


@pytest.mark.parametrize("shape", ["lists", "mappings"])
def test_alias_bomb_config_is_refused_at_start_up(tmp_path, shape):
    """Fault: YAML aliases were expanded without limit; a billion-laughs config file (nine levels, each referring
    nine times to the previous anchor) hung start-up, eating gigabytes (the mapping form: 30 s and still going).
    It must exit 2 within 10 s with one line that mentions the aliases."""
    config = str(tmp_path / "bomb.yml")
    write_atomic(config, _alias_bomb(shape))
    code, _, stderr, took = run_to_exit([f"--config.file={config}"], timeout=10, memory_limit=True)
    assert_refused(code, stderr, took)
    assert re.search(r"alias", one_line(stderr, tmp_path), re.IGNORECASE), stderr


def _wait_stopped_by_sigterm(exporter, within):
    exporter.process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    try:
        code = exporter.process.wait(timeout=within)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"SIGTERM did not stop the exporter within {within}s:\n{exporter.logs()[-2000:]}")
    assert code == 0, (describe_exit(code), exporter.logs()[-2000:])
    return time.monotonic() - started


def _wait_reload_failed(exporter, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in exporter.logs().splitlines() if "reload failed" in line]
        if lines:
            assert "level=error" in lines[0], lines[0]
            return lines[0]
        assert_alive(exporter, "during the reload")
        assert time.monotonic() < deadline, f"no 'reload failed' within {timeout}s:\n{exporter.logs()[-2000:]}"
        time.sleep(0.05)


def test_alias_bomb_on_reload_fails_fast_and_sigterm_still_stops(exporter_factory, tmp_path):
    """Fault: the same alias bomb written into a running exporter's config file hung its SIGHUP reload (expanding
    for ever), and a hung reload held up shutdown too: SIGTERM did not stop it. The reload must fail (logged at
    error) within 10 s, and SIGTERM then stop it within 5 s."""
    config = str(tmp_path / "footprint.yml")
    write_atomic(config, "pue: 1.4\n")
    exporter = exporter_factory("vm", args=[f"--config.file={config}"])
    resource.prlimit(exporter.process.pid, resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
    write_atomic(config, _alias_bomb("mappings"))
    exporter.process.send_signal(signal.SIGHUP)
    _wait_reload_failed(exporter)
    assert value(scrape(exporter), "footprint_pue") == 1.4
    _wait_stopped_by_sigterm(exporter, 5)


def test_fifo_config_file_is_refused_at_start_up(tmp_path):
    """Fault guarded: opening a FIFO given as --config.file blocks until a writer appears, hanging start-up. It must
    exit 2 within 10 s, saying it is not a regular file."""
    fifo = str(tmp_path / "footprint.yml")
    os.mkfifo(fifo)
    code, _, stderr, took = run_to_exit([f"--config.file={fifo}"], timeout=10)
    assert_refused(code, stderr, took)
    assert "not a regular file" in one_line(stderr, tmp_path), stderr


def test_config_file_replaced_by_a_fifo_fails_the_reload_only(exporter_factory, tmp_path):
    """Fault guarded: a config file replaced by a FIFO hangs the SIGHUP reload that opens it, and with it shutdown.
    The reload must fail (logged at error) and SIGTERM stop the exporter within 5 s."""
    config = str(tmp_path / "footprint.yml")
    write_atomic(config, "pue: 1.4\n")
    exporter = exporter_factory("vm", args=[f"--config.file={config}"])
    os.remove(config)
    os.mkfifo(config)
    exporter.process.send_signal(signal.SIGHUP)
    assert "regular file" in _wait_reload_failed(exporter)
    assert value(scrape(exporter), "footprint_pue") == 1.4
    _wait_stopped_by_sigterm(exporter, 5)


# MARK: - 11. Files built to be slow or big

def test_config_with_forty_thousand_keys_is_refused_quickly(tmp_path):
    """Fault: composing a YAML mapping copied its pairs on every key (quadratic): 40,000 keys under `estimate:`
    took 30 s before the unknown key was reported. Start-up must refuse it within 10 s."""
    config = str(tmp_path / "keys.yml")
    write_atomic(config, "estimate:\n" + "".join(f"  x{index}: 1\n" for index in range(40_000)))
    code, _, stderr, took = run_to_exit([f"--config.file={config}"], timeout=10)
    assert_refused(code, stderr, took)
    assert "unknown key" in one_line(stderr, tmp_path), stderr


def test_state_file_with_a_hundred_thousand_ghost_domains_is_capped(exporter_factory, tmp_path, saved_state):
    """Fault: every domain in the state file was restored and exported for ever, however many: 100,000 ghost
    domains (no source reports them) took seconds to start, 200 MB of memory, and 100,000 series per scrape, each
    rendered every sample. Ghost domains beyond a cap are not restored: start within 10 s, RSS under 150 MB, fewer
    than 1,000 domain energy series."""
    ghost = json.loads(saved_state)
    ghost["ledger"]["domains"] += [
        {"source": "nvml", "domain": "gpu", "device": str(1000 + index), "microjoules": 1_000_000.0}
        for index in range(100_000)]
    state = str(tmp_path / "state.json")
    with open(state, "w") as handle:
        json.dump(ghost, handle, separators=(",", ":"))
    assert os.path.getsize(state) < 16 << 20  # under the exporter's state file size limit: it is read, not refused

    started = time.monotonic()
    exporter = exporter_factory("intel-2socket", args=[f"--state.file={state}"], wait=False,
                                prepare=lambda root: write_boot_id(root, BOOT_ID))
    try:
        exporter.wait_ready(timeout=max(0.1, 10 - (time.monotonic() - started)))
    except AssertionError:
        raise AssertionError(f"not ready within 10s of starting ({describe_exit(exporter.process.poll())})")
    problems = []
    took = time.monotonic() - started
    if took >= 10:
        problems.append(f"start-up took {took:.1f}s")
    peak = rss_bytes(exporter.process.pid)
    lines = sum(1 for line in exporter.scrape().splitlines()
                if line.startswith("footprint_domain_energy_joules_total"))
    if lines >= 1000:
        problems.append(f"{lines} domain energy series exported")
    # Memory after a few more samples and scrapes (a stalled sampler is a problem of its own).
    try:
        wait_samples_alive(exporter, 3, timeout=8)
    except AssertionError as error:
        problems.append(f"sampling stalled: {str(error).splitlines()[0]}")
    exporter.scrape()
    peak = max(peak, rss_bytes(exporter.process.pid))
    if peak >= 150 << 20:
        problems.append(f"VmRSS reached {peak / 2**20:.0f} MiB")
    assert not problems, "; ".join(problems)
