"""HTTP/2 to upstreams: pools with `protocol: h2c` (prior knowledge) and `h2`
(TLS, ALPN), many requests multiplexed on few connections, the endpoint's and
the pool's stream limits, GOAWAY without a lost request, trailers, and gRPC end
to end with grpc.health.v1 health checks. Real peers: Node's http2 server
(nghttp2) and Debian's python3-grpcio; real clients: curl, h2load, grpcio."""

import hashlib
import json
import os
import subprocess
import tempfile
import threading
import time
import unittest

from lib import harness
from tls.test_tls import make_cert

HERE = os.path.dirname(os.path.abspath(__file__))
# Debian's interpreter: python3-grpcio is installed for it, whatever runs the suite.
SYSTEM_PYTHON = "/usr/bin/python3"


class Peer:
    """A helper process that prints {"port": N} once it listens."""

    def __init__(self, argv):
        self.proc = harness._spawn(argv)
        line = self.proc.stdout.readline().decode()
        if not line:
            raise AssertionError(f"{argv[1]} did not start: {self.proc.stderr.read().decode()}")
        self.port = json.loads(line)["port"]

    def stop(self):
        harness._stop_process(self.proc)
        self.proc.stdout.close()
        self.proc.stderr.close()


def curl(*args, timeout=60):
    return subprocess.run(["curl", "-sS", *args], capture_output=True, timeout=timeout)


def h2load(*args, timeout=120):
    p = subprocess.run(["h2load", *args], capture_output=True, text=True, timeout=timeout)
    for line in p.stdout.splitlines():
        if line.startswith("requests:"):
            f = line.split()
            return {"total": int(f[1]), "succeeded": int(f[7]), "failed": int(f[9]), "errored": int(f[11]),
                    "out": p.stdout}
    raise AssertionError(f"h2load printed no summary: {p.stdout}\n{p.stderr}")


class H2TestCase(harness.LbTestCase):
    def origin(self, *args, name="o"):
        o = Peer(["node", os.path.join(HERE, "origin.js"), "--name", name, *map(str, args)])
        self.addCleanup(o.stop)
        return o

    def failures(self, lb):
        """lb's access log lines of requests that did not get a 2xx (flushed each sweep)."""
        time.sleep(1.2)
        return "\n".join(l for l in lb.stdout_lines() if '"status":2' not in l and '"status"' in l)[-3000:]

    def stats(self, lb):
        """The origin's counters, fetched through lb (one more request)."""
        return json.loads(curl(f"http://127.0.0.1:{lb.port}/stats").stdout)

    def start(self, origin, protocols=("h1", "h2"), workers=1, **pool_opts):
        pool = harness.pool("p", f"127.0.0.1:{origin.port}", protocol="h2c", **pool_opts)
        listener = {"name": "web", "listen": "127.0.0.1:0", "protocols": list(protocols),
                    "routes": [harness.route("p")]}
        return self.lb(harness.config([pool], listeners=[listener], workers=workers))


class H2cPoolTest(H2TestCase):
    def test_http1_and_http2_clients_share_one_upstream_connection(self):
        o = self.origin()
        lb = self.start(o)
        p = curl("-i", f"http://127.0.0.1:{lb.port}/echo", "-H", "Content-Type: text/plain",
                 "-H", "Connection: keep-alive, x-drop", "-H", "X-Drop: 1", "--data-binary", "hello h2")
        out = p.stdout.decode()
        self.assertTrue(out.startswith("HTTP/1.1 200"), out)
        self.assertTrue(out.endswith("\r\n\r\nhello h2"), out)
        head = out.lower()
        self.assertIn("x-origin: o", head)
        self.assertIn("x-req-pseudo-method: post", head)
        self.assertIn("x-req-pseudo-scheme: http", head)
        self.assertIn(f"x-req-pseudo-authority: 127.0.0.1:{lb.port}", head)
        self.assertIn("x-req-pseudo-path: /echo", head)
        self.assertIn("x-req-content-length: 8", head)
        # Connection-specific fields never reach an HTTP/2 hop (RFC 9113 §8.2.2).
        self.assertNotIn("x-req-connection", head)
        self.assertNotIn("x-req-x-drop", head)
        self.assertNotIn("x-req-host", head)
        p = curl("-i", "--http2-prior-knowledge", f"http://127.0.0.1:{lb.port}/echo?q=1")
        self.assertTrue(p.stdout.decode().startswith("HTTP/2 200"), p.stdout)
        self.assertIn(b"x-req-pseudo-path: /echo?q=1", p.stdout)
        # Held 20 ms each by the origin, so that up to 80 are in flight at once.
        r = h2load("-n", "2000", "-c", "4", "-m", "20", f"http://127.0.0.1:{lb.port}/slow?ms=20")
        self.assertEqual((r["succeeded"], r["failed"], r["errored"]), (2000, 0, 0), r["out"])
        r = h2load("--h1", "-n", "1000", "-c", "8", f"http://127.0.0.1:{lb.port}/status?code=200")
        self.assertEqual(r["succeeded"], 1000, r["out"])
        s = self.stats(lb)
        self.assertEqual(s["connections"], 1, s)  # 80 streams at once fit in one connection
        self.assertGreater(s["peak_streams"], 20, s)  # and they were multiplexed
        self.assertEqual(s["requests"], 3003, s)

    def test_bodies_both_ways_keep_their_bytes(self):
        o = self.origin()
        lb = self.start(o)
        with tempfile.NamedTemporaryFile() as f:
            data = os.urandom(5 << 20)
            f.write(data)
            f.flush()
            want = hashlib.sha256(data).hexdigest()
            # A chunked upload from an HTTP/1.1 client, a sized one from an HTTP/2 client.
            p = curl(f"http://127.0.0.1:{lb.port}/echo", "-H", "Transfer-Encoding: chunked", "--data-binary",
                     "@" + f.name)
            self.assertEqual(hashlib.sha256(p.stdout).hexdigest(), want)
            p = curl("--http2-prior-knowledge", f"http://127.0.0.1:{lb.port}/echo", "--data-binary", "@" + f.name)
            self.assertEqual(hashlib.sha256(p.stdout).hexdigest(), want)
        n = 256 << 20
        p = curl("-o", "/dev/null", "-w", "%{http_code} %{size_download}", f"http://127.0.0.1:{lb.port}/big?n={n}")
        self.assertEqual(p.stdout.decode(), f"200 {n}")

    def test_trailers_reach_http2_clients(self):
        o = self.origin()
        lb = self.start(o)
        p = curl("-i", "--http2-prior-knowledge", f"http://127.0.0.1:{lb.port}/trailers")
        out = p.stdout.decode()
        self.assertTrue(out.startswith("HTTP/2 200"), out)
        body_and_trailers = out.split("\r\n\r\n", 1)[1]
        self.assertTrue(body_and_trailers.startswith("part one\npart two\n"), out)
        self.assertIn("x-checksum: abc123", body_and_trailers)
        self.assertIn("x-count: 2", body_and_trailers)

    def test_endpoint_stream_limit_is_respected(self):
        o = self.origin("--max-streams", 3)
        lb = self.start(o)
        r = h2load("-n", "600", "-c", "2", "-m", "30", f"http://127.0.0.1:{lb.port}/slow?ms=20")
        self.assertEqual(r["succeeded"], 600, r["out"])
        s = self.stats(lb)
        self.assertEqual(s["peak_streams"], 3, s)
        self.assertGreater(s["connections"], 1, s)  # more requests at once opened more connections

    def test_pool_stream_limit_is_respected(self):
        o = self.origin()
        lb = self.start(o, max_concurrent_streams=2)
        r = h2load("-n", "400", "-c", "2", "-m", "20", f"http://127.0.0.1:{lb.port}/slow?ms=20")
        self.assertEqual(r["succeeded"], 400, r["out"])
        s = self.stats(lb)
        self.assertEqual(s["peak_streams"], 2, s)
        self.assertGreater(s["connections"], 1, s)  # 40 at once needed more connections

    def test_goaway_loses_no_request(self):
        # Every connection says GOAWAY after its 5th request: the streams lb had
        # opened above it are refused, and lb sends them again on a new connection.
        o = self.origin("--goaway-after", 5)
        lb = self.start(o)
        r = h2load("--h1", "-n", "1500", "-c", "8", f"http://127.0.0.1:{lb.port}/slow?ms=1")
        self.assertEqual((r["succeeded"], r["failed"], r["errored"]), (1500, 0, 0), self.failures(lb))
        # POSTs too: a refused stream was never processed, whatever its method.
        r = h2load("-n", "500", "-c", "4", "-m", "8", "-d", __file__, f"http://127.0.0.1:{lb.port}/echo")
        self.assertEqual((r["succeeded"], r["failed"], r["errored"]), (500, 0, 0), self.failures(lb))
        s = self.stats(lb)
        self.assertGreater(s["goaways"], 100, s)
        m = harness.admin_request(lb, "GET", "/metrics").body.decode()
        self.assertNotIn('code="502"', m)

    def test_refused_streams_lose_no_streamed_http1_upload(self):
        # HTTP/1.1 clients stream their bodies in pieces, so lb has taken (and
        # sent) part of a body when the stream is refused: it sends what it
        # took again, then the rest as it comes. Every 4th stream is refused
        # with REFUSED_STREAM as its HEADERS arrive (a GOAWAY refuses the same
        # way, but only the streams that happen to cross it).
        o = self.origin("--refuse-every", 4)
        lb = self.start(o)
        errors = []

        def client(k):
            try:
                with harness.Client(lb.port, timeout=20) as c:
                    for i in range(25):
                        pieces = [os.urandom(700 + 97 * ((k + i) % 5)) for _ in range(3)]
                        body = b"".join(pieces)
                        if i % 2:
                            framing = [("Content-Length", str(len(body)))]
                            wire = pieces
                        else:
                            framing = [("Transfer-Encoding", "chunked")]
                            wire = [b"%x\r\n%s\r\n" % (len(x), x) for x in pieces]
                            wire[-1] += b"0\r\n\r\n"
                        c.send(harness.build_request("POST", "/echo", framing, host="h") + wire[0])
                        for piece in wire[1:]:
                            time.sleep(0.01)
                            c.send(piece)
                        r = c.read_response(method="POST")
                        if r.status != 200 or r.body != body:
                            errors.append(f"client {k} upload {i}: {r.status} {len(r.body)} of {len(body)} bytes")
                            return
            except Exception as e:  # noqa: BLE001: reported below
                errors.append(f"client {k}: {e!r}")

        threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [], self.failures(lb))
        self.assertGreater(self.stats(lb)["refused"], 30)
        # Streams lb had opened (and fed) were refused and sent again, as a
        # later attempt of the same request.
        time.sleep(1.2)  # the access log is flushed each sweep
        logs = [json.loads(l) for l in lb.stdout_lines() if l.startswith("{") and '"/echo"' in l]
        self.assertEqual(len(logs), 150)
        self.assertTrue(all(l["status"] == 200 for l in logs))
        self.assertGreater(sum(1 for l in logs if l["attempts"] > 1), 0, "no upload was refused and replayed")

    def test_idle_connection_closes_after_keepalive_idle_timeout(self):
        o = self.origin()
        lb = self.start(o, keepalive={"idle_timeout": "1s"})
        self.assertEqual(curl(f"http://127.0.0.1:{lb.port}/status?code=200", "-o", "/dev/null", "-w",
                              "%{http_code}").stdout, b"200")
        # Idle for the timeout and a sweep (1 s): closed by then. The look
        # itself is a request, on a new connection.
        time.sleep(3)
        s = self.stats(lb)
        self.assertEqual((s["connections"], s["closed"]), (2, 1), s)

    def test_requests_survive_a_reload(self):
        o = self.origin()
        lb = self.start(o, workers=2)
        stop = threading.Event()
        results = []

        def load():
            while not stop.is_set():
                p = curl("-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{lb.port}/slow?ms=20")
                results.append(p.stdout)

        threads = [threading.Thread(target=load) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            for i in range(3):
                time.sleep(0.3)
                self.assertEqual(harness.admin_request(lb, "POST", "/reload").status, 200)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        self.assertGreater(len(results), 10)
        self.assertEqual(set(results), {b"200"})


class H2TlsPoolTest(H2TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.crt, self.key = make_cert(self.tmp.name, "origin", "ec", ["origin.test"])

    def tls_lb(self, origin):
        pool = harness.pool("p", f"127.0.0.1:{origin.port}", protocol="h2",
                            tls={"ca": self.crt, "sni": "origin.test"})
        return self.lb(harness.config([pool]))

    def test_h2_over_tls_by_alpn(self):
        o = self.origin("--tls", self.crt, self.key)
        lb = self.tls_lb(o)
        for _ in range(3):
            p = curl("-i", f"http://127.0.0.1:{lb.port}/echo", "--data-binary", "tls body")
            out = p.stdout.decode().lower()
            self.assertTrue(out.startswith("http/1.1 200"), out)
            self.assertIn("x-req-pseudo-scheme: https", out)
            self.assertTrue(out.endswith("tls body"), out)
        s = self.stats(lb)
        self.assertEqual(s["connections"], 1, s)  # one handshake, then streams

    def test_endpoint_without_h2_is_a_clear_502(self):
        o = self.origin("--tls-h1", self.crt, self.key)
        lb = self.tls_lb(o)
        r = harness.get(lb.port, "/")
        self.assertEqual(r.status, 502)
        time.sleep(0.3)
        self.assertTrue(any('"reason":"upstream_h2_not_negotiated"' in l for l in lb.stdout_lines()),
                        lb.stdout_lines()[-3:])


class GrpcTest(H2TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.health = os.path.join(self.tmp.name, "health")
        self.set_health("SERVING")
        self.server = Peer([SYSTEM_PYTHON, os.path.join(HERE, "grpc_peer.py"), "server", "g1", self.health])
        self.addCleanup(self.server.stop)

    def set_health(self, state):
        with open(self.health, "w") as f:
            f.write(state)

    def start_grpc(self):
        pool = harness.pool("p", f"127.0.0.1:{self.server.port}", protocol="h2c",
                            health_check={"type": "grpc", "interval": "300ms", "timeout": "250ms",
                                          "healthy_threshold": 1, "unhealthy_threshold": 1})
        listener = {"name": "web", "listen": "127.0.0.1:0", "protocols": ["h2"], "routes": [harness.route("p")]}
        return self.lb(harness.config([pool], listeners=[listener]))

    def endpoint_check(self, lb):
        ep = harness.admin_pools(lb)["pools"][0]["endpoints"][0]
        return ep["healthy"], (ep["check"] or {}).get("reason")

    def wait_check(self, lb, want):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            got = self.endpoint_check(lb)
            if got == want:
                return
            time.sleep(0.1)
        self.assertEqual(got, want)

    def test_grpc_end_to_end(self):
        lb = self.start_grpc()
        self.wait_check(lb, (True, "serving status SERVING"))
        p = subprocess.run([SYSTEM_PYTHON, os.path.join(HERE, "grpc_peer.py"), "client", f"127.0.0.1:{lb.port}"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)
        self.assertEqual(out["unary"], "echo:hello")
        self.assertEqual(out["unary_trailer"], "t-g1")  # trailing metadata crossed both hops
        self.assertEqual(out["unary_many"], [f"echo:m{i}" for i in range(50)])
        self.assertEqual(out["server_stream"], [f"item{i}" for i in range(5)])
        self.assertEqual(out["client_stream"], "a+b+c")
        self.assertEqual(out["bidi"], ["X", "Y"])
        self.assertTrue(out["big_ok"])
        self.assertEqual(out["fail"], ["NOT_FOUND", "no such thing: thing"])  # grpc-status and message

    def test_grpc_health_check_follows_the_serving_status(self):
        lb = self.start_grpc()
        self.wait_check(lb, (True, "serving status SERVING"))
        self.set_health("NOT_SERVING")
        self.wait_check(lb, (False, "serving status NOT_SERVING"))
        r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--http2-prior-knowledge",
                            f"http://127.0.0.1:{lb.port}/test.Echo/Unary"], capture_output=True, timeout=30)
        self.assertEqual(r.stdout, b"503")  # no healthy endpoint
        self.set_health("SERVING")
        self.wait_check(lb, (True, "serving status SERVING"))

    def test_grpc_health_check_of_a_server_without_the_service(self):
        # An origin that is no gRPC server: the check fails with a reason, not a crash.
        o = self.origin()
        pool = harness.pool("p", f"127.0.0.1:{o.port}", protocol="h2c",
                            health_check={"type": "grpc", "interval": "300ms", "timeout": "250ms",
                                          "healthy_threshold": 1, "unhealthy_threshold": 1})
        lb = self.lb(harness.config([pool]))
        # The origin answers 200 with no grpc-status.
        self.wait_check(lb, (False, "no grpc-status"))


if __name__ == "__main__":
    unittest.main()
