"""Passive outlier detection: consecutive 5xx or connect failures eject an endpoint for
base_ejection x times ejected, never more than max_ejected_percent of a pool at once."""

import collections
import time
import unittest

from lib import harness


def outlier(n=3, base="2s", pct=50):
    return {"consecutive_failures": n, "base_ejection": base, "max_ejected_percent": pct}


class OutlierTest(harness.LbTestCase):
    def test_backend_answering_500_is_ejected(self):
        a = self.backend("a")
        bad = harness.ScriptedBackend("bad", status=500)
        self.addCleanup(bad.stop)
        lb = self.lb(harness.config([harness.pool("p", a, bad, outlier=outlier(3, "2s"))]))
        c = self.client(lb.port)
        seq = []
        for i in range(6):  # round robin: a bad a bad a bad -> bad's 3rd 500 in a row
            r = c.request("GET", "/")
            seq.append((r.status, r.backend))
        self.assertEqual(seq, [(200, "a"), (500, "bad")] * 3)
        t_ejected = time.monotonic()
        ev = harness.wait_log_events(lb, "endpoint ejected", pool="p", endpoint=bad.endpoint())
        self.assertEqual(len(ev), 1, lb.log_lines()[-10:])
        self.assertEqual(ev[0].get("level"), "warn")
        eps = harness.pool_endpoints(lb, "p")
        self.assertTrue(eps[bad.endpoint()]["ejected"], eps)
        self.assertEqual(eps[bad.endpoint()]["ejections"], 1)
        self.assertGreater(eps[bad.endpoint()]["ejected_until"], 1.0)
        self.assertFalse(eps[a.endpoint()]["ejected"])
        m = harness.metrics(lb)
        self.assertEqual(harness.metric_value(m, "lb_upstream_endpoint_healthy", pool="p",
                                              endpoint=bad.endpoint()), 0.0)
        self.assertEqual(harness.metric_value(m, "lb_upstream_endpoint_healthy", pool="p",
                                              endpoint=a.endpoint()), 1.0)
        # While ejected, every request goes to a.
        for _ in range(20):
            r = c.request("GET", "/")
            self.assertEqual((r.status, r.backend), (200, "a"))
        self.assertEqual(bad.requests(), 3)
        # After base_ejection it is back in rotation (and fails again).
        harness.wait_until(lambda: not harness.pool_endpoints(lb, "p")[bad.endpoint()]["ejected"], 4.0)
        back = time.monotonic() - t_ejected
        self.assertGreater(back, 1.5)
        self.assertLess(back, 3.0)
        statuses = collections.Counter(c.request("GET", "/").status for _ in range(6))
        self.assertEqual(statuses, {200: 3, 500: 3})
        # Ejected a second time: for 2 x base_ejection.
        eps = harness.pool_endpoints(lb, "p")
        self.assertTrue(eps[bad.endpoint()]["ejected"], eps)
        self.assertEqual(eps[bad.endpoint()]["ejections"], 2)
        self.assertGreater(eps[bad.endpoint()]["ejected_until"], 3.0)
        self.assertEqual(len(harness.wait_log_events(lb, "endpoint ejected", 2, endpoint=bad.endpoint())), 2)

    def test_success_resets_the_streak(self):
        bad = harness.ScriptedBackend("bad", status=500)
        self.addCleanup(bad.stop)
        lb = self.lb(harness.config([harness.pool("p", bad, outlier=outlier(3, "30s", 100))]))
        c = self.client(lb.port)
        for _ in range(5):
            self.assertEqual(c.request("GET", "/").status, 500)
            self.assertEqual(c.request("GET", "/").status, 500)
            bad.status = 200
            self.assertEqual(c.request("GET", "/").status, 200)
            bad.status = 500
        self.assertEqual(harness.wait_log_events(lb, "endpoint ejected", timeout=0.3), [])
        self.assertEqual(harness.pool_endpoints(lb, "p")[bad.endpoint()]["consecutive_failures"], 0)

    def test_connect_failures_eject(self):
        a = self.backend("a")
        dead = f"127.0.0.1:{harness.refusing_port()}"
        lb = self.lb(harness.config([harness.pool("p", a, dead, outlier=outlier(2, "30s"))]))
        c = self.client(lb.port)
        # Connect failures are retried on a (default retries): no client sees an error.
        for _ in range(20):
            r = c.request("GET", "/")
            self.assertEqual((r.status, r.backend), (200, "a"))
        eps = harness.pool_endpoints(lb, "p")
        self.assertTrue(eps[dead]["ejected"], eps)
        # Once ejected, lb stops trying it: exactly the 2 failures that ejected it.
        self.assertEqual(eps[dead]["connect_failures"], 2)
        self.assertEqual(len(harness.wait_log_events(lb, "endpoint ejected", endpoint=dead)), 1)

    def test_max_ejected_percent_caps_ejections(self):
        # Four endpoints all answering 500, at most 50% ejected: two stay in rotation.
        bads = [harness.ScriptedBackend(f"bad{i}", status=500) for i in range(4)]
        for b in bads:
            self.addCleanup(b.stop)
        lb = self.lb(harness.config([harness.pool("p", *bads, outlier=outlier(2, "30s", 50))]))
        c = self.client(lb.port)
        for _ in range(40):
            self.assertEqual(c.request("GET", "/").status, 500)
        eps = harness.pool_endpoints(lb, "p")
        self.assertEqual(sum(e["ejected"] for e in eps.values()), 2, eps)
        self.assertEqual(len(harness.wait_log_events(lb, "endpoint ejected", 2)), 2)

    def test_one_endpoint_may_always_be_ejected(self):
        # 25% of two endpoints is half an endpoint, still one may be ejected.
        a = self.backend("a")
        bad = harness.ScriptedBackend("bad", status=503)
        self.addCleanup(bad.stop)
        lb = self.lb(harness.config([harness.pool("p", a, bad, outlier=outlier(2, "30s", 25))]))
        c = self.client(lb.port)
        for _ in range(10):
            c.request("GET", "/")
        self.assertTrue(harness.pool_endpoints(lb, "p")[bad.endpoint()]["ejected"])

    def test_zero_percent_never_ejects(self):
        # docs/configuration.md, outlier.max_ejected_percent: "`0` never ejects."
        a = self.backend("a")
        bad = harness.ScriptedBackend("bad", status=500)
        self.addCleanup(bad.stop)
        lb = self.lb(harness.config([harness.pool("p", a, bad, outlier=outlier(2, "30s", 0))]))
        c = self.client(lb.port)
        for _ in range(10):
            c.request("GET", "/")
        self.assertEqual(harness.wait_log_events(lb, "endpoint ejected", timeout=0.3), [])
        self.assertFalse(harness.pool_endpoints(lb, "p")[bad.endpoint()]["ejected"])

    def test_no_outlier_no_ejection(self):
        a = self.backend("a")
        bad = harness.ScriptedBackend("bad", status=500)
        self.addCleanup(bad.stop)
        lb = self.lb(harness.config([harness.pool("p", a, bad)]))
        c = self.client(lb.port)
        statuses = collections.Counter(c.request("GET", "/").status for _ in range(20))
        self.assertEqual(statuses, {200: 10, 500: 10})
        self.assertEqual(harness.wait_log_events(lb, "endpoint ejected", timeout=0.3), [])


if __name__ == "__main__":
    unittest.main()
