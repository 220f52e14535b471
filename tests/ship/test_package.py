"""tools/package builds the .deb; it is installed with apt into a Debian 12
chroot made from the cached debootstrap tarball, where `lb --check` passes on
the shipped config and lb starts and proxies (inside a network namespace of
its own, so the shipped fixed ports cannot collide with anything)."""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import ship  # noqa: E402

BACKEND = os.environ.get("LB_BACKEND_BIN", os.path.join(ship.BUILD, "tools/backend/lb-backend"))
TARBALL = os.path.join(ship.BUILD, "cache/bookworm-minbase.tar")


class Package(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.deb = ship.run([os.path.join(ship.REPO, "tools/package/build.sh"), ship.BUILD]).stdout.strip()

    def test_contents(self):
        self.assertRegex(os.path.basename(self.deb), r"^lb_\d+\.\d+\.\d+_[a-z0-9]+\.deb$")
        info = ship.run(["dpkg-deb", "-I", self.deb]).stdout
        self.assertIn("Package: lb", info)
        self.assertRegex(info, r"Depends: .*libyaml-cpp0\.7")
        files = ship.run(["dpkg-deb", "-c", self.deb]).stdout
        for f in ["./usr/bin/lb", "./etc/lb/lb.yaml", "./usr/lib/systemd/system/lb.service", "./etc/logrotate.d/lb",
                  "./usr/share/man/man1/lb.1.gz", "./usr/share/doc/lb/README.md.gz"]:
            self.assertIn(f, files)
        tmp = tempfile.mkdtemp()
        try:
            ship.run(["dpkg-deb", "-e", self.deb, tmp])
            self.assertEqual(sorted(open(os.path.join(tmp, "conffiles")).read().split()),
                             ["/etc/lb/lb.yaml", "/etc/logrotate.d/lb"])
            ship.run(["dpkg-deb", "-x", self.deb, tmp])
            unit = open(os.path.join(tmp, "usr/lib/systemd/system/lb.service")).read()
            self.assertIn("ExecStart=/usr/bin/lb --config /etc/lb/lb.yaml\n", unit)
            man = ship.run(["sh", "-c", f"zcat {tmp}/usr/share/man/man1/lb.1.gz"]).stdout
            self.assertIn(".TH LB 1", man)
            self.assertIn("--probe", man)  # from the README's command-line table
        finally:
            shutil.rmtree(tmp)

    def test_installs_checks_and_starts_in_a_chroot(self):
        self.assertTrue(os.path.exists(TARBALL), f"no base tarball at {TARBALL} (ship.base makes it)")
        root = tempfile.mkdtemp(prefix="lb-chroot.", dir=ship.BUILD)
        ns = f"lbpkg{os.getpid()}"
        mounted, procs = False, []
        try:
            ship.run(["tar", "-C", root, "-xf", TARBALL])
            shutil.copy("/etc/resolv.conf", os.path.join(root, "etc/resolv.conf"))
            shutil.copy(self.deb, os.path.join(root, "tmp/lb.deb"))
            ship.run(["mount", "-t", "proc", "proc", os.path.join(root, "proc")])
            mounted = True
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            ship.run(["chroot", root, "apt-get", "update", "-qq"], env=env)
            ship.run(["chroot", root, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "/tmp/lb.deb"], env=env)
            status = ship.run(["chroot", root, "dpkg", "-s", "lb"]).stdout
            self.assertIn("Status: install ok installed", status)
            self.assertIn("/etc/lb/lb.yaml", status)  # listed among Conffiles
            r = ship.run(["chroot", root, "lb", "--check", "--config", "/etc/lb/lb.yaml"], check=False)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("configuration is valid", r.stdout)
            # Start it as the unit would, with the shipped config, in a
            # namespace of its own, with one backend on the shipped 9001.
            ship.run(["ip", "netns", "add", ns])
            ship.run(["ip", "-n", ns, "link", "set", "lo", "up"])
            backend = subprocess.Popen(["ip", "netns", "exec", ns, BACKEND, "--name", "pkg", "--listen", "127.0.0.1:9001"],
                                       stdout=subprocess.PIPE, text=True)
            procs.append(backend)
            backend.stdout.readline()
            backend.stdout.close()
            lb = subprocess.Popen(["ip", "netns", "exec", ns, "chroot", root, "lb", "--config", "/etc/lb/lb.yaml"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(lb)
            deadline = time.monotonic() + 20
            probe = ["ip", "netns", "exec", ns, "chroot", root, "lb", "--probe"]
            while ship.run(probe + ["http://127.0.0.1:9901/readyz"], check=False).returncode != 0:
                self.assertIsNone(lb.poll(), "lb exited")
                self.assertLess(time.monotonic(), deadline, "lb not ready within 20 s")
                time.sleep(0.2)
            # Through the proxy to the backend: round robin over 9001..9003,
            # where only 9001 answers; the shipped retries reach it every time.
            ok = sum(ship.run(probe + ["http://127.0.0.1:8080/"], check=False).returncode == 0 for _ in range(6))
            self.assertEqual(ok, 6)
            lb.terminate()
            self.assertEqual(lb.wait(timeout=40), 0)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.terminate()
                    try:
                        p.wait(timeout=40)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
            if mounted:
                subprocess.run(["umount", os.path.join(root, "proc")])
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
