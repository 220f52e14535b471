"""The config file watch: a change on disk reloads (debounced, only when the bytes changed),
including a Kubernetes ConfigMap mount, where the file is replaced by a `..data` symlink swap."""

import os
import time
import unittest

from lib import harness
from reload import support

RELOAD_DEADLINE = 3.0  # debounce is 200 ms


class WatchTest(harness.LbTestCase):
    def setUp(self):
        self.a = self.backend("a")
        self.b = self.backend("b")
        self.cfg = {p: support.two_pool_config(self.a, self.b, p, workers=1) for p in ("pa", "pb")}

    def wait_version(self, lb, version, timeout=RELOAD_DEADLINE):
        return support.wait_until(lambda: support.config_version(lb) == version, timeout)

    def reload_logs(self, lb):
        return [(r.get("trigger"), r.get("version")) for r in lb.log_records() if r.get("msg") == "config reloaded"]

    def test_configmap_symlink_swap(self):
        lb = support.register_lb(self, support.ConfigMapLb(self.cfg["pa"]))
        self.assertTrue(os.path.islink(lb.config_path))
        self.assertEqual(harness.get(lb.port, "/x").backend, "a")

        lb.swap(self.cfg["pb"])
        self.assertTrue(self.wait_version(lb, 2), "the ..data swap did not reload within 3 s")
        self.assertEqual(harness.get(lb.port, "/x").backend, "b")
        self.assertEqual(support.admin_json(lb, "/config")["listeners"][0]["routes"][0]["pool"], "pb")

        # A second swap works too (the watch survives the old directory's removal).
        lb.swap(self.cfg["pa"])
        self.assertTrue(self.wait_version(lb, 3), "the second ..data swap did not reload")
        self.assertEqual(harness.get(lb.port, "/x").backend, "a")

        # A swap to identical bytes (the kubelet re-publishes on any ConfigMap update) does not reload.
        lb.swap(self.cfg["pa"])
        time.sleep(0.6)
        self.assertEqual(support.config_version(lb), 3)
        self.assertEqual(self.reload_logs(lb), [("file change", "2"), ("file change", "3")])

    def test_configmap_swap_to_invalid_keeps_running(self):
        lb = support.register_lb(self, support.ConfigMapLb(self.cfg["pa"]))
        start = len(lb.log_lines())
        lb.swap(self.cfg["pb"].replace("pool: pb", "pool: nope"))
        self.assertIsNotNone(support.wait_log(lb, start, timeout=RELOAD_DEADLINE, msg="config invalid",
                                              trigger="file change"))
        self.assertEqual(support.config_version(lb), 1)
        self.assertEqual(harness.get(lb.port, "/x").backend, "a")
        lb.swap(self.cfg["pb"])
        self.assertTrue(self.wait_version(lb, 2))
        self.assertEqual(harness.get(lb.port, "/x").backend, "b")

    def test_in_place_edit_reloads(self):
        lb = self.lb(self.cfg["pa"])
        support.write_in_place(lb.config_path, self.cfg["pb"])
        self.assertTrue(self.wait_version(lb, 2), "an in-place edit did not reload within 3 s")
        self.assertEqual(harness.get(lb.port, "/x").backend, "b")
        self.assertEqual(self.reload_logs(lb), [("file change", "2")])

    def test_rename_over_reloads(self):
        lb = self.lb(self.cfg["pa"])
        support.write_atomic(lb.config_path, self.cfg["pb"])
        self.assertTrue(self.wait_version(lb, 2), "a rename over the file did not reload within 3 s")
        self.assertEqual(harness.get(lb.port, "/x").backend, "b")

    def test_same_bytes_do_not_reload(self):
        lb = self.lb(self.cfg["pa"])
        os.utime(lb.config_path)
        support.write_in_place(lb.config_path, self.cfg["pa"])
        support.write_atomic(lb.config_path, self.cfg["pa"])
        with open(os.path.join(os.path.dirname(lb.config_path), "other.txt"), "w") as f:
            f.write("unrelated file in the same directory\n")
        time.sleep(0.7)
        self.assertEqual(support.config_version(lb), 1)
        self.assertEqual(self.reload_logs(lb), [])

    def test_burst_of_writes_is_one_reload(self):
        # A writer that truncates, writes half, then the rest (an editor, `cat >`): the
        # half-written file is never loaded; one reload of the final bytes.
        lb = self.lb(self.cfg["pa"])
        text = self.cfg["pb"]
        with open(lb.config_path, "w") as f:
            f.write(text[: len(text) // 2])
            f.flush()
            time.sleep(0.05)
            f.write(text[len(text) // 2:])
        self.assertTrue(self.wait_version(lb, 2))
        time.sleep(0.5)
        self.assertEqual(support.config_version(lb), 2)
        self.assertEqual(self.reload_logs(lb), [("file change", "2")])
        m = support.metrics(lb)
        self.assertEqual(m.get("lb_config_reloads_total", result="failure"), 0)

    def test_file_change_noticed_while_directory_is_busy(self):
        # A relative access_log path lands beside the config (lb runs in the config's
        # directory here). The access log is written every 100 ms under load; the config
        # change must still be picked up within the deadline.
        access_log = {"path": "access.log", "format": "json"}
        cfg = {p: support.two_pool_config(self.a, self.b, p, workers=1, access_log=access_log)
               for p in ("pa", "pb")}
        lb = self.lb(cfg["pa"])
        load = support.Load(lb.port, "/x", keepalive=1, fresh=0, max_requests=2000, max_seconds=8,
                            pause=0.01).start()
        self.addCleanup(load.stop)
        time.sleep(0.3)
        support.write_atomic(lb.config_path, cfg["pb"])
        reloaded = self.wait_version(lb, 2)
        load.stop()
        self.assertTrue(reloaded, "the config change was not applied within 3 s while the access log "
                                  "(same directory) was being written")


if __name__ == "__main__":
    unittest.main()
