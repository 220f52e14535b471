"""HTTP/2 downstream: h2c with prior knowledge and ALPN h2 on TLS, each stream a
request through the same router, balancers and metrics as HTTP/1.1, forwarded to
HTTP/1.1 upstreams. Real clients: curl, nghttp, h2load and Node's http2 module."""

import hashlib
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

from lib import harness
from tls.test_tls import make_cert

HERE = os.path.dirname(os.path.abspath(__file__))


def curl(*args, timeout=30):
    p = subprocess.run(["curl", "-sS", *args], capture_output=True, timeout=timeout)
    return p


def node(script, *args, timeout=30):
    p = subprocess.run(["node", os.path.join(HERE, script), *map(str, args)], capture_output=True, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        raise AssertionError(f"node {script} failed: {p.stdout}\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def h2_listener(protocols=("h1", "h2"), **extra):
    l = {"name": "web", "listen": "127.0.0.1:0", "protocols": list(protocols), "routes": [harness.route("p")]}
    l.update(extra)
    return l


class H2cTest(harness.LbTestCase):
    def start(self, protocols=("h1", "h2"), **extra):
        self.b = self.backend("b")
        return self.lb(harness.config([harness.pool("p", self.b)], listeners=[h2_listener(protocols, **extra)]))

    def test_prior_knowledge_get(self):
        lb = self.start()
        p = curl("-i", "--http2-prior-knowledge", f"http://127.0.0.1:{lb.port}/hello")
        out = p.stdout.decode()
        self.assertTrue(out.startswith("HTTP/2 200"), out)
        self.assertIn("x-backend: b", out)

    def test_same_port_speaks_http1(self):
        lb = self.start()
        p = curl("-i", "--http1.1", f"http://127.0.0.1:{lb.port}/")
        self.assertTrue(p.stdout.decode().startswith("HTTP/1.1 200"), p.stdout)

    def test_h2_only_listener(self):
        lb = self.start(protocols=("h2",))
        p = curl("-o", "/dev/null", "-w", "%{http_version} %{http_code}", "--http2-prior-knowledge",
                 f"http://127.0.0.1:{lb.port}/")
        self.assertEqual(p.stdout.decode(), "2 200")

    def test_headers_forwarded_as_http1(self):
        lb = self.start()
        p = curl("--http2-prior-knowledge", "-H", "cookie: a=1", "-H", "cookie: b=2", "-H", "X-Custom: v",
                 f"http://127.0.0.1:{lb.port}/x?echo=1")
        echo = json.loads(p.stdout)
        headers = [(n.lower(), v) for n, v in echo["headers"]]
        self.assertEqual(echo["version"], "1.1")
        self.assertIn(("host", f"127.0.0.1:{lb.port}"), headers)
        self.assertIn(("x-custom", "v"), headers)
        self.assertEqual([v for n, v in headers if n == "cookie"], ["a=1; b=2"])
        self.assertIn(("x-forwarded-proto", "http"), headers)
        self.assertEqual([v for n, v in headers if n == "via"], ["2 lb"])
        self.assertFalse(any(n.startswith(":") for n, _ in headers))

    def test_upload_streamed_and_whole(self):
        lb = self.start()
        with tempfile.NamedTemporaryFile() as f:
            data = os.urandom(3 * 1024 * 1024 + 7)
            f.write(data)
            f.flush()
            p = curl("--http2-prior-knowledge", "--data-binary", "@" + f.name, f"http://127.0.0.1:{lb.port}/?echo=1")
            echo = json.loads(p.stdout)
            self.assertEqual(echo["body_bytes"], len(data))
            self.assertEqual(echo["body_sha256"], hashlib.sha256(data).hexdigest())
        p = curl("--http2-prior-knowledge", "--data-binary", "abc", f"http://127.0.0.1:{lb.port}/?echo=1")
        self.assertEqual(json.loads(p.stdout)["body_bytes"], 3)

    def test_download_large_and_chunked(self):
        lb = self.start()
        for q in ("size=20000000", "size=5000000&chunked=1"):
            p = subprocess.run(f"curl -sS --http2-prior-knowledge 'http://127.0.0.1:{lb.port}/?{q}' | sha256sum",
                               shell=True, capture_output=True, timeout=60)
            n = int(q.split("=")[1].split("&")[0])
            want = hashlib.sha256((bytes(range(97, 123)) * (n // 26 + 1))[:n]).hexdigest()
            self.assertEqual(p.stdout.decode().split()[0], want, q)

    def test_many_streams_one_connection(self):
        lb = self.start()
        p = subprocess.run(["h2load", "-n", "2000", "-c", "2", "-m", "50", f"http://127.0.0.1:{lb.port}/"],
                           capture_output=True, text=True, timeout=60)
        self.assertIn("2000 succeeded, 0 failed", p.stdout, p.stdout)
        self.assertIn("status codes: 2000 2xx", p.stdout)
        # Streams share upstream connections through the same pool as HTTP/1.
        self.assertLess(self.b.stats()["connections"], 1000)

    def test_nghttp_concurrent(self):
        lb = self.start()
        url = f"http://127.0.0.1:{lb.port}"
        p = subprocess.run(["nghttp", "-n", "-s", f"{url}/a?delay=200", f"{url}/b?delay=200", f"{url}/c?delay=200"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.b.requests(), 3)

    def test_local_answers_and_metrics(self):
        b = self.backend("b")
        listener = h2_listener()
        listener["routes"] = [harness.route("p", path_prefix="/ok")]
        lb = self.lb(harness.config([harness.pool("p", b)], listeners=[listener]))
        p = curl("-o", "/dev/null", "-w", "%{http_code}", "--http2-prior-knowledge", f"http://127.0.0.1:{lb.port}/no")
        self.assertEqual(p.stdout.decode(), "404")
        for _ in range(3):
            curl("--http2-prior-knowledge", f"http://127.0.0.1:{lb.port}/ok")
        curl("--http1.1", f"http://127.0.0.1:{lb.port}/ok")
        got = {}

        def counted():  # lb counts just after a response leaves: curl may be quicker
            got.clear()
            got.update({(l.get("route"), l.get("code"), l.get("protocol")): v
                        for n, l, v in harness.metrics(lb) if n == "lb_http_requests_total"})
            return got.get(("route0", "200", "http/1.1")) == 1 and got.get(("route0", "200", "h2")) == 3
        harness.wait_until(counted, 3)
        self.assertEqual(got.get(("route0", "200", "h2")), 3)
        self.assertEqual(got.get(("route0", "200", "http/1.1")), 1)
        self.assertEqual(got.get(("", "404", "h2")), 1)

    def test_hash_balancer_keys_on_h2_fields(self):
        b1, b2 = self.backend("b1"), self.backend("b2")
        pool = harness.pool("p", b1, b2, balancer="maglev", hash_key="cookie:user")
        lb = self.lb(harness.config([pool], listeners=[h2_listener()]))
        def backend_for(user):
            p = curl("-sI", "--http2-prior-knowledge", "-H", "cookie: a=1", "-H", f"cookie: user={user}",
                     f"http://127.0.0.1:{lb.port}/")
            return next(l.split(":", 1)[1].strip() for l in p.stdout.decode().splitlines() if l.startswith("x-backend"))
        seen = {u: backend_for(u) for u in map(str, range(12))}
        self.assertEqual(len(set(seen.values())), 2, seen)  # keys spread over both
        for u, b in seen.items():
            self.assertEqual(backend_for(u), b)  # and stick

    def test_connect_refused(self):
        lb = self.start()
        r = node("client.js", "connect", lb.port)
        self.assertEqual(r["status"], 501)

    def test_upstream_failure_is_502(self):
        lb = self.lb(harness.config([harness.pool("p", *[])] if False else
                                    [{"name": "p", "endpoints": [f"127.0.0.1:{harness.refusing_port()}"]}],
                                    listeners=[h2_listener()]))
        p = curl("-o", "/dev/null", "-w", "%{http_code}", "--http2-prior-knowledge", f"http://127.0.0.1:{lb.port}/")
        self.assertEqual(p.stdout.decode(), "502")


class H2DrainTest(harness.LbTestCase):
    def test_drain_sends_goaway_twice_and_finishes_streams(self):
        b = self.backend("b")
        lb = self.lb(harness.config([harness.pool("p", b)], listeners=[h2_listener()]))
        env = dict(os.environ, ATTACK_SECONDS="5")
        client = subprocess.Popen(["node", os.path.join(HERE, "attack.js"), "slow_get", str(lb.port)],
                                  stdout=subprocess.PIPE, text=True, env=env)
        time.sleep(0.5)  # the stream is open, its response 1 s away
        lb.expected_exit = True
        lb.signal(signal.SIGTERM)
        out, _ = client.communicate(timeout=15)
        r = json.loads(out.strip().splitlines()[-1])
        # RFC 9113 §6.8: a notice (last id 2^31-1), then the last stream served.
        self.assertEqual(r["goaways"], [[2**31 - 1, 0], [1, 0]], r)
        self.assertEqual(r["headers"], 1)
        self.assertEqual(r["end_stream"], 1)
        self.assertTrue(r["closed"])
        self.assertEqual(lb.wait(10), 0)


class H2TlsTest(harness.LbTestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory(prefix="lb-h2-")
        cls.cert = make_cert(cls.dir.name, "ec", "ec", ["example.test"])

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def test_alpn_h2_and_http11(self):
        b = self.backend("b")
        tls = {"certificates": [{"cert": self.cert[0], "key": self.cert[1]}], "alpn": ["h2", "http/1.1"]}
        listener = {"name": "web", "listen": "127.0.0.1:0", "tls": tls, "routes": [harness.route("p")]}
        lb = self.lb(harness.config([harness.pool("p", b)], listeners=[listener]))
        url = f"https://127.0.0.1:{lb.port}/?echo=1"
        p = curl("-k", "-w", "\n%{http_version}", "--http2", url)
        body, version = p.stdout.decode().rsplit("\n", 1)
        self.assertEqual(version, "2")
        self.assertIn(["x-forwarded-proto", "https"], json.loads(body)["headers"])
        p = curl("-k", "-o", "/dev/null", "-w", "%{http_version}", "--http1.1", url)
        self.assertEqual(p.stdout.decode(), "1.1")
        p = subprocess.run(["h2load", "-n", "500", "-c", "2", "-m", "10", f"https://127.0.0.1:{lb.port}/"],
                           capture_output=True, text=True, timeout=60)
        self.assertIn("500 succeeded, 0 failed", p.stdout, p.stdout)


if __name__ == "__main__":
    unittest.main()
