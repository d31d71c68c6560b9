"""End-to-end: process lifecycle — SIGTERM with scrapes in flight, SIGHUP reloads, and restarts with the state file
(kill -9, clean stop, another boot, corrupt/truncated/unknown-version files) — with exact counter arithmetic."""

import http.client
import json
import os
import random
import re
import select
import signal
import threading
import time

import pytest

from harness import Exporter, parse_metrics, value, wait_for_log, write_atomic

POWERCAP = "sys/class/powercap"
BOOT_ID = "3f1c2a9e-5b7d-4e8f-9a01-23456789abcd"
OTHER_BOOT_ID = "c0ffee00-1111-4222-8333-444455556666"
# Zone directory → (domain, device) as exported; intel-rapl-mmio:0 duplicates package-0 and must never count.
ZONES = {
    "intel-rapl:0": ("package", "0"), "intel-rapl:0:0": ("core", "0"), "intel-rapl:0:1": ("uncore", "0"),
    "intel-rapl:0:2": ("dram", "0"), "intel-rapl:1": ("package", "1"), "intel-rapl:1:0": ("core", "1"),
    "intel-rapl:1:1": ("uncore", "1"), "intel-rapl:1:2": ("dram", "1"), "intel-rapl:2": ("psys", "0"),
}
# µJ per step: at two 100 ms samples per step these are single-digit watts, far below every plausibility ceiling.
STEP = {"intel-rapl:0": 300_000, "intel-rapl:0:0": 100_000, "intel-rapl:0:1": 50_000, "intel-rapl:0:2": 70_000,
        "intel-rapl:1": 250_000, "intel-rapl:1:0": 90_000, "intel-rapl:1:1": 40_000, "intel-rapl:1:2": 60_000,
        "intel-rapl:2": 500_000}


class RaplMeter:
    """The fixture's raw counters and the totals the exporter must report (exact integer µJ)."""

    def __init__(self):
        self.raw = {zone: 10_000_000 * (index + 1) for index, zone in enumerate(ZONES)}
        self.raw["intel-rapl-mmio:0"] = 5_000_000
        self.expected = {zone: 0 for zone in ZONES}

    def prepare(self, boot_id=BOOT_ID):
        """Returns a prepare(root) hook: boot_id and the starting counters, written before the exporter starts."""
        def hook(root):
            boot = os.path.join(root, "proc", "sys", "kernel", "random", "boot_id")
            os.makedirs(os.path.dirname(boot), exist_ok=True)
            with open(boot, "w") as handle:
                handle.write(boot_id + "\n")
            for zone, raw in self.raw.items():
                write_atomic(os.path.join(root, POWERCAP, zone, "energy_uj"), f"{raw}\n")
        return hook

    def move(self, root, factor=1, counted=True):
        """Advances every zone by factor × STEP (and the MMIO duplicate wildly); `counted`: the exporter will see it."""
        for zone, step in STEP.items():
            self.raw[zone] += step * factor
            if counted:
                self.expected[zone] += step * factor
            write_atomic(os.path.join(root, POWERCAP, zone, "energy_uj"), f"{self.raw[zone]}\n")
        self.raw["intel-rapl-mmio:0"] += 987_654_321
        write_atomic(os.path.join(root, POWERCAP, "intel-rapl-mmio:0", "energy_uj"), f"{self.raw['intel-rapl-mmio:0']}\n")

    def uncount_last(self, factor=1):
        """The last move is not to be counted (a reboot makes the first reading a new baseline)."""
        for zone, step in STEP.items():
            self.expected[zone] -= step * factor

    def assert_exact(self, samples):
        for zone, (domain, device) in ZONES.items():
            got = value(samples, "footprint_domain_energy_joules_total", source="rapl", domain=domain, device=device)
            assert got == self.expected[zone] / 1e6, (zone, got, self.expected[zone] / 1e6)
        cpu = self.expected["intel-rapl:0"] + self.expected["intel-rapl:1"]
        dram = self.expected["intel-rapl:0:2"] + self.expected["intel-rapl:1:2"]
        assert value(samples, "footprint_energy_joules_total", component="cpu") == cpu / 1e6
        assert value(samples, "footprint_energy_joules_total", component="dram") == dram / 1e6
        assert value(samples, "footprint_energy_joules_total", component="gpu") == 0


class CounterHistory:
    """Every scrape's counters, to check that none ever goes backwards (across restarts too)."""

    def __init__(self):
        self.scrapes = []

    def add(self, samples):
        self.scrapes.append({key: number for key, number in samples.items() if key[0].endswith("_total")})
        return samples

    def assert_monotonic(self):
        """A budget's CO2e counter is the one series that may vanish: a reload that removes the budget drops it."""
        for earlier, later in zip(self.scrapes, self.scrapes[1:]):
            for key, number in earlier.items():
                if key[0] == "footprint_budget_co2e_grams_total" and key not in later:
                    continue
                assert key in later, f"series {key} vanished"
                assert later[key] >= number, f"{key} went backwards: {number} → {later[key]}"


def scrape(exporter, history=None):
    samples = parse_metrics(exporter.scrape())
    return history.add(samples) if history else samples


def step(exporter, meter, history, factor=1):
    meter.move(exporter.root, factor)
    exporter.wait_samples(2)
    return scrape(exporter, history)


def wait_for_saved_state(path, meter, timeout=4):
    """Waits until the state file holds the current raw counters and totals (a save after the last move)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            with open(path) as handle:
                state = json.load(handle)
            domains = {(d["domain"], d["device"]): d for d in state["ledger"]["domains"] if d["source"] == "rapl"}
            last = domains
            if all(domains.get(ZONES[zone], {}).get("counterMicrojoules") == meter.raw[zone]
                   and domains[ZONES[zone]]["microjoules"] == meter.expected[zone] for zone in ZONES):
                return state
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"the state file never caught up with the last move within {timeout}s: {last}")


def wait_for_new_state(path, previous=None, timeout=10):
    """Waits until the state file exists and differs from `previous` (a state dict; None: any); returns it. The file
    is replaced by rename, so a read sees the old or the new version, never a mix."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as handle:
                state = json.load(handle)
            if state != previous:
                return state
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    raise AssertionError(f"no {'new ' if previous else ''}state file at {path} within {timeout}s")


def read_state(path):
    with open(path) as handle:
        return json.load(handle)


# The plausibility ceilings the exporter derives for the fixture's zones: twice their largest power constraint.
CEILING_WATTS = {"intel-rapl:0": 396, "intel-rapl:1": 396, "intel-rapl:2": 500}


def wait_for_plausible_outage(saved, factor):
    """A restart on the same boot credits the energy drawn while the exporter was down only if it is plausible over
    the time since the saved readings (at most each zone's ceiling). Waits until the boot clock, which the state
    file's `observedBootSeconds` are taken on, is 10× further past them than `factor` steps need."""
    needed = max(STEP[zone] * factor / 1e6 / watts for zone, watts in CEILING_WATTS.items())
    observed = max(domain["observedBootSeconds"] for domain in saved["ledger"]["domains"])
    deadline = time.monotonic() + 10
    while time.clock_gettime(time.CLOCK_BOOTTIME) < observed + 10 * needed:
        assert time.monotonic() < deadline, "the boot clock did not advance"
        time.sleep(0.01)


def assert_restored_at_least(samples, saved):
    """Every counter the exporter shows is at least what the state file held: nothing it had saved was lost."""
    for domain in saved["ledger"]["domains"]:
        got = value(samples, "footprint_domain_energy_joules_total", source=domain["source"], domain=domain["domain"],
                    device=domain["device"])
        assert got >= domain["microjoules"] / 1e6, (domain, got)
    for component in saved["ledger"]["components"]:
        name = component["component"]
        assert value(samples, "footprint_energy_joules_total", component=name) >= component["itMicrojoules"] / 1e6
        for metric, key in (("footprint_facility_energy_joules_total", "facilityJoules"),
                            ("footprint_co2e_grams_total", "co2eGrams")):
            got = value(samples, metric, component=name)
            assert got >= component[key] * (1 - 1e-12), (metric, name, got, component[key])


def assert_state_exact(saved, meter):
    """The state file holds the current raw counters as baselines and exactly the totals counted so far."""
    domains = {(d["domain"], d["device"]): d for d in saved["ledger"]["domains"] if d["source"] == "rapl"}
    for zone, key in ZONES.items():
        assert domains[key]["counterMicrojoules"] == meter.raw[zone], (zone, domains[key], meter.raw[zone])
        assert domains[key]["microjoules"] == meter.expected[zone], (zone, domains[key], meter.expected[zone])


def state_args(path, interval="1s"):
    return [f"--state.file={path}", f"--state.save-interval={interval}"]


def wait_exit(exporter, timeout):
    started = time.monotonic()
    try:
        code = exporter.process.wait(timeout=timeout)
    except Exception:
        raise AssertionError(f"the exporter did not exit within {timeout}s:\n{exporter.logs()}")
    return code, time.monotonic() - started


# MARK: - Restart with the state file

def test_kill_9_restart_same_boot_counts_every_joule(exporter_factory, tmp_path):
    state = str(tmp_path / "state.json")
    meter, history = RaplMeter(), CounterHistory()
    first = exporter_factory("intel-2socket", args=state_args(state), prepare=meter.prepare())
    first.wait_samples(2)
    meter.assert_exact(scrape(first, history))  # all zero: the first reading is the baseline
    for factor in (1, 2, 3):
        step(first, meter, history, factor)
    meter.assert_exact(scrape(first, history))
    saved = wait_for_saved_state(state, meter)
    first.process.kill()
    first.process.wait()

    meter.move(first.root, factor=4)  # drawn while the exporter is down: credited after the restart (same boot)
    wait_for_plausible_outage(saved, factor=4)
    second = exporter_factory(root=first.root, args=state_args(state))
    second.wait_samples(2)
    after_restart = scrape(second, history)
    meter.assert_exact(after_restart)
    assert "restored counters from the state file" in second.logs() and "same_boot=true" in second.logs()
    for factor in (1, 2):
        step(second, meter, history, factor)
    final = scrape(second, history)
    meter.assert_exact(final)
    assert value(final, "footprint_source_up", source="rapl") == 1
    history.assert_monotonic()
    for component in ("cpu", "dram"):
        it = value(final, "footprint_energy_joules_total", component=component)
        facility = value(final, "footprint_facility_energy_joules_total", component=component)
        assert abs(facility - it * 1.58) <= 1e-9 * facility, (component, facility, it)


def test_kill_9_before_the_first_periodic_save_loses_nothing(exporter_factory, tmp_path):
    """Every sample is written to the state file before it is published (flushed to disk every --state.save-interval,
    10 s by default). Killed with -9 before a periodic flush, the exporter restarts from the last sample it served:
    its raw baselines let a restart on the same boot credit everything drawn since, so no joule is lost and no
    counter steps back, in two lives in a row."""
    state = str(tmp_path / "state.json")
    meter, history = RaplMeter(), CounterHistory()
    args = [f"--state.file={state}"]  # the default save interval

    first = exporter_factory("intel-2socket", args=args, prepare=meter.prepare())
    # It appears right after the first sample (done: the exporter is ready), long before the 10 s save interval.
    written = wait_for_new_state(state, timeout=5)
    assert_state_exact(written, meter)  # the first sample's readings as baselines, nothing counted yet
    for factor in (1, 2):
        step(first, meter, history, factor)
    meter.assert_exact(scrape(first, history))
    first.process.kill()
    first.process.wait()
    # Written before it was published: the file holds everything served, the last step included.
    written = read_state(state)
    assert_state_exact(written, meter)

    meter.move(first.root, factor=2)  # drawn while the exporter is down: credited after the restart (same boot)
    wait_for_plausible_outage(written, factor=1 + 2 + 2)
    second = exporter_factory(root=first.root, args=args)
    rewritten = wait_for_new_state(state, previous=written, timeout=5)
    assert rewritten["savedAtBootSeconds"] > written["savedAtBootSeconds"]
    # Its first write, right after its first sample, holds all counted so far, the outage included.
    assert_state_exact(rewritten, meter)
    restored = scrape(second, history)
    meter.assert_exact(restored)
    assert_restored_at_least(restored, written)
    assert "restored counters from the state file" in second.logs() and "same_boot=true" in second.logs()
    step(second, meter, history, 3)
    meter.assert_exact(scrape(second, history))
    second.process.kill()
    second.process.wait()

    wait_for_plausible_outage(rewritten, factor=3)
    third = exporter_factory(root=first.root, args=args)
    third.wait_samples(2)
    final = scrape(third, history)
    meter.assert_exact(final)  # the step counted after the second life's first write is not lost either
    assert_restored_at_least(final, rewritten)
    assert value(final, "footprint_source_up", source="rapl") == 1
    history.assert_monotonic()


def test_restart_after_reboot_keeps_totals_but_not_the_outage(exporter_factory, tmp_path):
    """A clean stop (the node shutting down) then a reboot: the totals carry over; the counters restarted with the
    node, so their first readings are new baselines."""
    state = str(tmp_path / "state.json")
    meter, history = RaplMeter(), CounterHistory()
    first = exporter_factory("intel-2socket", args=state_args(state), prepare=meter.prepare())
    first.wait_samples(2)
    for factor in (1, 2):
        step(first, meter, history, factor)
    wait_for_saved_state(state, meter)
    assert first.stop() == 0

    meter.move(first.root, factor=5)
    meter.uncount_last(factor=5)  # another boot: the counters' history is unknown, the first reading is a baseline
    second = exporter_factory(root=first.root, args=state_args(state), prepare=meter.prepare(OTHER_BOOT_ID))
    second.wait_samples(2)
    meter.assert_exact(scrape(second, history))
    assert "same_boot=false" in second.logs()
    step(second, meter, history, 1)
    meter.assert_exact(scrape(second, history))
    history.assert_monotonic()


def test_clean_sigterm_restart_saves_at_shutdown(exporter_factory, tmp_path):
    state = str(tmp_path / "state.json")
    meter, history = RaplMeter(), CounterHistory()
    # A save interval of an hour: only the save at shutdown can carry the counters over.
    first = exporter_factory("intel-2socket", args=state_args(state, "1h"), prepare=meter.prepare())
    first.wait_samples(2)
    for factor in (2, 1, 3):
        step(first, meter, history, factor)
    first.process.send_signal(signal.SIGTERM)
    code, took = wait_exit(first, 3)
    assert code == 0 and took < 2.0, (code, took)
    wait_for_saved_state(state, meter, timeout=0.5)

    meter.move(first.root, factor=2)
    second = exporter_factory(root=first.root, args=state_args(state, "1h"))
    second.wait_samples(2)
    meter.assert_exact(scrape(second, history))
    step(second, meter, history, 1)
    meter.assert_exact(scrape(second, history))
    history.assert_monotonic()


@pytest.fixture(scope="module")
def real_state_bytes(tmp_path_factory):
    """The bytes of a state file the exporter really wrote (after some energy moved)."""
    directory = tmp_path_factory.mktemp("real-state")
    path = str(directory / "state.json")
    meter = RaplMeter()
    exporter = Exporter("intel-2socket", args=state_args(path), prepare=meter.prepare())
    try:
        exporter.wait_samples(2)
        meter.move(exporter.root, 7)  # no test below moves 7 steps in all: its totals never match theirs
        exporter.wait_samples(2)
        assert exporter.stop() == 0
        with open(path, "rb") as handle:
            data = handle.read()
    finally:
        exporter.cleanup()
    assert json.loads(data)["version"] == 1
    return data


def _bad_state(kind, real):
    if kind == "corrupt":
        return random.Random(1234).randbytes(700)
    if kind == "truncated":
        return real[: len(real) // 2]
    if kind == "unknown-version":
        state = json.loads(real)
        state["version"] = 99
        return json.dumps(state).encode()
    if kind == "empty":
        return b""
    if kind == "negative-total":
        state = json.loads(real)
        state["ledger"]["domains"][0]["microjoules"] = -5.0
        return json.dumps(state).encode()
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["corrupt", "truncated", "empty", "negative-total"])
def test_unusable_state_file_starts_fresh(exporter_factory, tmp_path, real_state_bytes, kind):
    """A state file of this exporter that cannot be used (damaged on disk, truncated, emptied, out of range) is
    ignored with a warning and replaced by the next save."""
    state = str(tmp_path / "state.json")
    with open(state, "wb") as handle:
        handle.write(_bad_state(kind, real_state_bytes))
    meter, history = RaplMeter(), CounterHistory()
    exporter = exporter_factory("intel-2socket", args=state_args(state), prepare=meter.prepare())
    exporter.wait_samples(2)
    logs = exporter.logs()
    assert "ignoring the state file" in logs, logs
    warning = next(line for line in logs.splitlines() if "ignoring the state file" in line)
    assert "level=warn" in warning, warning
    meter.assert_exact(scrape(exporter, history))  # fresh: zero
    for factor in (1, 2):
        step(exporter, meter, history, factor)
    meter.assert_exact(scrape(exporter, history))
    history.assert_monotonic()
    # It runs normally, and its next save replaces the unusable file with a good one.
    saved = wait_for_saved_state(state, meter)
    assert saved["version"] == 1
    assert exporter.get("/-/healthy")[0] == 200


def test_a_newer_release_state_file_is_left_alone(exporter_factory, tmp_path, real_state_bytes):
    """A downgrade must not destroy the newer release's file: the exporter starts at zero, says so at error, and
    never writes the file, neither on the save interval nor at shutdown."""
    state = str(tmp_path / "state.json")
    newer = json.loads(real_state_bytes)
    newer["version"] = 99
    newer_bytes = json.dumps(newer).encode()
    with open(state, "wb") as handle:
        handle.write(newer_bytes)
    meter, history = RaplMeter(), CounterHistory()
    exporter = exporter_factory("intel-2socket", args=state_args(state, "1s"), prepare=meter.prepare())
    exporter.wait_samples(2)
    error = next(line for line in exporter.logs().splitlines() if "newer release" in line)
    assert "level=error" in error and "version=99" in error, error
    meter.assert_exact(scrape(exporter, history))  # fresh: zero
    step(exporter, meter, history, 1)
    exporter.wait_samples(15)  # well past a 1 s save interval at the harness's sampling
    assert exporter.stop() == 0
    with open(state, "rb") as handle:
        assert handle.read() == newer_bytes


# MARK: - Signals

def test_sigterm_with_scrapes_in_flight(exporter_factory):
    exporter = exporter_factory("intel-2socket")
    stop = threading.Event()
    results = {"complete": 0, "refused": 0}
    completed_by = [0] * 6  # complete responses per hammering thread
    problems = []
    lock = threading.Lock()

    def hammer(index, keep_alive):
        connection = None
        while not stop.is_set():
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", exporter.port, timeout=5)
                connection.request("GET", "/metrics", headers={} if keep_alive else {"Connection": "close"})
                response = connection.getresponse()
                body = response.read()  # raises IncompleteRead on a cut-off body
                length = int(response.getheader("Content-Length", "-1"))
                with lock:
                    if response.status != 200 or len(body) != length or not body.endswith(b"\n") \
                            or b"footprint_build_info" not in body:
                        problems.append(("bad response", response.status, len(body), length))
                    else:
                        results["complete"] += 1
                        completed_by[index] += 1
                if not keep_alive:
                    connection.close()
                    connection = None
            except (ConnectionRefusedError, http.client.RemoteDisconnected, ConnectionResetError,
                    BrokenPipeError) as error:
                # No response started: the listener is gone or an idle keep-alive connection was closed.
                with lock:
                    results["refused"] += 1
                if connection is not None:
                    connection.close()
                    connection = None
                if isinstance(error, ConnectionRefusedError):
                    time.sleep(0.01)
            except http.client.IncompleteRead as error:
                with lock:
                    problems.append(("truncated body", repr(error)[:100]))
                connection = None
            except OSError as error:
                with lock:
                    problems.append(("error", repr(error)))
                connection = None
        if connection is not None:
            connection.close()

    threads = [threading.Thread(target=hammer, args=(index, index % 2 == 0), daemon=True)
               for index in range(len(completed_by))]
    for thread in threads:
        thread.start()
    # A request already answered whose response the client has not read yet: it must not be lost at shutdown.
    pending = http.client.HTTPConnection("127.0.0.1", exporter.port, timeout=5)
    pending.request("GET", "/metrics")
    # Signal once every thread has had a complete response (all six are in their loop, so scrapes are in flight)
    # and the pending request's response has arrived (readable, not read).
    deadline = time.monotonic() + 30
    while True:
        with lock:
            every_thread_served = all(completed_by)
        answered = select.select([pending.sock], [], [], 0)[0]
        if every_thread_served and answered:
            break
        assert time.monotonic() < deadline, (completed_by, bool(answered), problems[:5])
        time.sleep(0.02)
    exporter.process.send_signal(signal.SIGTERM)
    code, took = wait_exit(exporter, 5)
    stop.set()
    for thread in threads:
        thread.join(timeout=5)
    response = pending.getresponse()
    body = response.read()
    assert response.status == 200 and b"footprint_build_info" in body
    assert code == 0, (code, exporter.logs())
    assert took < 2.0, f"exit took {took:.2f}s after SIGTERM"
    assert not problems, problems[:5]
    assert "msg=stopped" in exporter.logs()


def wait_for_process(pid, condition, what, timeout=10):
    """Waits until condition(fields of /proc/PID/status) holds."""
    deadline = time.monotonic() + timeout
    while True:
        with open(f"/proc/{pid}/status") as handle:
            status = dict(line.split(":\t", 1) for line in handle.read().splitlines() if ":\t" in line)
        if condition(status):
            return
        assert time.monotonic() < deadline, f"process {pid} not {what} within {timeout}s: {status}"
        time.sleep(0.005)


def test_sigterm_serves_requests_received_before_the_signal(exporter_factory):
    """Requests that reached accepted connections before SIGTERM (the process is stopped while they arrive, so
    their bytes and the signal are both pending when it resumes) must still be answered."""
    outcomes = []
    for _ in range(3):
        exporter = exporter_factory("intel-2socket")
        connections = [http.client.HTTPConnection("127.0.0.1", exporter.port, timeout=5) for _ in range(5)]
        for connection in connections:
            connection.request("GET", "/metrics")
            connection.getresponse().read()
        os.kill(exporter.process.pid, signal.SIGSTOP)
        try:
            wait_for_process(exporter.process.pid, lambda status: status["State"].startswith("T"), "stopped")
            for connection in connections:
                connection.request("GET", "/metrics")  # on loopback, in the server's receive buffer on return
            os.kill(exporter.process.pid, signal.SIGTERM)
            wait_for_process(exporter.process.pid, lambda status: int(status["ShdPnd"], 16) >> (signal.SIGTERM - 1) & 1,
                             "holding SIGTERM pending")
        finally:
            os.kill(exporter.process.pid, signal.SIGCONT)
        for connection in connections:
            try:
                response = connection.getresponse()
                response.read()
                outcomes.append(response.status)
            except (http.client.HTTPException, OSError) as error:
                outcomes.append(type(error).__name__)
            connection.close()
        code, took = wait_exit(exporter, 5)
        assert code == 0 and took < 2.0, (code, took)
    assert outcomes == [200] * len(outcomes), outcomes


def write_config(path, pue, intensity, level, budgets):
    lines = [f"pue: {pue}", "grid:", f"  intensity: {intensity}", "log:", f"  level: {level}"]
    lines += ["budgets:" if budgets else "budgets: []"]
    lines += [f"  - {{name: {name}, window: {window}, grams: {grams}}}" for name, window, grams in budgets]
    write_atomic(path, "\n".join(lines) + "\n")


def wait_for_value(exporter, metric, expected, timeout=3, **labels):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        samples = parse_metrics(exporter.scrape())
        got = samples.get((metric, frozenset(labels.items())))
        if got == expected:
            return samples
        time.sleep(0.05)
    raise AssertionError(f"{metric}{labels} is {got}, expected {expected}")


def test_sighup_reload_applies_settings_without_resetting_counters(exporter_factory, tmp_path):
    config = str(tmp_path / "footprint.yml")
    write_config(config, 1.58, 432.7, "info", [("team", "24h", 1000)])
    meter, history = RaplMeter(), CounterHistory()
    exporter = exporter_factory("intel-2socket", args=[f"--config.file={config}"], prepare=meter.prepare())
    exporter.wait_samples(2)
    for factor in (1, 2):
        step(exporter, meter, history, factor)
    before = scrape(exporter, history)
    assert value(before, "footprint_pue") == 1.58
    assert value(before, "footprint_co2e_budget_grams", budget="team", window="24h", scope="node") == 1000

    # New PUE, intensity, budgets and log level.
    write_config(config, 1.2, 100, "debug", [("team", "24h", 500), ("org", "30d", 90000)])
    exporter.process.send_signal(signal.SIGHUP)
    wait_for_log(exporter, "msg=\"configuration reloaded\"")
    reloaded = wait_for_value(exporter, "footprint_pue", 1.2)
    history.add(reloaded)
    assert value(reloaded, "footprint_grid_intensity_grams_per_kwh") == 100
    assert value(reloaded, "footprint_co2e_budget_grams", budget="team", window="24h", scope="node") == 500
    assert value(reloaded, "footprint_co2e_budget_grams", budget="org", window="30d", scope="node") == 90000
    # The budget counters go on: team from its value, org (new) from zero; no match:, so the node's whole CO2e.
    assert value(reloaded, "footprint_budget_co2e_grams_total", budget="team") >= \
        value(before, "footprint_budget_co2e_grams_total", budget="team") > 0
    assert ("footprint_budget_co2e_grams_total", frozenset({("budget", "org")})) in reloaded
    # Every setting a reload changes is logged at warning, old → new.
    assert re.search(r"level=warn\w* msg=\"setting changed by reload\" new=debug old=info setting=log.level", exporter.logs())
    assert re.search(r"msg=\"setting changed by reload\" new=1.2 old=1.58 setting=pue", exporter.logs())
    meter.assert_exact(reloaded)  # nothing reset, nothing added
    # Energy drawn after the reload is scaled by the new PUE and intensity; counters keep increasing.
    after = step(exporter, meter, history, 3)
    meter.assert_exact(after)
    for component in ("cpu", "dram"):
        it = value(after, "footprint_energy_joules_total", component=component) - \
            value(reloaded, "footprint_energy_joules_total", component=component)
        facility = value(after, "footprint_facility_energy_joules_total", component=component) - \
            value(reloaded, "footprint_facility_energy_joules_total", component=component)
        grams = value(after, "footprint_co2e_grams_total", component=component) - \
            value(reloaded, "footprint_co2e_grams_total", component=component)
        assert it > 0
        assert abs(facility - it * 1.2) <= 1e-9 * facility, (component, facility, it)
        assert abs(grams - facility * 100 / 3.6e6) <= 1e-9 * grams, (component, grams, facility)

    # Log level error: the next reload applies silently (its info line is below the level).
    reload_lines = exporter.logs().count("msg=\"configuration reloaded\"")
    write_config(config, 1.3, 100, "error", [])
    exporter.process.send_signal(signal.SIGHUP)
    silent = history.add(wait_for_value(exporter, "footprint_pue", 1.3))
    assert not any(key[0] == "footprint_co2e_budget_grams" for key in silent)  # budgets removed
    assert not any(key[0] == "footprint_budget_co2e_grams_total" for key in silent)  # and their counters
    # Reloads run one after another, so once the next one has logged (an error, above the level), whatever the
    # silent one logged is in the file too. That next one reads a malformed file and keeps the running settings.
    write_atomic(config, "pue: [1.1\n")
    exporter.process.send_signal(signal.SIGHUP)
    wait_for_log(exporter, "reload failed", timeout=10)
    assert exporter.logs().count("msg=\"configuration reloaded\"") == reload_lines

    # Back to info: the line is logged again.
    write_config(config, 1.4, 200, "info", [])
    exporter.process.send_signal(signal.SIGHUP)
    wait_for_log(exporter, "msg=\"configuration reloaded\"", count=reload_lines + 1)
    history.add(wait_for_value(exporter, "footprint_pue", 1.4))

    # A malformed file, then an invalid value: both keep the running configuration and say so.
    for count, text in ((2, "pue: [1.1\ngrid: {intensity: 5\n"), (3, "pue: -3\n")):
        write_atomic(config, text)
        exporter.process.send_signal(signal.SIGHUP)
        wait_for_log(exporter, "reload failed", count=count)
        samples = scrape(exporter, history)
        assert value(samples, "footprint_pue") == 1.4
        assert value(samples, "footprint_grid_intensity_grams_per_kwh") == 200
    final = step(exporter, meter, history, 1)
    meter.assert_exact(final)
    assert exporter.process.poll() is None
    history.assert_monotonic()
