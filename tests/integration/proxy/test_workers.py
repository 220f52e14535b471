"""Workers: one SO_REUSEPORT listening socket per worker; concurrent connections served."""

import os
import threading
import time
import unittest

from lib import harness


class WorkersTest(harness.LbTestCase):
    def test_one_listening_socket_per_worker(self):
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a)], workers=2))
        self.assertEqual(len(harness.listening_sockets(lb.port, pid=lb.pid)), 2)
        self.assertEqual(len(harness.listening_sockets(lb.port)), 2)

    def test_single_worker_single_socket(self):
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a)], workers=1))
        self.assertEqual(len(harness.listening_sockets(lb.port, pid=lb.pid)), 1)

    def test_auto_is_one_per_core(self):
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a)], workers="auto"))
        self.assertEqual(len(harness.listening_sockets(lb.port, pid=lb.pid)), os.cpu_count())

    def test_every_listener_on_every_worker(self):
        a = self.backend("a")
        pools = [harness.pool("p", a)]
        listeners = [{"name": n, "listen": "127.0.0.1:0", "protocol": "http",
                      "routes": [harness.route("p")]} for n in ("one", "two")]
        lb = self.lb(harness.config(pools, listeners=listeners, workers=2), listeners=["one", "two"])
        self.assertNotEqual(lb.ports["one"], lb.ports["two"])
        for name in ("one", "two"):
            self.assertEqual(len(harness.listening_sockets(lb.ports[name], pid=lb.pid)), 2, name)
            self.assertEqual(harness.get(lb.ports[name], "/").status, 200)

    def test_concurrent_connections_served(self):
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a)], workers=2))
        n = 32
        results = [None] * n
        barrier = threading.Barrier(n)

        def one(i):
            try:
                with harness.Client(lb.port, timeout=10) as c:
                    barrier.wait()
                    statuses = []
                    for j in range(5):
                        r = c.request("GET", f"/?delay=100&echo=1&i={i}&j={j}")
                        statuses.append((r.status, r.json()["target"]))
                    results[i] = statuses
            except Exception as e:  # recorded and asserted below
                results[i] = e

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        elapsed = time.monotonic() - start
        for i, res in enumerate(results):
            self.assertEqual(res, [(200, f"/?delay=100&echo=1&i={i}&j={j}") for j in range(5)])
        # 32 connections x 5 sequential 100 ms requests: served concurrently, not one by one.
        self.assertLess(elapsed, 5.0)
        self.assertEqual(a.stats()["requests"], n * 5)


if __name__ == "__main__":
    unittest.main()
