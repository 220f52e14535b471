"""Reloads never touch an established flow: it keeps its upstream across
reloads that move its listener's pool elsewhere and drop its endpoint; only a
drain (its listener removed) ends it, after drain_timeout. The flow lasts
LB_TCP_RELOAD_SECONDS (default 20) with 10 reloads spread over it."""

import os
import time
import unittest

from lib import harness
from tcp import support

SECONDS = float(os.environ.get("LB_TCP_RELOAD_SECONDS", "20"))
RELOADS = 10


class ReloadTest(harness.LbTestCase):
    def test_flow_survives_reloads_that_change_its_pool(self):
        a, b = support.Echo(), support.Echo()
        self.addCleanup(a.stop)
        self.addCleanup(b.stop)
        lb = self.lb(support.tcp_config([a.endpoint()]))
        s = support.connect(lb.port)
        s.sendall(b"first")
        self.assertEqual(support.read_exact(s, 5), b"first")
        t0 = time.monotonic()
        for i in range(RELOADS):
            # Alternate the pool between b alone and b with a changed balancer:
            # `a`, the flow's endpoint, is never in it again.
            extra = {"balancer": "least_conn"} if i % 2 else {}
            r = harness.reload_lb(lb, support.tcp_config([b.endpoint()], pool_extra=extra))
            self.assertEqual(r.status, 200, r.body)
            msg = b"m%02d" % i
            s.sendall(msg)
            self.assertEqual(support.read_exact(s, len(msg)), msg)
            time.sleep(max(0.0, t0 + SECONDS * (i + 1) / RELOADS - time.monotonic()))
        self.assertGreaterEqual(time.monotonic() - t0, SECONDS * 0.95)
        # New flows go to b; the old one still reaches a.
        n = support.connect(lb.port)
        n.sendall(b"new")
        self.assertEqual(support.read_exact(n, 3), b"new")
        n.close()
        s.sendall(b"still")
        self.assertEqual(support.read_exact(s, 5), b"still")
        s.shutdown(2)
        s.close()
        self.assertEqual(a.wait_event("eof"), f"eof {5 + 3 * RELOADS + 5}")
        self.assertEqual(b.wait_event("eof"), "eof 3")

    def test_removed_listener_drains_its_flows_after_drain_timeout(self):
        a = support.Echo("hold")
        self.addCleanup(a.stop)
        keep = {"name": "other", "listen": "127.0.0.1:0", "protocol": "tcp", "pool": "p"}
        lb = self.lb(support.tcp_config([a.endpoint()], drain_timeout="1s", extra_listeners=[keep]))
        s = support.connect(lb.port if "t" not in lb.ports else lb.ports["t"])
        s.sendall(b"x")
        self.assertEqual(support.read_exact(s, 1), b"x")
        doc = support.tcp_config([a.endpoint()], drain_timeout="1s")
        # Only `other` stays (renamed into place as the first listener).
        doc = doc.replace("name: t\n", "name: other\n", 1)
        r = harness.reload_lb(lb, doc)
        self.assertEqual(r.status, 200, r.body)
        # Still flowing right after the reload ...
        s.sendall(b"y")
        self.assertEqual(support.read_exact(s, 1), b"y")
        # ... and closed once drain_timeout (1s) has passed.
        t0 = time.monotonic()
        s.settimeout(10)
        self.assertEqual(support.read_all(s), b"")
        self.assertLess(time.monotonic() - t0, 3)


if __name__ == "__main__":
    unittest.main()
