"""least_request (P2C over in-flight requests) steers around a slow backend that
round_robin keeps feeding its full share, under the same bounded concurrent load."""

import collections
import unittest

from lib import harness


class LeastRequestTest(harness.LbTestCase):
    THREADS = 6
    TOTAL = 240

    def share_of_slow(self, balancer):
        a, b = self.backend("a"), self.backend("b")
        slow = harness.ScriptedBackend("slow", delay=0.15)
        self.addCleanup(slow.stop)
        p = harness.pool("p", a, b, slow)
        p["balancer"] = balancer
        lb = self.lb(harness.config([p]))
        load = harness.Load(lb.port, threads=self.THREADS, total=self.TOTAL, duration=25.0).start()
        records = load.join()
        self.assertEqual([r for r in records if r[2] != 200], [], f"{balancer}: failed requests")
        counts = collections.Counter(r[3] for r in records)
        self.assertEqual(sum(counts.values()), self.TOTAL, f"{balancer}: load was cut short: {counts}")
        self.assertEqual(slow.requests(), counts["slow"])
        return counts["slow"] / self.TOTAL, counts

    def test_slow_backend_gets_less_with_least_request(self):
        rr, rr_counts = self.share_of_slow("round_robin")
        lr, lr_counts = self.share_of_slow("least_request")
        # round_robin ignores load: a third each.
        self.assertAlmostEqual(rr, 1 / 3, delta=0.02, msg=f"round_robin: {rr_counts}")
        # least_request sees the slow one's requests pile up in flight and avoids it.
        self.assertLess(lr, rr / 2, f"least_request {lr_counts} vs round_robin {rr_counts}")

    def test_least_conn_also_avoids_slow(self):
        # least_conn counts open connections: the slow backend's stay busy (and more of
        # them get opened), so it is picked less too.
        lc, lc_counts = self.share_of_slow("least_conn")
        self.assertLess(lc, 1 / 3 - 0.05, f"least_conn: {lc_counts}")


if __name__ == "__main__":
    unittest.main()
