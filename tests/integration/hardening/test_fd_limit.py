"""Out of file descriptors: accept pauses (one log line per interval, no busy
loop, counted) and recovers; lb raises its soft RLIMIT_NOFILE to the hard
one; a config whose listeners alone pass the limit fails `lb --check` and
start-up."""

import os
import re
import socket
import subprocess
import tempfile
import time

from lib import harness


def prlimit(nofile):
    return ["prlimit", f"--nofile={nofile}"]


class LimitedLb(harness.Lb):
    """lb started under `prlimit --nofile=...` (prlimit execs lb: same PID)."""

    def __init__(self, yaml_text, nofile):
        self._write_config(yaml_text)
        self._launch([*prlimit(nofile), harness.lb_bin(), "--config", self.config_path], None, True)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def many_listeners(n):
    listeners = [{"name": f"l{i}", "listen": "127.0.0.1:0", "protocol": "http", "routes": [harness.route("p")]}
                 for i in range(n)]
    return harness.config([harness.pool("p", f"127.0.0.1:{harness.refusing_port()}")], workers=2, admin=False, listeners=listeners)


class FdLimitTest(harness.LbTestCase):
    def test_accept_pauses_when_out_of_descriptors_and_recovers(self):
        a = self.backend("a")
        lb = LimitedLb(harness.config([harness.pool("p", a)]), 160)
        self._lbs.append(lb)
        self.addCleanup(self._stop_lb, lb)
        self.assertEqual(harness.get(lb.port, "/").status, 200)

        # More connections than lb has descriptors left: the rest wait in the
        # listen backlog while accept() fails with EMFILE.
        clients = []
        self.addCleanup(lambda: [c.close() for c in clients])
        for _ in range(250):
            clients.append(socket.create_connection(("127.0.0.1", lb.port), timeout=5))
        pausing = lambda: [l for l in lb.log_lines() if 'msg="accept failed: pausing accepts"' in l]
        self.assertTrue(harness.wait_until(pausing, timeout=5), "no accept failure logged:\n" + "\n".join(lb.log_lines()[-20:]))
        self.assertIn("reason=fd_limit", pausing()[0])

        # Paused, not spinning: a retry every 100 ms costs next to no CPU, and
        # the failures inside one interval make one log line.
        cpu0 = cpu_seconds(lb.pid)
        time.sleep(2.0)
        self.assertLess(cpu_seconds(lb.pid) - cpu0, 0.5)
        self.assertEqual(len(pausing()), 1, pausing())
        self.assert_alive(lb)

        # Descriptors come back: lb serves again without a restart.
        for c in clients:
            c.close()
        clients.clear()
        ok = harness.wait_until(lambda: self._get_status(lb.port) == 200, timeout=10, interval=0.2)
        self.assertTrue(ok, "lb did not recover:\n" + "\n".join(lb.log_lines()[-20:]))
        samples = harness.metrics(lb)
        self.assertGreater(harness.metric_value(samples, "lb_accept_errors_total", listener="web", reason="fd_limit"), 0)
        self.assertEqual(harness.metric_value(samples, "lb_accept_errors_total", listener="web", reason="other"), 0)

    @staticmethod
    def _get_status(port):
        try:
            return harness.get(port, "/", timeout=2).status
        except (OSError, harness.ConnectionClosed):
            return None

    def test_soft_limit_raised_to_hard(self):
        a = self.backend("a")
        lb = LimitedLb(harness.config([harness.pool("p", a)]), "256:2048")
        self._lbs.append(lb)
        self.addCleanup(self._stop_lb, lb)
        with open(f"/proc/{lb.pid}/limits") as f:
            line = next(l for l in f if l.startswith("Max open files"))
        self.assertEqual(line.split()[3:5], ["2048", "2048"], line)
        logged = [harness.parse_logfmt(l) for l in lb.log_lines()]
        self.assertIn("2048", [r.get("limit") for r in logged if r.get("msg") == "file descriptor limit"])

    def test_too_many_listeners_for_the_limit_fails_check_and_start(self):
        tmp = tempfile.TemporaryDirectory(prefix="lb-it-")
        self.addCleanup(tmp.cleanup)
        path = os.path.join(tmp.name, "lb.yaml")
        with open(path, "w") as f:
            f.write(many_listeners(60))
        # 60 listeners x 2 workers fit in 4096 descriptors ...
        ok = subprocess.run([*prlimit(4096), harness.lb_bin(), "--check", "--no-resolve", "--config", path],
                            capture_output=True, text=True, timeout=10)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        # ... not in 128: --check names the first listener past the limit.
        bad = subprocess.run([*prlimit(128), harness.lb_bin(), "--check", "--no-resolve", "--config", path],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(bad.returncode, 1, bad.stdout + bad.stderr)
        self.assertRegex(bad.stderr, re.escape(path) + r":\d+:\d+: listener 'l\d+' passes the file descriptor limit")
        # Started anyway, lb refuses before binding anything.
        run = subprocess.run([*prlimit(128), harness.lb_bin(), "--config", path],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(run.returncode, 1, run.stderr)
        self.assertIn("passes the file descriptor limit", run.stderr)
        self.assertNotIn("listener bound", run.stderr)
