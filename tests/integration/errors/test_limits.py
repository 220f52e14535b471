"""Listener limits: 431 (head too large), 408 (head too slow), 413 (body too large), idle close."""

import hashlib
import select
import time
import unittest

from lib import harness
from lib.harness import build_request

LIMITS = {"max_header_bytes": 1024, "header_timeout": "1s", "idle_timeout": "2s", "max_body_bytes": 1000}


class LimitsTest(harness.LbTestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = cls.class_backend("a")
        cls.lb_ = cls.class_lb(harness.config([harness.pool("p", cls.a)], limits=LIMITS, workers=1))

    def setUp(self):
        self.assert_alive(self.lb_)
        self.before = self.a.requests()

    def assert_backend_untouched(self):
        self.assertEqual(self.a.requests(), self.before, "the backend saw the refused request")

    def assert_error(self, r, status):
        self.assertEqual(r.status, status, r)
        self.assertIsNone(r.backend)
        self.assertTrue(0 < len(r.body) < 1024, f"{status} body should be short text: {r.body!r}")

    # ---------------------------------------------------------------- 431

    def test_one_huge_header_431(self):
        c = self.client(self.lb_.port)
        c.send(build_request("GET", "/", headers=[("X-Big", "v" * 2000)]))
        self.assert_error(c.read_response(), 431)
        self.assertTrue(c.wait_closed(3))
        self.assert_backend_untouched()

    def test_huge_header_in_pieces_431(self):
        c = self.client(self.lb_.port)
        data = build_request("GET", "/", headers=[("X-Big", "v" * 2000)])
        for i in range(0, len(data), 100):
            try:
                c.send(data[i:i + 100])
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.005)
        self.assert_error(c.read_response(), 431)
        self.assert_backend_untouched()

    def test_many_headers_431(self):
        c = self.client(self.lb_.port)
        c.send(build_request("GET", "/", headers=[(f"X-H{i}", "v" * 40) for i in range(40)]))
        self.assert_error(c.read_response(), 431)
        self.assert_backend_untouched()

    def test_long_request_target_431(self):
        c = self.client(self.lb_.port)
        c.send(build_request("GET", "/" + "p" * 2000))
        r = c.read_response()
        self.assertIn(r.status, (414, 431), r)
        self.assert_backend_untouched()

    def test_head_under_limit_passes(self):
        r = harness.get(self.lb_.port, "/?echo=1", headers=[("X-Mid", "v" * 600)])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.a.requests(), self.before + 1)

    # ---------------------------------------------------------------- 408

    def test_partial_head_408(self):
        c = self.client(self.lb_.port)
        start = time.monotonic()
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Partial: ")
        r = c.read_response()
        elapsed = time.monotonic() - start
        self.assert_error(r, 408)
        self.assertGreater(elapsed, 0.8)
        self.assertLess(elapsed, 2.5)
        self.assertTrue(c.wait_closed(3))
        self.assert_backend_untouched()

    def test_trickled_head_408(self):
        # The whole head must arrive within header_timeout, however steadily bytes come.
        c = self.client(self.lb_.port)
        data = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"s" * 200
        start = time.monotonic()
        answered_at = None
        for byte in data:
            readable, _, _ = select.select([c.sock], [], [], 0.1)
            if readable:
                answered_at = time.monotonic()
                break
            try:
                c.send(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                answered_at = time.monotonic()
                break
        self.assertIsNotNone(answered_at, "no answer while the head trickled in for 20 s")
        r = c.read_response()
        elapsed = answered_at - start
        self.assert_error(r, 408)
        self.assertLess(elapsed, 2.5, "header_timeout was re-armed by each byte")
        self.assert_backend_untouched()

    def test_slow_body_is_not_a_slow_head(self):
        body = b"b" * 800
        c = self.client(self.lb_.port)
        c.send(build_request("POST", "/?echo=1", headers=[("Content-Length", str(len(body)))]) + body[:400])
        time.sleep(1.5)
        c.send(body[400:])
        r = c.read_response()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["body_sha256"], hashlib.sha256(body).hexdigest())

    # ---------------------------------------------------------------- idle

    def test_idle_keepalive_connection_closed(self):
        c = self.client(self.lb_.port)
        self.assertEqual(c.request("GET", "/").status, 200)
        start = time.monotonic()
        self.assertTrue(c.wait_closed(5), "idle keep-alive connection never closed")
        elapsed = time.monotonic() - start
        self.assertGreater(elapsed, 1.6, "closed by header_timeout (1s), not idle_timeout (2s)")
        self.assertLess(elapsed, 3.5)

    def test_activity_keeps_connection_open(self):
        c = self.client(self.lb_.port)
        for _ in range(4):
            self.assertEqual(c.request("GET", "/").status, 200)
            time.sleep(0.8)
        self.assertEqual(c.request("GET", "/").status, 200)

    # ---------------------------------------------------------------- 413

    def test_declared_body_over_limit_413(self):
        c = self.client(self.lb_.port)
        c.send(build_request("POST", "/", headers=[("Content-Length", "5000")]) + b"x" * 5000)
        self.assert_error(c.read_response(), 413)
        self.assert_backend_untouched()

    def test_declared_body_over_limit_413_without_sending_it(self):
        c = self.client(self.lb_.port)
        c.send(build_request("POST", "/", headers=[("Content-Length", str(10 ** 12))]))
        self.assert_error(c.read_response(), 413)
        self.assert_backend_untouched()

    def test_body_at_limit_passes(self):
        body = bytes(range(250)) * 4
        r = harness.get(self.lb_.port, "/?echo=1", method="POST", body=body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["body_bytes"], 1000)

    def test_chunked_body_growing_over_limit_413(self):
        c = self.client(self.lb_.port)
        c.send(build_request("POST", "/", headers=[("Transfer-Encoding", "chunked")]))
        try:
            for _ in range(5):
                c.send(b"190\r\n" + b"c" * 400 + b"\r\n")
                time.sleep(0.05)
            c.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.assert_error(c.read_response(), 413)

    def test_chunked_body_at_limit_passes(self):
        body = b"q" * 1000
        r = harness.get(self.lb_.port, "/?echo=1", method="POST", headers=[("Transfer-Encoding", "chunked")],
                        body=harness.chunked_body(body, 300))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["body_bytes"], 1000)


if __name__ == "__main__":
    unittest.main()
