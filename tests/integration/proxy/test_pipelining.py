"""Pipelined requests (several in one write) are answered in order."""

import hashlib
import unittest

from lib import harness
from lib.harness import build_request, route


class PipeliningTest(harness.LbTestCase):
    def setUp(self):
        self.a = self.backend("a")
        self.b = self.backend("b")
        pools = [harness.pool("pa", self.a), harness.pool("pb", self.b)]
        routes = [route("pb", path_prefix="/b/"), route("pa")]
        self.lb_ = self.lb(harness.config(pools, routes=routes))

    def test_in_order_even_when_first_is_slowest(self):
        c = self.client(self.lb_.port)
        delays = [400, 0, 200, 0, 100, 0]
        c.send(b"".join(build_request("GET", f"/r{i}?echo=1&delay={d}") for i, d in enumerate(delays)))
        for i, d in enumerate(delays):
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["target"], f"/r{i}?echo=1&delay={d}")

    def test_mixed_methods_bodies_and_pools(self):
        c = self.client(self.lb_.port)
        body1 = b"hello world" * 100
        body2 = b"chunky" * 3000
        reqs = [
            (build_request("POST", "/p1?echo=1", body=body1), "POST", ("a", "/p1?echo=1", body1)),
            (build_request("GET", "/b/x?echo=1&delay=100"), "GET", ("b", "/b/x?echo=1&delay=100", b"")),
            (build_request("HEAD", "/h?size=1000"), "HEAD", None),
            (build_request("PUT", "/p2?echo=1", headers=[("Transfer-Encoding", "chunked")],
                           body=harness.chunked_body(body2, 1000)), "PUT", ("a", "/p2?echo=1", body2)),
            (build_request("GET", "/b/big?size=300000"), "GET", "size"),
            (build_request("GET", "/nowhere-but-a?echo=1"), "GET", ("a", "/nowhere-but-a?echo=1", b"")),
        ]
        c.send(b"".join(r[0] for r in reqs))
        for raw, method, want in reqs:
            r = c.read_response(method=method)
            self.assertEqual(r.status, 200, r)
            if want is None:
                self.assertEqual(r.body, b"")
            elif want == "size":
                self.assertEqual(len(r.body), 300000)
                self.assertEqual(r.backend, "b")
            else:
                backend, target, body = want
                e = r.json()
                self.assertEqual((e["backend"], e["target"], e["body_bytes"]), (backend, target, len(body)))
                self.assertEqual(e["body_sha256"], hashlib.sha256(body).hexdigest())

    def test_many_small_pipelined(self):
        c = self.client(self.lb_.port)
        n = 200
        c.send(b"".join(build_request("GET", f"/n{i}?echo=1") for i in range(n)))
        for i in range(n):
            r = c.read_response()
            self.assertEqual(r.json()["target"], f"/n{i}?echo=1")

    def test_pipeline_split_across_writes(self):
        c = self.client(self.lb_.port)
        data = b"".join(build_request("GET", f"/s{i}?echo=1") for i in range(5))
        for i in range(0, len(data), 7):
            c.send(data[i:i + 7])
        for i in range(5):
            self.assertEqual(c.read_response().json()["target"], f"/s{i}?echo=1")

    def test_pipelined_close_answers_earlier_requests(self):
        c = self.client(self.lb_.port)
        c.send(build_request("GET", "/c0?echo=1") +
               build_request("GET", "/c1?echo=1", headers=[("Connection", "close")]) +
               build_request("GET", "/c2?echo=1"))
        self.assertEqual(c.read_response().json()["target"], "/c0?echo=1")
        self.assertEqual(c.read_response().json()["target"], "/c1?echo=1")
        self.assertTrue(c.wait_closed(3), "connection not closed after Connection: close")
        self.assertNotIn(b"/c2", bytes(c.buf), "request after Connection: close was answered")


if __name__ == "__main__":
    unittest.main()
