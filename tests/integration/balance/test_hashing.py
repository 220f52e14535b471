"""Consistent hashing (ip_hash, ring_hash, maglev) with real backends: a key sticks to one
endpoint; when one of N endpoints leaves (reload, or passive ejection) only its ~1/N of the
keys move, and they go back when it returns."""

import collections
import unittest

from lib import harness

KEYS = [f"user-{k}" for k in range(240)]


class HashTestBase(harness.LbTestCase):
    def hash_pool(self, balancer, backends, hash_key="header:x-user", **opts):
        p = harness.pool("p", *backends, hash_key=hash_key, **opts)
        p["balancer"] = balancer
        return p

    def mapping(self, lb, keys=KEYS, header="X-User"):
        """{key: backend} over one keep-alive connection; every answer must be a 200."""
        c = harness.Client(lb.port)
        try:
            out = {}
            for k in keys:
                r = c.request("GET", "/", headers=[(header, k)])
                self.assertEqual(r.status, 200, r)
                out[k] = r.backend
            return out
        finally:
            c.close()

    def assert_only_leavers_moved(self, before, after, gone, n, balancer, extra_moves=0.0):
        moved = [k for k in before if before[k] != after[k]]
        left = [k for k in before if before[k] == gone]
        # Every key of the endpoint that left moved, to the remaining ones.
        self.assertTrue(all(after[k] != gone for k in left), f"{balancer}: keys still on {gone}")
        # Keys of the endpoints that stayed stay where they were (Maglev may move a few
        # more: its table is rebuilt, not just patched).
        stayed_moved = [k for k in moved if before[k] != gone]
        self.assertLessEqual(len(stayed_moved), extra_moves * len(before),
                             f"{balancer}: {len(stayed_moved)} keys of staying endpoints moved")
        # About 1/N of all keys moved.
        frac = len(moved) / len(before)
        self.assertLess(frac, 1 / n + 0.12, f"{balancer}: {frac:.2f} of the keys moved (N={n})")
        self.assertGreater(frac, 1 / n - 0.12, f"{balancer}: {frac:.2f} of the keys moved (N={n})")


class StickinessTest(HashTestBase):
    def test_header_key_sticks_and_spreads(self):
        for balancer in ("ip_hash", "ring_hash", "maglev"):
            with self.subTest(balancer=balancer):
                bs = [self.backend(n) for n in "abcd"]
                lb = self.lb(harness.config([self.hash_pool(balancer, bs)]))
                first = self.mapping(lb)
                # Again, in another order and over fresh connections for some: same answers.
                again = self.mapping(lb, keys=list(reversed(KEYS)))
                self.assertEqual(first, again)
                for k in KEYS[:10]:
                    r = harness.get(lb.port, "/", headers=[("X-User", k)])
                    self.assertEqual(r.backend, first[k])
                counts = collections.Counter(first.values())
                self.assertEqual(set(counts), set("abcd"), counts)
                self.assertGreaterEqual(min(counts.values()), len(KEYS) // 10, counts)

    def test_client_ip_key(self):
        # ip_hash on the default key, client_ip: 40 clients on 127.0.0.10..49. The client
        # port never matters: every connection from one address lands on one backend.
        bs = [self.backend(n) for n in "abc"]
        p = self.hash_pool("ip_hash", bs, hash_key="client_ip")
        lb = self.lb(harness.config([p]))
        seen = collections.defaultdict(set)
        for i in range(10, 50):
            src = f"127.0.0.{i}"
            for _ in range(3):
                c = harness.BoundClient(lb.port, src)
                try:
                    r = c.request("GET", "/")
                    self.assertEqual(r.status, 200, r)
                    seen[src].add(r.backend)
                finally:
                    c.close()
        self.assertTrue(all(len(v) == 1 for v in seen.values()), dict(seen))
        self.assertEqual(set().union(*seen.values()), set("abc"))

    def test_cookie_key(self):
        bs = [self.backend(n) for n in "abc"]
        lb = self.lb(harness.config([self.hash_pool("ring_hash", bs, hash_key="cookie:sid")]))
        c = self.client(lb.port)
        where = {}
        for k in range(60):
            for other in ("x=1", "x=2; y=3"):
                r = c.request("GET", "/", headers=[("Cookie", f"{other}; sid=s{k}")])
                self.assertEqual(r.status, 200, r)
                where.setdefault(k, set()).add(r.backend)
        # Other cookies around it do not matter; the sid value alone decides.
        self.assertTrue(all(len(v) == 1 for v in where.values()), where)
        self.assertEqual(set().union(*where.values()), set("abc"))

    def test_path_key_ignores_query(self):
        bs = [self.backend(n) for n in "abc"]
        lb = self.lb(harness.config([self.hash_pool("maglev", bs, hash_key="path")]))
        c = self.client(lb.port)
        where = collections.defaultdict(set)
        for k in range(60):
            for q in range(3):
                r = c.request("GET", f"/u/{k}?q={q}")
                self.assertEqual(r.status, 200, r)
                where[k].add(r.backend)
        self.assertTrue(all(len(v) == 1 for v in where.values()), dict(where))
        self.assertEqual(set().union(*where.values()), set("abc"))


class RemapOnReloadTest(HashTestBase):
    def test_remove_and_return_by_reload(self):
        for balancer, extra in (("ring_hash", 0.0), ("ip_hash", 0.0), ("maglev", 0.05)):
            with self.subTest(balancer=balancer):
                bs = [self.backend(n) for n in "abcd"]
                lb = self.lb(harness.config([self.hash_pool(balancer, bs)]))
                before = self.mapping(lb)
                # d leaves the pool by config.
                r = harness.reload_lb(lb, harness.config([self.hash_pool(balancer, bs[:3])]))
                self.assertEqual(r.status, 200, r)
                after = self.mapping(lb)
                self.assertNotIn("d", after.values())
                self.assert_only_leavers_moved(before, after, "d", 4, balancer, extra)
                # d comes back: the keys go back where they were.
                r = harness.reload_lb(lb, harness.config([self.hash_pool(balancer, bs)]))
                self.assertEqual(r.status, 200, r)
                back = self.mapping(lb)
                same = sum(1 for k in KEYS if back[k] == before[k])
                self.assertGreaterEqual(same, len(KEYS) * (1 - extra), f"{balancer}: {same}/{len(KEYS)} back")


class RemapOnEjectionTest(HashTestBase):
    def test_ejected_endpoint_keys_move_then_return(self):
        # d dies: connect failures are retried on the next endpoint (no client error) and
        # eject d after 2 in a row; only d's keys move. d restarts on its port and is
        # back in its keys once the ejection ends.
        bs = [self.backend(n) for n in "abcd"]
        pool = self.hash_pool("ring_hash", bs,
                              outlier={"consecutive_failures": 2, "base_ejection": "1s",
                                       "max_ejected_percent": 50})
        lb = self.lb(harness.config([pool]))
        before = self.mapping(lb)
        d = bs[3]
        port = d.port
        d.stop()
        during = self.mapping(lb)
        self.assert_only_leavers_moved(before, during, "d", 4, "ring_hash")
        self.assertEqual(len(harness.wait_log_events(lb, "endpoint ejected", endpoint=d.endpoint())), 1)
        d2 = self.backend("d", listen=f"127.0.0.1:{port}")
        # Ejected for 1s from the second failure: well before 3s its keys are home again.
        ok = harness.wait_until(lambda: self.mapping(lb) == before, 4.0, 0.2)
        self.assertTrue(ok, "d's keys did not return after the ejection")
        self.assertGreater(d2.requests(), 0)


if __name__ == "__main__":
    unittest.main()
