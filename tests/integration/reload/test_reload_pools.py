"""A reload that changes pools alone (endpoints added, removed or reweighted, as a
Kubernetes EndpointSlice does all day) builds just the pools that changed: the routers,
the other pools and each worker's state of them (balancer position, idle upstream
connections) are the running snapshot's. Any other change builds everything."""

import unittest

from lib import harness
from reload import support


class ReloadPoolsTest(harness.LbTestCase):
    def setUp(self):
        self.a = self.backend("a")
        self.b = self.backend("b")
        self.c = self.backend("c")

    def cfg(self, pb, x_prefix="/x"):
        # One worker: its round-robin position over pa is what the requests show.
        routes = [harness.route("pa", name="x", path_prefix=x_prefix, timeout="30s"),
                  harness.route("pb", name="b", path_prefix="/b", timeout="30s")]
        doc = {"workers": 1, "drain_timeout": "3s", "admin": {"listen": "127.0.0.1:0"},
               "listeners": [{"name": "web", "listen": "127.0.0.1:0", "protocol": "http", "routes": routes}],
               "pools": [harness.pool("pa", self.a, self.b), harness.pool("pb", *pb)]}
        return support.yaml_doc(doc)

    def reload(self, lb, text):
        """Reloads with `text`; returns the reload's pools_rebuilt ("all" or a count)."""
        start = len(lb.log_lines())
        support.write_atomic(lb.config_path, text)
        status, body = support.post_reload(lb)
        self.assertEqual(status, 200, body)
        rec = support.wait_log(lb, start, msg="config reloaded", version=body["version"])
        self.assertIsNotNone(rec, "no 'config reloaded' line for the reload")
        return rec.get("pools_rebuilt")

    def backends(self, lb, path, n):
        return [harness.get(lb.port, path).backend for _ in range(n)]

    def test_endpoint_change_keeps_the_other_pools_worker_state(self):
        lb = self.lb(self.cfg([self.b]))
        self.assertEqual(self.backends(lb, "/x", 3), ["a", "b", "a"])
        self.assertEqual(self.reload(lb, self.cfg([self.b, self.c])), "1")
        # pa was not built again: its round robin goes on where it was.
        self.assertEqual(self.backends(lb, "/x", 2), ["b", "a"])
        self.assertEqual(sorted(self.backends(lb, "/b", 2)), ["b", "c"])
        pools = {p["name"]: p for p in support.admin_json(lb, "/config")["pools"]}
        self.assertEqual(len(pools["pb"]["endpoints"]), 2)
        # A route change builds everything: pa's round robin starts over (after
        # five picks, going on would give b first).
        self.assertEqual(self.reload(lb, self.cfg([self.b, self.c], x_prefix="/x/")), "all")
        self.assertEqual(self.backends(lb, "/x/", 2), ["a", "b"])

    def test_same_config_rebuilds_nothing(self):
        lb = self.lb(self.cfg([self.b]))
        self.assertEqual(self.reload(lb, self.cfg([self.b])), "0")
        self.assertEqual(harness.get(lb.port, "/b").backend, "b")

    def test_an_endpoint_removed_then_added_again_starts_afresh(self):
        lb = self.lb(self.cfg([self.b, self.c]))
        self.assertEqual(sorted(self.backends(lb, "/b", 2)), ["b", "c"])
        self.assertEqual(self.reload(lb, self.cfg([self.b])), "1")
        self.assertEqual(self.reload(lb, self.cfg([self.b, self.c])), "1")
        pb = {p["name"]: p for p in support.admin_json(lb, "/pools")["pools"]}["pb"]
        counts = {e["address"]: e["requests"] for e in pb["endpoints"]}
        self.assertEqual(counts[self.b.endpoint()], {"200": 1}, "an endpoint that stayed lost its counters")
        self.assertEqual(counts[self.c.endpoint()], {}, "an endpoint removed and added again kept its old counters")

    def test_endpoint_line_added_keeps_the_pools_after_it(self):
        # Block YAML: a new endpoint line in pb moves every later line, pc's.
        # Where a pool was written is not part of it: pc is kept.
        def cfg(pb):
            doc = {"workers": 1, "drain_timeout": "3s", "admin": {"listen": "127.0.0.1:0"},
                   "listeners": [{"name": "web", "listen": "127.0.0.1:0", "protocol": "http", "routes": [
                       harness.route("pc", name="x", path_prefix="/x", timeout="30s"),
                       harness.route("pb", name="b", path_prefix="/b", timeout="30s")]}],
                   "pools": [harness.pool("pb", *pb), harness.pool("pc", self.a, self.b)]}
            return support.yaml_doc(doc)

        lb = self.lb(cfg([self.b]))
        self.assertEqual(self.backends(lb, "/x", 3), ["a", "b", "a"])
        text = cfg([self.b, self.c])
        self.assertGreater(text.count("\n"), cfg([self.b]).count("\n"))
        self.assertEqual(self.reload(lb, text), "1")
        self.assertEqual(self.backends(lb, "/x", 2), ["b", "a"])


if __name__ == "__main__":
    unittest.main()
