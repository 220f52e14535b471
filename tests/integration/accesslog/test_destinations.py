"""Where access-log lines go: stdout by default, a file, or nowhere (`path: off`); how soon
they leave the workers; and that none is lost at shutdown."""

import json
import os
import signal
import time
import unittest

from lib import harness
from reload import support


def with_access_log(text, path):
    return text.replace("listeners:", f"access_log:\n  path: {json.dumps(path)}\n  format: json\nlisteners:")


class DestinationTest(harness.LbTestCase):
    def setUp(self):
        self.a = self.backend("a")
        self.base = harness.config([harness.pool("p", self.a)], workers=2)

    def stdout_json(self, lb):
        return [json.loads(l) for l in lb.stdout_lines() if l.strip()]

    def test_off_writes_nothing(self):
        lb = self.lb(with_access_log(self.base, "off"))
        for i in range(20):
            self.assertEqual(harness.get(lb.port, f"/?i={i}").status, 200)
        self.assertEqual(harness.get(lb.port, "/?status=500").status, 500)
        time.sleep(0.5)
        self.assertEqual(lb.stdout_lines(), [])
        self.assertEqual(sorted(os.listdir(lb.dir.name)), ["lb.yaml"])
        self.assertEqual(support.admin_json(lb, "/config")["access_log"]["path"], "off")

    def test_default_is_stdout(self):
        lb = self.lb(self.base)
        for i in range(10):
            self.assertEqual(harness.get(lb.port, f"/?i={i}").status, 200)
        self.assertTrue(support.wait_until(lambda: len(lb.stdout_lines()) >= 10, 3))
        time.sleep(0.3)
        lines = self.stdout_json(lb)
        self.assertEqual(sorted(l["path"] for l in lines), sorted(f"/?i={i}" for i in range(10)))
        self.assertTrue(all(list(l) == support.ACCESS_KEYS for l in lines))
        # stdout carries the access log only; lb's own log goes to stderr.
        self.assertFalse(any("msg=" in l for l in lb.stdout_lines()))

    def test_explicit_stdout(self):
        lb = self.lb(with_access_log(self.base, "stdout"))
        self.assertEqual(harness.get(lb.port, "/").status, 200)
        self.assertTrue(support.wait_until(lambda: len(lb.stdout_lines()) >= 1, 3))
        self.assertEqual(self.stdout_json(lb)[0]["status"], 200)

    def test_lines_leave_the_worker_promptly(self):
        # Lines leave the workers at least every 100 ms: a lone request's line is in the file
        # well within a second, with no further traffic to push it out.
        lb = self.lb(with_access_log(self.base, "access.log"))
        path = os.path.join(lb.dir.name, "access.log")
        for i in range(3):
            self.assertEqual(harness.get(lb.port, f"/?n={i}").status, 200)
            t0 = time.monotonic()
            self.assertTrue(support.wait_until(lambda: len(support.read_access_log(path)) == i + 1, 2, 0.005))
            self.assertLess(time.monotonic() - t0, 0.5, "a line took more than 0.5 s to reach the file")
            time.sleep(0.3)

    def test_no_line_lost_at_shutdown(self):
        lb = self.lb(with_access_log(self.base, "access.log"))
        lb.expected_exit = True
        path = os.path.join(lb.dir.name, "access.log")
        keep = harness.Client(lb.port)
        for i in range(30):
            self.assertEqual(keep.request("GET", f"/?n={i}").status, 200)
        keep.close()
        lb.signal(signal.SIGTERM)  # right away: lines may still sit in worker buffers
        self.assertEqual(lb.wait(5), 0)
        self.assertEqual(len(support.read_access_log(path)), 30)

    def test_reload_changing_access_log_is_applied_or_warned(self):
        # A reload that changes access_log must either take effect or say that it needs a
        # restart (as lb does for `workers` and `admin.listen`), never be silently ignored
        # while /config reports the new path.
        lb = self.lb(with_access_log(self.base, "first.log"))
        self.assertEqual(harness.get(lb.port, "/?before").status, 200)
        start = len(lb.log_lines())
        support.write_atomic(lb.config_path, with_access_log(self.base, "second.log"))
        status, body = support.post_reload(lb)
        self.assertEqual(status, 200, body)
        self.assertEqual(support.admin_json(lb, "/config")["access_log"]["path"], "second.log")
        self.assertEqual(harness.get(lb.port, "/?after").status, 200)
        second = os.path.join(lb.dir.name, "second.log")
        applied = support.wait_until(lambda: any(l["path"] == "/?after" for l in support.read_access_log(second)), 2)
        warned = [r for r in support.log_records_since(lb, start)
                  if r.get("level") in ("warn", "error") and "access" in r.get("msg", "")]
        self.assertTrue(applied or warned,
                        "access_log change on reload neither applied (no line in second.log) nor warned about")


if __name__ == "__main__":
    unittest.main()
