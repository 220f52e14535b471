"""Binary upgrade (issue 14 item 7): SIGUSR2 or POST /upgrade starts the binary lb
was started from, hands it the listening sockets over SCM_RIGHTS, and the old
process drains once the new one serves. Under bounded load from several client
threads, not one request fails and no connection is reset; idle keep-alive
connections opened before the upgrade are used after it. A failing upgrade
leaves the old process serving."""

import ctypes
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
import unittest

from lib import harness

_PR_SET_CHILD_SUBREAPER = 36
_IDLE = 16            # idle keep-alive connections opened before the upgrade
_MAX_PER_THREAD = 4000
_LOAD_LIMIT_S = 15.0  # hard bound on any load loop


def _closed_cleanly(c, timeout=2.0):
    """After a `Connection: close` answer: the peer's FIN (EOF), not an RST or silence."""
    c.sock.settimeout(timeout)
    try:
        while True:
            data = c.sock.recv(65536)
            if not data:
                return True
            if c.buf is not None:
                c.buf += data
    except (ConnectionResetError, socket.timeout, OSError):
        return False


class _Load:
    """Client threads: keep-alive GETs, keep-alive GETs that are slow upstream
    (so some are in flight at the handover), a new connection per GET, and
    keep-alive POSTs. Each counts answers and failures by cause."""

    def __init__(self, port):
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.closes_seen = 0
        self.failures = []
        self.threads = [threading.Thread(target=self._run, args=(kind,), daemon=True)
                        for kind in ("keepalive", "keepalive", "slow", "fresh", "post")]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(_LOAD_LIMIT_S + 5)

    def _one(self, conn, kind):
        if kind == "fresh":
            with harness.Client(self.port, timeout=10) as c:
                return c.request("GET", "/fresh", headers=[("Connection", "close")]), None
        if conn is None:
            conn = harness.Client(self.port, timeout=10)
        if kind == "post":
            r = conn.request("POST", "/post", body=b"x" * 512)
        elif kind == "slow":
            r = conn.request("GET", "/?delay=150")
        else:
            r = conn.request("GET", "/ka")
        if (r.header("Connection") or "").lower() == "close":
            clean = _closed_cleanly(conn)
            with self.lock:
                self.closes_seen += 1
                if not clean:
                    self.failures.append((kind, "reset or no FIN after Connection: close"))
            conn.close()
            conn = None
        return r, conn

    def _run(self, kind):
        conn = None
        deadline = time.monotonic() + _LOAD_LIMIT_S
        for _ in range(_MAX_PER_THREAD):
            if self.stop.is_set() or time.monotonic() > deadline:
                break
            try:
                r, conn = self._one(conn, kind)
                with self.lock:
                    if r.status == 200:
                        self.ok += 1
                    else:
                        self.failures.append((kind, f"status {r.status}"))
            except Exception as e:  # every failure is counted, by cause
                cause = "reset" if isinstance(e, ConnectionResetError) or "reset" in str(e).lower() else repr(e)
                with self.lock:
                    self.failures.append((kind, cause))
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()


class UpgradeTest(harness.LbTestCase):
    @classmethod
    def setUpClass(cls):
        # The new lb outlives its parent (the old one): as subreaper, this
        # process inherits it and can reap it by PID.
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1)

    def setUp(self):
        self.bin_dir = tempfile.TemporaryDirectory(prefix="lb-upgrade-bin-")
        self.addCleanup(self.bin_dir.cleanup)
        self.binary = os.path.join(self.bin_dir.name, "lb")
        shutil.copy2(harness.lb_bin(), self.binary)
        self.backend_a = self.backend("a")

    def start_lb(self, workers=2, drain_timeout="10s"):
        yaml_text = harness.config([harness.pool("p", self.backend_a)], workers=workers, drain_timeout=drain_timeout,
                                   routes=[harness.route("p", timeout="10s")])
        lb = harness.Lb.__new__(harness.Lb)
        lb._write_config(yaml_text)
        lb._launch([self.binary, "--config", lb.config_path], None, True)
        self._lbs.append(lb)
        self.addCleanup(self._stop_lb, lb)
        return lb

    def stop_pid(self, pid):
        """Stops a process this test did not spawn (the new lb) by PID and reaps it."""
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return
            if done:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)

    def replace_binary(self):
        """A new file (new inode) at the path lb was started from."""
        tmp = self.binary + ".new"
        shutil.copy2(harness.lb_bin(), tmp)
        os.replace(tmp, self.binary)
        return os.stat(self.binary).st_ino

    def started_pid(self, lb, after=0):
        events = harness.log_events(lb, "upgrade started")
        return int(events[-1]["pid"]) if len(events) > after else None

    def test_upgrade_under_load_loses_nothing(self):
        lb = self.start_lb()
        old_pid, port, admin_port = lb.pid, lb.port, lb.admin_port
        old_ino = os.stat(self.binary).st_ino
        idle = [self.client(port) for _ in range(_IDLE)]
        for c in idle:
            self.assertEqual(c.request("GET", "/idle").status, 200)
        new_ino = self.replace_binary()
        self.assertNotEqual(new_ino, old_ino)

        load = _Load(port)
        load.start()
        try:
            time.sleep(0.5)
            t0 = time.monotonic()
            lb.signal(signal.SIGUSR2)
            self.assertTrue(harness.wait_until(lambda: self.started_pid(lb), 5), "no 'upgrade started' line")
            new_pid = self.started_pid(lb)
            self.addCleanup(self.stop_pid, new_pid)
            handed = harness.wait_until(
                lambda: harness.log_events(lb, "upgrade: the new process serves; draining this one"), 10)
            self.assertTrue(handed, "the old process never heard the new one was ready")
            t_ready = time.monotonic() - t0
            time.sleep(0.5)  # load goes on against both processes, then the new one alone
        finally:
            load.finish()

        # The idle connections opened before the upgrade still work: the old
        # process answers each one's next request, with Connection: close.
        idle_closes = 0
        for c in idle:
            r = c.request("GET", "/idle-after")
            self.assertEqual(r.status, 200)
            idle_closes += (r.header("Connection") or "").lower() == "close"
            self.assertTrue(_closed_cleanly(c), "an idle connection was reset, or stayed open, after its answer")
        code = lb.wait(10)
        t_exit = time.monotonic() - t0
        lb.expected_exit = True
        self.assertEqual(code, 0, "the old process did not exit 0 after the handover")

        self.assertEqual(load.failures, [], f"failed requests during the upgrade: {load.failures[:10]}")
        self.assertGreater(load.ok, 200, "too little load to prove anything")
        self.assertEqual(idle_closes, _IDLE)

        # The new process runs the new file and serves the same sockets (admin included).
        self.assertEqual(os.stat(f"/proc/{new_pid}/exe").st_ino, new_ino)
        self.assertNotEqual(new_pid, old_pid)
        ready = [r for r in lb.log_records() if r.get("msg") == "ready" and r.get("pid") == str(new_pid)]
        self.assertTrue(ready, "the new process logged no ready line")
        stats = harness.admin_request(lb, "GET", "/stats").json()
        self.assertEqual(stats["pid"], new_pid)
        self.assertEqual(stats["upgrades"]["succeeded"], 1)
        for _ in range(20):
            self.assertEqual(harness.get(port, "/after").status, 200)
        adopted = [r for r in lb.log_records() if r.get("msg") == "listener bound" and r.get("adopted") == "2"]
        self.assertTrue(adopted, "the new process bound fresh sockets instead of adopting the old ones")
        samples = harness.metrics(lb)
        self.assertEqual(harness.metric_value(samples, "lb_upgrades_total", result="succeeded"), 1)
        print(f"\nupgrade: {load.ok} requests during it, 0 failed, {load.closes_seen} answered with "
              f"Connection: close; new process ready {t_ready * 1000:.0f} ms and old exited "
              f"{t_exit * 1000:.0f} ms after SIGUSR2 (admin port {admin_port})")

    def test_failing_upgrade_keeps_the_old_process_serving(self):
        lb = self.start_lb(workers=1)
        load = _Load(lb.port)
        load.start()
        try:
            # 1. The new binary refuses the config: the old one keeps serving.
            with open(lb.config_path) as f:
                good = f.read()
            with open(lb.config_path, "w") as f:
                f.write(good + "bogus_key: 1\n")
            r = harness.admin_request(lb, "POST", "/upgrade")
            self.assertEqual(r.status, 202, r.body)
            self.assertTrue(harness.wait_until(lambda: harness.log_events(lb, "upgrade failed: keeping this process"), 10))
            self.assertIn("config invalid", harness.log_events(lb, "upgrade failed: keeping this process")[-1]["reason"])
            with open(lb.config_path, "w") as f:
                f.write(good)

            # 2. A new binary that never gets ready; a second SIGUSR2 meanwhile is refused.
            with open(self.binary + ".new", "w") as f:
                f.write("#!/bin/sh\nexec sleep 20\n")
            os.chmod(self.binary + ".new", 0o755)
            os.replace(self.binary + ".new", self.binary)
            lb.signal(signal.SIGUSR2)
            self.assertTrue(harness.wait_until(lambda: self.started_pid(lb, 1), 5))
            lb.signal(signal.SIGUSR2)
            self.assertTrue(harness.wait_until(
                lambda: [e for e in harness.log_events(lb, "upgrade refused: keeping this process")
                         if "in progress" in e.get("reason", "")], 5), "a second SIGUSR2 was not refused")
            os.kill(self.started_pid(lb), signal.SIGKILL)  # it dies before it is ready
            self.assertTrue(harness.wait_until(
                lambda: len(harness.log_events(lb, "upgrade failed: keeping this process")) == 2, 5))
            self.assertIn("before it was ready", harness.log_events(lb, "upgrade failed: keeping this process")[-1]["reason"])

            # 3. No binary at the path: refused at once.
            os.remove(self.binary)
            lb.signal(signal.SIGUSR2)
            self.assertTrue(harness.wait_until(
                lambda: [e for e in harness.log_events(lb, "upgrade refused: keeping this process")
                         if "No such file" in e.get("reason", "")], 5))
            time.sleep(0.3)
        finally:
            load.finish()
        self.assert_alive(lb)
        self.assertEqual(load.failures, [], f"failed requests around failed upgrades: {load.failures[:10]}")
        self.assertGreater(load.ok, 50)
        samples = harness.metrics(lb)
        self.assertEqual(harness.metric_value(samples, "lb_upgrades_total", result="failed"), 2)
        self.assertEqual(harness.metric_value(samples, "lb_upgrades_total", result="refused"), 2)
        self.assertEqual(harness.get(lb.port, "/").status, 200)


if __name__ == "__main__":
    unittest.main()
