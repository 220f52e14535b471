"""What a reload keeps and what it changes at once: a keep-alive connection's next request
uses the new config; endpoints that stay keep their health, ejection, counters and idle
upstream connections; a draining lb refuses reloads."""

import signal
import time
import unittest

from lib import harness
from lib.harness import build_request
from reload import support


def outlier_pool(name, address):
    return harness.pool(name, address, outlier={"consecutive_failures": 1, "base_ejection": "60s",
                                                "max_ejected_percent": 100})


class ReloadStateTest(harness.LbTestCase):
    def setUp(self):
        self.a = self.backend("a")
        self.b = self.backend("b")

    def reload(self, lb, text):
        support.write_atomic(lb.config_path, text)
        status, body = support.post_reload(lb)
        self.assertEqual(status, 200, body)
        return body["version"]

    def test_busy_keepalive_connection_takes_new_config_at_next_request(self):
        # A keep-alive client that sends a few requests in a row, then one more right after
        # a reload returned 200: that request must be routed by the new config.
        cfg = {p: support.two_pool_config(self.a, self.b, p, workers=1) for p in ("pa", "pb")}
        lb = self.lb(cfg["pa"])
        stale = []
        current = "pa"
        for i in range(6):
            c = self.client(lb.port)
            for _ in range(3):
                before = c.request("GET", "/x").backend
            current = "pb" if current == "pa" else "pa"
            self.reload(lb, cfg[current])
            after = c.request("GET", "/x").backend
            want = "b" if current == "pb" else "a"
            if after != want:
                stale.append((i, before, after))
            c.close()
        self.assertEqual(stale, [], "the first request after a reload on a busy keep-alive connection "
                                    "was routed by the old config: (round, before, after)")

    def test_idle_keepalive_connection_takes_new_config(self):
        cfg = {p: support.two_pool_config(self.a, self.b, p, workers=1) for p in ("pa", "pb")}
        lb = self.lb(cfg["pa"])
        c = self.client(lb.port)
        for _ in range(3):
            self.assertEqual(c.request("GET", "/x").backend, "a")
        time.sleep(0.5)  # idle long enough to be parked
        self.reload(lb, cfg["pb"])
        self.assertEqual(c.request("GET", "/x").backend, "b")

    def test_pipelined_requests_after_reload(self):
        cfg = {p: support.two_pool_config(self.a, self.b, p, workers=1) for p in ("pa", "pb")}
        lb = self.lb(cfg["pa"])
        c = self.client(lb.port)
        self.assertEqual(c.request("GET", "/x").backend, "a")
        time.sleep(0.5)  # parked; the busy case is the test above
        self.reload(lb, cfg["pb"])
        c.send(build_request("GET", "/x") * 3)
        self.assertEqual([r.backend for r in c.read_responses(3)], ["b"] * 3)

    def test_idle_upstream_connections_to_staying_endpoints_are_kept(self):
        # One worker: sequential requests reuse one upstream connection; a reload that
        # keeps the endpoint (and even changes its pool's settings) keeps that connection.
        base = support.two_pool_config(self.a, self.b, "pa", workers=1)
        lb = self.lb(base)
        for _ in range(5):
            self.assertEqual(harness.get(lb.port, "/x").backend, "a")
        self.assertEqual(self.a.stats()["connections"], 1)
        changed = support.two_pool_config(self.a, self.b, "pa", workers=1,
                                          extra_routes=[harness.route("pb", name="other", path_prefix="/other")])
        changed = changed.replace("  - name: pa\n    balancer: round_robin\n",
                                  "  - name: pa\n    balancer: least_request\n    connect_timeout: 3s\n")
        self.assertIn("least_request", changed)
        self.reload(lb, changed)
        for _ in range(5):
            self.assertEqual(harness.get(lb.port, "/x").backend, "a")
        self.assertEqual(self.a.stats()["connections"], 1,
                         "the reload closed the idle upstream connection to an endpoint that stayed")
        pools = support.admin_json(lb, "/pools")["pools"]
        self.assertEqual(pools[0]["endpoints"][0]["requests"], {"200": 10})

    def test_ejection_and_counters_survive_reload(self):
        dead = f"127.0.0.1:{harness.refusing_port()}"
        no_retry = {"attempts": 0}

        def cfg(timeout):
            doc = {"workers": 2, "drain_timeout": "3s", "admin": {"listen": "127.0.0.1:0"},
                   "listeners": [{"name": "web", "listen": "127.0.0.1:0", "protocol": "http", "routes": [
                       dict(harness.route("pd", name="dead", path_prefix="/dead", timeout=timeout),
                            retries=no_retry),
                       harness.route("pa", name="x", path_prefix="/x", timeout=timeout)]}],
                   "pools": [harness.pool("pa", self.a), outlier_pool("pd", dead)]}
            return support.yaml_doc(doc)

        lb = self.lb(cfg("30s"))
        self.assertEqual(harness.get(lb.port, "/dead").status, 502)  # connect fails: ejected
        self.assertEqual(harness.get(lb.port, "/dead").status, 503)
        for _ in range(4):
            self.assertEqual(harness.get(lb.port, "/x").status, 200)
        pools = {p["name"]: p for p in support.admin_json(lb, "/pools")["pools"]}
        self.assertTrue(pools["pd"]["endpoints"][0]["ejected"])

        self.reload(lb, cfg("20s"))
        pools = {p["name"]: p for p in support.admin_json(lb, "/pools")["pools"]}
        ep = pools["pd"]["endpoints"][0]
        self.assertTrue(ep["ejected"], "the reload forgot the ejection")
        self.assertEqual(ep["ejections"], 1)
        self.assertEqual(ep["connect_failures"], 1)
        self.assertEqual(harness.get(lb.port, "/dead").status, 503)  # still ejected: no new attempt
        for _ in range(3):
            self.assertEqual(harness.get(lb.port, "/x").status, 200)

        m = support.wait_metrics(lb, lambda m: m.get("lb_http_requests_total", protocol="http/1.1", listener="web", route="x",
                                                     code=200) == 7)
        self.assertEqual(m.get("lb_http_requests_total", protocol="http/1.1", listener="web", route="x", code=200), 7)
        self.assertEqual(m.get("lb_http_requests_total", protocol="http/1.1", listener="web", route="dead", code=502), 1)
        self.assertEqual(m.get("lb_http_requests_total", protocol="http/1.1", listener="web", route="dead", code=503), 2)
        self.assertEqual(m.get("lb_http_request_duration_seconds_count", listener="web", route="x"), 7)
        self.assertEqual(m.get("lb_upstream_requests_total", pool="pa", endpoint=self.a.endpoint(), code=200), 7)
        self.assertEqual(m.get("lb_upstream_connect_failures_total", pool="pd", endpoint=dead), 1)
        self.assertEqual(m.get("lb_upstream_endpoint_healthy", pool="pd", endpoint=dead), 0)
        self.assertEqual(m.get("lb_downstream_connections_total", listener="web"), 10)

    def test_reload_refused_while_draining(self):
        lb = self.lb(support.two_pool_config(self.a, self.b, "pa", workers=1, drain_timeout="5s"))
        lb.expected_exit = True
        slow = self.client(lb.port, timeout=10)
        slow.send(build_request("GET", "/x?delay=1500"))
        time.sleep(0.3)
        lb.signal(signal.SIGTERM)
        time.sleep(0.2)
        self.assertEqual(harness.simple_get(lb.admin_port, "/readyz")[0], 503)
        support.write_atomic(lb.config_path, support.two_pool_config(self.a, self.b, "pb", workers=1))
        status, body = support.post_reload(lb)
        self.assertEqual(status, 400, body)
        self.assertIn("draining", " ".join(body.get("errors", [])))
        self.assertEqual(slow.read_response().backend, "a")
        self.assertEqual(lb.wait(5), 0)


if __name__ == "__main__":
    unittest.main()
