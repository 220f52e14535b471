"""Active health checks on the control thread: http (path, expect_status, host) and tcp;
interval, timeout and thresholds; every change logged and shown in /pools and /metrics;
a pool with no healthy endpoint answers 503 at once."""

import collections
import time
import unittest

from lib import harness

INTERVAL = 0.3  # seconds; the checks below use "300ms"


def check(**kw):
    hc = {"interval": "300ms", "timeout": "200ms", "healthy_threshold": 2, "unhealthy_threshold": 2}
    hc.update(kw)
    return hc


def worst_case(threshold, timeout=0.2, slack=1.0):
    """Longest time for `threshold` checks in a row to notice a change: the change may come
    just after a check, each interval runs 10% long, the last check may take its timeout."""
    return (threshold + 1) * INTERVAL * 1.1 + timeout + slack


class HealthTestCase(harness.LbTestCase):
    def wait_health(self, lb, endpoint, healthy, timeout, since=0):
        """Waits for an 'endpoint health changed' line for `endpoint` after the first `since`
        ones; returns the seconds waited, or fails."""
        t0 = time.monotonic()
        want = "true" if healthy else "false"

        def seen():
            evs = harness.log_events(lb, "endpoint health changed", endpoint=endpoint)
            return any(e.get("healthy") == want for e in evs[since:])

        ok = harness.wait_until(seen, timeout, 0.02)
        waited = time.monotonic() - t0
        self.assertTrue(ok, f"{endpoint} not marked healthy={want} within {timeout:.1f}s; log:\n"
                        + "\n".join(lb.log_lines()[-15:]))
        return waited

    def changes(self, lb, endpoint=None):
        fields = {"endpoint": endpoint} if endpoint else {}
        return harness.log_events(lb, "endpoint health changed", **fields)

    def healthy_metric(self, lb, pool, endpoint):
        return harness.metric_value(harness.metrics(lb), "lb_upstream_endpoint_healthy",
                                    pool=pool, endpoint=endpoint)


class HttpCheckTest(HealthTestCase):
    def test_failing_check_marks_down_and_503(self):
        # Every probe gets 503 (the backend's status= parameter on the check path).
        a, b = self.backend("a"), self.backend("b")
        pool = harness.pool("p", a, b, health_check=check(path="/healthz?status=503"))
        lb = self.lb(harness.config([pool]))
        for be in (a, b):
            self.wait_health(lb, be.endpoint(), False, worst_case(2))
        ev = self.changes(lb, a.endpoint())[0]
        self.assertEqual((ev["pool"], ev["healthy"], ev["level"]), ("p", "false", "info"))
        eps = harness.pool_endpoints(lb, "p")
        self.assertEqual([e["healthy"] for e in eps.values()], [False, False], eps)
        self.assertEqual(self.healthy_metric(lb, "p", a.endpoint()), 0.0)
        # No healthy endpoint: 503 at once, nothing sent upstream.
        before = a.requests() + b.requests()
        t = time.monotonic()
        r = harness.get(lb.port, "/")
        self.assertLess(time.monotonic() - t, 0.25)
        self.assertEqual(r.status, 503, r)
        self.assertIsNone(r.backend)
        self.assertEqual(a.requests() + b.requests(), before)
        recs = harness.wait_access_records(lb, 1)
        self.assertEqual(recs[-1]["reason"], "no_healthy_endpoint", recs[-1])

    def test_expect_status_range(self):
        a = self.backend("a")
        pool = harness.pool("p", a, health_check=check(path="/healthz?status=503", expect_status="500-503"))
        lb = self.lb(harness.config([pool]))
        time.sleep(worst_case(2))
        self.assertEqual(self.changes(lb), [])
        self.assertTrue(harness.pool_endpoints(lb, "p")[a.endpoint()]["healthy"])
        self.assertEqual(harness.get(lb.port, "/").status, 200)

    def test_probe_request(self):
        # The probe: GET path, Host as configured (else the endpoint's address), its own
        # User-Agent, one request per connection.
        a = harness.ScriptedBackend("a")
        b = harness.ScriptedBackend("b")
        for s in (a, b):
            self.addCleanup(s.stop)
        pools = [harness.pool("p", a, health_check=check(path="/ready?deep=1", host="app.internal")),
                 harness.pool("q", b, health_check=check())]
        lb = self.lb(harness.config(pools))
        self.assertTrue(harness.wait_until(lambda: len(a.probes()) >= 3 and len(b.probes()) >= 3, 3.0))
        method, target, headers = a.probes()[0]
        hs = {k.lower(): v for k, v in headers}
        self.assertEqual((method, target), ("GET", "/ready?deep=1"))
        self.assertEqual(hs["host"], "app.internal")
        self.assertEqual(hs["user-agent"], "lb-health-check")
        self.assertEqual(hs.get("connection", "").lower(), "close")
        method, target, headers = b.probes()[0]
        hs = {k.lower(): v for k, v in headers}
        self.assertEqual((method, target), ("GET", "/healthz"))
        self.assertEqual(hs["host"], b.endpoint())
        self.assertEqual(a.requests(), 0)  # probes are not traffic
        self.assertGreaterEqual(a.connections, 3)

    def test_interval_with_jitter(self):
        a = harness.ScriptedBackend("a")
        self.addCleanup(a.stop)
        lb = self.lb(harness.config([harness.pool("p", a, health_check=check(interval="200ms",
                                                                              timeout="100ms"))]))
        time.sleep(3.0)
        n = len(a.probes())
        # 3 s / 200 ms = 15 checks (+-10% jitter; the first within 20 ms).
        self.assertGreaterEqual(n, 13, n)
        self.assertLessEqual(n, 17, n)

    def test_down_then_up_with_thresholds(self):
        s = harness.ScriptedBackend("s")
        self.addCleanup(s.stop)
        a = self.backend("a")
        pool = harness.pool("p", s, a, health_check=check(healthy_threshold=3, unhealthy_threshold=2))
        lb = self.lb(harness.config([pool]))
        time.sleep(0.5)
        self.assertEqual(self.changes(lb), [])
        s.status = 500
        n0 = len(s.probes())
        waited = self.wait_health(lb, s.endpoint(), False, worst_case(2))
        self.assertLessEqual(waited, worst_case(2))
        # Exactly unhealthy_threshold failing probes were needed.
        self.assertIn(len(s.probes()) - n0, (2, 3))
        # Down: all traffic to a.
        c = self.client(lb.port)
        self.assertEqual(collections.Counter(c.request("GET", "/").backend for _ in range(10)), {"a": 10})
        self.assertEqual(self.healthy_metric(lb, "p", s.endpoint()), 0.0)
        s.status = 200
        n1 = len(s.probes())
        self.wait_health(lb, s.endpoint(), True, worst_case(3), since=1)
        self.assertIn(len(s.probes()) - n1, (3, 4))
        self.assertEqual(self.healthy_metric(lb, "p", s.endpoint()), 1.0)
        self.assertTrue(harness.pool_endpoints(lb, "p")[s.endpoint()]["healthy"])
        self.assertEqual(collections.Counter(c.request("GET", "/").backend for _ in range(10)), {"a": 5, "s": 5})
        self.assertEqual([e["healthy"] for e in self.changes(lb)], ["false", "true"])

    def test_probe_timeout_counts_as_failure(self):
        s = harness.ScriptedBackend("s")
        self.addCleanup(s.stop)
        lb = self.lb(harness.config([harness.pool("p", s, health_check=check())]))
        s.probe_delay = 0.5  # beyond the 200 ms timeout
        self.wait_health(lb, s.endpoint(), False, worst_case(2, timeout=0.5))
        self.assertEqual(self.changes(lb)[0].get("reason"), "timeout", self.changes(lb))
        s.probe_delay = 0.0
        self.wait_health(lb, s.endpoint(), True, worst_case(2), since=1)

    def test_endpoints_start_healthy(self):
        # A new endpoint counts as healthy until its checks say otherwise: traffic flows
        # from the first moment, no 503 while the first checks run.
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a, health_check=check(interval="5s", timeout="1s"))]))
        self.assertEqual(harness.get(lb.port, "/").status, 200)
        self.assertTrue(harness.pool_endpoints(lb, "p")[a.endpoint()]["healthy"])


class TcpCheckTest(HealthTestCase):
    def test_tcp_check_follows_the_listener(self):
        a = self.backend("a")
        port = a.port
        lb = self.lb(harness.config([harness.pool("p", a, health_check=check(type="tcp"))]))
        time.sleep(0.5)
        self.assertEqual(self.changes(lb), [])
        a.stop()
        self.wait_health(lb, f"127.0.0.1:{port}", False, worst_case(2))
        r = harness.get(lb.port, "/")
        self.assertEqual(r.status, 503, r)
        a2 = self.backend("a", listen=f"127.0.0.1:{port}")
        self.wait_health(lb, a2.endpoint(), True, worst_case(2), since=1)
        r = harness.get(lb.port, "/")
        self.assertEqual((r.status, r.backend), (200, "a"))

    def test_tcp_check_ignores_http_status(self):
        # A tcp check only connects: an endpoint answering 500 to everything stays healthy.
        s = harness.ScriptedBackend("s", status=500)
        self.addCleanup(s.stop)
        lb = self.lb(harness.config([harness.pool("p", s, health_check=check(type="tcp"))]))
        time.sleep(1.0)
        self.assertEqual(self.changes(lb), [])
        self.assertEqual(s.probes(), [])  # no HTTP request was sent
        self.assertGreaterEqual(s.connections, 2)


class ReloadTest(HealthTestCase):
    def test_reload_keeps_health_state(self):
        a, b = self.backend("a"), self.backend("b")
        bad = harness.pool("p", a, b, health_check=check(path="/healthz?status=500"))
        lb = self.lb(harness.config([bad]))
        self.wait_health(lb, a.endpoint(), False, worst_case(2))
        self.wait_health(lb, b.endpoint(), False, worst_case(2))
        # Same endpoints, a different route timeout: the endpoints stay down, no flap.
        r = harness.reload_lb(lb, harness.config([bad], routes=[harness.route("p", timeout="5s")]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(harness.get(lb.port, "/").status, 503)
        time.sleep(INTERVAL * 2)
        self.assertEqual([e["healthy"] for e in self.changes(lb)], ["false", "false"])
        # The check is removed: nothing would ever bring them back, so they are healthy.
        r = harness.reload_lb(lb, harness.config([harness.pool("p", a, b)]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(harness.get(lb.port, "/").status, 200)
        eps = harness.pool_endpoints(lb, "p")
        self.assertTrue(all(e["healthy"] for e in eps.values()), eps)

    def test_fixed_check_brings_endpoints_back(self):
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a, health_check=check(path="/healthz?status=500"))]))
        self.wait_health(lb, a.endpoint(), False, worst_case(2))
        r = harness.reload_lb(lb, harness.config([harness.pool("p", a, health_check=check())]))
        self.assertEqual(r.status, 200, r)
        self.wait_health(lb, a.endpoint(), True, worst_case(2), since=1)
        self.assertEqual(harness.get(lb.port, "/").status, 200)


if __name__ == "__main__":
    unittest.main()
