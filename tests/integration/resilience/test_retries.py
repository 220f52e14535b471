"""Retries: connect failures go to another endpoint for any method; listed statuses and
refused streams only for idempotent requests that can be replayed; a per-worker budget
caps retries under a failing pool; a stale keep-alive connection costs no attempt."""

import collections
import time
import unittest

from lib import harness
from lib.harness import route


def retry_route(pool_name, **retries):
    r = route(pool_name)
    if retries:
        r["retries"] = retries
    return r


class StatusRetryTest(harness.LbTestCase):
    def setUp(self):
        # Round robin over [bad, a], one worker: every request's first pick alternates.
        self.a = self.backend("a")
        self.bad = harness.ScriptedBackend("bad", status=502)
        self.addCleanup(self.bad.stop)
        self.lb_ = self.lb(harness.config([harness.pool("p", self.bad, self.a)],
                                          routes=[retry_route("p", attempts=2, on=[502, 503])]))
        self.c = self.client(self.lb_.port)

    def test_get_is_retried_on_502(self):
        for _ in range(10):
            r = self.c.request("GET", "/")
            self.assertEqual((r.status, r.backend), (200, "a"))
        # Half the requests met bad first and were retried on a.
        self.assertEqual(self.bad.requests(), 5)
        self.assertEqual(self.a.requests(), 10)
        m = harness.metrics(self.lb_)
        self.assertEqual(harness.metric_value(m, "lb_upstream_retries_total", pool="p"), 5)
        recs = [r for r in harness.wait_access_records(self.lb_, 10) if r["method"] == "GET"]
        self.assertEqual(collections.Counter(r["attempts"] for r in recs), {1: 5, 2: 5})

    def test_post_is_not_retried_on_502(self):
        statuses = collections.Counter()
        for i in range(10):
            r = self.c.request("POST", "/", body=b"x" * 100)
            statuses[(r.status, r.backend)] += 1
        # The upstream's own 502 reaches the client; nothing was sent twice.
        self.assertEqual(statuses, {(200, "a"): 5, (502, "bad"): 5})
        self.assertEqual(self.bad.requests() + self.a.requests(), 10)
        m = harness.metrics(self.lb_)
        self.assertEqual(harness.metric_value(m, "lb_upstream_retries_total", pool="p"), 0)

    def test_idempotent_methods_with_whole_body_are_retried(self):
        for method in ("PUT", "DELETE", "HEAD", "OPTIONS"):
            for _ in range(2):
                body = b"payload" if method == "PUT" else None
                r = self.c.request(method, "/", body=body)
                self.assertEqual((r.status, r.backend), (200, "a"), method)

    def test_unlisted_status_not_retried(self):
        self.bad.status = 500
        statuses = collections.Counter(self.c.request("GET", "/").status for _ in range(10))
        self.assertEqual(statuses, {200: 5, 500: 5})


class ConnectFailureRetryTest(harness.LbTestCase):
    def test_post_is_retried_after_connect_failure(self):
        a = self.backend("a")
        dead = f"127.0.0.1:{harness.refusing_port()}"
        lb = self.lb(harness.config([harness.pool("p", dead, a)]))
        c = self.client(lb.port)
        for i in range(10):
            r = c.request("POST", "/?echo=1", body=b"hello")
            self.assertEqual((r.status, r.backend), (200, "a"))
            self.assertEqual(r.json()["body_bytes"], 5)
        self.assertEqual(a.requests(), 10)

    def test_connect_failure_not_retried_when_not_listed(self):
        a = self.backend("a")
        dead = f"127.0.0.1:{harness.refusing_port()}"
        lb = self.lb(harness.config([harness.pool("p", dead, a)],
                                    routes=[retry_route("p", on=[503])]))
        statuses = collections.Counter(harness.get(lb.port, "/").status for _ in range(10))
        self.assertEqual(statuses, {200: 5, 502: 5})

    def test_attempts_zero_turns_retries_off(self):
        a = self.backend("a")
        dead = f"127.0.0.1:{harness.refusing_port()}"
        lb = self.lb(harness.config([harness.pool("p", dead, a)], routes=[retry_route("p", attempts=0)]))
        statuses = collections.Counter(harness.get(lb.port, "/").status for _ in range(10))
        self.assertEqual(statuses, {200: 5, 502: 5})

    def test_attempts_bound_the_tries(self):
        # Five dead endpoints before a live one, attempts 2: at most 3 endpoints are tried.
        a = self.backend("a")
        dead = [f"127.0.0.1:{p}" for p in harness.refusing_ports(5)]
        lb = self.lb(harness.config([harness.pool("p", *dead, a)], routes=[retry_route("p", attempts=2)]))
        r = harness.get(lb.port, "/")
        self.assertEqual(r.status, 502, r)
        recs = harness.wait_access_records(lb, 1)
        self.assertEqual(recs[-1]["attempts"], 3, recs[-1])
        self.assertEqual(sum(e["connect_failures"] for e in harness.pool_endpoints(lb, "p").values()), 3)


class RefusedStreamTest(harness.LbTestCase):
    def start(self, mode):
        a = self.backend("a")
        bad = harness.ScriptedBackend("bad", mode=mode)
        self.addCleanup(bad.stop)
        # No idle reuse: every attempt is on a fresh connection, so a close before any
        # response byte is a refused stream, not a stale keep-alive connection.
        lb = self.lb(harness.config([harness.pool("p", bad, a, keepalive={"max_idle": 0})]))
        return a, bad, lb

    def test_get_retried_post_not(self):
        for mode in ("drop", "reset"):
            with self.subTest(mode=mode):
                a, bad, lb = self.start(mode)
                gets = collections.Counter(harness.get(lb.port, "/").status for _ in range(6))
                self.assertEqual(gets, {200: 6})
                posts = collections.Counter(harness.get(lb.port, "/", method="POST", body=b"x").status
                                            for _ in range(6))
                self.assertEqual(posts, {200: 3, 502: 3})
                self.assertEqual(bad.requests(), 6)


    def test_streamed_body_not_retried(self):
        # A PUT is idempotent, but a body that is streamed (chunked, or not all there when
        # the head arrived) cannot be replayed: a refused stream is the client's 502.
        a, bad, lb = self.start("drop")

        def phase(send_one, n=6):
            a0, bad0 = a.requests(), bad.requests()
            statuses = collections.Counter(send_one() for _ in range(n))
            return statuses, a.requests() - a0, bad.requests() - bad0

        def whole():
            return harness.get(lb.port, "/", method="PUT", body=b"0123456789").status

        def chunked():
            with harness.Client(lb.port) as c:
                c.send(harness.build_request("PUT", "/", headers=[("Transfer-Encoding", "chunked")],
                                             body=harness.chunked_body(b"0123456789", 4)))
                return c.read_response().status

        def late_body():
            with harness.Client(lb.port) as c:
                c.send(harness.build_request("PUT", "/", headers=[("Content-Length", "10")]))
                time.sleep(0.05)
                c.send(b"0123456789")
                return c.read_response().status

        # Whole Content-Length body with the head: replayable; those that met bad were
        # retried on a.
        statuses, to_a, to_bad = phase(whole)
        self.assertEqual(statuses, {200: 6})
        self.assertEqual(to_a, 6)
        self.assertGreaterEqual(to_bad, 2)
        for send_one in (chunked, late_body):
            with self.subTest(body=send_one.__name__):
                statuses, to_a, to_bad = phase(send_one)
                # Each request reached exactly one backend; those that met bad failed.
                self.assertEqual(to_a + to_bad, 6)
                self.assertGreaterEqual(to_bad, 2)
                self.assertEqual(statuses, {200: to_a, 502: to_bad})


class StaleKeepaliveTest(harness.LbTestCase):
    def test_stale_connection_retried_without_costing_an_attempt(self):
        # The backend closes each connection after one response without saying so: every
        # reuse meets a dead connection. Even with retries off, nothing fails, POSTs too.
        a = self.backend("a", "--max-requests-per-conn", "1")
        lb = self.lb(harness.config([harness.pool("p", a)], routes=[retry_route("p", attempts=0)]))
        c = self.client(lb.port)
        for i in range(30):
            method = "POST" if i % 2 else "GET"
            r = c.request(method, "/", body=b"abc" if method == "POST" else None)
            self.assertEqual((r.status, r.backend), (200, "a"), (i, method))
        m = harness.metrics(lb)
        self.assertEqual(harness.metric_value(m, "lb_upstream_retries_total", pool="p"), 0)


class RetryBudgetTest(harness.LbTestCase):
    N = 300

    def run_failing(self, budget_percent):
        # Three endpoints answering 503 to everything, attempts 2: unbounded, every
        # request would be sent three times.
        bs = [self.backend(n) for n in "abc"]
        lb = self.lb(harness.config([harness.pool("p", *bs)],
                                    routes=[retry_route("p", attempts=2, on=[503],
                                                        budget_percent=budget_percent)]))
        c = self.client(lb.port)
        for i in range(self.N):
            r = c.request("GET", "/?status=503")
            self.assertIn(r.status, (502, 503), r)
        upstream = sum(b.requests() for b in bs)
        retries = harness.metric_value(harness.metrics(lb), "lb_upstream_retries_total", pool="p")
        return upstream, retries

    def test_budget_caps_retries(self):
        upstream, retries = self.run_failing(20)
        # 10 tokens to start, +0.2 per request: at most 10 + 0.2 x N retries.
        cap = 10 + 0.2 * self.N
        self.assertLessEqual(upstream - self.N, cap + 1, f"{upstream} upstream requests for {self.N}")
        self.assertGreaterEqual(upstream - self.N, cap * 0.8, "the budget was not used")
        self.assertEqual(retries, upstream - self.N)

    def test_full_budget_retries_everything(self):
        upstream, retries = self.run_failing(100)
        # +1 token per request, 2 retries each: the budget runs dry after ~10 requests, then
        # pays for one retry per request.
        self.assertGreaterEqual(upstream, 2 * self.N, upstream)
        self.assertLessEqual(upstream, 2 * self.N + 12, upstream)

    def test_zero_budget_no_status_retries(self):
        upstream, retries = self.run_failing(0)
        self.assertLessEqual(upstream, self.N + 10, upstream)  # only the starting tokens

    def test_connect_failures_not_budgeted(self):
        # budget_percent 0 and most endpoints dead: connect-failure retries still happen.
        a = self.backend("a")
        dead = [f"127.0.0.1:{harness.refusing_port()}" for _ in range(2)]
        lb = self.lb(harness.config([harness.pool("p", *dead, a)],
                                    routes=[retry_route("p", attempts=2, budget_percent=0)]))
        c = self.client(lb.port)
        for _ in range(60):
            r = c.request("GET", "/")
            self.assertEqual((r.status, r.backend), (200, "a"))


class RetryEdgeTest(harness.LbTestCase):
    def test_single_endpoint_keeps_upstream_status(self):
        # docs: "When an attempt fails and is not retried, the client gets ... the
        # upstream's own 5xx response." With one endpoint there is nothing to retry on.
        bad = harness.ScriptedBackend("bad", status=503)
        self.addCleanup(bad.stop)
        lb = self.lb(harness.config([harness.pool("p", bad)],
                                    routes=[retry_route("p", attempts=2, on=[503])]))
        r = harness.get(lb.port, "/")
        self.assertEqual((r.status, r.backend), (503, "bad"), r)
        self.assertEqual(bad.requests(), 1)
        m = harness.metrics(lb)
        self.assertEqual(harness.metric_value(m, "lb_upstream_retries_total", pool="p"), 0)

    def test_single_dead_endpoint_reports_connect_failure(self):
        # Nothing to retry on: the answer names what happened (connect_failed), and no
        # retry is counted.
        dead = f"127.0.0.1:{harness.refusing_port()}"
        lb = self.lb(harness.config([harness.pool("p", dead)]))
        self.assertEqual(harness.get(lb.port, "/").status, 502)
        rec = harness.wait_access_records(lb, 1)[-1]
        self.assertEqual((rec["reason"], rec["attempts"]), ("connect_failed", 1), rec)
        m = harness.metrics(lb)
        self.assertEqual(harness.metric_value(m, "lb_upstream_retries_total", pool="p"), 0)

    def test_every_endpoint_tried_keeps_upstream_status(self):
        # Two endpoints answering 503, attempts 2: after both answered, nothing is left to
        # retry on; the client should get the last upstream 503, not a 502 of lb's own.
        bads = [harness.ScriptedBackend(f"bad{i}", status=503) for i in range(2)]
        for b in bads:
            self.addCleanup(b.stop)
        lb = self.lb(harness.config([harness.pool("p", *bads)],
                                    routes=[retry_route("p", attempts=2, on=[503])]))
        r = harness.get(lb.port, "/")
        self.assertEqual(r.status, 503, r)
        self.assertIsNotNone(r.backend, r)
        self.assertEqual(sum(b.requests() for b in bads), 2)


if __name__ == "__main__":
    unittest.main()
