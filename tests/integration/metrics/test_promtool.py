"""A real /metrics scrape, after a mix of traffic and a reload, passes `promtool check metrics`
(Prometheus's own linter; Debian package `prometheus`, installed by `make test`)."""

import shutil
import subprocess
import unittest

from lib import harness
from metrics import mix as mixmod
from reload import support


class PromtoolTest(harness.LbTestCase):
    def promtool(self):
        path = shutil.which("promtool")
        if not path:
            self.skipTest("SKIPPED: promtool not found (install Debian package 'prometheus'); "
                          "the Prometheus lint of /metrics was NOT run")
        return path

    def check(self, text):
        r = subprocess.run([self.promtool(), "check", "metrics"], input=text.encode(), capture_output=True,
                           timeout=30)
        out = (r.stdout + r.stderr).decode(errors="replace").strip()
        self.assertEqual(r.returncode, 0, f"promtool check metrics failed:\n{out}\n--- scrape ---\n{text}")
        self.assertEqual(out, "", f"promtool reported problems:\n{out}")

    def test_scrape_after_traffic_passes_promtool(self):
        self.promtool()
        m = mixmod.Mix(self).run()
        text = support.wait_metrics(m.lb, lambda x: x.sum("lb_http_requests_total") >= m.total_requests()).text
        self.assertIn("lb_http_request_duration_seconds_bucket", text)
        self.check(text)
        # And after a reload that adds and removes series.
        support.write_atomic(m.lb.config_path, mixmod.config(m.a, m.b, *m.dead).replace("name: mix", "name: mix2"))
        status, body = support.post_reload(m.lb)
        self.assertEqual(status, 200, body)
        self.check(support.scrape(m.lb))

    def test_fresh_scrape_passes_promtool(self):
        self.promtool()
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a)]))
        self.check(support.scrape(lb))

    def test_content_type(self):
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a)]))
        r = support.admin_request(lb, "GET", "/metrics")
        self.assertEqual(r.status, 200)
        self.assertRegex(r.header("Content-Type", ""), r"^text/plain; version=0\.0\.4")


if __name__ == "__main__":
    unittest.main()
