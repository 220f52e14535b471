"""GET /stats and the status page's first view from a real lb: the same numbers as
/metrics and /pools, rates from the control thread's samples, the last check's result
and reason, the last reload's result, configured request-duration buckets."""

import json
import time
import unittest

from lib import harness
from reload import support as rs


def stats(lb):
    r = rs.admin_request(lb, "GET", "/stats")
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/json", r
    return json.loads(r.body)


class StatsTest(harness.LbTestCase):
    def test_stats_match_metrics_and_pools(self):
        a, b = self.backend("a"), self.backend("b")
        dead = harness.refusing_port()
        check = {"type": "http", "path": "/", "interval": "300ms", "timeout": "200ms",
                 "healthy_threshold": 1, "unhealthy_threshold": 1}
        pools = [harness.pool("p", a, b, f"127.0.0.1:{dead}", health_check=check)]
        text = harness.config(pools, workers=2)
        text += "metrics:\n  request_duration_buckets: [0.002, 0.02, 0.2, 2]\n"
        lb = self.lb(text)
        for i in range(40):
            self.assertIn(harness.get(lb.port, "/x?status=200" if i % 4 else "/x?status=503").status, (200, 503))
        for _ in range(3):
            harness.get(lb.port, "/x?status=299")

        s = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            s = stats(lb)
            # Totals come from the newest sample (every 2 s): wait for one after the traffic.
            if s["routes"][0]["requests_total"] == 43 and s["pools"][0]["endpoints_usable"] == 2:
                break
            time.sleep(0.3)
        route = s["routes"][0]
        self.assertEqual(route["requests_total"], 43)
        self.assertGreater(route["request_rate"], 0)
        self.assertAlmostEqual(route["error_ratio"], 10 / 43, delta=0.2)  # over the rate window
        self.assertIsNotNone(route["p50_seconds"])
        self.assertLessEqual(route["p50_seconds"], 2)
        self.assertEqual(s["listeners"][0]["requests_total"], 43)
        self.assertEqual(s["workers"], 2)
        self.assertEqual(s["reloads"]["last"]["result"], "success")
        self.assertEqual(s["reloads"]["last"]["trigger"], "startup")

        pool = s["pools"][0]
        self.assertEqual((pool["endpoints_total"], pool["endpoints_usable"]), (3, 2))
        by_addr = {e["address"]: e for e in pool["endpoints"]}
        down = by_addr[f"127.0.0.1:{dead}"]
        self.assertFalse(down["healthy"])
        self.assertEqual(down["check"]["result"], "fail")
        self.assertEqual(down["check"]["reason"], "connect refused")
        self.assertEqual(by_addr[a.endpoint()]["check"]["reason"], "status 200")
        # Upstream attempts: the 43 plus retries after connect failures to the dead one.
        upstream = sum(e["requests_total"] for e in pool["endpoints"])
        self.assertGreaterEqual(upstream, 43)
        pools = rs.admin_json(lb, "/pools")["pools"][0]["endpoints"]
        self.assertEqual({e["address"]: e["check"]["result"] for e in pools},
                         {e["address"]: e["check"]["result"] for e in pool["endpoints"]})

        # /metrics says the same, with the configured buckets and 299 in its class.
        m = rs.metrics(lb)
        self.assertEqual(m.sum("lb_http_requests_total"), 43)
        self.assertEqual(m.sum("lb_upstream_requests_total"), upstream)
        self.assertEqual(m.sum("lb_http_requests_total", code="2xx"), 3)
        self.assertEqual(m.sum("lb_http_requests_total", code="503"), 10)
        les = sorted({labels["le"] for labels, _ in m.series("lb_http_request_duration_seconds_bucket")})
        self.assertEqual(les, sorted(["0.002", "0.02", "0.2", "2", "+Inf"]))
        self.assertEqual(m.sum("lb_downstream_connections_max"), 100000)
        self.assertEqual(m.sum("lb_config_file_changed_timestamp_seconds"), 0)

    def test_failed_reload_shows_on_the_page_and_in_metrics(self):
        a = self.backend("a")
        text = harness.config([harness.pool("p", a)])
        lb = self.lb(text)
        before = time.time()
        rs.write_atomic(lb.config_path, text + "bogus: 1\n")
        status, _ = rs.post_reload(lb)
        self.assertEqual(status, 400)
        s = stats(lb)
        self.assertEqual(s["reloads"]["last"]["result"], "failure")
        self.assertEqual(s["reloads"]["last"]["trigger"], "POST /reload")
        self.assertIn("unknown key 'bogus'", s["reloads"]["last"]["errors"][0])
        changed = rs.metrics(lb).sum("lb_config_file_changed_timestamp_seconds")
        self.assertGreaterEqual(changed, before - 1)

        # The first view, as a browser without JavaScript gets it.
        r = rs.admin_request(lb, "GET", "/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")
        page = r.body.decode()
        self.assertIn('<dd id="reload" class="bad">failure', page)
        self.assertIn(f'<tr data-endpoint="{a.endpoint()}" class="up">', page)
        self.assertEqual(rs.admin_request(lb, "GET", "/ui").status, 200)
        self.assertEqual(rs.admin_request(lb, "POST", "/").status, 405)  # read-only

        # Fixed: the file is the running config again.
        rs.write_atomic(lb.config_path, text.replace("drain_timeout: 3s", "drain_timeout: 4s"))
        status, _ = rs.post_reload(lb)
        self.assertEqual(status, 200)
        self.assertEqual(rs.metrics(lb).sum("lb_config_file_changed_timestamp_seconds"), 0)
        self.assertEqual(stats(lb)["reloads"]["last"]["result"], "success")


if __name__ == "__main__":
    unittest.main()
