"""The systemd unit (systemd-analyze verify), lb's sd_notify messages as
systemd's Type=notify receives them, and the logrotate snippet rotating a real
access log with SIGUSR1."""
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import ship  # noqa: E402

BACKEND = os.environ.get("LB_BACKEND_BIN", os.path.join(ship.BUILD, "tools/backend/lb-backend"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def wait_until(fn, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if fn():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s")


class Lb:
    """lb with a config on free loopback ports, in front of one lb-backend."""

    def __init__(self, tmp, env=None, access_log="off"):
        self.backend = subprocess.Popen([BACKEND, "--name", "b1", "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                                        text=True)
        bport = int(re.search(r":(\d+)$", self.backend.stdout.readline().strip()).group(1))
        self.port, self.admin = free_port(), free_port()
        self.config = os.path.join(tmp, "lb.yaml")
        with open(self.config, "w") as f:
            f.write(f"""workers: 1
drain_timeout: 5s
admin: {{ listen: 127.0.0.1:{self.admin} }}
access_log: {{ path: {access_log}, format: json }}
listeners:
  - {{ name: web, listen: 127.0.0.1:{self.port}, protocol: http, routes: [ {{ match: {{ path_prefix: / }}, pool: app }} ] }}
pools:
  - {{ name: app, endpoints: [ {{ address: 127.0.0.1:{bport} }} ] }}
""")
        self.p = subprocess.Popen([ship.LB, "--config", self.config], env=dict(os.environ, **(env or {})),
                                  stderr=subprocess.DEVNULL)

    def stop(self):
        for p in (self.p, self.backend):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


class Systemd(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lb-systemd.")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_unit_verifies(self):
        # The unit as `cmake --install` fills it in, pointing at this tree's lb.
        etc = os.path.join(self.tmp, "etc")
        os.makedirs(os.path.join(etc, "lb"))
        shutil.copy(os.path.join(ship.REPO, "config/lb.yaml"), os.path.join(etc, "lb/lb.yaml"))
        text = open(os.path.join(ship.REPO, "deploy/systemd/lb.service.in")).read()
        text = text.replace("@LB_BINDIR@", os.path.dirname(os.path.abspath(ship.LB))).replace("@LB_ETC@", etc)
        self.assertNotIn("@LB_", text)
        unit = os.path.join(self.tmp, "lb.service")
        with open(unit, "w") as f:
            f.write(text)
        # Documentation=man:lb(1) is checked too: the man page the package
        # ships, made from the README.
        man1 = os.path.join(self.tmp, "man/man1")
        os.makedirs(man1)
        with open(os.path.join(man1, "lb.1"), "w") as f:
            f.write(ship.run([sys.executable, os.path.join(ship.REPO, "tools/package/readme2man.py"),
                              os.path.join(ship.REPO, "README.md"), "0"]).stdout)
        r = ship.run(["systemd-analyze", "verify", unit], check=False,
                     env=dict(os.environ, MANPATH=os.path.join(self.tmp, "man") + ":"))
        problems = [l for l in (r.stdout + r.stderr).splitlines() if "lb.service" in l]
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(problems, [])
        for line in ["Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "ProtectSystem=strict", "DynamicUser=yes",
                     "AmbientCapabilities=CAP_NET_BIND_SERVICE", "KillSignal=SIGTERM"]:
            self.assertIn(line + "\n", text)
        # The stop timeout covers the shipped drain_timeout.
        drain = int(re.search(r"^drain_timeout: (\d+)s", open(os.path.join(ship.REPO, "config/lb.yaml")).read(), re.M).group(1))
        self.assertGreater(int(re.search(r"^TimeoutStopSec=(\d+)s", text, re.M).group(1)), drain)

    def notify_run(self, addr, bind_path):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(bind_path)
        sock.settimeout(15)
        lb = Lb(self.tmp, env={"NOTIFY_SOCKET": addr})
        try:
            msg = sock.recv(4096).decode()
            self.assertIn("READY=1", msg.split("\n"))
            # READY=1 comes once lb serves: /readyz answers 200 right away.
            self.assertEqual(get(lb.admin, "/readyz")[0], 200)
            lb.p.send_signal(signal.SIGTERM)
            self.assertIn("STOPPING=1", sock.recv(4096).decode().split("\n"))
            self.assertEqual(lb.p.wait(timeout=15), 0)
        finally:
            lb.stop()
            sock.close()

    def test_sd_notify_path_socket(self):
        path = os.path.join(self.tmp, "notify.sock")
        self.notify_run(path, path)

    def test_sd_notify_abstract_socket(self):
        name = f"lb-notify-test-{os.getpid()}"
        self.notify_run("@" + name, "\0" + name)

    def test_sd_notify_follows_a_binary_upgrade(self):
        # SIGUSR2: the old process (still the main PID) tells systemd the new
        # one's PID before it drains, and sends no STOPPING=1; the new one is
        # then the process that notifies.
        path = os.path.join(self.tmp, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(15)
        lb = Lb(self.tmp, env={"NOTIFY_SOCKET": path})
        new_pid = None
        try:
            self.assertIn("READY=1", sock.recv(4096).decode().split("\n"))
            lb.p.send_signal(signal.SIGUSR2)
            msg = sock.recv(4096).decode().split("\n")
            mainpid = [l for l in msg if l.startswith("MAINPID=")]
            self.assertEqual(len(mainpid), 1, msg)
            new_pid = int(mainpid[0].split("=", 1)[1])
            self.assertNotEqual(new_pid, lb.p.pid)
            self.assertEqual(lb.p.wait(timeout=15), 0)
            self.assertEqual(get(lb.port, "/")[0], 200)  # the new process serves
            os.kill(new_pid, signal.SIGTERM)
            self.assertIn("STOPPING=1", sock.recv(4096).decode().split("\n"))

            def gone():
                try:
                    with open(f"/proc/{new_pid}/stat") as f:
                        return f.read().rsplit(")", 1)[1].split()[0] == "Z"
                except FileNotFoundError:
                    return True
            wait_until(gone, 15, "the new lb's exit")
            new_pid = None
        finally:
            if new_pid:
                os.kill(new_pid, signal.SIGKILL)
            lb.stop()
            sock.close()

    def test_no_notify_socket_is_fine(self):
        lb = Lb(self.tmp)
        try:
            wait_until(lambda: get(lb.admin, "/readyz")[0] == 200, 15, "/readyz")
        finally:
            lb.stop()
        self.assertEqual(lb.p.returncode, 0)

    def test_logrotate_with_sigusr1(self):
        logdir = os.path.join(self.tmp, "log")
        os.makedirs(logdir)
        access = os.path.join(logdir, "access.log")
        lb = Lb(self.tmp, access_log=access)
        try:
            wait_until(lambda: get(lb.admin, "/readyz")[0] == 200, 15, "/readyz")
            self.assertEqual(get(lb.port, "/before")[0], 200)
            wait_until(lambda: b"/before" in open(access, "rb").read(), 5, "access log line")
            # The shipped snippet, pointed at this directory and this lb's PID
            # (systemctl kill needs a running systemd).
            conf = open(os.path.join(ship.REPO, "deploy/logrotate/lb")).read()
            self.assertIn("--signal=SIGUSR1", conf)
            conf = conf.replace("/var/log/lb/", logdir + "/")
            conf = re.sub(r"systemctl kill .*", f"kill -USR1 {lb.p.pid}", conf)
            cpath = os.path.join(self.tmp, "logrotate.conf")
            with open(cpath, "w") as f:
                f.write(conf)
            ship.run(["logrotate", "-v", "-f", "-s", os.path.join(self.tmp, "state"), cpath])
            self.assertTrue(os.path.exists(access + ".1"))
            # After SIGUSR1, lb writes to a new access.log.
            wait_until(lambda: os.path.exists(access), 5, "reopened access.log")
            self.assertEqual(get(lb.port, "/after")[0], 200)
            wait_until(lambda: b"/after" in open(access, "rb").read(), 5, "line in the new access.log")
            self.assertNotIn(b"/before", open(access, "rb").read())
            self.assertIn(b"/before", open(access + ".1", "rb").read())
            self.assertNotIn(b"/after", open(access + ".1", "rb").read())
        finally:
            lb.stop()


if __name__ == "__main__":
    unittest.main()
