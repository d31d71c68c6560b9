"""A busy node for the live page: the intel-2socket fixture with every counter moving, so the page has something to
show in every panel.

- RAPL: both packages and both DRAM zones advance at a power that swings slowly (a sine of period 20 s), so the
  sparklines have a shape; the counters wrap at max_energy_range_uj as the hardware's do.
- /proc/stat: the node's CPUs are 60 % busy.
- cgroup v2 (at <sysfs>/fs/cgroup, the exporter's default): two pods, a Slurm job and a systemd service, each with
  its share of the busy CPU time and its memory; pod names under var/log/pods (--path.pod-logs).
- GPUs: two fake NVML GPUs (Tests/Fixtures/fake-nvml) whose energy advances, when a C compiler can build the fake;
  without one the node has no GPU and the page says so.

`start(exporter_factory, workdir)` lays the tree out under `workdir`, starts the exporter on it (harness.Exporter,
so the factory stops it) and the load thread (a daemon; node.stop() ends it).
"""

import math
import os
import shutil
import subprocess
import threading
import time

from harness import FIXTURES, REPO, write_atomic

GiB = 1 << 30
PERIOD = 20.0  # seconds of one swing of the power
BUSY = 0.6  # share of the node's CPU time that is busy

# RAPL zones that count toward a component (docs: package → cpu, dram → dram): zone → (mean watts, swing watts).
ZONES = {
    "intel-rapl:0": (150.0, 40.0),
    "intel-rapl:1": (120.0, 30.0),
    "intel-rapl:0:2": (18.0, 4.0),
    "intel-rapl:1:2": (14.0, 3.0),
}
# Two GPUs: (mean watts, swing watts).
GPUS = [(310.0, 60.0), (240.0, 50.0)]

POD_UIDS = {
    "3f1c2b7a-5d4e-4c8b-9a6f-0e1d2c3b4a59": ("ml", "train-0", "burstable"),
    "8a7b6c5d-4e3f-4a1b-8c2d-1e0f9a8b7c6d": ("web", "api-0", "besteffort"),
}
# cgroup (relative to the cgroup root) → (share of the busy CPU time, memory in bytes).
WORKLOADS = {
    "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod3f1c2b7a_5d4e_4c8b_9a6f_0e1d2c3b4a59.slice":
        (0.45, 96 * GiB),
    "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod8a7b6c5d_4e3f_4a1b_8c2d_1e0f9a8b7c6d.slice":
        (0.15, 8 * GiB),
    "system.slice/slurmstepd.scope/job_4242": (0.3, 48 * GiB),
    "system.slice/nginx.service": (0.05, 1 * GiB),
}
# RAPL's ceiling is twice the zone's power limit by default (330 W here): a step of up to 0.25 s (see run) at
# 190 W can exceed it within one 100 ms sample, so the ceiling is raised for this synthetic node.
ARGS = ["--attribution.kinds=pod,slurm_job,systemd_unit", "--rapl.max-watts=1000"]


def energy_joules(mean, swing, t):
    """∫₀ᵗ mean + swing·sin(2πs/PERIOD) ds."""
    return mean * t + swing * PERIOD / (2 * math.pi) * (1 - math.cos(2 * math.pi * t / PERIOD))


def build_fake_nvml(directory):
    """The fake libnvidia-ml.so.1's path, or None without a C compiler."""
    script = os.path.join(REPO, "Tests", "Fixtures", "fake-nvml", "build.sh")
    if shutil.which(os.environ.get("CC", "cc")) is None:
        return None
    result = subprocess.run(["sh", script, directory], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


class BusyNode:
    def __init__(self, workdir):
        self.workdir = workdir
        self.gpu_script = os.path.join(workdir, "gpus.txt")
        self.nvml = build_fake_nvml(os.path.join(workdir, "fake-nvml"))
        self.stopping = threading.Event()
        self.error = None
        self.root = None

    # The tree, before the exporter starts.

    def prepare(self, root):
        self.root = root
        cgroup = os.path.join(root, "sys", "fs", "cgroup")
        os.makedirs(cgroup)
        write_atomic(os.path.join(cgroup, "cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma misc\n")
        for path, (_, memory) in WORKLOADS.items():
            os.makedirs(os.path.join(cgroup, path))
            write_atomic(os.path.join(cgroup, path, "memory.current"), f"{memory}\n")
            write_atomic(os.path.join(cgroup, path, "cgroup.procs"), "")
        for uid, (namespace, pod, _) in POD_UIDS.items():
            os.makedirs(os.path.join(root, "var", "log", "pods", f"{namespace}_{pod}_{uid}"))
        with open(os.path.join(root, "proc", "stat")) as handle:
            lines = handle.read().splitlines(keepends=True)
        self.stat_head = [int(v) for v in lines[0].split()[1:]]
        self.stat_rest = lines[1:]
        self.cpus = sum(1 for line in self.stat_rest if line.startswith("cpu"))
        self.bases = {}
        for zone in ZONES:
            base = os.path.join(root, "sys", "class", "powercap", zone)
            with open(os.path.join(base, "energy_uj")) as a, open(os.path.join(base, "max_energy_range_uj")) as b:
                self.bases[zone] = (int(a.read()), int(b.read()))
        self.advance(0)

    def args(self):
        args = [*ARGS, f"--path.pod-logs={self.root}/var/log/pods"]
        if self.nvml:
            args.append(f"--collector.nvml.library={self.nvml}")
        else:
            args.append("--no-collector.nvml")
        return args

    # The load.

    def advance(self, t):
        for zone, (mean, swing) in ZONES.items():
            start, maximum = self.bases[zone]
            value = (start + int(energy_joules(mean, swing, t) * 1e6)) % (maximum + 1)
            write_atomic(os.path.join(self.root, "sys", "class", "powercap", zone, "energy_uj"), f"{value}\n")
        ticks = os.sysconf("SC_CLK_TCK")
        head = list(self.stat_head)
        head[0] += int(t * ticks * self.cpus * BUSY)
        head[3] += int(t * ticks * self.cpus * (1 - BUSY))
        write_atomic(os.path.join(self.root, "proc", "stat"), "cpu  " + " ".join(map(str, head)) + "\n" +
                     "".join(self.stat_rest))
        cgroup = os.path.join(self.root, "sys", "fs", "cgroup")
        for path, (share, _) in WORKLOADS.items():
            usec = int(t * self.cpus * BUSY * share * 1e6)
            write_atomic(os.path.join(cgroup, path, "cpu.stat"),
                         f"usage_usec {usec}\nuser_usec {usec}\nsystem_usec 0\n")
        lines = []
        for index, (mean, swing) in enumerate(GPUS):
            watts = mean + swing * math.sin(2 * math.pi * t / PERIOD)
            lines.append(f"gpu index={index} name=NVIDIA_H100_80GB_HBM3 "
                         f"energy_mj={int(1e9 + energy_joules(mean, swing, t) * 1e3)} power_mw={int(watts * 1e3)}")
        write_atomic(self.gpu_script, "\n".join(lines) + "\n")

    def run(self):
        # The counters follow a clock of their own that moves at most 0.25 s a step: when this thread stalls (a
        # loaded machine), the node draws less for a moment instead of jumping by the whole stall at once, which the
        # exporter would rightly reject as an implausible power.
        clock, last = 0.0, time.monotonic()
        try:
            while not self.stopping.wait(0.05):
                if not os.path.isdir(self.root):
                    return  # the exporter's tree was removed
                now = time.monotonic()
                clock += min(now - last, 0.25)
                last = now
                self.advance(clock)
        except FileNotFoundError:
            return  # the tree went away under us
        except BaseException as error:  # noqa: BLE001 - reported by check()
            self.error = error

    def stop(self):
        self.stopping.set()


def start(exporter_factory, workdir, args=(), interval="100ms"):
    """Starts the exporter on a busy node laid out under `workdir`; returns (exporter, node). The load runs until
    node.stop() (or until the tree is removed)."""
    node = BusyNode(workdir)
    root = os.path.join(workdir, "root")
    shutil.copytree(os.path.join(FIXTURES, "intel-2socket"), root, symlinks=True,
                    ignore=shutil.ignore_patterns("e2e-output.txt"))
    node.prepare(root)
    exporter = exporter_factory(None, root=root, args=[*node.args(), *args], interval=interval,
                                env={"FAKE_NVML_SCRIPT": node.gpu_script})
    thread = threading.Thread(target=node.run, name="busy-node", daemon=True)
    thread.start()
    node.thread = thread
    return exporter, node
