"""The issue's proof: kill one of three backends in the middle of a bounded load of GETs ->
no failed GET, the dead one marked down within interval x threshold, back in rotation
after a restart on the same port, with slow start visible in its share. And the hash
balancers under a marked-down endpoint: only its keys move, and they come back."""

import signal
import time
import unittest

from lib import harness

INTERVAL = 0.4
THRESHOLD = 2
TIMEOUT = 0.2
SLOW_START = 3.0


class KillUnderLoadTest(harness.LbTestCase):
    def health_events(self, lb, endpoint):
        return harness.log_events(lb, "endpoint health changed", endpoint=endpoint)

    def test_kill_one_of_three_under_load(self):
        a, b, c = self.backend("a"), self.backend("b"), self.backend("c")
        c_port = c.port
        c_ep = c.endpoint()
        pool = harness.pool("p", a, b, c, slow_start=f"{int(SLOW_START)}s",
                            health_check={"type": "http", "path": "/healthz", "interval": "400ms",
                                          "timeout": "200ms", "healthy_threshold": THRESHOLD,
                                          "unhealthy_threshold": THRESHOLD})
        lb = self.lb(harness.config([pool], workers=2))
        # Past the startup ramp (endpoints present at startup slow-start too).
        time.sleep(SLOW_START)
        load = harness.Load(lb.port, threads=4, total=20000, duration=SLOW_START + 9.0,
                            pace=0.004).start()
        self.addCleanup(load.stop)
        time.sleep(1.0)

        # Kill c mid-load, as a crash would (SIGKILL: no goodbye on its connections).
        c.proc.send_signal(signal.SIGKILL)
        t_kill = time.monotonic()
        c.stop()  # reaps it
        down = harness.wait_until(lambda: any(e.get("healthy") == "false" for e in self.health_events(lb, c_ep)),
                                  5.0, 0.02)
        t_down = time.monotonic()
        self.assertTrue(down, "c was never marked down")
        # interval x threshold, plus one interval for where the kill fell between checks,
        # 10% jitter, one probe timeout and scheduling slack.
        bound = (THRESHOLD + 1) * INTERVAL * 1.1 + TIMEOUT + 0.5
        self.assertLess(t_down - t_kill, bound, f"marked down after {t_down - t_kill:.2f}s")
        eps = harness.pool_endpoints(lb, "p")
        self.assertFalse(eps[c_ep]["healthy"], eps)
        self.assertTrue(eps[a.endpoint()]["healthy"] and eps[b.endpoint()]["healthy"], eps)
        self.assertEqual(harness.metric_value(harness.metrics(lb), "lb_upstream_endpoint_healthy",
                                              pool="p", endpoint=c_ep), 0.0)
        time.sleep(0.5)  # a stretch with c down

        # Restart c on the same port; it comes back after healthy_threshold good checks.
        c2 = self.backend("c", listen=f"127.0.0.1:{c_port}")
        t_restart = time.monotonic()
        up = harness.wait_until(lambda: any(e.get("healthy") == "true" for e in self.health_events(lb, c_ep)),
                                5.0, 0.02)
        t_up = time.monotonic()
        self.assertTrue(up, "c never came back")
        self.assertLess(t_up - t_restart, (THRESHOLD + 1) * INTERVAL * 1.1 + 0.5)

        records = load.join()
        self.assertGreater(len(records), 1000)
        # No failed GET, from the kill to the end.
        failed = [r for r in records if r[2] != 200]
        self.assertEqual(failed, [], f"{len(failed)} of {len(records)} GETs failed")
        # Load reached the end of the slow-start window.
        self.assertGreater(max(r[0] for r in records), t_up + SLOW_START)

        def c_share(t0, t1):
            w = [r for r in records if t0 <= r[0] < t1]
            return sum(1 for r in w if r[3] == "c") / len(w), len(w)

        before, _ = c_share(load.t0, t_kill - 0.05)
        while_down, n_down = c_share(t_down + 0.05, t_restart)
        early, n_early = c_share(t_up, t_up + 1.0)
        late, n_late = c_share(t_up + SLOW_START - 1.0, t_up + SLOW_START)
        shares = f"before {before:.2f}, down {while_down:.2f}, early {early:.2f}, late {late:.2f}"
        self.assertAlmostEqual(before, 1 / 3, delta=0.05, msg=shares)
        self.assertGreater(n_down, 50)
        self.assertEqual(while_down, 0.0, shares)
        self.assertGreater(n_early, 50)
        self.assertGreater(n_late, 50)
        # Slow start: fewer requests in the first part of the window than later.
        self.assertGreater(early, 0.0, shares)
        self.assertLess(early, 0.2, shares)
        self.assertGreater(late, early * 1.5, shares)
        self.assertGreater(c2.requests(), 0)


class HashMarkedDownTest(harness.LbTestCase):
    KEYS = [f"k{i}" for i in range(200)]

    def mapping(self, lb):
        with harness.Client(lb.port) as cl:
            out = {}
            for k in self.KEYS:
                r = cl.request("GET", "/", headers=[("X-User", k)])
                self.assertEqual(r.status, 200, r)
                out[k] = r.backend
            return out

    def test_marked_down_endpoint_keys_move_and_return(self):
        for balancer in ("ring_hash", "maglev"):
            with self.subTest(balancer=balancer):
                bs = [self.backend(n) for n in "abcd"]
                pool = harness.pool("p", *bs, hash_key="header:x-user",
                                    health_check={"interval": "300ms", "timeout": "200ms",
                                                  "healthy_threshold": 1, "unhealthy_threshold": 1})
                pool["balancer"] = balancer
                lb = self.lb(harness.config([pool]))
                before = self.mapping(lb)
                d = bs[3]
                port, ep = d.port, d.endpoint()
                d.stop()
                self.assertTrue(harness.wait_until(
                    lambda: not harness.pool_endpoints(lb, "p")[ep]["healthy"], 3.0))
                during = self.mapping(lb)
                moved = [k for k in self.KEYS if before[k] != during[k]]
                # Only d's keys moved: the table/ring is not rebuilt for a down endpoint.
                self.assertEqual(sorted(moved), sorted(k for k in self.KEYS if before[k] == "d"))
                self.assertLess(len(moved) / len(self.KEYS), 0.25 + 0.12)
                self.backend("d", listen=f"127.0.0.1:{port}")
                self.assertTrue(harness.wait_until(
                    lambda: harness.pool_endpoints(lb, "p")[ep]["healthy"], 3.0))
                self.assertEqual(self.mapping(lb), before)


if __name__ == "__main__":
    unittest.main()
