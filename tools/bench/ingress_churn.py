#!/usr/bin/env python3
"""Endpoint churn in ingress mode (issue 13, point 3): lb watching the fake
API server (tests/integration/lib/fake_kube.py) that holds S Services with E
endpoints each, one Ingress (host) per Service, round_robin pools. Then N
EndpointSlice updates of one Service, whose single endpoint alternates
between two real backends:

- event -> traffic: from the update to the first response of the new
  backend, polled on a kept-alive connection (p50, p99, max);
- lb's CPU time per event (utime + stime over the N events, the requests
  that poll included);
- lb's RSS after start and after the N events (flat, or growing).

With --nginx it also starts nginx (2 workers) on the same set written as
nginx config (S upstreams of E servers, S server blocks) and reports its
RSS (master + workers): the issue's memory yardstick.

    tools/bench/ingress_churn.py --lb build/lb/lb --backend build/tools/backend/lb-backend \
        [--services 1000 --endpoints 10 --events 200] [--nginx]

Other endpoints are loopback addresses nobody listens on: only the one
Service under test takes traffic. Loopback only; every loop is bounded.
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
from lib.fake_kube import FakeKube  # noqa: E402

NS = "bench"
A, B = "127.0.0.81", "127.0.0.82"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port(addrs=("127.0.0.1",)):
    for _ in range(50):
        with socket.socket() as s:
            s.bind((addrs[0], 0))
            port = s.getsockname()[1]
        try:
            for a in addrs[1:]:
                with socket.socket() as t:
                    t.bind((a, port))
            return port
        except OSError:
            continue
    sys.exit("no common free port")


def dummy(s, e):
    return f"127.{100 + s // 250}.{s % 250}.{1 + e}"


def slice_of(s, port, addrs):
    return {"metadata": {"name": f"svc{s}-1", "namespace": NS, "labels": {"kubernetes.io/service-name": f"svc{s}"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in addrs]}


def load_cluster(kube, services, endpoints, port):
    for s in range(services):
        kube.apply("services", {"metadata": {"name": f"svc{s}", "namespace": NS},
                                "spec": {"ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})
        addrs = [A] if s == 0 else [dummy(s, e) for e in range(endpoints)]
        kube.apply("endpointslices", slice_of(s, port if s == 0 else 8080, addrs))
        kube.apply("ingresses", {"metadata": {"name": f"ing{s}", "namespace": NS}, "spec": {
            "ingressClassName": "lb", "rules": [{"host": f"svc{s}.test", "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": f"svc{s}", "port": {"number": 80}}}}]}}]}})


def wait_ready(admin, limit=120):
    t_end = time.monotonic() + limit
    while time.monotonic() < t_end:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{admin}/readyz", timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit("lb did not become ready")


class Poller:
    """GET / with Host svc0.test on one kept-alive connection; returns X-Backend."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""

    def backend(self):
        self.sock.sendall(b"GET / HTTP/1.1\r\nHost: svc0.test\r\n\r\n")
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("lb closed the connection")
            self.buf += chunk
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        length, backend = 0, None
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
            elif k.strip().lower() == b"x-backend":
                backend = v.strip().decode()
        while len(rest) < length:
            rest += self.sock.recv(65536)
        self.buf = rest[length:]
        return backend


def nginx_rss(d, services, endpoints):
    conf = [f"worker_processes 2;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n"
            f"access_log off;\nclient_body_temp_path {d}/body;\nproxy_temp_path {d}/proxy;\n"
            f"fastcgi_temp_path {d}/fcgi;\nuwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n"
            f"server_names_hash_bucket_size 128;\n"]
    for s in range(services):
        conf.append(f"upstream svc{s} {{\n")
        conf += [f"  server {dummy(s, e)}:8080;\n" for e in range(endpoints)]
        conf.append("}\n")
    port = free_port()
    for s in range(services):
        conf.append(f"server {{ listen 127.0.0.1:{port}; server_name svc{s}.test; "
                    f"location / {{ proxy_pass http://svc{s}; }} }}\n")
    conf.append("}\n")
    path = os.path.join(d, "nginx.conf")
    with open(path, "w") as f:
        f.write("".join(conf))
    p = subprocess.Popen(["nginx", "-c", path, "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        time.sleep(2.0)
        kids = subprocess.run(["ps", "-o", "pid=", "--ppid", str(p.pid)], capture_output=True, text=True).stdout
        pids = [p.pid] + [int(x) for x in kids.split()]
        return sum(rss_kib(x) for x in pids)
    finally:
        p.terminate()
        p.wait(30)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lb", required=True)
    ap.add_argument("--backend", required=True)
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--endpoints", type=int, default=10)
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--gap", type=float, default=0.1,
                    help="seconds between an event taking traffic and the next event (lb applies a change "
                         "at once after a quiet spell, at most one reload per 50 ms during a burst)")
    ap.add_argument("--nginx", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lb-churn-") as d:
        kube = FakeKube(d)
        port = free_port((A, B))
        backends = [subprocess.Popen([a.backend, "--name", x, "--listen", f"{x}:{port}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for x in (A, B)]
        lb = None
        try:
            load_cluster(kube, a.services, a.endpoints, port)
            kubeconfig = kube.write_kubeconfig(os.path.join(d, "kubeconfig"), token="token-1")
            admin, http = free_port(), free_port()
            path = os.path.join(d, "lb.yaml")
            with open(path, "w") as f:
                f.write(f"workers: 2\naccess_log: {{ path: off }}\nadmin: {{ listen: 127.0.0.1:{admin} }}\n"
                        f"kubernetes:\n  kubeconfig: {kubeconfig}\n  http: 127.0.0.1:{http}\n"
                        f"  https: 127.0.0.1:{free_port()}\n  tls_dir: {d}/tls\n")
            t0 = time.perf_counter()
            lb = subprocess.Popen([a.lb, "--config", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_ready(admin)
            start_s = time.perf_counter() - t0
            time.sleep(1.0)
            rss_start = rss_kib(lb.pid)
            poll = Poller(http)
            if poll.backend() != A:
                sys.exit("svc0 is not served by its endpoint")
            latencies, cpu0 = [], cpu_seconds(lb.pid)
            current = A
            for i in range(a.events):
                want = B if current == A else A
                t = time.perf_counter()
                kube.apply("endpointslices", slice_of(0, port, [want]))
                deadline = t + 10
                while poll.backend() != want:
                    if time.perf_counter() > deadline:
                        sys.exit(f"event {i}: {want} not serving after 10 s")
                latencies.append(time.perf_counter() - t)
                current = want
                time.sleep(a.gap)
            cpu = cpu_seconds(lb.pid) - cpu0
            time.sleep(0.5)
            rss_end = rss_kib(lb.pid)
            latencies.sort()
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
            line = (f"services={a.services} endpoints={a.endpoints} events={a.events} gap_s={a.gap} "
                    f"start_s={start_s:.2f} "
                    f"event_to_traffic_ms_p50={statistics.median(latencies) * 1000:.0f} "
                    f"p99={p99 * 1000:.0f} max={latencies[-1] * 1000:.0f} "
                    f"cpu_ms_per_event={cpu / a.events * 1000:.1f} "
                    f"rss_mib_after_start={rss_start / 1024:.0f} rss_mib_after_events={rss_end / 1024:.0f}")
            if a.nginx and shutil.which("nginx"):
                line += f" nginx_rss_mib={nginx_rss(d, a.services, a.endpoints) / 1024:.0f}"
            print(line)
        finally:
            if lb:
                lb.terminate()
                lb.wait(30)
            for b in backends:
                b.terminate()
                b.wait(10)
            kube.stop()


if __name__ == "__main__":
    main()
