"""Body limits. limits.max_body_bytes on HTTP/2 streams, as on HTTP/1.1: a declared length
over it is a 413 that never reaches the upstream; a body streamed without
one is stopped with a 413 once past it; a body at the limit passes. A
route's max_body_bytes (ingress-nginx's proxy-body-size) over HTTP/1.1 and
HTTP/2 alike."""

import json
import os
import subprocess
import tempfile
import unittest

from lib import harness

LIMIT = 1000


def curl(*args):
    return subprocess.run(["curl", "-sS", "--http2-prior-knowledge", *args], capture_output=True, timeout=30)


class H2BodyLimitTest(harness.LbTestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = cls.class_backend("a")
        listener = {"name": "web", "listen": "127.0.0.1:0", "protocols": ["h1", "h2"],
                    "limits": {"max_body_bytes": LIMIT}, "routes": [harness.route("p")]}
        cls.lb_ = cls.class_lb(harness.config([harness.pool("p", cls.a)], listeners=[listener]))
        cls.tmp = tempfile.TemporaryDirectory(prefix="lb-h2-body-")
        cls.addClassCleanup(cls.tmp.cleanup)

    def body_file(self, n):
        path = os.path.join(self.tmp.name, f"body-{n}")
        with open(path, "wb") as f:
            f.write(b"b" * n)
        return path

    def url(self, target="/?echo=1"):
        return f"http://127.0.0.1:{self.lb_.port}{target}"

    def test_declared_length_over_the_limit_never_reaches_the_upstream(self):
        before = self.a.requests()
        p = curl("-o", "/dev/null", "-w", "%{http_version} %{http_code}", "--data-binary",
                 "@" + self.body_file(5000), self.url())
        self.assertEqual(p.stdout.decode(), "2 413", p.stderr)
        self.assertEqual(self.a.requests(), before, "the backend saw the refused request")

    def test_streamed_body_over_the_limit_is_413(self):
        # -T - : no content-length, DATA frames until END_STREAM.
        p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code}",
                            "-T", "-", "-X", "POST", self.url()],
                           input=b"s" * 20000, capture_output=True, timeout=30)
        self.assertEqual(p.stdout.decode(), "413", p.stderr)

    def test_body_at_the_limit_passes(self):
        p = curl("--data-binary", "@" + self.body_file(LIMIT), self.url())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["body_bytes"], LIMIT)
        p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-T", "-", "-X", "POST", self.url()],
                           input=b"s" * LIMIT, capture_output=True, timeout=30)
        self.assertEqual(json.loads(p.stdout)["body_bytes"], LIMIT, p.stderr)

class RouteBodyLimitTest(harness.LbTestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = cls.class_backend("a")
        routes = [dict(harness.route("p", name="small", path_prefix="/small"), max_body_bytes=100),
                  harness.route("p", name="rest")]
        listener = {"name": "web", "listen": "127.0.0.1:0", "protocols": ["h1", "h2"], "routes": routes}
        cls.lb_ = cls.class_lb(harness.config([harness.pool("p", cls.a)], listeners=[listener]))

    def test_http1(self):
        before = self.a.requests()
        r = harness.get(self.lb_.port, "/small?echo=1", method="POST", body=b"x" * 101)
        self.assertEqual((r.status, r.backend), (413, None))
        self.assertEqual(self.a.requests(), before, "the backend saw the refused request")
        r = harness.get(self.lb_.port, "/small?echo=1", method="POST", body=b"x" * 100)
        self.assertEqual(r.json()["body_bytes"], 100)
        r = harness.get(self.lb_.port, "/big?echo=1", method="POST", body=b"x" * 5000)  # another route: no limit
        self.assertEqual(r.json()["body_bytes"], 5000)
        r = harness.get(self.lb_.port, "/small?echo=1", method="POST", headers=[("Transfer-Encoding", "chunked")],
                        body=harness.chunked_body(b"c" * 300, 50))
        self.assertEqual(r.status, 413)

    def test_http2(self):
        url = f"http://127.0.0.1:{self.lb_.port}"
        p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code}",
                            "--data-binary", "@-", url + "/small"], input=b"x" * 101, capture_output=True, timeout=30)
        self.assertEqual(p.stdout.decode(), "413", p.stderr)
        p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code}",
                            "-T", "-", "-X", "POST", url + "/small"], input=b"x" * 5000, capture_output=True, timeout=30)
        self.assertEqual(p.stdout.decode(), "413", p.stderr)
        p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-T", "-", "-X", "POST", url + "/big?echo=1"],
                           input=b"x" * 5000, capture_output=True, timeout=30)
        self.assertEqual(json.loads(p.stdout)["body_bytes"], 5000, p.stderr)


if __name__ == "__main__":
    unittest.main()
