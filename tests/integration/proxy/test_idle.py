"""Idle keep-alive client connections: parked out of their session and out of Asio, they
cost little memory, keep being counted, resume on their next request (again and again),
and close at idle_timeout, on drain, or when the client goes."""

import os
import resource
import signal
import socket
import time
import unittest

from lib import harness
from reload import support

# nginx 1.22 holds an idle keep-alive connection in about 548 bytes (proxy-bench idle
# mode on this machine); lb must be no heavier.
NGINX_IDLE_BYTES = 548


def raise_fd_limit(want):
    """Raises this process's soft fd limit (lb inherits it); returns what it allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return max(soft, target)


def active(lb):
    return support.metrics(lb).get("lb_downstream_connections_active", listener="web")


class IdleConnectionTest(harness.LbTestCase):
    def setUp(self):
        self.a = self.backend("a")

    def start_lb(self, limits=None):
        return self.lb(harness.config([harness.pool("p", self.a)], workers=1, limits=limits))

    def test_idle_connections_are_light_and_resume(self):
        # Two sockets per connection in this process (none in lb's upstream side beyond a few).
        count = min(2000, (raise_fd_limit(8192) - 256) // 2)
        self.assertGreaterEqual(count, 1000, "fd limit too low to measure idle memory")
        lb = self.start_lb()
        # Warm up, so pools, buffers and lazily built state are in the baseline.
        warm = [harness.Client(lb.port) for _ in range(16)]
        for _ in range(10):
            for c in warm:
                self.assertEqual(c.request("GET", "/").status, 200)
        for c in warm:
            c.close()
        time.sleep(0.5)
        base = lb.rss_kib()

        held = []
        self.addCleanup(lambda: [c.close() for c in held])
        for _ in range(count):
            c = harness.Client(lb.port)
            held.append(c)
            self.assertEqual(c.request("GET", "/").status, 200)
        time.sleep(1.0)
        per_conn = (lb.rss_kib() - base) * 1024 / count
        # A sanitizer build's allocator pads and quarantines every block: its
        # RSS says nothing of lb's. The plain build (make test) holds the line.
        if not os.environ.get("LB_SANITIZED"):
            self.assertLess(per_conn, NGINX_IDLE_BYTES,
                            f"{count} idle connections cost {per_conn:.0f} B each (nginx: {NGINX_IDLE_BYTES} B)")
        self.assertEqual(active(lb), count, "parked connections must stay counted as active")

        # Every parked connection serves its next request.
        for i, c in enumerate(held):
            r = c.request("GET", f"/?n={i}")
            self.assertEqual((r.status, r.backend), (200, "a"), i)
        for c in held:
            c.close()
        m = support.wait_metrics(lb, lambda m: m.get("lb_downstream_connections_active", listener="web") == 0)
        self.assertEqual(m.get("lb_downstream_connections_active", listener="web"), 0)
        self.assertEqual(m.get("lb_downstream_connections_total", listener="web"), count + len(warm))

    def test_connection_parks_and_resumes_repeatedly(self):
        lb = self.start_lb()
        c = self.client(lb.port)
        for i in range(5):
            r = c.request("GET", f"/?n={i}")
            self.assertEqual(r.status, 200, i)
            time.sleep(0.35)  # longer than two sweeps: parked each time
        # Pipelined requests wake a parked connection as one burst.
        c.send(harness.build_request("GET", "/1") + harness.build_request("GET", "/2")
               + harness.build_request("GET", "/3"))
        self.assertEqual([r.status for r in c.read_responses(3)], [200, 200, 200])
        self.assertEqual(self.a.stats()["requests"], 8)
        self.assertEqual(support.metrics(lb).get("lb_downstream_connections_total", listener="web"), 1)

    def test_request_then_half_close_on_a_parked_connection_is_served(self):
        # The request and the client's FIN arrive together: the request still gets its answer.
        lb = self.start_lb()
        c = self.client(lb.port)
        self.assertEqual(c.request("GET", "/").status, 200)
        time.sleep(0.35)
        c.send(harness.build_request("GET", "/second"))
        c.sock.shutdown(socket.SHUT_WR)
        r = c.read_response()
        self.assertEqual((r.status, r.backend), (200, "a"))
        self.assertTrue(c.wait_closed(2.0))
        self.assertTrue(support.wait_until(lambda: active(lb) == 0, 2))

    def test_parking_does_not_extend_the_first_header_timeout(self):
        # header_timeout runs from accept: a client parked before its first byte that
        # then sends half a head is answered 408 at header_timeout, not later.
        lb = self.start_lb(limits={"header_timeout": "1s"})
        c = self.client(lb.port)
        t0 = time.monotonic()
        time.sleep(0.6)  # parked by the sweep, not a byte sent
        c.send(b"GET / HTTP/1.1\r\n")
        r = c.read_response()
        elapsed = time.monotonic() - t0
        self.assertEqual(r.status, 408)
        self.assertGreater(elapsed, 0.9)
        self.assertLess(elapsed, 1.45, "parking restarted header_timeout")
        self.assertEqual(self.a.stats()["requests"], 0)

    def test_parked_connection_closes_at_idle_timeout(self):
        lb = self.start_lb(limits={"idle_timeout": "700ms"})
        c = self.client(lb.port)
        self.assertEqual(c.request("GET", "/").status, 200)
        t0 = time.monotonic()
        self.assertTrue(c.wait_closed(3.0), "a parked connection outlived idle_timeout")
        self.assertGreater(time.monotonic() - t0, 0.5, "closed before idle_timeout")
        self.assertTrue(support.wait_until(lambda: active(lb) == 0, 2))

    def test_client_closing_a_parked_connection_is_counted(self):
        lb = self.start_lb()
        clients = [self.client(lb.port) for _ in range(5)]
        for c in clients:
            self.assertEqual(c.request("GET", "/").status, 200)
        time.sleep(0.35)
        self.assertEqual(active(lb), 5)
        for c in clients[:3]:
            c.close()
        self.assertTrue(support.wait_until(lambda: active(lb) == 2, 2), f"active={active(lb)}")
        for c in clients[3:]:
            self.assertEqual(c.request("GET", "/").status, 200)

    def test_drain_closes_parked_connections_at_once(self):
        lb = self.start_lb()
        clients = [self.client(lb.port) for _ in range(20)]
        for c in clients:
            self.assertEqual(c.request("GET", "/").status, 200)
        time.sleep(0.35)
        t0 = time.monotonic()
        lb.signal(signal.SIGTERM)
        for c in clients:
            self.assertTrue(c.wait_closed(1.0), "a parked connection was not closed on drain")
        self.assertEqual(lb.wait(3), 0)
        lb.expected_exit = True
        self.assertLess(time.monotonic() - t0, 1.5, "drain waited on idle connections")


if __name__ == "__main__":
    unittest.main()
