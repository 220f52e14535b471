"""Listeners added, removed or moved by a reload: new ones are bound, removed ones stop
accepting, and the other listeners' connections are never disturbed."""

import time
import unittest

from lib import harness
from reload import support


def extra_listener(listen="127.0.0.1:0", name="extra"):
    return {"name": name, "listen": listen, "protocol": "http",
            "routes": [harness.route("pb", name="all", path_prefix="/")]}


class ListenerReloadTest(harness.LbTestCase):
    def setUp(self):
        self.a = self.backend("a")
        self.b = self.backend("b")

    def config(self, *extra):
        return support.two_pool_config(self.a, self.b, "pa", workers=2, listeners_extra=list(extra))

    def reload(self, lb, text):
        start = len(lb.log_lines())
        support.write_atomic(lb.config_path, text)
        status, body = support.post_reload(lb)
        self.assertEqual(status, 200, body)
        return start

    def bound_port(self, lb, start, name):
        rec = support.wait_log(lb, start, timeout=2, msg="listener bound", listener=name)
        self.assertIsNotNone(rec, f"no 'listener bound' log line for {name}")
        return harness.split_hostport(rec["address"])[1]

    def assert_keepalive_ok(self, c, backend="a"):
        r = c.request("GET", "/x")
        self.assertEqual((r.status, r.backend), (200, backend))

    def test_added_listener_is_bound(self):
        lb = self.lb(self.config(), listeners=["web"])
        web = self.client(lb.port)
        self.assert_keepalive_ok(web)
        start = self.reload(lb, self.config(extra_listener()))
        port = self.bound_port(lb, start, "extra")
        self.assertNotEqual(port, lb.port)
        self.assertEqual(len(harness.listening_sockets(port, lb.pid)), 2, "one socket per worker expected")
        r = harness.get(port, "/x")
        self.assertEqual((r.status, r.backend), (200, "b"))
        self.assert_keepalive_ok(web)  # the same connection, opened before the reload
        m = support.metrics(lb)
        self.assertEqual(m.get("lb_downstream_connections_total", listener="extra"), 1)
        self.assertEqual(m.get("lb_http_requests_total", listener="extra", route="all", code=200, protocol="http/1.1"), 1)
        self.assertEqual(support.admin_json(lb, "/config")["listeners"][1]["name"], "extra")

    def test_removed_listener_stops_accepting(self):
        lb = self.lb(self.config(extra_listener()), listeners=["web", "extra"])
        extra_port = lb.ports["extra"]
        web = self.client(lb.port)
        self.assert_keepalive_ok(web)
        self.assertEqual(harness.get(extra_port, "/x").backend, "b")
        start = self.reload(lb, self.config())
        self.assertIsNotNone(support.wait_log(lb, start, timeout=2, msg="listener removed", listener="extra"))
        self.assertTrue(support.wait_until(lambda: harness.refused(extra_port), 2),
                        "the removed listener still accepts connections")
        self.assertTrue(all(harness.refused(extra_port) for _ in range(10)), "a worker's socket still accepts")
        self.assertEqual(harness.listening_sockets(extra_port, lb.pid), [])
        self.assert_keepalive_ok(web)
        self.assertEqual(harness.get(lb.port, "/x").backend, "a")

    def test_removed_listener_drains_its_connections(self):
        # Like Envoy's listener drain: an idle connection closes at once; one with a
        # request in flight gets its response, marked Connection: close, then closes.
        lb = self.lb(self.config(extra_listener()), listeners=["web", "extra"])
        extra_port = lb.ports["extra"]
        web = self.client(lb.port)
        self.assert_keepalive_ok(web)
        parked = self.client(extra_port)
        self.assertEqual(parked.request("GET", "/x").backend, "b")
        time.sleep(0.35)  # parked: out of its session
        busy = self.client(extra_port)
        busy.send(harness.build_request("GET", "/x?delay=800"))
        time.sleep(0.3)  # the slow request is at the backend
        idle = self.client(extra_port)
        for _ in range(2):  # busy a moment ago: idle in its session, not yet parked
            self.assertEqual(idle.request("GET", "/x").backend, "b")
        start = self.reload(lb, self.config())
        self.assertIsNotNone(support.wait_log(lb, start, timeout=2, msg="listener removed", listener="extra"))
        self.assertTrue(idle.wait_closed(1.0), "an idle connection of the removed listener stayed open")
        self.assertTrue(parked.wait_closed(1.0), "a parked connection of the removed listener stayed open")
        r = busy.read_response()
        self.assertEqual((r.status, r.backend), (200, "b"))
        self.assertEqual(r.header("Connection"), "close")
        self.assertTrue(busy.wait_closed(1.0), "the busy connection stayed open after its response")
        self.assert_keepalive_ok(web)

    def test_moved_listener(self):
        p1, p2 = harness.closed_port(), harness.closed_port()
        lb = self.lb(self.config(extra_listener(f"127.0.0.1:{p1}")), listeners=["web", "extra"])
        self.assertEqual(lb.ports["extra"], p1)
        web = self.client(lb.port)
        self.assert_keepalive_ok(web)
        start = self.reload(lb, self.config(extra_listener(f"127.0.0.1:{p2}")))
        self.assertEqual(self.bound_port(lb, start, "extra"), p2)
        self.assertEqual(harness.get(p2, "/x").backend, "b")
        self.assertTrue(support.wait_until(lambda: harness.refused(p1), 2), "the old address still accepts")
        self.assertEqual(harness.listening_sockets(p1, lb.pid), [])
        self.assert_keepalive_ok(web)
        # Counters follow the listener by name across the move.
        m = support.metrics(lb)
        self.assertEqual(m.get("lb_downstream_connections_total", listener="extra"), 1)

    def test_listener_churn_under_load(self):
        # A listener is added and removed five times while "web" serves a continuous load:
        # not one of web's requests fails, no keep-alive connection of web is touched.
        lb = self.lb(self.config(), listeners=["web"])
        load = support.Load(lb.port, "/x", keepalive=2, fresh=1, max_requests=100000, max_seconds=15).start()
        self.addCleanup(load.stop)
        for i in range(5):
            time.sleep(0.2)
            start = self.reload(lb, self.config(extra_listener()))
            port = self.bound_port(lb, start, "extra")
            self.assertEqual(harness.get(port, "/x").backend, "b")
            time.sleep(0.2)
            start = self.reload(lb, self.config())
            self.assertTrue(support.wait_until(lambda: harness.refused(port), 2))
        load.stop()
        results = load.snapshot()
        failures = [r for r in results if r.error is not None or r.status != 200]
        self.assertGreater(len(results), 100)
        self.assertEqual(failures, [], f"{len(failures)} of {len(results)} requests failed")
        conns = {(r.thread, r.conn) for r in results if r.kind == "keepalive"}
        self.assertEqual(len(conns), 2, "a keep-alive connection of the untouched listener was closed")
        self.assertTrue(all(r.backend == "a" for r in results))


if __name__ == "__main__":
    unittest.main()
