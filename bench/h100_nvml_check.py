"""Real-GPU check of the shipped build: the exporter's NVML energy against NVML's own counter over a loaded window.

Run on a machine with an NVIDIA GPU, PyTorch and the driver's libnvidia-ml.so.1, from a folder holding this script,
the release binary (`make build-release`, stripped) as `footprint_exporter`, and in `lib/` the shared libraries
`ldd` lists for it that the machine lacks (libmicrohttpd, GnuTLS and its dependencies, libyaml, libcrypt):

    OUT=/tmp/out python3 h100_nvml_check.py

Writes result.json, exporter.log and metrics-under-load.txt to $OUT. bench/H100-NVML-CHECK.md has the results."""
import ctypes, json, os, subprocess, sys, time, urllib.request

OUT = os.environ.get("OUT", "/tmp/out")
HERE = os.path.dirname(os.path.abspath(__file__))
result = {}
env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(HERE, "lib"))
log = open(os.path.join(OUT, "exporter.log"), "wb")
exporter = subprocess.Popen([os.path.join(HERE, "footprint_exporter"), "--sample.interval=100ms",
                             "--web.listen-address=127.0.0.1:9636"], stdout=log, stderr=subprocess.STDOUT, env=env)
started = time.monotonic()


def scrape():
    return urllib.request.urlopen("http://127.0.0.1:9636/metrics", timeout=5).read().decode()


for _ in range(500):
    try:
        scrape(); break
    except OSError:
        time.sleep(0.01)
result["startup_to_first_scrape_ms"] = round((time.monotonic() - started) * 1000, 1)
time.sleep(1)
rss = lambda: int([l for l in open(f"/proc/{exporter.pid}/status") if l.startswith("VmRSS")][0].split()[1])
result["rss_after_start_kib"] = rss()

nvml = ctypes.CDLL("libnvidia-ml.so.1")
assert nvml.nvmlInit_v2() == 0
device = ctypes.c_void_p()
assert nvml.nvmlDeviceGetHandleByIndex_v2(0, ctypes.byref(device)) == 0


def nvml_joules():
    energy = ctypes.c_ulonglong()
    assert nvml.nvmlDeviceGetTotalEnergyConsumption(device, ctypes.byref(energy)) == 0
    return energy.value / 1000.0


def exporter_joules(text):
    key = 'footprint_domain_energy_joules_total{source="nvml",domain="gpu",device="0"} '
    return float([l for l in text.splitlines() if l.startswith(key)][0][len(key):])


load = subprocess.Popen([sys.executable, "-c", """
import time, torch
a = torch.randn(8192, 8192, device='cuda', dtype=torch.bfloat16); b = torch.randn_like(a)
end = time.time() + 32; n = 0
while time.time() < end:
    c = a @ b; n += 1
    if n % 50 == 0: torch.cuda.synchronize()
torch.cuda.synchronize(); print(n)
"""], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
def aligned():
    """Both counters at one moment: poll /metrics until a new sample lands, then read NVML at once (a reading taken
    at an arbitrary time would be up to one 100 ms sample, ~70 J at 700 W, behind NVML's)."""
    before = exporter_joules(scrape())
    while True:
        text = scrape()
        now = exporter_joules(text)
        if now != before:
            return time.monotonic(), now, nvml_joules(), text
        time.sleep(0.002)


time.sleep(3)  # warm-up
t0, e0, n0, _ = aligned()
time.sleep(25)
t1, e1, n1, text = aligned()
out, err = load.communicate(timeout=60)
result.update(window_s=round(t1 - t0, 3), exporter_joules=round(e1 - e0, 3), nvml_joules=round(n1 - n0, 3),
              ratio=round((e1 - e0) / (n1 - n0), 6) if n1 > n0 else None, matmuls=out.strip(), load_err=err[-500:],
              rss_after_load_kib=rss())
for line in text.splitlines():
    if line.startswith(("footprint_build_info", "footprint_domain_power_watts{source=\"nvml\"", "footprint_gpu_info",
                        "footprint_source_up")):
        result.setdefault("lines", []).append(line)
open(os.path.join(OUT, "metrics-under-load.txt"), "w").write(text)
exporter.terminate()
result["exit_code"] = exporter.wait(timeout=10)
json.dump(result, open(os.path.join(OUT, "result.json"), "w"), indent=1)
print(json.dumps(result, indent=1))
