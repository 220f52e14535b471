"""An invalid config, by any trigger (file change, SIGHUP, POST /reload), is refused with its
errors and the running config keeps serving; each refusal is counted as a failed reload."""

import re
import signal
import socket
import time
import unittest

from lib import harness
from reload import support


class InvalidReloadTest(harness.LbTestCase):
    def setUp(self):
        self.a = self.backend("a")
        self.b = self.backend("b")
        self.valid = {p: support.two_pool_config(self.a, self.b, p, workers=2) for p in ("pa", "pb")}
        self.lb_ = self.lb(self.valid["pa"])
        self.ka = self.client(self.lb_.port)
        self.assertEqual(self.ka.request("GET", "/x").backend, "a")
        self.t_loaded = support.metrics(self.lb_).get("lb_config_last_reload_success_timestamp_seconds")

    def typo_config(self):
        """The pb config with an unknown key; returns (text, line, column) of the error."""
        text = self.valid["pb"].replace("    protocol: http\n", "    protocol: http\n    lsiten: 127.0.0.1:1\n")
        line = text.splitlines().index("    lsiten: 127.0.0.1:1") + 1
        return text, line, 5

    def assert_old_config_serves(self, why):
        with self.subTest(still_serving=why):
            self.assertEqual(harness.get(self.lb_.port, "/x").backend, "a", "new connection")
            r = self.ka.request("GET", "/x")
            self.assertEqual((r.status, r.backend), (200, "a"), "keep-alive connection opened before")
            cfg = support.admin_json(self.lb_, "/config")
            self.assertEqual(cfg["version"], 1)
            self.assertEqual(cfg["listeners"][0]["routes"][0]["pool"], "pa")
            self.assert_alive(self.lb_)

    def assert_reload_counts(self, success, failure):
        m = support.metrics(self.lb_)
        self.assertEqual(m.get("lb_config_reloads_total", result="success"), success)
        self.assertEqual(m.get("lb_config_reloads_total", result="failure"), failure)
        self.assertEqual(m.get("lb_config_last_reload_success_timestamp_seconds"), self.t_loaded,
                         "a failed reload moved the last-success timestamp")

    def assert_logged_refusal(self, start, trigger, line, col):
        lb = self.lb_
        invalid = support.wait_log(lb, start, timeout=3, msg="config invalid", trigger=trigger)
        self.assertIsNotNone(invalid, f"no 'config invalid' log line for trigger {trigger}")
        pattern = re.escape(lb.config_path) + rf":{line}:{col}: unknown key 'lsiten'"
        self.assertRegex(invalid.get("error", ""), "^" + pattern)
        kept = support.wait_log(lb, start, timeout=3, msg="reload failed: keeping the running config",
                                trigger=trigger)
        self.assertIsNotNone(kept, f"no 'reload failed' log line for trigger {trigger}")
        self.assertEqual(kept.get("level"), "warn")
        self.assertEqual(kept.get("version"), "1")

    def test_invalid_config_by_every_trigger(self):
        lb = self.lb_
        text, line, col = self.typo_config()

        # 1. The file changes on disk: the watch tries it and refuses it.
        start = len(lb.log_lines())
        support.write_atomic(lb.config_path, text)
        self.assert_logged_refusal(start, "file change", line, col)
        self.assert_reload_counts(1, 1)
        self.assert_old_config_serves("after the file change")

        # 2. SIGHUP with the same invalid file.
        start = len(lb.log_lines())
        lb.signal(signal.SIGHUP)
        self.assert_logged_refusal(start, "SIGHUP", line, col)
        self.assert_reload_counts(1, 2)
        self.assert_old_config_serves("after SIGHUP")

        # 3. POST /reload: 400 with the errors, FILE:LINE:COL each.
        status, body = support.post_reload(lb)
        self.assertEqual(status, 400, body)
        self.assertEqual(list(body), ["errors"])
        self.assertEqual(len(body["errors"]), 1, body)
        self.assertRegex(body["errors"][0], "^" + re.escape(lb.config_path) + rf":{line}:{col}: unknown key 'lsiten'")
        self.assert_reload_counts(1, 3)
        self.assert_old_config_serves("after POST /reload")

        # The refused file is not retried on its own.
        time.sleep(0.6)
        self.assert_reload_counts(1, 3)

        # Fixing the file reloads it.
        support.write_atomic(lb.config_path, self.valid["pb"])
        self.assertEqual(support.wait_until(lambda: support.config_version(lb) == 2, 3), True,
                         "the fixed file was not loaded")
        self.assertEqual(harness.get(lb.port, "/x").backend, "b")
        m = support.metrics(lb)
        self.assertEqual(m.get("lb_config_reloads_total", result="success"), 2)
        self.assertEqual(m.get("lb_config_reloads_total", result="failure"), 3)
        self.assertGreater(m.get("lb_config_last_reload_success_timestamp_seconds"), self.t_loaded)

    def post_invalid(self, text, watched=True):
        """Writes `text`, waits for the watch to refuse it, then POSTs /reload."""
        start = len(self.lb_.log_lines())
        support.write_atomic(self.lb_.config_path, text)
        if watched:
            self.assertIsNotNone(support.wait_log(self.lb_, start, timeout=3,
                                                  msg="reload failed: keeping the running config"))
        return support.post_reload(self.lb_)

    def test_post_reload_reports_every_error_with_position(self):
        lb = self.lb_
        text = self.valid["pb"]
        lines = text.splitlines()
        # Two errors: a route naming a pool that does not exist, and a bad duration.
        i_pool = next(i for i, l in enumerate(lines) if l == "        pool: pb")
        i_timeout = next(i for i, l in enumerate(lines) if l == "        timeout: 30s" and i > i_pool)
        lines[i_pool] = "        pool: nope"
        lines[i_timeout] = "        timeout: 1.5s"
        status, body = self.post_invalid("\n".join(lines) + "\n")
        self.assertEqual(status, 400, body)
        errors = body["errors"]
        self.assertEqual(len(errors), 2, errors)
        path = re.escape(lb.config_path)
        self.assertRegex(errors[0], rf"^{path}:{i_pool + 1}:15: .*unknown pool 'nope'")
        self.assertRegex(errors[1], rf"^{path}:{i_timeout + 1}:18: ")
        self.assert_old_config_serves("after two errors")

    def test_post_reload_yaml_syntax_error(self):
        lb = self.lb_
        text = self.valid["pb"].replace("    routes:\n", "    routes: [\n", 1)
        status, body = self.post_invalid(text)
        self.assertEqual(status, 400, body)
        self.assertTrue(body["errors"], body)
        for e in body["errors"]:
            self.assertRegex(e, "^" + re.escape(lb.config_path) + r":\d+:\d+: ")
        self.assert_old_config_serves("after a YAML syntax error")

    def test_post_reload_empty_file(self):
        # The watch ignores an empty file (a writer may be half-way); POST /reload refuses it.
        status, body = self.post_invalid("", watched=False)
        self.assertEqual(status, 400, body)
        self.assertTrue(body["errors"], body)
        self.assertRegex(body["errors"][0], "^" + re.escape(self.lb_.config_path) + ":")
        time.sleep(0.4)
        self.assertEqual(support.metrics(self.lb_).get("lb_config_reloads_total", result="failure"), 1)
        self.assert_old_config_serves("after an empty file")

    def test_reload_that_cannot_bind_changes_nothing(self):
        # The new config adds two listeners: the first on a free port, the second on a
        # port someone else holds. The reload is refused as a whole: the first is not
        # left bound, the running listener keeps serving.
        lb = self.lb_
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        self.addCleanup(busy.close)
        busy_port = busy.getsockname()[1]
        free_port = harness.closed_port()
        extra = [{"name": "one", "listen": f"127.0.0.1:{free_port}", "protocol": "http",
                  "routes": [harness.route("pa")]},
                 {"name": "two", "listen": f"127.0.0.1:{busy_port}", "protocol": "http",
                  "routes": [harness.route("pa")]}]
        text = support.two_pool_config(self.a, self.b, "pb", listeners_extra=extra)
        start = len(lb.log_lines())
        support.write_atomic(lb.config_path, text)
        self.assertIsNotNone(support.wait_log(lb, start, timeout=3, msg="cannot bind listener", listener="two"))
        with self.subTest(check="a refused reload is logged as such, whatever the cause"):
            self.assertIsNotNone(support.wait_log(lb, start, timeout=0.5,
                                                  msg="reload failed: keeping the running config"),
                                 "a reload refused because a listener cannot bind logs only "
                                 "'cannot bind listener', not 'reload failed: keeping the running config'")
        status, body = support.post_reload(lb)
        self.assertEqual(status, 400, body)
        self.assertTrue(any("two" in e for e in body["errors"]), body)
        self.assertEqual(harness.listening_sockets(free_port, lb.pid), [],
                         "the listener bound by the refused reload was left open")
        self.assert_old_config_serves("after a bind failure")
        self.assertEqual(support.metrics(lb).get("lb_config_reloads_total", result="failure"), 2)


if __name__ == "__main__":
    unittest.main()
