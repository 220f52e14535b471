"""Each balancer's distribution against its weights, with real backends and one worker
(one balancer state), over a bounded number of requests."""

import collections
import math
import threading
import unittest

from lib import harness


def within(testcase, counts, weights, n, sigmas=4.5, label=""):
    """Each endpoint's count lies within `sigmas` binomial standard deviations of n*w/W."""
    total = sum(weights.values())
    for name, w in weights.items():
        p = w / total
        mean = n * p
        sd = math.sqrt(n * p * (1 - p))
        testcase.assertLessEqual(abs(counts.get(name, 0) - mean), sigmas * sd + 1,
                                 f"{label}: {name} got {counts.get(name, 0)} of {n}, expected ~{mean:.0f} "
                                 f"(weights {weights}); all: {dict(counts)}")


class DistributionTest(harness.LbTestCase):
    WEIGHTS = {"a": 1, "b": 2, "c": 5}

    def start(self, balancer, **pool_opts):
        bs = [self.backend(n) for n in self.WEIGHTS]
        p = harness.pool("p", *bs, weights=list(self.WEIGHTS.values()), **pool_opts)
        p["balancer"] = balancer
        return bs, self.lb(harness.config([p]))

    def sequential(self, lb, n):
        c = self.client(lb.port)
        self.seq = []
        for i in range(n):
            r = c.request("GET", f"/?i={i}")
            self.assertEqual(r.status, 200, r)
            self.seq.append(r.backend)
        return collections.Counter(self.seq)

    def test_round_robin_exact(self):
        bs, lb = self.start("round_robin")
        n = 8 * 25
        counts = self.sequential(lb, n)
        self.assertEqual(counts, {k: 25 * w for k, w in self.WEIGHTS.items()})
        # The backends saw exactly what the client saw.
        self.assertEqual([b.requests() for b in bs], [25 * w for w in self.WEIGHTS.values()])

    def test_random_weighted(self):
        _, lb = self.start("random")
        n = 1600
        counts = self.sequential(lb, n)
        within(self, counts, self.WEIGHTS, n, label="random")
        # Random, not a rotation: a weighted round robin gives every 8 consecutive picks
        # exactly the weights; independent draws do not.
        windows = [collections.Counter(self.seq[i:i + 8]) for i in range(0, n - 8, 8)]
        exact = sum(1 for w in windows if w == collections.Counter(self.WEIGHTS))
        self.assertLess(exact, len(windows) // 2, "random looks like a rotation")

    def test_least_request_idle_follows_weights(self):
        # Sequential requests: nothing is ever in flight, every P2C pair ties, and the pick
        # is the first of the pair, drawn by weight.
        _, lb = self.start("least_request")
        n = 1600
        counts = self.sequential(lb, n)
        within(self, counts, self.WEIGHTS, n, label="least_request")

    def test_least_conn_without_keepalive_follows_weights(self):
        # No idle upstream connections: every pick sees 0 open connections everywhere and
        # ties are broken by smooth weighted round robin, so the shares are exact.
        _, lb = self.start("least_conn", keepalive={"max_idle": 0})
        n = 8 * 10
        counts = self.sequential(lb, n)
        self.assertEqual(counts, {k: 10 * w for k, w in self.WEIGHTS.items()})

    def test_least_conn_spreads_open_connections_by_weight(self):
        # 8 slow requests held open at once: each new one goes to the endpoint with the
        # fewest open connections relative to its weight -> 4, 2, 2 for weights 2, 1, 1.
        a, b, c = self.backend("a"), self.backend("b"), self.backend("c")
        p = harness.pool("p", a, b, c, weights=[2, 1, 1])
        p["balancer"] = "least_conn"
        lb = self.lb(harness.config([p]))
        results = []
        lock = threading.Lock()

        def one(i):
            r = harness.get(lb.port, f"/?delay=1500&i={i}", timeout=10)
            with lock:
                results.append(r)

        threads = []
        for i in range(8):
            t = threading.Thread(target=one, args=(i,), daemon=True)
            t.start()
            threads.append(t)
            # Let lb open this request's upstream connection before the next pick.
            harness.wait_until(lambda: sum(e["connections"] for e in
                                           harness.pool_endpoints(lb, "p").values()) >= i + 1, 1.0, 0.01)
        for t in threads:
            t.join(15)
        self.assertEqual([r.status for r in results], [200] * 8)
        self.assertEqual(collections.Counter(r.backend for r in results), {"a": 4, "b": 2, "c": 2})

    def test_weighted_hash_spread(self):
        # Hash balancers spread many keys roughly by weight.
        for balancer in ("ring_hash", "maglev"):
            with self.subTest(balancer=balancer):
                bs = [self.backend(n) for n in "xyz"]
                p = harness.pool("p", *bs, weights=[1, 1, 2], hash_key="header:x-user")
                p["balancer"] = balancer
                lb = self.lb(harness.config([p]))
                c = self.client(lb.port)
                counts = collections.Counter()
                n = 800
                for k in range(n):
                    r = c.request("GET", "/", headers=[("X-User", f"user-{k}")])
                    self.assertEqual(r.status, 200, r)
                    counts[r.backend] += 1
                shares = {k: v / n for k, v in counts.items()}
                # Loose: hashing is not sampling, but a 1:1:2 table is within +-8 points.
                for name, want in (("x", 0.25), ("y", 0.25), ("z", 0.5)):
                    self.assertLess(abs(shares.get(name, 0) - want), 0.08, f"{balancer}: {shares}")


if __name__ == "__main__":
    unittest.main()
