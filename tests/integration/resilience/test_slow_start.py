"""slow_start: an endpoint that (re)joins -- back from ejection, or added by a reload --
starts at 10% of its weight and ramps linearly to 100% over slow_start."""

import collections
import time
import unittest

from lib import harness

SLOW_START = 4.0


def share(records, name, t0, t1):
    window = [r for r in records if t0 <= r[0] < t1 and r[2] == 200]
    return (sum(1 for r in window if r[3] == name) / len(window)) if window else None, len(window)


class SlowStartTest(harness.LbTestCase):
    def ramp_load(self, lb, duration):
        """Paced sequential-ish load over `duration` s; returns its records."""
        load = harness.Load(lb.port, threads=2, total=4000, duration=duration, pace=0.004).start()
        records = load.join()
        self.assertEqual([r for r in records if r[2] != 200], [], "failed requests")
        return load.t0, records

    def assert_ramps(self, records, t_join, name, full_share):
        early, n_early = share(records, name, t_join, t_join + 1.0)
        late, n_late = share(records, name, t_join + SLOW_START - 1.0, t_join + SLOW_START)
        after, n_after = share(records, name, t_join + SLOW_START + 0.3, t_join + SLOW_START + 1.5)
        self.assertGreater(n_early, 50)
        self.assertGreater(n_late, 50)
        msg = f"{name}: share first second {early}, last second {late}, after {after}"
        # First second: weight 10%..32% of full -> about a third of its full share at most.
        self.assertLess(early, full_share * 0.5, msg)
        self.assertGreater(early, 0.0, msg)  # still a trickle, never zero
        # Last second of the ramp: 77%..100%.
        self.assertGreater(late, early * 1.8, msg)
        if after is not None and n_after > 50:
            self.assertAlmostEqual(after, full_share, delta=0.08, msg=msg)

    def test_ramp_after_ejection(self):
        a, b = self.backend("a"), self.backend("b")
        flaky = harness.ScriptedBackend("flaky", status=500)
        self.addCleanup(flaky.stop)
        pool = harness.pool("p", a, b, flaky, slow_start=f"{int(SLOW_START)}s",
                            outlier={"consecutive_failures": 2, "base_ejection": "1s",
                                     "max_ejected_percent": 50})
        lb = self.lb(harness.config([pool]))
        time.sleep(SLOW_START + 0.2)  # past the startup ramp of all three
        c = self.client(lb.port)
        for _ in range(6):
            c.request("GET", "/")
        self.assertTrue(harness.pool_endpoints(lb, "p")[flaky.endpoint()]["ejected"])
        t_ejected = time.monotonic()
        flaky.status = 200
        # The ejection ends 1 s after it began: slow start ramps from there.
        t0, records = self.ramp_load(lb, 1.0 + SLOW_START + 1.5)
        t_back = t_ejected + 1.0
        self.assertEqual(share(records, "flaky", t0, t_back - 0.1)[0], 0.0)
        self.assert_ramps(records, t_back, "flaky", 1 / 3)

    def test_ramp_of_endpoint_added_by_reload(self):
        a, b, c = self.backend("a"), self.backend("b"), self.backend("c")
        opts = {"slow_start": f"{int(SLOW_START)}s"}
        lb = self.lb(harness.config([harness.pool("p", a, b, **opts)]))
        # Endpoints present at startup are new too and ramp from there: let a and b
        # reach their full weight first, so only c's ramp is measured.
        time.sleep(SLOW_START + 0.2)
        load = harness.Load(lb.port, threads=2, total=4000, duration=SLOW_START + 2.5, pace=0.004).start()
        time.sleep(0.5)
        t_added = time.monotonic()
        r = harness.reload_lb(lb, harness.config([harness.pool("p", a, b, c, **opts)]))
        self.assertEqual(r.status, 200, r)
        records = load.join()
        self.assertEqual([x for x in records if x[2] != 200], [], "failed requests")
        self.assert_ramps(records, t_added, "c", 1 / 3)

    def test_no_slow_start_full_share_at_once(self):
        a, b, c = self.backend("a"), self.backend("b"), self.backend("c")
        lb = self.lb(harness.config([harness.pool("p", a, b)]))
        r = harness.reload_lb(lb, harness.config([harness.pool("p", a, b, c)]))
        self.assertEqual(r.status, 200, r)
        cl = self.client(lb.port)
        counts = collections.Counter(cl.request("GET", "/").backend for _ in range(30))
        self.assertEqual(counts, {"a": 10, "b": 10, "c": 10})


if __name__ == "__main__":
    unittest.main()
