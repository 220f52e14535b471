"""Per-client limits of a route (`client_limits:` on a route, ingress-nginx's limit-rps and
limit-connections): requests per second and requests in flight per client address on that
route alone, 429 over them, other routes and other clients untouched; HTTP/1.1 and HTTP/2.
One worker, so the per-worker limits are exact. Each test speaks from its own loopback
source address (a client of its own)."""

import json
import os
import socket
import subprocess
import time
import unittest

from lib import harness

HERE = os.path.dirname(os.path.abspath(__file__))


class RouteLimitsTest(harness.LbTestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = cls.class_backend("a")
        limited = harness.route("p", name="limited", path_prefix="/limited")
        limited["client_limits"] = {"requests_per_second": 1, "burst": 2}
        slow = harness.route("p", name="slow", path_prefix="/slow")
        slow["client_limits"] = {"concurrent_requests": 1, "allowlist": ["127.0.0.29"]}
        listener = {"name": "web", "listen": "127.0.0.1:0", "protocols": ["h1", "h2"],
                    "routes": [limited, slow, harness.route("p", name="open")]}
        cls.lb_ = cls.class_lb(harness.config([harness.pool("p", cls.a)], listeners=[listener]))

    def limited(self, route, limit):
        return harness.metric_value(harness.metrics(self.lb_), "lb_route_client_limited_total",
                                    listener="web", route=route, limit=limit)

    def bound(self, source):
        c = harness.BoundClient(self.lb_.port, source, timeout=10)
        self.addCleanup(c.close)
        return c

    def test_request_rate_on_the_route_alone(self):
        before = self.limited("limited", "request_rate")
        c = self.bound("127.0.0.21")
        statuses = [c.request("GET", "/limited").status for _ in range(4)]
        self.assertEqual(statuses[:3], [200, 200, 429], statuses)  # burst: 2
        r = c.request("GET", "/limited")
        self.assertEqual((r.status, r.header("Retry-After")), (429, "1"), r)
        self.assertIsNone(r.header("Connection"), "a 429 keeps the connection")
        for _ in range(5):  # the route without limits, on the same connection
            self.assertEqual(c.request("GET", "/open").status, 200)
        self.assertEqual(self.bound("127.0.0.22").request("GET", "/limited").status, 200, "another client")
        self.assertEqual(self.limited("limited", "request_rate") - before, statuses.count(429) + 1)
        time.sleep(1.1)  # one token back
        self.assertEqual(c.request("GET", "/limited").status, 200)
        self.assertTrue(harness.wait_until(lambda: any(
            r.get("status") == 429 and r.get("reason") == "route_request_rate" and r.get("client") == "127.0.0.21"
            for r in harness.access_records(self.lb_)), timeout=3), harness.access_records(self.lb_)[-3:])

    def test_requests_in_flight_per_client(self):
        before = self.limited("slow", "concurrent_requests")
        first = self.bound("127.0.0.23")
        first.send(harness.build_request("GET", "/slow?delay=1500"))
        time.sleep(0.3)  # in flight at the backend
        second = self.bound("127.0.0.23")
        r = second.request("GET", "/slow")
        self.assertEqual(r.status, 429, r)
        self.assertEqual(self.bound("127.0.0.24").request("GET", "/slow").status, 200, "another client")
        self.assertEqual(self.bound("127.0.0.29").request("GET", "/slow").status, 200, "an allowlisted client")
        self.assertEqual(second.request("GET", "/open").status, 200, "another route")
        self.assertEqual(first.read_response().status, 200)
        self.assertEqual(second.request("GET", "/slow").status, 200, "the first request ended: its place is free")
        self.assertEqual(self.limited("slow", "concurrent_requests") - before, 1)

    def test_http2_streams_are_limited_the_same_way(self):
        p = subprocess.run(["node", os.path.join(HERE, "h2_client.js"), str(self.lb_.port), "127.0.0.25", "4",
                            "/limited"], capture_output=True, text=True, timeout=20)
        out = json.loads(p.stdout)
        self.assertNotIn("error", out, out)
        self.assertEqual([r["status"] for r in out["responses"]][:3], [200, 200, 429], out)
        self.assertEqual(out["responses"][2]["retry_after"], "1")
        self.assertTrue(out["open"], "the 429 ended the connection, not just the stream")


if __name__ == "__main__":
    unittest.main()
