"""Command line: --version, --check with FILE:LINE:COL diagnostics, refusing a bad config."""

import os
import re
import subprocess
import tempfile
import time
import unittest

from lib import harness

VALID = """\
workers: 1
drain_timeout: 5s
admin:
  listen: 127.0.0.1:0
listeners:
  - name: web
    listen: 127.0.0.1:0
    protocol: http
    limits:
      max_connections: 1000
      header_timeout: 5s
      idle_timeout: 30s
      max_header_bytes: 8192
      max_body_bytes: 0
    routes:
      - name: api
        match:
          host: "*.example.com"
          path_prefix: /v1/
          headers: { x-canary: "1" }
        pool: api
        timeout: 2s
        set_headers: { x-lb: "1" }
      - name: exact
        match: { host: api.example.com, path_exact: /status }
        pool: web
      - name: regex
        match: { host: "~img[0-9]+\\\\.example\\\\.org", path_regex: "/img/[0-9]+" }
        pool: web
      - match: { path_prefix: / }
        pool: web
pools:
  - name: api
    balancer: round_robin
    endpoints:
      - { address: 127.0.0.1:9, weight: 5 }
      - { address: "[::1]:9", weight: 1 }
    connect_timeout: 1s
    keepalive: { max_idle: 16, idle_timeout: 30s }
  - name: web
    endpoints:
      - address: 127.0.0.1:9
"""


def locate(text, needle, occurrence=1):
    """1-based (line, column) of the start of the n-th occurrence of needle in text."""
    pos = -1
    for _ in range(occurrence):
        pos = text.index(needle, pos + 1)
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


class CliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="lb-cli-")
        self.addCleanup(self.tmp.cleanup)

    def write(self, text, name="lb.yaml"):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def check(self, text):
        path = self.write(text)
        return path, harness.run_lb(["--check", "--config", path])

    def assert_error_at(self, path, proc, line, col, words=()):
        """Exactly one stderr line starts with PATH:LINE:COL: and mentions `words`."""
        prefix = f"{path}:{line}:{col}: "
        lines = proc.stderr.splitlines()
        hits = [l for l in lines if l.startswith(prefix)]
        self.assertEqual(len(hits), 1, f"expected one error at {prefix!r}; stderr:\n{proc.stderr}")
        for w in words:
            self.assertIn(w.lower(), hits[0].lower(), f"error line lacks {w!r}: {hits[0]!r}")
        return hits[0]

    def test_version(self):
        p = harness.run_lb(["--version"])
        self.assertEqual(p.returncode, 0, p.stderr)
        first = p.stdout.splitlines()[0] if p.stdout else ""
        self.assertRegex(first, r"^lb \S*\d", f"stdout: {p.stdout!r}")

    def test_check_valid_file(self):
        path, p = self.check(VALID)
        self.assertEqual(p.returncode, 0, f"stdout={p.stdout!r} stderr={p.stderr!r}")
        self.assertNotIn(f"{path}:", p.stderr)

    def test_check_unknown_key(self):
        text = VALID.replace("    protocol: http\n", "    protocol: http\n    max_conns: 10\n")
        path, p = self.check(text)
        self.assertEqual(p.returncode, 1, p.stderr)
        line, col = locate(text, "max_conns")
        self.assert_error_at(path, p, line, col, words=["max_conns"])

    def test_check_unknown_key_deep_and_top_level(self):
        text = VALID.replace("      idle_timeout: 30s\n", "      idle_timeout: 30s\n      idle_timeuot: 1s\n")
        text = "wrokers: 2\n" + text
        path, p = self.check(text)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assert_error_at(path, p, *locate(text, "wrokers"), words=["wrokers"])
        self.assert_error_at(path, p, *locate(text, "idle_timeuot"), words=["idle_timeuot"])

    def test_check_bad_duration(self):
        text = VALID.replace("        timeout: 2s\n", "        timeout: 2 parsecs\n")
        path, p = self.check(text)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assert_error_at(path, p, *locate(text, "2 parsecs"))

    def test_check_bare_number_duration_refused(self):
        text = VALID.replace("drain_timeout: 5s", "drain_timeout: 5")
        path, p = self.check(text)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assert_error_at(path, p, *locate(text, "5\n"))

    def test_check_route_names_missing_pool(self):
        text = VALID.replace("        pool: web\n", "        pool: wbe\n", 1)
        path, p = self.check(text)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assert_error_at(path, p, *locate(text, "wbe"), words=["wbe"])

    def test_check_bad_address(self):
        text = VALID.replace("      - { address: 127.0.0.1:9, weight: 5 }",
                             "      - { address: 127.0.0.1:99999, weight: 5 }")
        path, p = self.check(text)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assert_error_at(path, p, *locate(text, "127.0.0.1:99999"))

    def test_check_wrong_type(self):
        text = VALID.replace("max_header_bytes: 8192", "max_header_bytes: lots")
        path, p = self.check(text)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assert_error_at(path, p, *locate(text, "lots"))

    def test_check_reports_every_error_in_file_order(self):
        text = VALID.replace("    protocol: http\n", "    protocol: http\n    max_conns: 10\n")
        text = text.replace("        timeout: 2s\n", "        timeout: soon\n")
        text = text.replace("      - address: 127.0.0.1:9\n", "      - address: 127.0.0.1:9\n        wieght: 2\n")
        path, p = self.check(text)
        self.assertEqual(p.returncode, 1, p.stderr)
        expected = [locate(text, "max_conns"), locate(text, "soon"), locate(text, "wieght")]
        for line, col in expected:
            self.assert_error_at(path, p, line, col)
        found = []
        for l in p.stderr.splitlines():
            if l.startswith(path + ":"):
                parts = l[len(path) + 1:].split(":")
                found.append((int(parts[0]), int(parts[1])))
        self.assertEqual(found, sorted(found), f"errors not in file order:\n{p.stderr}")

    def test_check_yaml_syntax_error(self):
        text = VALID.replace("    protocol: http\n", "    protocol: [http\n")
        path, p = self.check(text)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertRegex(p.stderr, rf"(?m)^{re.escape(path)}:\d+:\d+: ", p.stderr)

    def test_check_missing_file(self):
        path = os.path.join(self.tmp.name, "absent.yaml")
        p = harness.run_lb(["--check", "--config", path])
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("absent.yaml", p.stderr)

    def test_run_refuses_bad_config(self):
        text = VALID.replace("        pool: web\n", "        pool: wbe\n", 1)
        path = self.write(text)
        start = time.monotonic()
        proc = subprocess.Popen([harness.lb_bin(), "--config", path], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            self.fail("lb kept running with an invalid config")
        self.assertNotEqual(proc.returncode, 0, err)
        self.assertLess(time.monotonic() - start, 10)
        line, col = locate(text, "wbe")
        self.assertIn(f"{path}:{line}:{col}: ", err)

    def test_kubernetes_flag_is_controller_mode_without_the_section(self):
        text = "admin: { listen: 127.0.0.1:0 }\n"
        path = self.write(text)
        # Without the flag, listeners and pools are required.
        p = harness.run_lb(["--check", "--config", path])
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("missing required key 'listeners'", p.stderr)
        p = harness.run_lb(["--kubernetes", "--check", "--config", path])
        self.assertEqual(p.returncode, 0, p.stderr)
        # Run: the in-cluster defaults, and a pod's environment is missing
        # here; the error names the file, and lb does not start.
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
        proc = subprocess.run([harness.lb_bin(), "--kubernetes", "--config", path], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=10, env=env)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn(f"{path}:1:1: kubernetes: ", proc.stderr)
        self.assertIn("KUBERNETES_SERVICE_HOST", proc.stderr)
        # A section of the file's own is kept as written.
        path = self.write(text + "kubernetes: { kubeconfig: /nonexistent/kubeconfig }\n", "own.yaml")
        proc = subprocess.run([harness.lb_bin(), "--kubernetes", "--config", path], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=10, env=env)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("/nonexistent/kubeconfig", proc.stderr)


if __name__ == "__main__":
    unittest.main()
