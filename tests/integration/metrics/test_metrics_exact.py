"""/metrics after a known mix of traffic: every counter and histogram count equals what was
sent, across workers, with no series missing and none extra."""

import re
import time
import unittest

from lib import harness
from metrics import mix as mixmod
from reload import support

DESIGN_TYPES = {
    "lb_build_info": "gauge",
    "lb_downstream_connections_active": "gauge",
    "lb_downstream_connections_total": "counter",
    "lb_http_requests_total": "counter",
    "lb_http_request_duration_seconds": "histogram",
    "lb_upstream_requests_total": "counter",
    "lb_upstream_response_duration_seconds": "histogram",
    "lb_upstream_connections_active": "gauge",
    "lb_upstream_connect_failures_total": "counter",
    "lb_upstream_endpoint_healthy": "gauge",
    "lb_upstream_retries_total": "counter",
    "lb_config_reloads_total": "counter",
    "lb_config_last_reload_success_timestamp_seconds": "gauge",
}


class MetricsExactTest(harness.LbTestCase):
    def setUp(self):
        self.t_start = time.time()
        self.mix = mixmod.Mix(self).run()
        self.lb_ = self.mix.lb
        total = self.mix.total_requests()
        # Counting happens just after a response leaves lb: wait until everything is in.
        self.m = support.wait_metrics(self.lb_, lambda m: m.sum("lb_http_requests_total") >= total)

    def ep(self, backend):
        return backend.endpoint()

    def test_families_and_types(self):
        for name, kind in DESIGN_TYPES.items():
            with self.subTest(metric=name):
                self.assertEqual(self.m.types.get(name), kind, f"{name} missing or of the wrong type")
                self.assertTrue(self.m.helps.get(name), f"{name} has no HELP")
        for name in self.m.types:
            self.assertTrue(name.startswith("lb_"), name)
        self.assertEqual(self.m.get("lb_build_info", version=re.search(
            r"^lb (\S+)", harness.run_lb(["--version"]).stdout).group(1)), 1)

    def test_http_requests_total(self):
        want = {("web", route, str(code)): n
                for route, codes in self.mix.statuses.items() for code, n in codes.items()}
        got = {(l["listener"], l["route"], l["code"]): v for l, v in self.m.series("lb_http_requests_total")}
        self.assertEqual(got, want)

    def test_request_duration_histograms(self):
        for route, codes in self.mix.statuses.items():
            if route == "":
                continue
            with self.subTest(route=route):
                labels = {"listener": "web", "route": route}
                count = self.m.get("lb_http_request_duration_seconds_count", **labels)
                self.assertEqual(count, sum(codes.values()))
                self.assert_histogram("lb_http_request_duration_seconds", labels, count)
        # Every observation of the 504 route took at least its 300 ms timeout.
        self.assertEqual(self.m.get("lb_http_request_duration_seconds_bucket", listener="web", route="slow",
                                    le="0.25"), 0)
        # The held request took >= 1 s.
        self.assertEqual(self.m.get("lb_http_request_duration_seconds_bucket", listener="web", route="full",
                                    le="+Inf") - self.m.get("lb_http_request_duration_seconds_bucket",
                                                            listener="web", route="full", le="0.5"), 1)

    def assert_histogram(self, name, labels, count):
        buckets = [(l["le"], v) for l, v in self.m.series(name + "_bucket", **labels)]
        les = [float("inf") if le == "+Inf" else float(le) for le, _ in buckets]
        self.assertEqual(les, sorted(les), f"{name}{labels}: buckets out of order")
        self.assertEqual(buckets[-1][0], "+Inf")
        values = [v for _, v in buckets]
        self.assertEqual(values, sorted(values), f"{name}{labels}: buckets not cumulative: {buckets}")
        self.assertEqual(values[-1], count, f"{name}{labels}: le=+Inf differs from _count")
        total = self.m.get(name + "_sum", **labels)
        self.assertIsNotNone(total)
        self.assertGreaterEqual(total, 0)
        if count:
            self.assertGreater(total, 0)

    def test_upstream_requests_total(self):
        a, b = self.ep(self.mix.a), self.ep(self.mix.b)
        s = self.mix.statuses
        want = {
            ("pa", a, "200"): s["ok"][200],
            ("pa", a, "500"): s["err"][500],
            ("pa", a, "0"): s["slow"][504],          # timed out: no response
            ("pfull", a, "200"): 1,
            ("pmix", b, "200"): s["mix"][200],
        }
        for name, n in self.mix.ab_backends.items():
            want[("pab", {"a": a, "b": b}[name], "200")] = n
        got = {(l["pool"], l["endpoint"], l["code"]): v for l, v in self.m.series("lb_upstream_requests_total")}
        # Connect failures (code "0" on the dead endpoints) are checked on their own below.
        dead = set(self.mix.dead)
        got_live = {k: v for k, v in got.items() if k[1] not in dead}
        self.assertEqual(got_live, want)

    def test_connect_failures_count_as_upstream_requests_with_code_0(self):
        # The metric's own HELP: code="0" means no response was received (connect failure,
        # reset, timeout).
        d1, d2, d3 = self.mix.dead
        failures = self.m.get("lb_upstream_connect_failures_total", pool="pmix", endpoint=d3)
        want = {("pej", d1): 1, ("pdead", d2): self.mix.statuses["dead"][502], ("pmix", d3): failures}
        got = {(p, e): self.m.get("lb_upstream_requests_total", pool=p, endpoint=e, code=0, default=0)
               for p, e in want}
        self.assertEqual(got, want, "connect failures are missing from lb_upstream_requests_total{code=\"0\"}; "
                                    "its HELP says: " + self.m.helps.get("lb_upstream_requests_total", ""))

    def test_upstream_response_duration(self):
        s = self.mix.statuses
        want = {"pa": s["ok"][200] + s["err"][500], "pab": s["ab"][200], "pej": 0, "pdead": 0, "pfull": 1,
                "pmix": s["mix"][200]}
        got = {l["pool"]: v for l, v in self.m.series("lb_upstream_response_duration_seconds_count")}
        self.assertEqual(got, want)
        for pool, n in want.items():
            with self.subTest(pool=pool):
                self.assert_histogram("lb_upstream_response_duration_seconds", {"pool": pool}, n)
        # The held response took >= 1 s upstream.
        self.assertEqual(self.m.get("lb_upstream_response_duration_seconds_bucket", pool="pfull", le="0.5"), 0)

    def test_connect_failures_retries_health(self):
        a, b = self.ep(self.mix.a), self.ep(self.mix.b)
        d1, d2, d3 = self.mix.dead
        cf = {(l["pool"], l["endpoint"]): v for l, v in self.m.series("lb_upstream_connect_failures_total")}
        mix_failures = cf[("pmix", d3)]
        self.assertGreater(mix_failures, 0, "round robin never picked pmix's dead endpoint")
        self.assertEqual(cf, {("pa", a): 0, ("pab", a): 0, ("pab", b): 0, ("pej", d1): 1,
                              ("pdead", d2): self.mix.statuses["dead"][502], ("pfull", a): 0,
                              ("pmix", d3): mix_failures, ("pmix", b): 0})
        retries = {l["pool"]: v for l, v in self.m.series("lb_upstream_retries_total")}
        self.assertEqual(retries, {"pa": 0, "pab": 0, "pej": 0, "pdead": 0, "pfull": 0, "pmix": mix_failures})
        healthy = {(l["pool"], l["endpoint"]): v for l, v in self.m.series("lb_upstream_endpoint_healthy")}
        self.assertEqual(healthy, {k: (0 if k == ("pej", d1) else 1) for k in cf})

    def test_upstream_connections_match_pools_view(self):
        m = support.metrics(self.lb_)
        pools = support.admin_json(self.lb_, "/pools")["pools"]
        for p in pools:
            for e in p["endpoints"]:
                with self.subTest(pool=p["name"], endpoint=e["address"]):
                    self.assertEqual(m.get("lb_upstream_connections_active", pool=p["name"],
                                           endpoint=e["address"]), e["connections"])
                    self.assertEqual({int(k): v for k, v in e["requests"].items() if k != "0"},
                                     {int(l["code"]): v for l, v in m.series(
                                         "lb_upstream_requests_total", pool=p["name"], endpoint=e["address"])
                                      if l["code"] != "0"})
        for d in self.mix.dead:
            for l, v in m.series("lb_upstream_connections_active", endpoint=d):
                self.assertEqual(v, 0, f"open connections to a dead endpoint: {l}")

    def test_downstream_connections(self):
        self.assertEqual(self.m.get("lb_downstream_connections_total", listener="web"), self.mix.connections)
        m = support.wait_metrics(self.lb_, lambda m: m.get("lb_downstream_connections_active", listener="web") == 0)
        self.assertEqual(m.get("lb_downstream_connections_active", listener="web"), 0,
                         "connections closed by the clients are still counted as active")
        c = self.client(self.lb_.port)
        self.assertEqual(c.request("GET", "/ok").status, 200)
        m = support.wait_metrics(self.lb_, lambda m: m.get("lb_downstream_connections_active", listener="web") == 1)
        self.assertEqual(m.get("lb_downstream_connections_active", listener="web"), 1)
        self.assertEqual(m.get("lb_downstream_connections_total", listener="web"), self.mix.connections + 1)

    def test_config_reload_metrics(self):
        self.assertEqual(self.m.get("lb_config_reloads_total", result="success"), 1)
        self.assertEqual(self.m.get("lb_config_reloads_total", result="failure"), 0)
        ts = self.m.get("lb_config_last_reload_success_timestamp_seconds")
        self.assertGreaterEqual(ts, self.t_start - 5)
        self.assertLessEqual(ts, time.time())
        time.sleep(0.05)
        status, body = support.post_reload(self.lb_)
        self.assertEqual(status, 200, body)
        m = support.metrics(self.lb_)
        self.assertEqual(m.get("lb_config_reloads_total", result="success"), 2)
        self.assertGreater(m.get("lb_config_last_reload_success_timestamp_seconds"), ts)
        # Counters of what stays survive the reload.
        self.assertEqual(m.sum("lb_http_requests_total"), self.m.sum("lb_http_requests_total"))
        self.assertEqual(m.sum("lb_upstream_requests_total"), self.m.sum("lb_upstream_requests_total"))

    def test_admin_traffic_is_not_counted(self):
        before = self.m.sum("lb_http_requests_total")
        for _ in range(5):
            support.metrics(self.lb_)
            support.admin_json(self.lb_, "/pools")
        self.assertEqual(support.metrics(self.lb_).sum("lb_http_requests_total"), before)


class CircuitBreakerTest(harness.LbTestCase):
    def test_idle_upstream_connection_does_not_trip_max_connections(self):
        # max_connections_per_endpoint bounds open connections; one idle keep-alive connection
        # at the limit must be reused, not make every next request a 503.
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a, max_connections_per_endpoint=1)], workers=1))
        statuses = [harness.get(lb.port, "/").status for _ in range(5)]
        self.assertEqual(statuses, [200] * 5)
        m = support.wait_metrics(lb, lambda m: m.sum("lb_http_requests_total") >= 5)
        self.assertEqual(m.sum("lb_http_requests_total", listener="web", route="route0", code=503), 0)


if __name__ == "__main__":
    unittest.main()
