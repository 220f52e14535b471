"""Admin server security: a bearer token (admin.token_file) for mutating endpoints;
without one they are refused when admin.listen is not loopback; /config redacts secrets; request size and
rate limits."""

import json
import os
import tempfile
import unittest

from lib import harness

TOKEN = "s3cr3t-token-0123456789abcdef"


def config_with(admin, routes=None, pools=None):
    text = harness.config(pools or [harness.pool("p", "127.0.0.1:1")], routes=routes, admin=False)
    lines = ["admin:"] + [f"  {k}: {json.dumps(v)}" for k, v in admin.items()]
    return "\n".join(lines) + "\n" + text


class AdminSecurityTest(harness.LbTestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="lb-admin-")
        self.addCleanup(self.tmp.cleanup)
        self.token_file = os.path.join(self.tmp.name, "token")
        with open(self.token_file, "w") as f:
            f.write(TOKEN + "\n")

    def check(self, text):
        path = os.path.join(self.tmp.name, "lb.yaml")
        with open(path, "w") as f:
            f.write(text)
        return harness.run_lb(["--check", "--config", path])

    def request(self, lb, method, target, headers=(), body=None):
        with harness.Client(lb.admin_port, timeout=10) as c:
            return c.request(method, target, headers=[("Connection", "close"), *headers],
                             host="127.0.0.1", body=body if body is not None else (b"" if method == "POST" else None))

    def test_non_loopback_admin_without_token_refuses_mutations(self):
        # Valid (kubelet probes and Prometheus need the port), but nothing
        # that reaches it over the network may reload lb.
        self.assertEqual(self.check(config_with({"listen": "0.0.0.0:0"})).returncode, 0)
        lb = self.lb(config_with({"listen": "0.0.0.0:0"}))
        r = self.request(lb, "POST", "/reload")
        self.assertEqual(r.status, 403)
        self.assertIn(b"admin.token_file", r.body)
        self.assertEqual(self.request(lb, "POST", "/reload", [("Authorization", "Bearer " + TOKEN)]).status, 403)
        self.assertEqual(self.request(lb, "GET", "/healthz").status, 200)
        self.assertEqual(self.request(lb, "GET", "/pools").status, 200)
        self.assertTrue(any("POST /reload is refused" in line for line in lb.log_lines()), lb.log_lines())

    def test_bad_token_files_refused(self):
        p = self.check(config_with({"listen": "0.0.0.0:0", "token_file": os.path.join(self.tmp.name, "none")}))
        self.assertIn("cannot read admin token file", p.stderr + p.stdout)
        short = os.path.join(self.tmp.name, "short")
        with open(short, "w") as f:
            f.write("abc\n")
        p = self.check(config_with({"listen": "0.0.0.0:0", "token_file": short}))
        self.assertIn("at least 16 characters", p.stderr + p.stdout)

    def test_reload_needs_the_token(self):
        lb = self.lb(config_with({"listen": "0.0.0.0:0", "token_file": self.token_file}))
        r = self.request(lb, "POST", "/reload")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.header("WWW-Authenticate"), "Bearer")
        for wrong in ("Bearer nope", "Bearer " + TOKEN + "x", "Basic " + TOKEN, TOKEN):
            self.assertEqual(self.request(lb, "POST", "/reload", [("Authorization", wrong)]).status, 401, wrong)
        r = self.request(lb, "POST", "/reload", [("Authorization", "Bearer " + TOKEN)])
        self.assertEqual(r.status, 200, r)
        # Reads need no token.
        self.assertEqual(self.request(lb, "GET", "/healthz").status, 200)
        self.assertEqual(self.request(lb, "GET", "/metrics").status, 200)
        # Unknown mutating paths are refused before anything else is said about them.
        self.assertEqual(self.request(lb, "DELETE", "/pools").status, 401)

    def test_loopback_admin_without_token_still_reloads(self):
        lb = self.lb(config_with({"listen": "127.0.0.1:0"}))
        self.assertEqual(self.request(lb, "POST", "/reload").status, 200)

    def test_config_redacts_secrets(self):
        routes = [harness.route("p", set_headers={"Authorization": "Bearer upstream-secret", "X-Plain": "shown"})]
        lb = self.lb(config_with({"listen": "0.0.0.0:0", "token_file": self.token_file}, routes=routes))
        r = self.request(lb, "GET", "/config")
        self.assertEqual(r.status, 200)
        text = r.body.decode()
        self.assertNotIn(TOKEN, text)
        self.assertNotIn("upstream-secret", text)
        cfg = r.json()
        self.assertEqual(cfg["admin"]["token_file"], self.token_file)
        self.assertEqual(cfg["listeners"][0]["routes"][0]["set_headers"],
                         {"authorization": "<redacted>", "x-plain": "shown"})

    def test_request_size_limit(self):
        lb = self.lb(config_with({"listen": "127.0.0.1:0"}))
        r = self.request(lb, "GET", "/healthz", [("X-Big", "v" * 10000)])
        self.assertEqual(r.status, 413)
        r = self.request(lb, "POST", "/reload", body=b"x" * 100000)
        self.assertEqual(r.status, 413)
        self.assertEqual(self.request(lb, "GET", "/healthz").status, 200)

    def test_rate_limit(self):
        lb = self.lb(config_with({"listen": "127.0.0.1:0"}))
        statuses = []
        with harness.Client(lb.admin_port, timeout=10) as c:
            for _ in range(400):  # bounded: twice the burst
                r = c.request("GET", "/healthz", host="127.0.0.1")
                statuses.append(r.status)
                if r.status == 429:
                    self.assertEqual(r.header("Retry-After"), "1")
                    break
        self.assertIn(429, statuses)
        self.assertGreaterEqual(statuses.count(200), 100)


if __name__ == "__main__":
    unittest.main()
