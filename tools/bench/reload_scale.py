#!/usr/bin/env python3
"""Reload cost at scale (issue 13, point 3): one lb (2 workers) with P pools of
E endpoints each (Maglev by default) and one host route per pool. Reports the
time `lb --check` takes, lb's RSS after start, then R reloads that each change
one endpoint of one pool: the time POST /reload takes (it answers once the new
snapshot is built and handed to the workers) and RSS after each.

    tools/bench/reload_scale.py --lb build/lb/lb [--pools 1000 --endpoints 10 --reloads 10]

Endpoints are loopback addresses nobody listens on (no health checks, no
traffic): only the control plane is measured.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(pools, endpoints, balancer, admin_port, bump):
    out = [f"workers: 2\naccess_log: {{ path: off }}\nadmin: {{ listen: 127.0.0.1:{admin_port} }}\n",
           "listeners:\n  - name: web\n    listen: 127.0.0.1:0\n    routes:\n"]
    for p in range(pools):
        out.append(f"      - {{ match: {{ host: p{p}.example.com }}, pool: p{p} }}\n")
    out.append("pools:\n")
    for p in range(pools):
        out.append(f"  - name: p{p}\n    balancer: {balancer}\n    endpoints:\n")
        for e in range(endpoints):
            port = 20000 + e + (100 * bump if p == 0 and e == 0 else 0)
            out.append(f"      - 127.{1 + p // 250}.{p % 250}.1:{port}\n")
    return "".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lb", required=True)
    ap.add_argument("--pools", type=int, default=1000)
    ap.add_argument("--endpoints", type=int, default=10)
    ap.add_argument("--balancer", default="maglev")
    ap.add_argument("--reloads", type=int, default=10)
    a = ap.parse_args()
    admin = free_port()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "lb.yaml")
        with open(path, "w") as f:
            f.write(config(a.pools, a.endpoints, a.balancer, admin, 0))
        t0 = time.perf_counter()
        p = subprocess.run([a.lb, "--check", "--config", path], capture_output=True, text=True, timeout=300)
        check_s = time.perf_counter() - t0
        if p.returncode != 0:
            sys.exit(f"lb --check failed: {p.stderr[-2000:]}")
        lb = subprocess.Popen([a.lb, "--config", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{admin}/readyz", timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                sys.exit("lb did not become ready")
            time.sleep(1.0)
            rss_start = rss_kib(lb.pid)
            times, rss = [], []
            for i in range(1, a.reloads + 1):
                with open(path + ".new", "w") as f:
                    f.write(config(a.pools, a.endpoints, a.balancer, admin, i))
                os.rename(path + ".new", path)  # the file watch may start it first: POST /reload then waits on it
                t0 = time.perf_counter()
                req = urllib.request.Request(f"http://127.0.0.1:{admin}/reload", method="POST")
                try:
                    body = json.loads(urllib.request.urlopen(req, timeout=120).read())
                except urllib.error.HTTPError as e:
                    sys.exit(f"reload {i} failed: {e.read().decode()[:2000]}")
                times.append(time.perf_counter() - t0)
                if "version" not in body:
                    sys.exit(f"reload {i}: {body}")
                time.sleep(0.3)
                rss.append(rss_kib(lb.pid))
            print(f"pools={a.pools} endpoints={a.endpoints} balancer={a.balancer} check_s={check_s:.2f} "
                  f"rss_mib_after_start={rss_start / 1024:.0f} reload_s_median={statistics.median(times):.3f} "
                  f"reload_s_max={max(times):.3f} rss_mib_after_reloads={rss[-1] / 1024:.0f} "
                  f"rss_mib_max={max(rss) / 1024:.0f}")
        finally:
            lb.terminate()
            lb.wait(30)


if __name__ == "__main__":
    main()
