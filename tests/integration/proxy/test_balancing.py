"""Smooth weighted round robin across real backends (one worker, so one balancer)."""

import collections
import unittest

from lib import harness


class BalancingTest(harness.LbTestCase):
    def sequence(self, lb, n, new_connections=False):
        seq = []
        c = None if new_connections else self.client(lb.port)
        for _ in range(n):
            r = harness.get(lb.port, "/") if new_connections else c.request("GET", "/")
            self.assertEqual(r.status, 200, r)
            seq.append(r.backend)
        return seq

    def test_weighted_5_1_1(self):
        a, b, c = self.backend("a"), self.backend("b"), self.backend("c")
        lb = self.lb(harness.config([harness.pool("p", a, b, c, weights=[5, 1, 1])]))
        seq = self.sequence(lb, 28)
        for i in range(len(seq) - 6):
            window = collections.Counter(seq[i:i + 7])
            self.assertEqual(window, collections.Counter({"a": 5, "b": 1, "c": 1}),
                             f"window {i}..{i + 6} of {seq}")
        # Smooth (a a b a c a a, repeated), not bursty (a a a a a b c): the heavy endpoint
        # never runs five in a row, and b and c are never adjacent.
        runs = "".join(seq)
        self.assertNotIn("aaaaa", runs, seq)
        self.assertNotIn("bc", runs, seq)
        self.assertNotIn("cb", runs, seq)
        self.assertEqual([a.requests(), b.requests(), c.requests()], [20, 4, 4])

    def test_weighted_across_client_connections(self):
        a, b = self.backend("a"), self.backend("b")
        lb = self.lb(harness.config([harness.pool("p", a, b, weights=[2, 1])]))
        seq = self.sequence(lb, 12, new_connections=True)
        for i in range(len(seq) - 2):
            self.assertEqual(collections.Counter(seq[i:i + 3]), collections.Counter({"a": 2, "b": 1}),
                             f"window {i} of {seq}")

    def test_equal_weights_rotate(self):
        backends = [self.backend(n) for n in "abcd"]
        lb = self.lb(harness.config([harness.pool("p", *backends)]))
        seq = self.sequence(lb, 16)
        for i in range(len(seq) - 3):
            self.assertEqual(sorted(seq[i:i + 4]), ["a", "b", "c", "d"], seq)

    def test_pools_balance_independently(self):
        a, b, c, d = (self.backend(n) for n in "abcd")
        pools = [harness.pool("p1", a, b), harness.pool("p2", c, d)]
        routes = [harness.route("p1", path_prefix="/one"), harness.route("p2", path_prefix="/two")]
        lb = self.lb(harness.config(pools, routes=routes))
        cl = self.client(lb.port)
        seq1, seq2 = [], []
        for _ in range(6):
            seq1.append(cl.request("GET", "/one").backend)
            seq2.append(cl.request("GET", "/two").backend)
        for i in range(len(seq1) - 1):
            self.assertEqual(sorted(seq1[i:i + 2]), ["a", "b"], seq1)
            self.assertEqual(sorted(seq2[i:i + 2]), ["c", "d"], seq2)


if __name__ == "__main__":
    unittest.main()
