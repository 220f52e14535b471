"""The shipped rules and dashboard, checked offline: `promtool check rules`, `promtool
test rules` (lb-rules.test.yaml) with a test for every alert, and the dashboard's
shape (importable, datasource and instance/listener/pool variables, every query on
the datasource variable)."""

import json
import os
import subprocess
import unittest

import yaml

from observe import support


class RulesOfflineTest(unittest.TestCase):
    def promtool(self, *args):
        binary = support.need(self, "promtool", "prometheus")
        r = subprocess.run([binary, *args], capture_output=True, text=True, timeout=120,
                           cwd=os.path.dirname(support.RULES))
        return r.returncode, r.stdout + r.stderr

    def test_rules_pass_promtool_check(self):
        code, out = self.promtool("check", "rules", support.RULES)
        self.assertEqual(code, 0, out)
        self.assertIn("SUCCESS", out)

    def test_rules_unit_tests_pass_and_cover_every_alert(self):
        tests_file = os.path.join(os.path.dirname(support.RULES), "lb-rules.test.yaml")
        code, out = self.promtool("test", "rules", tests_file)
        self.assertEqual(code, 0, out)
        with open(support.RULES) as f:
            alerts = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"] if "alert" in r]
        with open(tests_file) as f:
            tests = yaml.safe_load(f)["tests"]
        firing = {t["alertname"] for test in tests for t in test.get("alert_rule_test", []) if t["exp_alerts"]}
        quiet = {t["alertname"] for test in tests for t in test.get("alert_rule_test", []) if not t["exp_alerts"]}
        for a in alerts:
            self.assertIn(a["alert"], firing, f"no promtool test where {a['alert']} fires")
            self.assertIn(a["alert"], quiet, f"no quiet case for {a['alert']}")
            self.assertTrue(a["annotations"].get("runbook"), f"{a['alert']} has no runbook line")
            self.assertTrue(a["annotations"].get("summary"), a["alert"])

    def test_dashboard_shape(self):
        with open(support.DASHBOARD) as f:
            dash = json.load(f)
        variables = {v["name"]: v for v in dash["templating"]["list"]}
        self.assertEqual(variables["datasource"]["type"], "datasource")
        self.assertEqual(variables["datasource"]["query"], "prometheus")
        for name in ("instance", "listener", "pool"):
            self.assertEqual(variables[name]["type"], "query")
            self.assertEqual(variables[name]["datasource"]["uid"], "${datasource}")
        titles = [p["title"] for p in dash["panels"]]
        self.assertEqual(len(titles), len(set(titles)))
        for want in ("Request rate by route", "4xx / 5xx ratio", "Request latency p50 / p90 / p99",
                     "Upstream latency p50 / p99", "Endpoint health", "Ejections", "Active connections",
                     "Retries and connect failures", "Config reloads", "Config age", "TLS handshakes", "TCP bytes"):
            self.assertIn(want, titles)
        ids = [p["id"] for p in dash["panels"]]
        self.assertEqual(len(ids), len(set(ids)))
        for p in dash["panels"]:
            if p["type"] == "row":
                continue
            self.assertEqual(p["datasource"]["uid"], "${datasource}", p["title"])
            for t in p["targets"]:
                self.assertIn('instance=~"$instance"', t["expr"], p["title"])


if __name__ == "__main__":
    unittest.main()
