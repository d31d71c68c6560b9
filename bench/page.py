#!/usr/bin/env python3
"""The live page's cost: scrapes/s and p99 of `/`, `/api/v1/summary` and `/metrics` with wrk, and the exporter's RSS
before and after the page is in use, on the intel-2socket fixture. Writes bench/page-results.json.

    python3 bench/page.py --binary .build/release/footprint_exporter [--seconds 5] [--rounds 3]
"""
import argparse, json, os, re, shutil, socket, statistics, subprocess, sys, tempfile, time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as handle:
        return int(re.search(r"VmRSS:\s+(\d+)", handle.read()).group(1))


def wait_ready(port, deadline=20):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /-/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if b" 200 " in s.recv(64):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("exporter not ready")


def wrk(port, path, seconds):
    out = subprocess.run(["wrk", "-t1", "-c8", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    return rps, float(p99.group(1)) * scale


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(REPO, ".build/release/footprint_exporter"))
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tree = tempfile.mkdtemp(prefix="footprint-page-bench-")
    try:
        shutil.copytree(os.path.join(REPO, "Tests/Fixtures/intel-2socket"), os.path.join(tree, "node"))
        port = free_port()
        process = subprocess.Popen([args.binary, f"--web.listen-address=127.0.0.1:{port}",
                                    f"--path.sysfs={tree}/node/sys", f"--path.procfs={tree}/node/proc",
                                    "--no-collector.nvml", "--no-collector.hwmon", "--web.max-connections-per-ip=128"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(port)
            time.sleep(1)
            results = {"rss_kb_before": rss_kb(process.pid), "paths": {}}
            for path in ("/metrics", "/", "/api/v1/summary"):
                results["paths"][path] = {"rps": [], "p99_ms": []}
            for _ in range(args.rounds):
                for path in ("/metrics", "/", "/api/v1/summary"):
                    rps, p99 = wrk(port, path, args.seconds)
                    results["paths"][path]["rps"].append(rps)
                    results["paths"][path]["p99_ms"].append(p99)
            results["rss_kb_after"] = rss_kb(process.pid)
            for path, values in results["paths"].items():
                values["rps_median"] = statistics.median(values["rps"])
                values["p99_ms_median"] = statistics.median(values["p99_ms"])
            results["loadavg"] = os.getloadavg()
        finally:
            process.terminate()
            process.wait(timeout=10)
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    with open(os.path.join(REPO, "bench/page-results.json"), "w") as handle:
        json.dump(results, handle, indent=1)
    for path, values in results["paths"].items():
        print(f"{path:18} {values['rps_median']:>10.0f} scrapes/s  p99 {values['p99_ms_median']:.3f} ms")
    print(f"RSS before {results['rss_kb_before']} kB, after the page in use {results['rss_kb_after']} kB")


if __name__ == "__main__":
    sys.exit(main())
