"""Circuit breaking: max_connections_per_endpoint counts open upstream connections across
all workers; when every endpoint is at its limit a request gets 503 at once (no queue)."""

import collections
import threading
import time
import unittest

from lib import harness


class CircuitBreakerTest(harness.LbTestCase):
    def hold(self, lb, n, delay_ms=3000):
        """Starts n slow requests, each on its own client connection; returns (threads, results)."""
        results = []
        lock = threading.Lock()

        def one(i):
            try:
                r = harness.get(lb.port, f"/?delay={delay_ms}&hold={i}", timeout=15)
                out = r.status
            except (OSError, harness.ConnectionClosed) as e:
                out = repr(e)
            with lock:
                results.append(out)

        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        return threads, results

    def open_connections(self, lb):
        return sum(e["connections"] for e in harness.pool_endpoints(lb, "p").values())

    def test_full_endpoints_answer_503_at_once(self):
        a, b = self.backend("a"), self.backend("b")
        lb = self.lb(harness.config([harness.pool("p", a, b, max_connections_per_endpoint=2,
                                                  keepalive={"max_idle": 0})]))
        threads, results = self.hold(lb, 4)
        self.assertTrue(harness.wait_until(lambda: self.open_connections(lb) == 4, 2.0),
                        harness.pool_endpoints(lb, "p"))
        self.assertEqual(a.stats()["active_connections"] + b.stats()["active_connections"], 4)
        latencies = []
        for _ in range(10):
            t = time.monotonic()
            r = harness.get(lb.port, "/")
            latencies.append(time.monotonic() - t)
            self.assertEqual(r.status, 503, r)
            self.assertIsNone(r.backend)
        # Prompt: no waiting for a slot (the held requests take 3 s).
        self.assertLess(max(latencies), 0.25, latencies)
        recs = harness.wait_access_records(lb, 10)
        self.assertEqual(collections.Counter(r["reason"] for r in recs if r["status"] == 503),
                         {"endpoints_full": 10})
        # Nothing beyond the limit reached the backends.
        self.assertEqual(a.requests() + b.requests(), 4)
        for t in threads:
            t.join(10)
        self.assertEqual(results, [200] * 4)
        # Slots free again: requests flow.
        self.assertEqual(harness.get(lb.port, "/").status, 200)

    def test_free_endpoint_still_used(self):
        # a is full, b is not: requests skip a and go to b, no 503.
        a, b = self.backend("a"), self.backend("b")
        lb = self.lb(harness.config([harness.pool("p", a, b, max_connections_per_endpoint=1,
                                                  keepalive={"max_idle": 0})]))
        threads, _ = self.hold(lb, 1)
        self.assertTrue(harness.wait_until(lambda: self.open_connections(lb) == 1, 2.0))
        held = "a" if a.stats()["active_connections"] else "b"
        for _ in range(6):
            r = harness.get(lb.port, "/")
            self.assertEqual(r.status, 200, r)
            self.assertNotEqual(r.backend, held)
        for t in threads:
            t.join(10)

    def test_limit_counts_across_workers(self):
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a, max_connections_per_endpoint=2,
                                                  keepalive={"max_idle": 0})], workers=4))
        threads, results = self.hold(lb, 2)
        self.assertTrue(harness.wait_until(lambda: self.open_connections(lb) == 2, 2.0))
        # 16 new client connections land on all four workers; each sees the endpoint full.
        statuses = collections.Counter(harness.get(lb.port, "/").status for _ in range(16))
        self.assertEqual(statuses, {503: 16})
        for t in threads:
            t.join(10)
        self.assertEqual(results, [200, 200])

    def test_idle_keepalive_connections_do_not_block_requests(self):
        # Sequential requests with the default keep-alive: each finds the connection the
        # previous one left idle. An idle pooled connection counts towards the limit, but it
        # is also there to be reused: the endpoint is not "full" for the request reusing it.
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a, max_connections_per_endpoint=1)]))
        statuses = collections.Counter()
        for _ in range(10):
            statuses[harness.get(lb.port, "/").status] += 1
        self.assertEqual(statuses, {200: 10})
        self.assertEqual(a.stats()["connections"], 1)

    def test_pools_shows_load(self):
        a, b = self.backend("a"), self.backend("b")
        lb = self.lb(harness.config([harness.pool("p", a, b, weights=[3, 1], max_connections_per_endpoint=10)]))
        threads, results = self.hold(lb, 4, delay_ms=1500)
        self.assertTrue(harness.wait_until(
            lambda: sum(e["in_flight"] for e in harness.pool_endpoints(lb, "p").values()) == 4, 2.0),
            harness.pool_endpoints(lb, "p"))
        eps = harness.pool_endpoints(lb, "p")
        self.assertEqual([e["weight"] for e in eps.values()], [3, 1])
        self.assertEqual([e["in_flight"] for e in eps.values()], [3, 1])
        self.assertEqual([e["connections"] for e in eps.values()], [3, 1])
        for t in threads:
            t.join(10)
        self.assertEqual(results, [200] * 4)
        # The client has its response before the worker ends the exchange
        # (the count drops once the last byte is written): wait for it.
        harness.wait_until(lambda: sum(e["in_flight"] for e in harness.pool_endpoints(lb, "p").values()) == 0, 2.0)
        eps = harness.pool_endpoints(lb, "p")
        self.assertEqual([e["in_flight"] for e in eps.values()], [0, 0])
        # Finished requests leave their connections idle in the pool: still open.
        self.assertEqual([e["connections"] for e in eps.values()], [3, 1])
        self.assertEqual([e["requests"] for e in eps.values()], [{"200": 3}, {"200": 1}])

    def test_no_limit_by_default(self):
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a)]))
        threads, results = self.hold(lb, 20, delay_ms=500)
        for t in threads:
            t.join(10)
        self.assertEqual(results, [200] * 20)


if __name__ == "__main__":
    unittest.main()
