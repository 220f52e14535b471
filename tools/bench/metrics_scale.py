#!/usr/bin/env python3
"""/metrics size, scrape time and lb's memory with many endpoints (issue 12, item 6).

One lb (2 workers) with one pool of N endpoints. The endpoints are N distinct
loopback addresses (127.0.x.y) of one lb-backend listening on 0.0.0.0, so no
extra processes are needed. Traffic gives every endpoint responses of five
statuses (200, 301, 404, 503, 299), then the script scrapes /metrics R times and
reports the body size, the median and p90 scrape time and lb's RSS.

    tools/bench/metrics_scale.py --lb build/lb/lb --backend build/tools/backend/lb-backend
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def http_get(port, target, sock=None):
    own = sock is None
    if own:
        sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n{'Connection: close' if own else ''}\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, _, body = buf.partition(b"\r\n\r\n")
    length = None
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while length is not None and len(body) < length:
        body += sock.recv(1 << 20)
    if own:
        sock.close()
    return int(head.split()[1]), body


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lb", required=True)
    ap.add_argument("--backend", required=True)
    ap.add_argument("--endpoints", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scrapes", type=int, default=30)
    args = ap.parse_args()

    procs = []
    try:
        be = subprocess.Popen([args.backend, "--name", "be", "--listen", "0.0.0.0:0", "--threads", "2"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        procs.append(be)
        bport = int(be.stdout.readline().split()[1].rsplit(b":", 1)[1])
        addrs = [f"127.0.{1 + k // 250}.{1 + k % 250}:{bport}" for k in range(args.endpoints)]
        lport, aport = free_port(), free_port()
        d = tempfile.mkdtemp(prefix="lb-mscale-")
        cfg = os.path.join(d, "lb.yaml")
        with open(cfg, "w") as f:
            f.write(f"workers: {args.workers}\nadmin: {{listen: 127.0.0.1:{aport}}}\naccess_log: {{path: off}}\n"
                    f"listeners:\n  - name: web\n    listen: 127.0.0.1:{lport}\n    routes:\n"
                    f"      - {{name: all, match: {{path_prefix: /}}, pool: big}}\n"
                    f"pools:\n  - name: big\n    endpoints:\n" + "".join(f"      - {a}\n" for a in addrs))
        lb = subprocess.Popen([args.lb, "--config", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(lb)
        for line in lb.stderr:
            if b"msg=ready" in line:
                break
        threading.Thread(target=lambda: [None for _ in lb.stderr], daemon=True).start()
        rss_idle = rss_kib(lb.pid)

        statuses = (200, 301, 404, 503, 299)
        total = args.endpoints * len(statuses) * args.workers
        def load(tid, n):
            s = socket.create_connection(("127.0.0.1", lport))
            for i in range(n):
                http_get(lport, f"/?status={statuses[(tid + i // args.endpoints) % len(statuses)]}", s)
            s.close()
        threads = [threading.Thread(target=load, args=(t, total // 4)) for t in range(4)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        load_s = time.monotonic() - t0

        times, size = [], 0
        for _ in range(args.scrapes):
            t0 = time.perf_counter()
            status, body = http_get(aport, "/metrics")
            times.append(time.perf_counter() - t0)
            size = len(body)
            assert status == 200
        times.sort()
        series = sum(1 for l in body.split(b"\n") if l and not l.startswith(b"#"))
        # /stats and the status page (absent before they existed: reported as 0).
        extra = {}
        for target in ("/stats", "/"):
            t0 = time.perf_counter()
            status, page = http_get(aport, target)
            extra[target] = (len(page) if status == 200 else 0, (time.perf_counter() - t0) * 1000)
        print(f"lb={args.lb} endpoints={args.endpoints} workers={args.workers} requests={total} ({load_s:.1f}s)")
        print(f"metrics_bytes={size} series={series} scrape_ms_median={statistics.median(times) * 1000:.1f} "
              f"scrape_ms_p90={times[int(len(times) * 0.9)] * 1000:.1f} rss_kib_after_start={rss_idle} "
              f"rss_kib_after_load_and_scrapes={rss_kib(lb.pid)}")
        print(f"stats_bytes={extra['/stats'][0]} stats_ms={extra['/stats'][1]:.1f} "
              f"page_bytes={extra['/'][0]} page_ms={extra['/'][1]:.1f}")
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


if __name__ == "__main__":
    sys.exit(main())
