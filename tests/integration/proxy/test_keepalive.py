"""Per-worker upstream keep-alive pools, counted at the backend; client keep-alive."""

import time
import unittest

from lib import harness


class UpstreamKeepaliveTest(harness.LbTestCase):
    def test_one_client_connection_reuses_upstream(self):
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a)], workers=1))
        c = self.client(lb.port)
        for i in range(100):
            r = c.request("GET", f"/?n={i}")
            self.assertEqual(r.status, 200, r)
        s = a.stats()
        self.assertEqual(s["requests"], 100)
        self.assertLessEqual(s["connections"], 1, s)

    def test_new_client_connections_share_upstream(self):
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a)], workers=2))
        for i in range(100):
            r = harness.get(lb.port, f"/?n={i}")
            self.assertEqual(r.status, 200, r)
        s = a.stats()
        self.assertEqual(s["requests"], 100)
        self.assertLessEqual(s["connections"], 2, s)

    def test_reuse_after_bodies_of_every_framing(self):
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a)], workers=1))
        c = self.client(lb.port)
        for target, method, body, headers in [
                ("/?size=70000", "GET", None, None),
                ("/?size=70000&chunked=1", "GET", None, None),
                ("/?echo=1", "POST", b"x" * 50000, None),
                ("/?echo=1", "POST", harness.chunked_body(b"y" * 50000, 4096), [("Transfer-Encoding", "chunked")]),
                ("/?status=204", "GET", None, None),
                ("/?status=304", "GET", None, None),
                ("/?size=10", "HEAD", None, None),
                ("/", "GET", None, None)] * 3:
            r = c.request(method, target, body=body, headers=headers)
            self.assertIn(r.status, (200, 204, 304), (target, r))
        self.assertLessEqual(a.stats()["connections"], 1)

    def test_upstream_connection_close_is_honoured(self):
        a = self.backend("a", "--max-requests-per-conn", "3")
        lb = self.lb(harness.config([harness.pool("p", a)], workers=1))
        c = self.client(lb.port)
        for i in range(30):
            r = c.request("GET", f"/?n={i}")
            self.assertEqual(r.status, 200, (i, r))
        s = a.stats()
        self.assertEqual(s["requests"], 30)
        self.assertGreaterEqual(s["connections"], 10)
        self.assertLessEqual(s["connections"], 11)

    def test_close_requested_by_backend_response(self):
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a)], workers=1))
        c = self.client(lb.port)
        for i in range(10):
            r = c.request("GET", "/?close=1")
            self.assertEqual(r.status, 200, (i, r))
        # Each upstream connection was closed by the backend: lb must not reuse one, and
        # the client's own connection stays open (close is hop-by-hop).
        self.assertEqual(a.stats()["connections"], 10)

    def test_idle_upstream_connections_expire(self):
        a = self.backend("a")
        pools = [harness.pool("p", a, keepalive={"max_idle": 8, "idle_timeout": "300ms"})]
        lb = self.lb(harness.config(pools, workers=1))
        self.assertEqual(harness.get(lb.port, "/").status, 200)
        self.assertEqual(a.stats()["active_connections"], 1)
        deadline = time.monotonic() + 3
        while a.stats()["active_connections"] and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(a.stats()["active_connections"], 0, "idle upstream connection not closed")
        # ...and the next request opens a fresh one and works.
        self.assertEqual(harness.get(lb.port, "/").status, 200)
        self.assertEqual(a.stats()["connections"], 2)

    def test_max_idle_bounds_parked_connections(self):
        a = self.backend("a")
        pools = [harness.pool("p", a, keepalive={"max_idle": 2, "idle_timeout": "60s"})]
        lb = self.lb(harness.config(pools, workers=1))
        clients = [self.client(lb.port) for _ in range(6)]
        for c in clients:
            c.send(harness.build_request("GET", "/?delay=300"))
        for c in clients:
            self.assertEqual(c.read_response().status, 200)
        self.assertEqual(a.stats()["connections"], 6)
        time.sleep(0.3)
        self.assertLessEqual(a.stats()["active_connections"], 2)


class ClientKeepaliveTest(harness.LbTestCase):
    def test_http10_client_gets_close(self):
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a)]))
        c = self.client(lb.port)
        c.send(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"a\n")
        self.assertTrue(c.wait_closed(3), "HTTP/1.0 connection without keep-alive left open")

    def test_client_connection_close(self):
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a)]))
        c = self.client(lb.port)
        r = c.request("GET", "/", headers=[("Connection", "close")])
        self.assertEqual(r.status, 200)
        self.assertTrue(c.wait_closed(3), "Connection: close not honoured")


if __name__ == "__main__":
    unittest.main()
