"""Graceful drain on SIGTERM/SIGINT: stop accepting, finish in-flight work, close idle, exit 0."""

import signal
import time
import unittest

from lib import harness
from lib.harness import build_request


class DrainTest(harness.LbTestCase):
    def start(self, drain_timeout, workers=2):
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a)], workers=workers, drain_timeout=drain_timeout,
                                    routes=[harness.route("p", timeout="30s")]))
        lb.expected_exit = True
        return a, lb

    def send_slow(self, lb, delay_ms):
        c = self.client(lb.port, timeout=15)
        c.send(build_request("GET", f"/?delay={delay_ms}"))
        time.sleep(0.3)  # let the request reach the backend
        return c

    def test_in_flight_request_completes(self):
        a, lb = self.start("5s")
        idle = self.client(lb.port)
        self.assertEqual(idle.request("GET", "/").status, 200)
        slow = self.send_slow(lb, 1500)

        t0 = time.monotonic()
        lb.signal(signal.SIGTERM)

        # New connections are refused soon after SIGTERM, on every worker's socket.
        deadline = t0 + 1.0
        while not harness.refused(lb.port) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertLess(time.monotonic() - t0, 1.0, "still accepting 1 s after SIGTERM")
        self.assertTrue(all(harness.refused(lb.port) for _ in range(10)), "some listener still accepts")

        # The idle keep-alive connection is closed without waiting for drain_timeout.
        self.assertTrue(idle.wait_closed(1.0), "idle keep-alive connection not closed on drain")

        # The in-flight request completes normally, and its connection is closed after it.
        r = slow.read_response()
        self.assertEqual((r.status, r.backend, r.body), (200, "a", b"a\n"))
        done = time.monotonic()
        self.assertTrue(slow.wait_closed(2), "connection left open after its last request in drain")

        # lb exits 0 once nothing is in flight, well before drain_timeout.
        code = lb.wait(5)
        self.assertEqual(code, 0, f"exit code {code}")
        self.assertLess(time.monotonic() - done, 1.5, "lb lingered after the last request finished")

    def test_request_slower_than_drain_timeout_is_cut(self):
        a, lb = self.start("1s")
        slow = self.send_slow(lb, 6000)
        t0 = time.monotonic()
        lb.signal(signal.SIGTERM)
        code = lb.wait(5)
        elapsed = time.monotonic() - t0
        self.assertEqual(code, 0, f"exit code {code} after {elapsed:.2f}s")
        self.assertGreater(elapsed, 0.9, "lb did not wait for the in-flight request")
        self.assertLess(elapsed, 2.5, "lb overran drain_timeout")
        try:
            r = slow.read_response()
            self.assertNotEqual(r.status, 200, "a request cut by drain looked successful")
        except harness.ConnectionClosed:
            pass

    def test_readyz_503_while_draining(self):
        a, lb = self.start("5s")
        slow = self.send_slow(lb, 1500)
        self.assertEqual(harness.simple_get(lb.admin_port, "/readyz")[0], 200)
        lb.signal(signal.SIGTERM)
        time.sleep(0.2)
        self.assertEqual(harness.simple_get(lb.admin_port, "/readyz")[0], 503)
        self.assertEqual(slow.read_response().status, 200)
        self.assertEqual(lb.wait(5), 0)

    def test_idle_exit_is_prompt(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(signal=sig.name):
                a, lb = self.start("10s")
                self.assertEqual(harness.get(lb.port, "/").status, 200)
                t0 = time.monotonic()
                lb.signal(sig)
                self.assertEqual(lb.wait(3), 0)
                self.assertLess(time.monotonic() - t0, 1.0)

    def test_keepalive_client_mid_drain_gets_answer_then_close(self):
        # A keep-alive client whose next request is already in flight when SIGTERM lands
        # gets that answer (not a reset), then the connection closes.
        a, lb = self.start("5s")
        c = self.client(lb.port)
        self.assertEqual(c.request("GET", "/").status, 200)
        c.send(build_request("GET", "/?delay=800"))
        time.sleep(0.2)
        lb.signal(signal.SIGTERM)
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertTrue(c.wait_closed(2))
        self.assertEqual(lb.wait(5), 0)


if __name__ == "__main__":
    unittest.main()
