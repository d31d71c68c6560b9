"""End-to-end: workload attribution (docs/design.md §8). Pods, Slurm jobs and systemd units are found in cgroup trees
(fixture trees generated here, and real cgroups on this kernel), and each sample's cpu, dram and gpu energy is split
between them. Per component, at every scrape, Σ workloads + unattributed + expired = the node's energy, exactly.

Exact expectations need the exporter to see each scripted state whole. A sample that read new RAPL counters but old
cgroup counters would split differently. `hold_between_samples` stops the exporter (SIGSTOP) just after it published
a sample, well before the next one starts, writes the whole frame and lets it go on (SIGCONT). Nothing moves between
frames, so samples that see an unchanged frame add nothing. `Model` replays the documented split on the frames:
- cpu: ⌊ΔE_cpu · Δcpu_i / whole⌋, whole = the node's busy CPU time (`share`) or busy + idle (`unattributed`);
- dram: ⌊ΔE_dram · memory_i / whole⌋, whole = MemTotal − MemAvailable (`share`) or MemTotal (`unattributed`);
- gpu: per GPU, ⌊ΔE_gpu · sm_i / Σ sm⌋ over its running processes (equal weights when none has a utilisation),
  mapped to workloads through cgroup.procs;
whole is raised to Σ weights when smaller. What no workload takes is unattributed.
"""

import collections
import json
import os
import pwd
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from types import SimpleNamespace

import pytest

from harness import Exporter, FIXTURES, compare_golden, mask, parse_metrics, promtool_check, write_atomic

US_PER_TICK = 1_000_000 // os.sysconf("SC_CLK_TCK")
COMPONENTS = ("cpu", "dram", "gpu")
KINDS = ("pod", "slurm_job", "systemd_unit")
PUE = 1.58
INTENSITY = 432.7
BOOT_ID = "5e1d7c3a-2b4f-4c6d-8e9f-0a1b2c3d4e5f"
POWERCAP = "sys/class/powercap"
PACKAGES = ("intel-rapl:0", "intel-rapl:1")
DRAMS = ("intel-rapl:0:2", "intel-rapl:1:2")
OTHER_ZONES = ("intel-rapl:0:0", "intel-rapl:0:1", "intel-rapl:1:0", "intel-rapl:1:1", "intel-rapl:2")
MMIO = "intel-rapl-mmio:0"
MIB = 1 << 20
GIB = 1 << 30
INTERVAL = "500ms"
INTERVAL_SECONDS = 0.5
TIMING = [r"_power_watts", r"^footprint_last_sample_timestamp_seconds ", r"^footprint_source_duration_seconds"]
OVERFLOW_WARNING = "more workloads than --attribution.max-workloads"


def user_name(uid):
    """What the exporter shows for a uid: its name where this machine's NSS knows it, else the number."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def container_id(seed):
    return f"{seed:x}".rjust(8, "0") * 8  # 64 hexadecimal digits, like a containerd or CRI-O container id


# MARK: - Reading /metrics in microjoules

def microjoules(joules):
    return round(joules * 1e6)


def _unescape(text):
    return re.sub(r"\\(.)", lambda match: "\n" if match.group(1) == "n" else match.group(1), text)


class Metrics:
    """One scrape; the energy series in exact integer microjoules, label values unescaped."""

    def __init__(self, text):
        self.text = text
        self.series = collections.defaultdict(list)
        for (name, labels), number in parse_metrics(text).items():
            self.series[name].append(({key: _unescape(raw) for key, raw in labels}, number))

    def get(self, name, **labels):
        found = [number for series_labels, number in self.series[name] if series_labels == labels]
        assert len(found) == 1, f"{len(found)} series {name}{labels}"
        return found[0]

    def node(self, component):
        return microjoules(self.get("footprint_energy_joules_total", component=component))

    def unattributed(self, component):
        return microjoules(self.get("footprint_unattributed_energy_joules_total", component=component))

    def expired(self, component):
        return microjoules(self.get("footprint_expired_workload_energy_joules_total", component=component))

    def workloads(self):
        """{(kind, workload): {component: µJ}}"""
        found = collections.defaultdict(dict)
        for labels, number in self.series["footprint_workload_energy_joules_total"]:
            found[(labels["kind"], labels["workload"])][labels["component"]] = microjoules(number)
        return dict(found)

    def _per_workload(self, name):
        return {(labels["kind"], labels["workload"]): number for labels, number in self.series[name]}

    def facility(self):
        return self._per_workload("footprint_workload_facility_energy_joules_total")

    def co2e(self):
        return self._per_workload("footprint_workload_co2e_grams_total")

    def info(self):
        """{(kind, workload): {namespace, pod, job_id, user, unit, sluid}}"""
        found = {}
        for labels, number in self.series["footprint_workload_info"]:
            assert number == 1, labels
            rest = dict(labels)
            found[(rest.pop("kind"), rest.pop("workload"))] = rest
        return found

    def tracked(self, kind):
        return int(self.get("footprint_workloads", kind=kind))

    def overflow(self):
        return self.get("footprint_attribution_overflow_total")

    def stamp(self):
        return self.get("footprint_last_sample_timestamp_seconds")

    def assert_invariant(self):
        """Σ workloads + unattributed + expired = node energy, per component, in µJ; every workload has its series."""
        workloads = self.workloads()
        for component in COMPONENTS:
            attributed = sum(parts.get(component, 0) for parts in workloads.values())
            unattributed, expired, node = self.unattributed(component), self.expired(component), self.node(component)
            assert attributed + unattributed + expired == node, (
                f"{component}: workloads {attributed} + unattributed {unattributed} + expired {expired} = "
                f"{attributed + unattributed + expired} µJ, node {node} µJ (off by {attributed + unattributed + expired - node})")
        for key, parts in workloads.items():
            assert set(parts) == set(COMPONENTS), (key, parts)
        assert set(self.info()) == set(workloads) == set(self.facility()) == set(self.co2e())
        counts = collections.Counter(kind for kind, _ in workloads)
        for kind in KINDS:
            assert self.tracked(kind) == counts[kind], (kind, self.tracked(kind), counts[kind])


# MARK: - The split, replayed

def split(microjoules_, weights, denominator):
    """Each key gets ⌊E·w/whole⌋, whole = max(denominator, Σw); returns (parts, what no key took)."""
    whole = max(denominator, sum(weights.values()))
    if whole == 0 or microjoules_ == 0:
        return {key: 0 for key in weights}, microjoules_
    parts = {key: microjoules_ * weight // whole for key, weight in weights.items()}
    return parts, microjoules_ - sum(parts.values())


class Model:
    """The attribution the exporter must report for a sequence of frames, each seen whole by at least one sample."""

    def __init__(self, idle="share"):
        self.idle = idle
        self.it = {}
        self.facility = collections.defaultdict(float)
        self.co2e = collections.defaultdict(float)
        self.unattributed = dict.fromkeys(COMPONENTS, 0)
        self.node = dict.fromkeys(COMPONENTS, 0)
        self.previous = None

    def _track(self, frame):
        for key in frame.usage:
            self.it.setdefault(key, dict.fromkeys(COMPONENTS, 0))

    def _record(self, component, parts, remainder):
        for key, part in parts.items():
            if part > 0:
                self.it[key][component] += part
                facility = part / 1e6 * PUE
                self.facility[key] += facility
                self.co2e[key] += facility / 3.6e6 * INTENSITY
        self.unattributed[component] += remainder

    def observe(self, now):
        self._track(now)
        before, self.previous = self.previous, now
        if before is None:
            return  # the first sample: baselines only
        energy = {"cpu": sum(now.rapl[zone] - before.rapl[zone] for zone in PACKAGES),
                  "dram": sum(now.rapl[zone] - before.rapl[zone] for zone in DRAMS)}
        cpu = {key: usage[0] - before.usage[key][0] for key, usage in now.usage.items()
               if key in before.usage and usage[0] >= before.usage[key][0]}
        busy = (now.busy - before.busy) * US_PER_TICK
        idle = (now.idle - before.idle) * US_PER_TICK
        self._record("cpu", *split(energy["cpu"], cpu, busy if self.idle == "share" else busy + idle))
        memory = {key: usage[1] for key, usage in now.usage.items()}
        used = now.mem_total - now.mem_available
        self._record("dram", *split(energy["dram"], memory, used if self.idle == "share" else now.mem_total))
        parts = collections.Counter()
        remainder = 0
        gpu_energy = 0
        for device, (millijoules, processes) in now.gpus.items():
            drawn = (millijoules - before.gpus[device][0]) * 1000
            gpu_energy += drawn
            measured = any((sm or 0) > 0 for _, sm in processes)
            weights = {pid: (sm or 0) if measured else 1 for pid, sm in processes}
            by_pid, rest = split(drawn, weights, sum(weights.values()))
            remainder += rest
            for pid, part in by_pid.items():
                key = now.pids.get(pid)
                if key in self.it:
                    parts[key] += part
                else:
                    remainder += part
        energy["gpu"] = gpu_energy
        self._record("gpu", dict(parts), remainder)
        for component in COMPONENTS:
            self.node[component] += energy[component]

    def assert_matches(self, metrics):
        """The scrape shows exactly what the frames so far must give."""
        metrics.assert_invariant()
        assert metrics.workloads() == self.it, (metrics.workloads(), self.it)
        for component in COMPONENTS:
            assert metrics.node(component) == self.node[component], component
            assert metrics.unattributed(component) == self.unattributed[component], (
                component, metrics.unattributed(component), self.unattributed[component])
            assert metrics.expired(component) == 0
        facility, co2e = metrics.facility(), metrics.co2e()
        for key in self.it:
            assert facility[key] == self.facility[key], (key, facility[key], self.facility[key])
            assert co2e[key] == self.co2e[key], (key, co2e[key], self.co2e[key])


# MARK: - A fake node: RAPL, procfs and a cgroup tree, written in whole frames

class Cgroup:
    def __init__(self, path, procs=(), memory=0):
        self.path = path
        self.procs = list(procs)
        self.memory = memory
        self.cpu_ns = 0


class FakeNode:
    """RAPL counters (the intel-2socket tree), /proc/stat, /proc/meminfo, fake processes, an NVML script and a
    cgroup tree in one of the layouts the exporter detects: `v2`; `hybrid` (unified/ beside cpu,cpuacct and memory,
    with the cpu and cpuacct links); `v1` (cpu, cpuacct and memory mounted apart, no unified)."""

    def __init__(self, layout="v2", cgroupfs="sys/fs/cgroup"):
        self.layout = layout
        self.cgroupfs = cgroupfs
        self.workloads = {}  # (kind, name) → (the workload's cgroup, the cgroups below it)
        self.others = []  # cgroups that are no workload
        self.rapl = {zone: 10_000_000 * (index + 1)
                     for index, zone in enumerate(PACKAGES + DRAMS + OTHER_ZONES)}
        self.rapl[MMIO] = 5_000_000
        self.busy, self.idle = 4_000_000, 36_000_000
        self.mem_total, self.mem_available = 64 * GIB, 40 * GIB
        self.gpus = []  # {"mj", "proc_util", "procs": [{"pid", "sm", "ts", "running"}]}
        self.titles = {}  # fake /proc/<pid>: pid → (cmdline, uid)
        self.script = None
        self.root = None

    # Building

    def workload(self, key, path, children=None, procs=(), memory=0):
        """`children`: {relative path below the workload: [pids]}; the workload's own memory is `memory`."""
        top = Cgroup(path, procs, memory)
        below = [Cgroup(f"{path}/{child}", pids) for child, pids in (children or {}).items()]
        self.workloads[key] = (top, below)
        return top

    def other(self, path, procs=(), memory=0):
        self.others.append(Cgroup(path, procs, memory))

    def use(self, key, microseconds, nanoseconds=0):
        """A workload used CPU time: its cgroup and (split evenly) its children count it, as the kernel does."""
        top, below = self.workloads[key]
        added = microseconds * 1000 + (nanoseconds if self.layout != "v2" else 0)
        top.cpu_ns += added
        for index, child in enumerate(below):
            child.cpu_ns += added // len(below) + (added % len(below) if index == 0 else 0)

    def memory(self, key, value):
        top, below = self.workloads[key]
        top.memory = value
        for child in below:
            child.memory = value // len(below)

    def draw(self, package=(0, 0), dram=(0, 0)):
        """Energy drawn, µJ per socket; core, uncore and psys move too (never part of a component)."""
        for zone, microjoules_ in zip(PACKAGES, package):
            self.rapl[zone] += microjoules_
        for zone, microjoules_ in zip(DRAMS, dram):
            self.rapl[zone] += microjoules_
        for zone in OTHER_ZONES:
            self.rapl[zone] += 12_345
        self.rapl[MMIO] += 987_654_321  # the MMIO duplicate of package-0 must never count

    # Writing

    def install(self, root):
        """A prepare(root) hook: the first frame, written before the exporter starts."""
        self.root = root
        boot = os.path.join(root, "proc", "sys", "kernel", "random", "boot_id")
        os.makedirs(os.path.dirname(boot), exist_ok=True)
        with open(boot, "w") as handle:
            handle.write(BOOT_ID + "\n")
        base = os.path.join(root, self.cgroupfs)
        os.makedirs(base, exist_ok=True)
        if self.layout == "v2":
            write_atomic(os.path.join(base, "cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma misc\n")
        else:
            if self.layout == "hybrid":
                os.makedirs(os.path.join(base, "unified"))
                write_atomic(os.path.join(base, "unified", "cgroup.controllers"), "\n")  # controllers are on v1
                os.makedirs(os.path.join(base, "cpu,cpuacct"))
                os.symlink("cpu,cpuacct", os.path.join(base, "cpu"))
                os.symlink("cpu,cpuacct", os.path.join(base, "cpuacct"))
            else:
                os.makedirs(os.path.join(base, "cpu"))
                os.makedirs(os.path.join(base, "cpuacct"))
            os.makedirs(os.path.join(base, "memory"))
        for pid, (cmdline, uid) in self.titles.items():
            directory = os.path.join(root, "proc", str(pid))
            os.makedirs(directory, exist_ok=True)
            with open(os.path.join(directory, "cmdline"), "wb") as handle:
                handle.write(cmdline.encode() + b"\0")
            os.chown(directory, uid, uid)
        self.write()

    def cgroups(self):
        for top, below in self.workloads.values():
            yield top
            yield from below
        yield from self.others

    def _hierarchies(self):
        """(directory, kind) of each hierarchy a cgroup appears in."""
        if self.layout == "v2":
            return [("", "v2")]
        cpu = [("cpu,cpuacct", "cpuacct")] if self.layout == "hybrid" else [("cpu", "cpu"), ("cpuacct", "cpuacct")]
        unified = [("unified", "unified")] if self.layout == "hybrid" else []
        return cpu + [("memory", "memory")] + unified

    def write_cgroup(self, group):
        base = os.path.join(self.root, self.cgroupfs)
        procs = "".join(f"{pid}\n" for pid in group.procs)
        for directory, kind in self._hierarchies():
            if kind == "unified" and not group.path.startswith(("system.slice", "user.slice", "init.scope")):
                continue  # with the cgroupfs driver, kubelet's and Slurm's cgroups exist on v1 only
            path = os.path.join(base, directory, group.path)
            os.makedirs(path, exist_ok=True)
            write_atomic(os.path.join(path, "cgroup.procs"), procs)
            if kind == "v2":
                usec = group.cpu_ns // 1000
                write_atomic(os.path.join(path, "cpu.stat"),
                             f"usage_usec {usec}\nuser_usec {usec * 2 // 3}\nsystem_usec {usec - usec * 2 // 3}\n"
                             "nr_periods 0\nnr_throttled 0\nthrottled_usec 0\n")
                write_atomic(os.path.join(path, "memory.current"), f"{group.memory}\n")
            elif kind == "cpuacct":
                write_atomic(os.path.join(path, "cpuacct.usage"), f"{group.cpu_ns}\n")
            elif kind == "cpu":
                write_atomic(os.path.join(path, "cpu.shares"), "1024\n")
            elif kind == "memory":
                write_atomic(os.path.join(path, "memory.usage_in_bytes"), f"{group.memory}\n")
            elif kind == "unified":
                write_atomic(os.path.join(path, "cpu.stat"), "usage_usec 0\nuser_usec 0\nsystem_usec 0\n")

    def write(self):
        """Writes the whole frame (every file the exporter reads)."""
        root = self.root
        for zone, raw in self.rapl.items():
            write_atomic(os.path.join(root, POWERCAP, zone, "energy_uj"), f"{raw}\n")
        # busy = user + nice + system + irq + softirq + steal; idle = idle + iowait
        user, system, steal = self.busy * 6 // 10, self.busy * 3 // 10, self.busy // 20
        irq = self.busy - user - system - steal
        iowait = self.idle // 50
        lines = [f"cpu  {user} 0 {system} {self.idle - iowait} {iowait} {irq} 0 {steal} 0 0"]
        lines += [f"cpu{index} {user // 8} 0 {system // 8} {self.idle // 8} 0 0 0 0 0 0" for index in range(8)]
        lines += ["intr 0", "ctxt 0", "btime 1700000000", "processes 1", "procs_running 1", "procs_blocked 0"]
        write_atomic(os.path.join(root, "proc", "stat"), "\n".join(lines) + "\n")
        write_atomic(os.path.join(root, "proc", "meminfo"),
                     f"MemTotal:       {self.mem_total // 1024} kB\nMemFree:        {self.mem_available // 2048} kB\n"
                     f"MemAvailable:   {self.mem_available // 1024} kB\nBuffers:          1024 kB\n")
        base = os.path.join(root, self.cgroupfs)
        if self.layout != "v2":
            cpuacct = "cpu,cpuacct" if self.layout == "hybrid" else "cpuacct"
            write_atomic(os.path.join(base, cpuacct, "cpuacct.usage"), f"{self.busy * US_PER_TICK * 1000}\n")
            write_atomic(os.path.join(base, "memory", "memory.usage_in_bytes"),
                         f"{self.mem_total - self.mem_available}\n")
        for group in self.cgroups():
            self.write_cgroup(group)
        if self.script:
            self.write_script()

    def write_script(self):
        lines = []
        for index, gpu in enumerate(self.gpus):
            lines.append(f"gpu index={index} uuid=GPU-attr-{index:04d} name=NVIDIA_H100_80GB_HBM3 "
                         f"energy_mj={gpu['mj']} power_mw=300000 proc_util={gpu.get('proc_util', 'ok')}")
            for process in gpu["procs"]:
                line = f"proc gpu={index} pid={process['pid']} used_mb=1024"
                if process.get("sm") is not None:
                    line += f" sm={process['sm']} ts={process['ts']}"
                if not process.get("running", True):
                    line += " running=no"
                lines.append(line)
        write_atomic(self.script, "\n".join(lines) + "\n")

    # What the exporter reads

    def frame(self):
        pids = {}
        for key, (top, below) in self.workloads.items():
            for group in [top] + below:
                for pid in group.procs:
                    pids[pid] = key
        gpus = {}
        for index, gpu in enumerate(self.gpus):
            running = [process for process in gpu["procs"] if process.get("running", True)]
            supported = gpu.get("proc_util", "ok") == "ok"
            gpus[index] = (gpu["mj"], [(p["pid"], p.get("sm") if supported else None) for p in running])
        return SimpleNamespace(
            rapl=dict(self.rapl), busy=self.busy, idle=self.idle, mem_total=self.mem_total,
            mem_available=self.mem_available, pids=pids, gpus=gpus,
            usage={key: (top.cpu_ns // 1000, top.memory) for key, (top, _) in self.workloads.items()})


def _process_state(pid):
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()[0]


def hold_between_samples(exporter, write, interval=INTERVAL_SECONDS):
    """Runs write() while the exporter is stopped between two samples, then waits for two samples after it.

    Stops it just after a sample was published and goes on only if that was less than 0.4 interval ago, so no
    sample is in progress: the next one starts an interval after the last one started."""
    pid = exporter.process.pid
    for _ in range(50):
        seen = exporter.last_sample()
        deadline = time.monotonic() + 30
        while (stamp := exporter.last_sample()) <= seen:
            assert time.monotonic() < deadline, "the exporter published no sample within 30 s"
            time.sleep(0.002)
        os.kill(pid, signal.SIGSTOP)
        held_at = time.time()
        try:
            while _process_state(pid) != "T":
                time.sleep(0.001)
            if held_at - stamp < 0.4 * interval:
                write()
                break
        finally:
            os.kill(pid, signal.SIGCONT)
    else:
        raise AssertionError("never caught the exporter between two samples")
    exporter.wait_samples(2, timeout=30)


def scrape(exporter):
    return Metrics(exporter.scrape())


def run_frames(exporter, node, model, steps):
    """Observes the first frame, then each step's frame; every scrape must match the model exactly."""
    exporter.wait_samples(2, timeout=30)
    model.observe(node.frame())
    model.assert_matches(scrape(exporter))
    for step in steps:
        step(node)
        hold_between_samples(exporter, node.write)
        model.observe(node.frame())
        model.assert_matches(scrape(exporter))
    return scrape(exporter)


def start(exporter_factory, node, args=(), env=None, interval=INTERVAL):
    return exporter_factory("intel-2socket", args=list(args), env=env, interval=interval, prepare=node.install)


# MARK: - 1a. cgroup v2, systemd driver: three QoS classes, containerd and CRI-O

POD_GUARANTEED = "6b1e3f2a-9c4d-4e5f-8a7b-0c1d2e3f4a01"
POD_BURSTABLE = "7c2f4a3b-ad5e-4f60-9b8c-1d2e3f4a5b02"
POD_BURSTABLE_CRIO = "8d3a5b4c-be6f-4071-ac9d-2e3f4a5b6c03"
POD_BESTEFFORT = "9e4b6c5d-cf70-4182-bdae-3f4a5b6c7d04"
PODS = (POD_GUARANTEED, POD_BURSTABLE, POD_BURSTABLE_CRIO, POD_BESTEFFORT)


def systemd_pod_path(uid, qos):
    slice_uid = uid.replace("-", "_")
    if qos == "guaranteed":
        return f"kubepods.slice/kubepods-pod{slice_uid}.slice"
    return f"kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{slice_uid}.slice"


def cgroupfs_pod_path(uid, qos):
    return f"kubepods/pod{uid}" if qos == "guaranteed" else f"kubepods/{qos}/pod{uid}"


def pods_node(layout, path_of):
    """Four pods (guaranteed, burstable with containerd, burstable with CRI-O, best-effort) and system services."""
    node = FakeNode(layout)
    containerd = lambda seed: f"cri-containerd-{container_id(seed)}.scope" if layout == "v2" else container_id(seed)
    crio = lambda seed: f"crio-{container_id(seed)}.scope" if layout == "v2" else container_id(seed)
    conmon = lambda seed: f"crio-conmon-{container_id(seed)}.scope" if layout == "v2" else container_id(seed + 7)
    node.workload(("pod", POD_GUARANTEED), path_of(POD_GUARANTEED, "guaranteed"),
                  {containerd(0x11): [1101], containerd(0x12): [1102, 1103]})
    node.workload(("pod", POD_BURSTABLE), path_of(POD_BURSTABLE, "burstable"),
                  {containerd(0x21): [1201], containerd(0x22): [1202]})
    node.workload(("pod", POD_BURSTABLE_CRIO), path_of(POD_BURSTABLE_CRIO, "burstable"),
                  {crio(0x31): [1301], conmon(0x31): [1300]})
    node.workload(("pod", POD_BESTEFFORT), path_of(POD_BESTEFFORT, "besteffort"), {crio(0x41): [1401]})
    services = ["system.slice/containerd.service", "system.slice/kubelet.service", "system.slice/crio.service"]
    for index, path in enumerate(services):
        node.other(path, [500 + index], 100 * MIB)
    node.other("user.slice/user-1000.slice/session-3.scope", [900], 10 * MIB)
    # Not a pod: a malformed UID below kubepods, and a QoS slice by itself.
    node.other("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podnot_a_uid.slice", [950], 1 * MIB)
    for uid, memory in zip(PODS, (512 * MIB, 256 * MIB + 12345, 128 * MIB, 64 * MIB)):
        node.memory(("pod", uid), memory)
    return node


def pod_steps(layout):
    """Four frames: uneven shares; shares adding up to more than the busy time (normalised); no workload CPU at all
    (dram still split); tiny shares of a large energy. In v1 the CPU time has sub-microsecond parts."""
    G, B, C, D = (("pod", uid) for uid in PODS)

    def first(node):
        node.use(G, 300_000, 999)
        node.use(B, 150_000, 1)
        node.use(C, 75_000, 500)
        node.busy += 60
        node.idle += 140
        node.mem_available -= 512 * MIB
        node.draw(package=(2_345_678, 1_234_567), dram=(456_789, 345_679))

    def second(node):
        node.use(G, 10_000, 3)
        node.use(B, 333_333, 999)
        node.use(D, 222_222, 7)
        node.busy += 50  # 500 000 µs < the pods' 565 555 µs: shares are normalised
        node.idle += 150
        node.memory(D, 300 * MIB + 1)
        node.mem_available += 100 * MIB
        node.draw(package=(1_000_003, 999_997), dram=(123_457, 234_567))

    def third(node):
        node.busy += 20  # only system services ran
        node.idle += 180
        node.memory(G, 1 * GIB)
        node.draw(package=(777_777, 666_666), dram=(98_765, 87_654))

    def fourth(node):
        for key, usec in zip((G, B, C, D), (1, 2, 3, 4)):
            node.use(key, usec, 0)
        node.busy += 1
        node.idle += 199
        node.draw(package=(7_000_001, 3), dram=(11, 13))

    return [first, second, third, fourth]


def pod_logs(tmp_path):
    """The kubelet's /var/log/pods: names for three of the four pods."""
    directory = tmp_path / "pods"
    for name in (f"kube-system_coredns-5d78c9869d-x7k2p_{POD_GUARANTEED}", f"team-a_web-0_{POD_BURSTABLE}",
                 f"team-b_batch-7f9c_{POD_BURSTABLE_CRIO}", "default_not-a-pod-dir"):
        (directory / name / "container").mkdir(parents=True)
    return str(directory)


POD_INFO = {
    POD_GUARANTEED: ("kube-system", "coredns-5d78c9869d-x7k2p"), POD_BURSTABLE: ("team-a", "web-0"),
    POD_BURSTABLE_CRIO: ("team-b", "batch-7f9c"), POD_BESTEFFORT: ("", ""),
}


def assert_pod_info(metrics):
    expected = {("pod", uid): {"namespace": namespace, "pod": pod, "job_id": "", "user": "", "unit": "", "sluid": ""}
                for uid, (namespace, pod) in POD_INFO.items()}
    assert metrics.info() == expected


@pytest.mark.parametrize("idle", ["share", "unattributed"])
def test_pods_cgroup_v2_systemd_driver_split_exactly(exporter_factory, tmp_path, idle):
    """cgroup v2, the kubelet's systemd driver, all three QoS classes with containerd and CRI-O scopes below the pods:
    each frame's cpu and dram energy is split exactly as documented, for both idle modes; names from the pod logs; a
    golden /metrics for the share mode."""
    node = pods_node("v2", systemd_pod_path)
    model = Model(idle)
    exporter = start(exporter_factory, node, [f"--attribution.idle={idle}", f"--path.pod-logs={pod_logs(tmp_path)}"])
    final = run_frames(exporter, node, model, pod_steps("v2"))
    assert_pod_info(final)
    # Every pod took a share of the cpu energy, and what the system services used stayed unattributed.
    assert all(final.workloads()[("pod", uid)]["cpu"] > 0 for uid in PODS)
    assert final.unattributed("cpu") > 0 and final.unattributed("dram") > 0
    assert final.tracked("pod") == 4 and final.overflow() == 0
    promtool_check(final.text)
    if idle == "share":
        compare_golden("cgroups-golden/v2-systemd-pods", mask(final.text, TIMING))


# MARK: - 1b. cgroupfs driver on a hybrid host

@pytest.mark.parametrize("idle", ["share", "unattributed"])
def test_pods_cgroupfs_driver_hybrid_split_exactly(exporter_factory, tmp_path, idle):
    """The kubelet's cgroupfs driver on a hybrid host (unified/ beside cpu,cpuacct and memory, with the cpu and
    cpuacct links), the cgroup tree given with --path.cgroupfs: cpuacct.usage in ns, memory.usage_in_bytes."""
    node = pods_node("hybrid", cgroupfs_pod_path)
    node.cgroupfs = str(tmp_path / "cgroupfs")  # outside the sysfs tree: only --path.cgroupfs leads there
    model = Model(idle)
    exporter = start(exporter_factory, node, [f"--attribution.idle={idle}", f"--path.cgroupfs={node.cgroupfs}",
                                              f"--path.pod-logs={pod_logs(tmp_path)}"])
    final = run_frames(exporter, node, model, pod_steps("hybrid"))
    assert_pod_info(final)
    assert all(final.workloads()[("pod", uid)]["cpu"] > 0 for uid in PODS)
    promtool_check(final.text)


def test_budget_with_match_counts_its_pods_and_one_without_the_whole_node(exporter_factory, tmp_path):
    """footprint_budget_co2e_grams_total: a budget whose match: selects the team-* namespaces counts the CO2e of
    those pods exactly as their own counters do; one without match: counts the node's whole CO2e, every component.
    One series per budget name, whatever its windows."""
    config = tmp_path / "config.yml"
    config.write_text(
        "budgets:\n"
        "  - {name: teams, window: 24h, grams: 5000, match: {kind: pod, namespace: \"team-*\"}}\n"
        "  - {name: teams, window: 30d, grams: 120000, match: {namespace: \"team-*\", kind: pod}}\n"
        "  - {name: node, window: 24h, grams: 9000}\n")
    node = pods_node("v2", systemd_pod_path)
    model = Model()
    exporter = start(exporter_factory, node, [f"--config.file={config}", f"--path.pod-logs={pod_logs(tmp_path)}"])
    final = run_frames(exporter, node, model, pod_steps("v2"))
    assert_pod_info(final)
    matched = {("pod", POD_BURSTABLE), ("pod", POD_BURSTABLE_CRIO)}  # team-a and team-b
    co2e = final.co2e()
    teams = sum(grams for key, grams in co2e.items() if key in matched)
    others = sum(grams for key, grams in co2e.items() if key not in matched)
    assert teams > 0 and others > 0, co2e
    budget = {labels["budget"]: number for labels, number in final.series["footprint_budget_co2e_grams_total"]}
    assert set(budget) == {"teams", "node"}, budget
    assert budget["teams"] == pytest.approx(teams, rel=1e-12, abs=1e-12)
    node_total = sum(final.get("footprint_co2e_grams_total", component=component) for component in COMPONENTS)
    assert budget["node"] == pytest.approx(node_total, rel=1e-12, abs=1e-12)
    assert budget["node"] > budget["teams"]
    promtool_check(final.text)


# MARK: - 1c. Slurm

SLUID = "sQ7Kx2mB9vT4"


def slurm_node(layout):
    node = FakeNode(layout)
    if layout == "v1":
        # cgroup v1: slurm[_<node>]/uid_<uid>/job_<id>/step_<step>/task_<n>
        node.workload(("slurm_job", "1001"), "slurm/uid_4242/job_1001",
                      {"step_batch/task_0": [3101], "step_0/task_0": [3102, 3103], "step_extern/task_0": [3104]})
        node.workload(("slurm_job", "1002"), "slurm/uid_65534/job_1002", {"step_0/task_0": [3201]})
        node.workload(("slurm_job", "1003"), "slurm_node7/uid_4242/job_1003", {"step_0/task_0": [3301]})
        node.other("slurm/system", [3000])  # slurmstepd's own cgroup
        node.other("slurm/uid_4242/not_a_job", [3001])
    else:
        # cgroup v2: system.slice/[<node>_]slurmstepd.scope/job_<id>/step_<step>/user/task_<n>
        node.workload(("slurm_job", "2001"), "system.slice/slurmstepd.scope/job_2001",
                      {"step_batch/slurm": [4100], "step_batch/user/task_0": [4101], "step_0/user/task_0": [4102]})
        node.workload(("slurm_job", "2002"), "system.slice/node1_slurmstepd.scope/job_2002",
                      {"step_0/slurm": [4200], "step_0/user/task_0": [4201]})
        node.workload(("slurm_job", "2003"), "system.slice/node2_slurmstepd.scope/job_2003",
                      {"step_0/slurm": [4300], "step_0/user/task_0": [4301]})
        # A job directory named by its SLUID: the job id comes from slurmstepd's process title.
        node.workload(("slurm_job", "2004"), f"system.slice/slurmstepd.scope/job_{SLUID}",
                      {"step_batch/slurm": [4400], "step_batch/user/task_0": [4401]})
        node.other("system.slice/slurmstepd.scope/system", [4000])
        node.other("system.slice/slurmd.service", [3999])
        for pid, uid in ((4100, 0), (4200, 0), (4300, 0), (4400, 0)):
            job = {4100: 2001, 4200: 2002, 4300: 2003, 4400: 2004}[pid]
            node.titles[pid] = (f"slurmstepd: [{job}.batch]" if pid in (4100, 4400) else f"slurmstepd: [{job}.0]", uid)
        for pid, uid in ((4101, 4242), (4102, 4242), (4201, 65534), (4301, 4242), (4401, 65534)):
            node.titles[pid] = ("/usr/bin/python3\0train.py", uid)
    for index, key in enumerate(sorted(node.workloads)):
        node.memory(key, (index + 1) * 300 * MIB + index)
    return node


def slurm_steps(node):
    jobs = sorted(node.workloads)

    def first(node):
        for index, key in enumerate(jobs):
            node.use(key, 100_000 * (index + 1) + 17, 333)
        node.busy += 150
        node.idle += 50
        node.draw(package=(3_000_001, 2_000_002), dram=(300_007, 200_003))

    def second(node):
        node.use(jobs[0], 1_999_999, 999)
        node.busy += 201
        node.idle += 0
        node.memory(jobs[-1], 10 * GIB)
        node.draw(package=(4_444_444, 5_555_555), dram=(666_666, 777_777))

    def third(node):
        for index, key in enumerate(jobs):
            node.use(key, 33_333 * (len(jobs) - index), index)
        node.busy += 40
        node.idle += 160
        node.mem_available -= 4 * GIB
        node.draw(package=(1_000_000, 1), dram=(2, 999_999))

    return [first, second, third]


@pytest.mark.parametrize("layout", ["v1", "v2"])
def test_slurm_jobs_split_exactly(exporter_factory, layout):
    """Slurm on cgroup v1 (cpu and cpuacct mounted apart; uid_<n> in the path, several slurmd with slurm_<node>) and
    on cgroup v2 (slurmstepd.scope, several slurmd with <node>_slurmstepd.scope, a job directory named by a SLUID whose
    id comes from slurmstepd's process title in procfs, the user from the owner of its task processes)."""
    node = slurm_node(layout)
    model = Model()
    exporter = start(exporter_factory, node)
    final = run_frames(exporter, node, model, slurm_steps(node))
    if layout == "v1":
        users = {"1001": 4242, "1002": 65534, "1003": 4242}
        sluids = {}
    else:
        users = {"2001": 4242, "2002": 65534, "2003": 4242, "2004": 65534}
        sluids = {"2004": SLUID}
    expected = {("slurm_job", job): {"namespace": "", "pod": "", "job_id": job, "user": user_name(uid), "unit": "",
                                     "sluid": sluids.get(job, "")} for job, uid in users.items()}
    # User names are resolved off the sampling path: a uid reads as its number until its name is known.
    deadline = time.monotonic() + 10
    while final.info() != expected and time.monotonic() < deadline:
        time.sleep(0.2)
        final = scrape(exporter)
    assert final.info() == expected
    assert all(parts["cpu"] > 0 and parts["dram"] > 0 for parts in final.workloads().values())
    promtool_check(final.text)
    if layout == "v2":
        compare_golden("cgroups-golden/v2-slurm", mask(final.text, TIMING))


# MARK: - 1d. systemd units

UNITS = {
    "nginx.service": "system.slice/nginx.service",
    "postgresql@15-main.service": "system.slice/system-postgresql.slice/postgresql@15-main.service",
    "getty@tty1.service": "system.slice/system-getty.slice/getty@tty1.service",
    "systemd-fsck@dev-disk-by\\x2duuid-0a1b.service":
        "system.slice/system-systemd\\x2dfsck.slice/systemd-fsck@dev-disk-by\\x2duuid-0a1b.service",
}


def test_systemd_units_split_exactly(exporter_factory):
    """A systemd host with --attribution.kinds=systemd_unit: services and template instances are workloads; transient
    run-* units, scopes, user services and pods are not (their use stays unattributed)."""
    node = FakeNode("v2")
    for index, (unit, path) in enumerate(UNITS.items()):
        children = {"worker": [7000 + index]} if unit == "nginx.service" else None
        node.workload(("systemd_unit", unit), path, children, procs=[] if children else [7100 + index])
        node.memory(("systemd_unit", unit), (index + 1) * 50 * MIB)
    node.other("system.slice/run-u42.service", [7201], 10 * MIB)
    node.other("system.slice/docker-0123abcd.scope", [7202], 10 * MIB)
    node.other("init.scope", [1], 5 * MIB)
    node.other("user.slice/user-1000.slice/user@1000.service/app.slice/foo.service", [7203], 10 * MIB)
    node.other(systemd_pod_path(POD_BURSTABLE, "burstable") + "/cri-containerd-" + container_id(1) + ".scope", [7204])
    units = [("systemd_unit", unit) for unit in UNITS]

    def first(node):
        for index, key in enumerate(units):
            node.use(key, 111_111 * (index + 1))
        node.busy += 170
        node.idle += 30
        node.draw(package=(5_000_000, 4_000_001), dram=(500_001, 400_009))

    def second(node):
        node.use(units[2], 1)
        node.busy += 3
        node.idle += 197
        node.memory(units[0], 3 * GIB)
        node.draw(package=(900_001, 800_003), dram=(70_001, 60_007))

    model = Model()
    exporter = start(exporter_factory, node, ["--attribution.kinds=systemd_unit"])
    final = run_frames(exporter, node, model, [first, second])
    assert final.info() == {key: {"namespace": "", "pod": "", "job_id": "", "user": "", "unit": key[1], "sluid": ""}
                            for key in units}
    assert final.tracked("pod") == 0 and final.tracked("slurm_job") == 0
    promtool_check(final.text)


# MARK: - Static pods

def test_static_pod_with_md5_uid_is_a_pod(exporter_factory, tmp_path):
    """Static pods (kube-apiserver, etcd, …) get their UID from the kubelet as an md5 hex digest, 32 hexadecimal
    digits without dashes (pkg/kubelet/config/common.go, applyDefaults); their cgroups and log directories carry it.
    They are pods on the node like any other (design §8: "a Kubernetes pod (UID)")."""
    static_uid = "4c8d2e7b6e1c1a3f8f9d0e1a2b3c4d5e"
    node = FakeNode("v2")
    node.workload(("pod", static_uid), f"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{static_uid}.slice",
                  {f"cri-containerd-{container_id(5)}.scope": [5101]})
    node.workload(("pod", POD_BURSTABLE), systemd_pod_path(POD_BURSTABLE, "burstable"),
                  {f"cri-containerd-{container_id(6)}.scope": [5201]})
    node.memory(("pod", static_uid), 900 * MIB)
    node.memory(("pod", POD_BURSTABLE), 100 * MIB)
    logs = tmp_path / "pods"
    (logs / f"kube-system_etcd-node1_{static_uid}" / "etcd").mkdir(parents=True)
    exporter = start(exporter_factory, node, [f"--path.pod-logs={logs}"])
    exporter.wait_samples(3, timeout=30)
    metrics = scrape(exporter)
    metrics.assert_invariant()
    assert ("pod", POD_BURSTABLE) in metrics.workloads()
    assert ("pod", static_uid) in metrics.workloads(), (
        f"the static pod {static_uid} (etcd) is not a workload; tracked: {sorted(metrics.workloads())}")
    assert metrics.info()[("pod", static_uid)]["pod"] == "etcd-node1"


# MARK: - SLUID read once slurmstepd is there

def test_sluid_job_gets_its_id_once_slurmstepd_is_in_its_cgroup(exporter_factory):
    """A SLUID job directory seen before slurmstepd moved into it keeps its SLUID as its name only "until the job id
    is read from its processes' titles" (WorkloadClassifier.slurmJob): once slurmstepd is there, a later scan names it
    by its id."""
    node = FakeNode("v2")
    node.workload(("slurm_job", SLUID), f"system.slice/slurmstepd.scope/job_{SLUID}", {"step_batch/slurm": []})
    node.workload(("slurm_job", "3002"), "system.slice/slurmstepd.scope/job_3002", {"step_0/slurm": [6200]})
    node.titles[6100] = ("slurmstepd: [3001.batch]", 0)
    node.titles[6200] = ("slurmstepd: [3002.0]", 0)
    exporter = start(exporter_factory, node)
    exporter.wait_samples(3, timeout=30)
    first = scrape(exporter)
    assert ("slurm_job", SLUID) in first.workloads(), sorted(first.workloads())
    # slurmstepd moves in; another job ends (its cgroup vanishing makes the exporter scan the tree again).
    _, below = node.workloads[("slurm_job", SLUID)]
    below[0].procs = [6100]
    node.write()
    shutil.rmtree(os.path.join(node.root, node.cgroupfs, "system.slice/slurmstepd.scope/job_3002"))
    deadline = time.monotonic() + 25  # a vanished cgroup makes it scan at once; else it scans every 10 s
    metrics = first
    while time.monotonic() < deadline:
        metrics = scrape(exporter)
        metrics.assert_invariant()
        if ("slurm_job", "3001") in metrics.workloads():
            break
        time.sleep(0.2)
    assert ("slurm_job", "3001") in metrics.workloads(), (
        f"the SLUID job kept its SLUID as its name after slurmstepd [3001.batch] joined its cgroup: "
        f"{metrics.info()}")
    assert metrics.info()[("slurm_job", "3001")]["sluid"] == SLUID


# MARK: - 3. GPUs

@pytest.fixture(scope="session")
def fake_nvml(tmp_path_factory):
    out = tmp_path_factory.mktemp("fake-nvml-attribution")
    library = subprocess.run(["sh", os.path.join(FIXTURES, "fake-nvml", "build.sh"), str(out)], check=True,
                             capture_output=True, text=True).stdout.strip()
    assert os.path.exists(library)
    return library


def test_gpu_energy_split_by_process_sm_share(exporter_factory, fake_nvml, tmp_path):
    """GPU 0: PIDs 8101 (pod A) and 8201 (pod B) at 75 % and 25 % SM split its energy 3:1; then 8201 exits (first its
    sample still in the driver's buffer, running=no, then its line gone) and A takes it all; then PID 8301, in no
    workload, takes 25 %, which stays unattributed. GPU 1 has no per-process utilisation (proc_util=not_supported,
    as under MIG): its running processes share equally."""
    pod_a, pod_b = ("pod", POD_BURSTABLE), ("pod", POD_BESTEFFORT)
    node = FakeNode("v2")
    node.workload(pod_a, systemd_pod_path(POD_BURSTABLE, "burstable"),
                  {f"cri-containerd-{container_id(0xa)}.scope": [8101, 8102]})
    node.workload(pod_b, systemd_pod_path(POD_BESTEFFORT, "besteffort"),
                  {f"cri-containerd-{container_id(0xb)}.scope": [8201]})
    node.other("system.slice/nvidia-persistenced.service", [8301])  # not a workload
    node.memory(pod_a, 2 * GIB)
    node.memory(pod_b, 1 * GIB)
    node.script = str(tmp_path / "nvml-script")
    node.gpus = [
        {"mj": 1_000_000, "procs": [{"pid": 8101, "sm": 75, "ts": 1000}, {"pid": 8201, "sm": 25, "ts": 1000}]},
        {"mj": 5_000_000, "proc_util": "not_supported",
         "procs": [{"pid": 8102}, {"pid": 8201}, {"pid": 8301}]},
    ]
    gpu0, gpu1 = node.gpus

    def both_run(node):
        gpu0["mj"] += 100_003
        gpu1["mj"] += 10_000  # 10 000 000 µJ in thirds: 3 333 333 each, 1 µJ left over
        node.use(pod_a, 50_000)
        node.busy += 10
        node.draw(package=(1_000_000, 1_000_000), dram=(100_000, 100_000))

    def b_exits_sample_still_buffered(node):
        gpu0["procs"][1].update(running=False, sm=40, ts=2000)  # its last sample is newer than A's
        node.workloads[pod_b][1][0].procs = []
        gpu1["procs"] = [{"pid": 8102}, {"pid": 8301}]
        gpu0["mj"] += 20_001
        gpu1["mj"] += 7_777

    def b_gone(node):
        gpu0["procs"] = [{"pid": 8101, "sm": 75, "ts": 1000}]
        gpu0["mj"] += 33_333
        gpu1["mj"] += 1

    def outsider(node):
        gpu0["procs"] = [{"pid": 8101, "sm": 60, "ts": 3000}, {"pid": 8301, "sm": 20, "ts": 3000}]
        gpu0["mj"] += 40_000
        gpu1["mj"] += 3_000

    model = Model()
    exporter = start(exporter_factory, node, [f"--collector.nvml.library={fake_nvml}"],
                     env={"FAKE_NVML_SCRIPT": node.script})
    exporter.wait_samples(3, timeout=30)  # processes are mapped to workloads once a sample has seen GPU processes
    final = run_frames(exporter, node, model, [both_run, b_exits_sample_still_buffered, b_gone, outsider])
    promtool_check(final.text)
    workloads = final.workloads()
    # The same numbers by hand: GPU 0's first 100.003 J went 3:1, GPU 1's thirds to A and B.
    a_gpu = 100_003_000 * 3 // 4 + 10_000_000 // 3 + 20_001_000 + 7_777_000 // 2 + 33_333_000 + 1000 // 2 + \
        40_000_000 * 60 // 80 + 3_000_000 // 2
    b_gpu = 100_003_000 // 4 + 10_000_000 // 3
    assert workloads[pod_a]["gpu"] == a_gpu, (workloads[pod_a]["gpu"], a_gpu)
    assert workloads[pod_b]["gpu"] == b_gpu, (workloads[pod_b]["gpu"], b_gpu)
    assert final.node("gpu") == (100_003 + 10_000 + 20_001 + 7_777 + 33_333 + 1 + 40_000 + 3_000) * 1000
    assert final.unattributed("gpu") == final.node("gpu") - a_gpu - b_gpu


def test_gpu_energy_of_the_sample_where_processes_first_appear_is_split(exporter_factory, fake_nvml, tmp_path):
    """Samples with no GPU process skip mapping processes to workloads (a cgroup.procs read per workload); the sample
    in which processes appear maps them at once, so its GPU energy goes to the workloads, not to unattributed."""
    pod_a, pod_b = ("pod", POD_BURSTABLE), ("pod", POD_BESTEFFORT)
    node = FakeNode("v2")
    node.workload(pod_a, systemd_pod_path(POD_BURSTABLE, "burstable"),
                  {f"cri-containerd-{container_id(0xa)}.scope": [8101]})
    node.workload(pod_b, systemd_pod_path(POD_BESTEFFORT, "besteffort"),
                  {f"cri-containerd-{container_id(0xb)}.scope": [8201]})
    node.memory(pod_a, 2 * GIB)
    node.memory(pod_b, 1 * GIB)
    node.script = str(tmp_path / "nvml-script")
    node.gpus = [{"mj": 1_000_000, "procs": []}]
    gpu0 = node.gpus[0]

    def idle_gpu_draws(node):
        gpu0["mj"] += 7_000  # no process: all of it is unattributed

    def processes_appear(node):
        gpu0["procs"] = [{"pid": 8101, "sm": 60, "ts": 1000}, {"pid": 8201, "sm": 20, "ts": 1000}]
        gpu0["mj"] += 80_001

    model = Model()
    exporter = start(exporter_factory, node, [f"--collector.nvml.library={fake_nvml}"],
                     env={"FAKE_NVML_SCRIPT": node.script})
    final = run_frames(exporter, node, model, [idle_gpu_draws, processes_appear])
    workloads = final.workloads()
    assert workloads[pod_a]["gpu"] == 80_001_000 * 60 // 80, workloads[pod_a]
    assert workloads[pod_b]["gpu"] == 80_001_000 * 20 // 80, workloads[pod_b]
    assert final.unattributed("gpu") == 7_000_000 + 80_001_000 - 80_001_000 * 60 // 80 - 80_001_000 * 20 // 80


# MARK: - 4. Churn, retention, expiry and the cap

def besteffort_path(uid):
    return systemd_pod_path(uid, "besteffort")


class ChurnTree:
    """A cgroup v2 tree whose pods come and go, and a thread that keeps RAPL, /proc/stat and the pods' CPU time moving."""

    def __init__(self, root):
        self.root = root
        self.base = os.path.join(root, "sys", "fs", "cgroup")
        self.lock = threading.Lock()
        self.live = {}  # uid → CPU time in µs
        self.removed_at = {}  # uid → (when its removal began, when it ended)
        self.rapl = {zone: 10_000_000 * (index + 1) for index, zone in enumerate(PACKAGES + DRAMS)}
        self.busy, self.idle = 1_000_000, 9_000_000
        self.random = random.Random(20)
        self.stop = threading.Event()
        self.thread = None

    def prepare(self, uids):
        def hook(root):
            assert root == self.root
            os.makedirs(self.base)
            write_atomic(os.path.join(self.base, "cgroup.controllers"), "cpuset cpu io memory pids\n")
            write_atomic(os.path.join(root, "proc", "meminfo"),
                         "MemTotal:  67108864 kB\nMemFree:  1048576 kB\nMemAvailable: 16777216 kB\n")
            self._tick()
            self.create(uids)
        return hook

    def _write_pod(self, uid):
        path = os.path.join(self.base, besteffort_path(uid))
        for directory in (path, os.path.join(path, f"cri-containerd-{uid.replace('-', '')}{'0' * 32}.scope")):
            os.makedirs(directory, exist_ok=True)
            write_atomic(os.path.join(directory, "cpu.stat"), f"usage_usec {self.live[uid]}\n")
            write_atomic(os.path.join(directory, "memory.current"), f"{8 * MIB + int(uid[:4], 16)}\n")
            write_atomic(os.path.join(directory, "cgroup.procs"), "")

    def create(self, uids):
        with self.lock:
            for uid in uids:
                self.live[uid] = 0
                self._write_pod(uid)

    def remove(self, uids):
        with self.lock:
            for uid in uids:
                removing = time.time()
                del self.live[uid]
                shutil.rmtree(os.path.join(self.base, besteffort_path(uid)))
                self.removed_at[uid] = (removing, time.time())

    def _tick(self):
        for zone in self.rapl:
            self.rapl[zone] += 400_000 if zone in PACKAGES else 90_000
            write_atomic(os.path.join(self.root, POWERCAP, zone, "energy_uj"), f"{self.rapl[zone]}\n")
        self.busy += 30
        self.idle += 10
        write_atomic(os.path.join(self.root, "proc", "stat"), f"cpu  {self.busy} 0 0 {self.idle} 0 0 0 0 0 0\n")
        for uid in self.random.sample(sorted(self.live), min(40, len(self.live))):
            self.live[uid] += self.random.randrange(1_000, 5_000)
            write_atomic(os.path.join(self.base, besteffort_path(uid), "cpu.stat"), f"usage_usec {self.live[uid]}\n")

    def start(self):
        def run():
            while not self.stop.wait(0.1):
                with self.lock:
                    self._tick()
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def close(self):
        self.stop.set()
        if self.thread:
            self.thread.join(timeout=5)


def new_uids(count, rng):
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count)]


class Watcher:
    """Scrapes all the time on a thread of its own and checks the invariant at every scrape; remembers which workloads
    each scrape showed, and when each workload was last seen with which value."""

    def __init__(self, exporter):
        self.exporter = exporter
        self.lock = threading.Lock()
        self.history = []  # (the scraped sample's timestamp, the workload names it showed)
        self.last_seen = {}  # name → (when the last scrape that showed it began, µJ by component)
        self.latest = None
        self.failures = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            began = time.time()
            try:
                metrics = scrape(self.exporter)
                metrics.assert_invariant()
            except Exception as error:  # reported by until() and close()
                with self.lock:
                    self.failures.append(f"scrape begun at {began:.3f}: {error!r}")
                time.sleep(0.05)
                continue
            workloads = metrics.workloads()
            with self.lock:
                self.history.append((metrics.stamp(), frozenset(name for _, name in workloads)))
                for (_, name), parts in workloads.items():
                    self.last_seen[name] = (began, parts)
                self.latest = metrics
            time.sleep(0.01)

    def check(self):
        with self.lock:
            assert not self.failures, self.failures[:3]

    def until(self, condition, what, timeout=60):
        deadline = time.monotonic() + timeout
        seen = None
        while True:
            self.check()
            with self.lock:
                metrics = self.latest
            if metrics is not None and metrics is not seen:
                seen = metrics
                if condition(metrics):
                    return metrics
            assert time.monotonic() < deadline, f"{what} within {timeout}s; last: " + (
                f"tracked {metrics.tracked('pod')}, expired {metrics.expired('cpu')}" if metrics else "no scrape") + \
                f"\n{self.exporter.logs()[-3000:]}"
            time.sleep(0.02)

    def close(self):
        self.stop.set()
        self.thread.join(timeout=10)
        self.check()


def test_churn_of_2000_pods_keeps_the_invariant_and_expires(exporter_factory):
    """2,000 pods come and go, 250 at a time, with --attribution.retention=1s, while a thread scrapes all the time:
    the invariant holds at every scrape; a pod that has gone keeps its series for the retention (never dropped
    earlier, and scraped after it went), then its energy moves to the expired counter, exactly its last value;
    footprint_workloads falls back to the pods there now, and to 0 at the end."""
    rng = random.Random(2000)
    waves = [new_uids(250, rng) for _ in range(8)]
    tree = None

    def prepare(root):
        nonlocal tree
        tree = ChurnTree(root)
        tree.prepare(waves[0])(root)

    exporter = exporter_factory("intel-2socket", interval="100ms", prepare=prepare,
                                args=["--attribution.retention=1s"])
    watcher = None
    try:
        tree.start()
        watcher = Watcher(exporter)
        # A wave is removed once each of its pods has been given energy, so that the expired counter must grow.
        watcher.until(lambda m: {name for _, name in m.workloads()} == set(waves[0])
                      and all(parts["dram"] > 0 for parts in m.workloads().values()), "the first 250 pods tracked")
        previous_expired = 0
        for index, wave in enumerate(waves[1:] + [[]], start=1):
            gone = waves[index - 1]
            tree.create(wave)
            tree.remove(gone)
            metrics = watcher.until(
                lambda m: {name for _, name in m.workloads()} == set(wave) and m.tracked("pod") == len(wave)
                and all(parts["dram"] > 0 for parts in m.workloads().values()),
                f"wave {index}: the new pods tracked (and given energy), the old ones expired")
            assert metrics.expired("cpu") + metrics.expired("dram") > previous_expired
            previous_expired = metrics.expired("cpu") + metrics.expired("dram")
        final = metrics
        watcher.close()
        assert final.tracked("pod") == 0 and final.workloads() == {}
        # Retention. A pod removed at t keeps its series in every sample stamped before t + 1 s (the exporter notices
        # a sample or two later and keeps it 1 s from then; 50 ms allowed for the boot and wall clocks), and some
        # scrape of a sample after its removal shows it, so its final value can be collected.
        early_loss, never_after = [], []
        for uid, (removing, removed) in tree.removed_at.items():
            shown = [(stamp, uid in names) for stamp, names in watcher.history if stamp >= removing]
            if not all(present for stamp, present in shown if stamp < removing + 0.95):
                early_loss.append(uid)
            if not any(present for stamp, present in shown if stamp >= removed):
                never_after.append(uid)
        assert not early_loss, f"{len(early_loss)} pods lost their series less than 1 s after they went"
        assert not never_after, f"{len(never_after)} pods were never scraped after they went"
        # Everything any pod took is now expired: exactly the last values scraped, provided each was scraped once
        # the exporter had noticed it had gone (a sample or two after removal); at least those values otherwise.
        late = [uid for uid, (seen_at, _) in watcher.last_seen.items() if seen_at < tree.removed_at[uid][1] + 0.5]
        for component in COMPONENTS:
            collected = sum(parts[component] for _, parts in watcher.last_seen.values())
            if not late:
                assert final.expired(component) == collected, component
            assert final.expired(component) >= collected, component
        assert len(watcher.last_seen) == 2000
        assert final.expired("cpu") > 0 and final.expired("dram") > 0
        assert final.overflow() == 0
        print(f"{len(watcher.history)} scrapes; {len(late)} pods last scraped less than 0.5 s after they went")
    finally:
        if watcher:
            watcher.stop.set()
        if tree:
            tree.close()


def test_max_workloads_overflow_is_counted_and_warned_once(exporter_factory):
    """--attribution.max-workloads=50 with 80 pods: 50 are tracked (the first by UID), the others' energy stays
    unattributed, footprint_attribution_overflow_total counts the samples, and one warning is logged. Once the
    tracked pods have gone and expired, the others take their places and the overflow stops."""
    rng = random.Random(80)
    uids = sorted(new_uids(80, rng))
    tree = None

    def prepare(root):
        nonlocal tree
        tree = ChurnTree(root)
        tree.prepare(uids)(root)

    exporter = exporter_factory("intel-2socket", interval="100ms", prepare=prepare,
                                args=["--attribution.max-workloads=50", "--attribution.retention=1s"])
    watcher = None
    try:
        tree.start()
        watcher = Watcher(exporter)
        metrics = watcher.until(lambda m: m.overflow() >= 5 and m.unattributed("cpu") > 0, "overflow counted")
        assert metrics.tracked("pod") == 50
        assert {name for _, name in metrics.workloads()} == set(uids[:50])
        tree.remove(uids[:50])
        metrics = watcher.until(lambda m: {name for _, name in m.workloads()} == set(uids[50:]),
                                "the 30 others tracked once the first 50 expired")
        stopped = metrics.overflow()
        exporter.wait_samples(5, timeout=30)
        watcher.close()
        metrics = scrape(exporter)
        metrics.assert_invariant()
        assert metrics.overflow() == stopped, "overflow still counted with room for every pod"
        assert metrics.tracked("pod") == 30
        assert metrics.expired("dram") > 0
        warnings = [line for line in exporter.logs().splitlines() if OVERFLOW_WARNING in line]
        assert len(warnings) == 1 and "level=warn" in warnings[0] and "max_workloads=50" in warnings[0], warnings
    finally:
        if watcher:
            watcher.stop.set()
        if tree:
            tree.close()


# MARK: - 5. The state file

def test_state_file_round_trips_workload_counters(exporter_factory, tmp_path):
    """Workload counters are saved at a clean stop (SIGTERM) and restored: right after the restart every workload
    series, the unattributed and the expired counters equal the file exactly; later frames add to them exactly."""
    state = str(tmp_path / "state.json")
    node = pods_node("v2", systemd_pod_path)
    steps = pod_steps("v2")
    model = Model()
    args = [f"--state.file={state}", "--state.save-interval=1h"]
    first = start(exporter_factory, node, args)
    before = run_frames(first, node, model, steps[:2])
    assert first.stop() == 0
    with open(state) as handle:
        saved = json.load(handle)
    assert saved["cleanShutdown"] is True
    attribution = saved["attribution"]
    in_file = {(entry["kind"], entry["name"]): entry for entry in attribution["workloads"]}
    assert set(in_file) == set(before.workloads())
    for key, entry in in_file.items():
        for component in COMPONENTS:
            assert entry["totals"]["itMicrojoules"].get(component, 0) == before.workloads()[key][component]
        assert entry["totals"]["facilityJoules"] == before.facility()[key]
        assert entry["totals"]["co2eGrams"] == before.co2e()[key]
    for component in COMPONENTS:
        assert attribution["unattributedMicrojoules"].get(component, 0) == before.unattributed(component)
        assert attribution["expiredMicrojoules"].get(component, 0) == before.expired(component)

    second = exporter_factory(root=first.root, args=args, interval=INTERVAL)
    second.wait_samples(2, timeout=30)
    restored = scrape(second)
    assert "restored counters from the state file" in second.logs()
    restored.assert_invariant()
    assert restored.workloads() == before.workloads()
    assert restored.facility() == before.facility() and restored.co2e() == before.co2e()
    assert restored.info() == before.info()
    for component in COMPONENTS:
        assert restored.unattributed(component) == before.unattributed(component)
        assert restored.node(component) == before.node(component)
    # The restart's first sample is a new baseline of the cgroup counters; the frames after it add exactly.
    for step in steps[2:]:
        step(node)
        hold_between_samples(second, node.write)
        model.observe(node.frame())
        after = scrape(second)
        model.assert_matches(after)
        for key, parts in after.workloads().items():
            assert all(parts[c] >= before.workloads()[key][c] for c in COMPONENTS)


# MARK: - 2. Real cgroups on this kernel

REAL = "/sys/fs/cgroup"
BUSY_LOOP = ("import sys\n"
             "sys.stdin.readline()\n"
             "block = bytearray(int(sys.argv[1]))\n"
             "block[::4096] = b'\\x01' * len(block[::4096])\n"
             "while True:\n"
             "    pass\n")


def real_v1_hierarchies():
    if os.geteuid() != 0:
        pytest.skip("creating cgroups needs root")
    if os.path.exists(f"{REAL}/cgroup.controllers"):
        pytest.skip(f"{REAL} is a cgroup v2 hierarchy; this test drives the v1 cpuacct and memory controllers")
    cpuacct = next((d for d in ("cpuacct", "cpu,cpuacct", "cpuacct,cpu", "cpu")
                    if os.path.exists(f"{REAL}/{d}/cpuacct.usage")), None)
    if cpuacct is None or not os.path.exists(f"{REAL}/memory/memory.usage_in_bytes"):
        pytest.skip(f"no cgroup v1 cpuacct and memory hierarchies under {REAL}")
    return [cpuacct, "memory"]


class RealCgroups:
    """cgroups this test makes under the real v1 hierarchies; removed afterwards, children first, processes killed."""

    def __init__(self, hierarchies):
        self.hierarchies = hierarchies
        self.created = []
        self.processes = []

    def make(self, relative):
        for hierarchy in self.hierarchies:
            path = os.path.join(REAL, hierarchy)
            for part in relative.split("/"):
                path = os.path.join(path, part)
                if not os.path.isdir(path):
                    os.mkdir(path)
                    self.created.append(path)

    def busy(self, relative, memory_bytes):
        process = subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(memory_bytes)], stdin=subprocess.PIPE)
        self.processes.append(process)
        for hierarchy in self.hierarchies:
            with open(os.path.join(REAL, hierarchy, relative, "cgroup.procs"), "w") as handle:
                handle.write(f"{process.pid}\n")
        process.stdin.write(b"go\n")
        process.stdin.flush()
        return process

    def cpu_ns(self, relative):
        with open(os.path.join(REAL, self.hierarchies[0], relative, "cpuacct.usage")) as handle:
            return int(handle.read())

    def cleanup(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()
        problems = []
        for path in reversed(self.created):
            deadline = time.monotonic() + 10
            while True:
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError as error:
                    if time.monotonic() > deadline:
                        problems.append(f"{path}: {error}")
                        break
                    time.sleep(0.05)
        assert not problems, problems


@pytest.fixture
def real_cgroups():
    made = RealCgroups(real_v1_hierarchies())
    try:
        yield made
    finally:
        made.cleanup()


class PowerThread:
    """Advances the fixture's package and dram counters at a known power."""

    WATTS = {"intel-rapl:0": 40.0, "intel-rapl:1": 25.0, "intel-rapl:0:2": 6.0, "intel-rapl:1:2": 4.0}

    def __init__(self, root):
        self.root = root
        self.stop = threading.Event()
        self.base = {zone: 10_000_000 * (index + 1) for index, zone in enumerate(self.WATTS)}
        self.thread = threading.Thread(target=self.run, daemon=True)

    def write(self, elapsed):
        for zone, watts in self.WATTS.items():
            write_atomic(os.path.join(self.root, POWERCAP, zone, "energy_uj"),
                         f"{self.base[zone] + int(watts * elapsed * 1e6)}\n")

    def run(self):
        began = time.monotonic()
        while not self.stop.wait(0.02):
            self.write(time.monotonic() - began)

    def close(self):
        self.stop.set()
        self.thread.join(timeout=5)


def busy_ticks():
    with open("/proc/stat") as handle:
        fields = [int(field) for field in handle.readline().split()[1:9]]
    return fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]


def test_real_cgroups_on_this_kernel(exporter_factory, real_cgroups):
    """Two pods (cgroupfs driver) and a Slurm job (cgroup v1, uid in the path) as real cgroups under the kernel's
    cpuacct and memory hierarchies, each running a busy process, while the RAPL fixture draws a known power: the
    invariant holds exactly at every scrape, and over ≥ 10 s each workload's cpu energy is the node's cpu energy times
    its own cpuacct.usage over the node's busy time from /proc/stat (within 5 %)."""
    rng = random.Random()
    pods = [str(uuid.uuid4()), str(uuid.uuid4())]
    job = str(rng.randrange(10_000_000, 99_999_999))
    uid = 65534
    workloads = {
        ("pod", pods[0]): f"kubepods/burstable/pod{pods[0]}",
        ("pod", pods[1]): f"kubepods/pod{pods[1]}",
        ("slurm_job", job): f"slurm/uid_{uid}/job_{job}",
    }
    leaves = {
        ("pod", pods[0]): f"kubepods/burstable/pod{pods[0]}/{uuid.uuid4().hex}{uuid.uuid4().hex}",
        ("pod", pods[1]): f"kubepods/pod{pods[1]}/{uuid.uuid4().hex}{uuid.uuid4().hex}",
        ("slurm_job", job): f"slurm/uid_{uid}/job_{job}/step_0/task_0",
    }
    for index, (key, leaf) in enumerate(leaves.items()):
        real_cgroups.make(leaf)
        real_cgroups.busy(leaf, (index + 1) * 16 * MIB)
    power = None

    def prepare(root):
        nonlocal power
        power = PowerThread(root)
        power.write(0)

    exporter = exporter_factory("intel-2socket", interval="1s", prepare=prepare,
                                args=[f"--path.cgroupfs={REAL}", "--path.procfs=/proc"])
    power.thread.start()
    try:
        exporter.wait_samples(3, timeout=30)

        def point():
            """Just after a sample: the workloads' cpuacct.usage, the node's busy ticks, and that sample's scrape."""
            for _ in range(10):
                seen = exporter.last_sample()
                deadline = time.monotonic() + 30
                while (stamp := exporter.last_sample()) <= seen:
                    assert time.monotonic() < deadline
                    time.sleep(0.005)
                usage = {key: real_cgroups.cpu_ns(path) for key, path in workloads.items()}
                busy = busy_ticks()
                metrics = scrape(exporter)
                metrics.assert_invariant()
                if metrics.stamp() == stamp:
                    return metrics, usage, busy, time.monotonic()
            raise AssertionError("could not read the cgroups right after a sample")

        start_metrics, start_usage, start_busy, began = point()
        while time.monotonic() < began + 12:
            scrape(exporter).assert_invariant()
            time.sleep(0.3)
        end_metrics, end_usage, end_busy, _ = point()
        node_cpu = end_metrics.node("cpu") - start_metrics.node("cpu")
        elapsed = end_metrics.stamp() - start_metrics.stamp()
        watts = sum(w for zone, w in PowerThread.WATTS.items() if zone in PACKAGES)
        assert abs(node_cpu / 1e6 - watts * elapsed) <= 0.05 * watts * elapsed, (node_cpu, elapsed)
        busy = (end_busy - start_busy) * US_PER_TICK
        report = []
        for key in workloads:
            got = end_metrics.workloads()[key]["cpu"] - start_metrics.workloads()[key]["cpu"]
            cpu = (end_usage[key] - start_usage[key]) / 1000
            expected = node_cpu * cpu / busy
            report.append(f"{key}: got {got} µJ, expected {expected:.0f} µJ (cpu {cpu:.0f} µs of {busy} µs busy)")
            assert expected > 0.01 * node_cpu, report  # the busy loop ran (a shared, loaded machine gives it less)
            assert abs(got - expected) <= 0.05 * expected, "\n".join(report)
        print("\n".join(report))
        info = end_metrics.info()
        assert info[("pod", pods[0])]["pod"] == "" and info[("pod", pods[1])]["job_id"] == ""
        assert info[("slurm_job", job)]["job_id"] == job and info[("slurm_job", job)]["user"] == user_name(uid)
        assert all(end_metrics.workloads()[key]["dram"] > start_metrics.workloads()[key]["dram"] for key in workloads)
    finally:
        power.close()
