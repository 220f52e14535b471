"""A route's `rewrite`: the path a real upstream receives is the replacement,
with the regex's groups and the client's query, from HTTP/1.1 and HTTP/2
clients alike; routing and the access log keep the path as received; a path
the regex does not find goes as it came."""

import json
import subprocess
import unittest

from lib import harness


class RewriteTest(harness.LbTestCase):
    def setUp(self):
        super().setUp()
        self.b = self.backend("b")
        routes = [
            {"name": "api", "match": {"path_prefix": "/api"}, "pool": "p",
             "rewrite": {"regex": "(?i)^/api(/|$)(.*)", "replacement": "/v2/$2"}},
            {"name": "fixed", "match": {"path_prefix": "/old"}, "pool": "p",
             "rewrite": {"regex": "^/old/(\\w+)", "replacement": "/new?echo=1&id=$1"}},
            {"name": "rest", "pool": "p"},
        ]
        self.lb_ = self.lb(harness.config(
            [harness.pool("p", self.b)],
            listeners=[{"name": "web", "listen": "127.0.0.1:0", "protocols": ["h1", "h2"], "routes": routes}]))

    def upstream_target(self, target):
        r = harness.get(self.lb_.port, target)
        self.assertEqual(r.status, 200, r.body)
        return json.loads(r.body)["target"]

    def test_http1(self):
        self.assertEqual(self.upstream_target("/api/users/7?echo=1&x=%2F"), "/v2/users/7?echo=1&x=%2F")
        self.assertEqual(self.upstream_target("/api?echo=1"), "/v2/?echo=1")
        # The replacement's own query replaces the client's.
        self.assertEqual(self.upstream_target("/old/abc?echo=1&drop=1"), "/new?echo=1&id=abc")
        # Not found by the regex (routed by prefix, `-` is no \w): as received.
        self.assertEqual(self.upstream_target("/old/-?echo=1"), "/old/-?echo=1")
        self.assertEqual(self.upstream_target("/other?echo=1"), "/other?echo=1")
        # The access log is written a moment after the response.
        def logged():
            return [r["path"] for r in harness.access_records(self.lb_) if r.get("route") == "api"]
        harness.wait_until(lambda: len(logged()) >= 2, 5.0, 0.02)
        self.assertIn("/api/users/7?echo=1&x=%2F", logged())

    def test_http2(self):
        p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge",
                            f"http://127.0.0.1:{self.lb_.port}/api/items/9?echo=1"],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["target"], "/v2/items/9?echo=1")


if __name__ == "__main__":
    unittest.main()
