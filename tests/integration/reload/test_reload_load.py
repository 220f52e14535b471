"""Hot reload under a bounded continuous load: no request fails, no connection is reset,
and the new routing is what new requests get as soon as the reload has completed."""

import signal
import time
import unittest

from lib import harness
from reload import support

RELOADS = 20
GAP = 0.3  # seconds of load between two reloads


def backend_for(pool):
    return {"pa": "a", "pb": "b"}[pool]


class ReloadUnderLoadTest(harness.LbTestCase):
    def setUp(self):
        self.a = self.backend("a")
        self.b = self.backend("b")
        self.cfg = {p: support.two_pool_config(self.a, self.b, p, workers=2) for p in ("pa", "pb")}
        self.lb_ = self.lb(self.cfg["pa"])
        self.assertEqual(harness.get(self.lb_.port, "/x").backend, "a")

    def check_windows(self, results, reloads, kind):
        """reloads: [(t_started, t_done, backend)]. A request of `kind` sent after reload i
        was done and answered before reload i+1 started must come from reload i's backend;
        one answered before the first reload started, from the initial backend ("a")."""
        wrong = []
        per_window = [0] * (len(reloads) + 1)
        bounds = [(float("-inf"), reloads[0][0], "a")]
        for i, (_, done, backend) in enumerate(reloads):
            nxt = reloads[i + 1][0] if i + 1 < len(reloads) else float("inf")
            bounds.append((done, nxt, backend))
        for r in results:
            if r.kind != kind or r.error is not None:
                continue
            for w, (lo, hi, backend) in enumerate(bounds):
                if r.t0 > lo and r.t1 < hi:
                    per_window[w] += 1
                    if r.backend != backend:
                        wrong.append((w, backend, r))
                    break
        return wrong, per_window

    def assert_load_clean(self, load, results):
        failures = [r for r in results if r.error is not None or r.status != 200]
        resets = load.resets()
        with self.subTest(check="no failed request"):
            self.assertEqual(len(failures), 0,
                             f"{len(failures)} of {len(results)} requests failed, first: {failures[:10]}")
        with self.subTest(check="no reset connection"):
            self.assertEqual(len(resets), 0, f"{len(resets)} connections reset/closed early: {resets[:10]}")
        with self.subTest(check="keep-alive connections survived"):
            conns = {(r.thread, r.conn) for r in results if r.kind == "keepalive"}
            threads = {r.thread for r in results if r.kind == "keepalive"}
            self.assertEqual(len(conns), len(threads), "a keep-alive client had to reconnect")

    def assert_routing(self, results, reloads):
        for kind in ("fresh", "keepalive"):
            wrong, per_window = self.check_windows(results, reloads, kind)
            with self.subTest(check=f"new routing right after each reload ({kind} connections)"):
                self.assertEqual(wrong, [], f"{len(wrong)} {kind} requests were routed by the previous "
                                            f"config after the reload completed; first: {wrong[:5]}")
                # Every window saw traffic of this kind, so the check is not vacuous.
                self.assertTrue(all(n > 0 for n in per_window),
                                f"windows without {kind} requests: {per_window}")

    def test_20_reloads_by_post_under_load(self):
        lb = self.lb_
        load = support.Load(lb.port, "/x", keepalive=2, fresh=2, max_requests=200000, max_seconds=25).start()
        self.addCleanup(load.stop)
        time.sleep(GAP)
        reloads = []
        versions = []
        for i in range(RELOADS):
            pool = "pb" if i % 2 == 0 else "pa"
            support.write_atomic(lb.config_path, self.cfg[pool])
            t0 = time.monotonic()
            status, body = support.post_reload(lb)
            t1 = time.monotonic()
            self.assertEqual(status, 200, f"reload {i + 1}: {body}")
            versions.append(body["version"])
            reloads.append((t0, t1, backend_for(pool)))
            time.sleep(GAP)
        load.stop()
        results = load.snapshot()
        self.assertGreater(len(results), RELOADS * 10, "the load generator barely ran")
        self.assertLess(time.monotonic() - load.t_start, 25, "the load ran into its time bound")

        self.assert_load_clean(load, results)
        with self.subTest(check="one version per reload"):
            self.assertEqual(versions, list(range(2, RELOADS + 2)))
            time.sleep(0.4)  # the file watch sees the same bytes: no extra reload
            self.assertEqual(support.config_version(lb), RELOADS + 1)
            m = support.metrics(lb)
            self.assertEqual(m.get("lb_config_reloads_total", result="success"), RELOADS + 1)
            self.assertEqual(m.get("lb_config_reloads_total", result="failure"), 0)
            logged = [r for r in lb.log_records() if r.get("msg") == "config reloaded"]
            self.assertEqual([(r.get("trigger"), r.get("version")) for r in logged],
                             [("POST /reload", str(v)) for v in versions])
        self.assert_routing(results, reloads)
        # Every request reached a backend and was counted there exactly once.
        with self.subTest(check="backends saw every request"):
            ok = sum(1 for r in results if r.error is None)
            self.assertEqual(self.a.requests() + self.b.requests(), ok + 1)  # +1: setUp's request

    def test_reloads_by_every_trigger_under_load(self):
        # SIGHUP, POST /reload and a file change, twice each; a reload is done when lb logs
        # "config reloaded" with its version.
        lb = self.lb_
        load = support.Load(lb.port, "/x", keepalive=2, fresh=2, max_requests=200000, max_seconds=20).start()
        self.addCleanup(load.stop)
        time.sleep(GAP)
        reloads = []
        triggers = ["SIGHUP", "POST /reload", "file change"] * 2
        for i, trigger in enumerate(triggers):
            pool = "pb" if i % 2 == 0 else "pa"
            version = i + 2
            start = len(lb.log_lines())
            t0 = time.monotonic()
            support.write_atomic(lb.config_path, self.cfg[pool])
            if trigger == "SIGHUP":
                lb.signal(signal.SIGHUP)
            elif trigger == "POST /reload":
                status, body = support.post_reload(lb)
                self.assertEqual((status, body), (200, {"version": version}))
            rec = support.wait_log(lb, start, timeout=5, msg="config reloaded", version=version)
            t1 = time.monotonic()
            self.assertIsNotNone(rec, f"reload {i + 1} ({trigger}) not logged within 5 s")
            self.assertEqual(rec.get("trigger"), trigger)
            reloads.append((t0, t1, backend_for(pool)))
            time.sleep(GAP)
        load.stop()
        results = load.snapshot()
        self.assert_load_clean(load, results)
        time.sleep(0.4)
        self.assertEqual(support.config_version(lb), len(triggers) + 1, "an extra reload happened")
        self.assert_routing(results, reloads)


if __name__ == "__main__":
    unittest.main()
