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
from http2.test_h2 import node

LIMIT = 1000


def curl(*args):
    return subprocess.run(["curl", "-sS", "--http2-prior-knowledge", *args], capture_output=True, timeout=30)


def curl_streamed(url, body, *args):
    """POST `body` with `-T -` (DATA frames, no content-length). From a file,
    not a pipe: curl reads stdin blocking, so a slow feeder would stall its frames."""
    with tempfile.TemporaryFile() as f:
        f.write(body)
        f.seek(0)
        return subprocess.run(["curl", "-sS", "--http2-prior-knowledge", *args, "-T", "-", "-X", "POST", url],
                              stdin=f, capture_output=True, timeout=30)


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
        r = node("client.js", "post", self.lb_.port, "/?echo=1", 5000, "declared")
        self.assertEqual((r["status"], r["body"], r["rst"]), (413, "lb: body_too_large\n", 0), r)
        self.assertEqual(self.a.requests(), before, "the backend saw the refused request")

    def test_streamed_body_over_the_limit_is_413(self):
        # -T - : no content-length, DATA frames until END_STREAM.
        r = node("client.js", "post", self.lb_.port, "/?echo=1", 20000)
        self.assertEqual((r["status"], r["body"]), (413, "lb: body_too_large\n"), r)

    def test_body_at_the_limit_passes(self):
        p = curl("--data-binary", "@" + self.body_file(LIMIT), self.url())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["body_bytes"], LIMIT)
        p = curl_streamed(self.url(), b"s" * LIMIT)
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
        before = self.a.requests()
        self.assertEqual(node("client.js", "post", self.lb_.port, "/small?echo=1", 101, "declared")["status"], 413)
        self.assertEqual(self.a.requests(), before, "the backend saw the refused request")
        self.assertEqual(node("client.js", "post", self.lb_.port, "/small?echo=1", 5000)["status"], 413)
        r = node("client.js", "post", self.lb_.port, "/small?echo=1", 100)
        self.assertEqual((r["status"], json.loads(r["body"])["body_bytes"]), (200, 100), r)
        p = curl_streamed(url + "/big?echo=1", b"x" * 5000)
        self.assertEqual(json.loads(p.stdout)["body_bytes"], 5000, p.stderr)

    def test_answer_before_the_body_ends_resets_the_stream(self):
        # A client that stops sending once answered (curl does on an error
        # status) waits for the stream to close: after the whole response and
        # a lingering read lb resets it with NO_ERROR (RFC 9113 §8.1). What it
        # sent meanwhile is dropped with its window given back: 20 answered
        # 60 KB uploads at once fill more than the connection's 1 MiB window, and the
        # GET after them still goes through.
        r = node("client.js", "partial", self.lb_.port, "/small", 60000, 20)
        self.assertEqual(r, {"answers": [{"status": 413, "rst": 0}] * 20, "then": 200})

    def test_curl_that_stops_sending_on_the_answer_gets_it(self):
        # 300 KB declared: curl sends a window's worth, reads the 413 and stops
        # (it cannot have sent it all, so its 7.88 hang, see client.js, is out of reach).
        big = os.path.join(tempfile.mkdtemp(prefix="lb-h2-"), "big")
        self.addCleanup(lambda: (os.unlink(big), os.rmdir(os.path.dirname(big))))
        with open(big, "wb") as f:
            f.write(b"b" * 300_000)
        p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code}",
                            "--data-binary", "@" + big, f"http://127.0.0.1:{self.lb_.port}/small"],
                           capture_output=True, timeout=30)
        self.assertEqual((p.returncode, p.stdout.decode()), (0, "413"), p.stderr)


if __name__ == "__main__":
    unittest.main()
