"""Log rotation: rename the file, send SIGUSR1; lb reopens the path. Under a bounded load no
line is lost or duplicated, none is cut, and requests made after the reopen log to the new file."""

import datetime
import glob
import os
import signal
import time
import unittest

from lib import harness
from reload import support


def parse_time(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()


class RotationTest(harness.LbTestCase):
    def start(self, workers=2):
        self.a = self.backend("a")
        text = harness.config([harness.pool("p", self.a)], workers=workers).replace(
            "listeners:", "access_log:\n  path: access.log\n  format: json\nlisteners:")
        lb = self.lb(text)
        return lb, os.path.join(lb.dir.name, "access.log")

    def rotate(self, lb, path, suffix):
        start = len(lb.log_lines())
        os.rename(path, f"{path}.{suffix}")
        lb.signal(signal.SIGUSR1)
        self.assertIsNotNone(support.wait_log(lb, start, timeout=2, msg="access log reopened"))
        return time.time()

    def all_lines(self, path):
        out = {}
        for p in sorted(glob.glob(path + "*")):
            out[p] = support.read_access_log(p)  # fails on a cut or non-JSON line
        return out

    def test_rotation_under_load_loses_nothing(self):
        lb, path = self.start()
        load = support.Load(lb.port, "/", keepalive=2, fresh=2, max_requests=100000, max_seconds=10).start()
        self.addCleanup(load.stop)
        rotated_at = {}
        for i in range(1, 4):
            time.sleep(0.6)
            rotated_at[i] = self.rotate(lb, path, i)
        time.sleep(0.6)
        load.stop()
        results = load.snapshot()
        self.assertEqual(load.failures(), [])
        sent = len(results)
        self.assertGreater(sent, 200)

        def count():
            return sum(len(v) for v in self.all_lines(path).values())
        support.wait_until(lambda: count() >= sent, 5)
        time.sleep(0.3)
        files = self.all_lines(path)
        per_file = {os.path.basename(p): len(v) for p, v in files.items()}
        self.assertEqual(sum(per_file.values()), sent, f"lines per file: {per_file}, requests sent: {sent}")
        for name in ("access.log", "access.log.1", "access.log.2", "access.log.3"):
            self.assertGreater(per_file.get(name, 0), 0, f"{name} got no lines: {per_file}")
        # A request that started well after a reopen never lands in a file rotated before it.
        for i, t in rotated_at.items():
            late = [l for l in files[f"{path}.{i}"] if parse_time(l["time"]) > t + 0.25]
            self.assertEqual(late, [], f"lines of requests made after rotation {i} went to the old file")
        # Every line is a request of the load.
        statuses = {l["status"] for v in files.values() for l in v}
        self.assertEqual(statuses, {200})

    def test_reopen_without_traffic_releases_the_old_file(self):
        lb, path = self.start(workers=1)
        self.assertEqual(harness.get(lb.port, "/").status, 200)
        self.assertEqual(len(support.wait_access_lines(path, 1)), 1)
        self.rotate(lb, path, "old")
        self.assertTrue(support.wait_until(lambda: os.path.exists(path), 2), "the path was not reopened")

        def holds_old():
            for fd in os.listdir(f"/proc/{lb.pid}/fd"):
                try:
                    if os.readlink(f"/proc/{lb.pid}/fd/{fd}").endswith("access.log.old"):
                        return True
                except OSError:
                    pass
            return False
        self.assertTrue(support.wait_until(lambda: not holds_old(), 2), "lb still holds the rotated file open")
        self.assertEqual(harness.get(lb.port, "/").status, 200)
        self.assertEqual(len(support.wait_access_lines(path, 1)), 1)
        self.assertEqual(len(support.read_access_log(path + ".old")), 1)

    def test_sigusr1_with_stdout_log_is_harmless(self):
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a)]))  # access_log defaults to stdout
        self.assertEqual(harness.get(lb.port, "/").status, 200)
        start = len(lb.log_lines())
        lb.signal(signal.SIGUSR1)
        self.assertIsNotNone(support.wait_log(lb, start, timeout=2, msg="access log reopened"))
        self.assertEqual(harness.get(lb.port, "/").status, 200)
        self.assertTrue(support.wait_until(lambda: len(lb.stdout_lines()) >= 2, 3))
        self.assert_alive(lb)


if __name__ == "__main__":
    unittest.main()
