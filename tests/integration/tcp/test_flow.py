"""protocol: tcp: bytes both ways, half-close each way, resets passed on as
resets, idle and half-close timeouts, dead endpoints skipped, limits, the
access log line and the lb_tcp_* metrics."""

import errno
import socket
import threading
import time
import unittest

from lib import harness
from tcp import support


class TcpCase(harness.LbTestCase):
    def echo(self, mode="echo"):
        e = support.Echo(mode)
        self.addCleanup(e.stop)
        return e

    def tcp_lb(self, endpoints, **kw):
        return self.lb(support.tcp_config(endpoints, **kw))

    def ended(self, lb, how):
        return harness.metric_value(harness.metrics(lb), "lb_tcp_sessions_total", listener="t", ended=how)

    def wait_ended(self, lb, how, n=1, timeout=5.0):
        return harness.wait_until(lambda: self.ended(lb, how) >= n, timeout)


class FlowTest(TcpCase):
    def test_echo_and_half_close_from_the_client(self):
        e = self.echo()
        lb = self.tcp_lb([e.endpoint()])
        s = support.connect(lb.port)
        for msg in (b"ping", b"x" * 100000, b"last"):
            s.sendall(msg)
            self.assertEqual(support.read_exact(s, len(msg)), msg)
        # FIN reaches the echo server, whose answer still flows back after it.
        s.shutdown(socket.SHUT_WR)
        self.assertEqual(support.read_all(s), b"EOF 100008\n")
        s.close()
        self.assertTrue(self.wait_ended(lb, "closed"))

    def test_half_close_from_the_upstream(self):
        e = self.echo("fin-first")
        lb = self.tcp_lb([e.endpoint()])
        s = support.connect(lb.port)
        # The upstream's FIN arrives after its greeting; the client can still send.
        self.assertEqual(support.read_all(s), b"hello\n")
        s.sendall(b"a" * 5000)
        s.shutdown(socket.SHUT_WR)
        self.assertEqual(e.wait_event("eof"), "eof 5000")
        s.close()
        self.assertTrue(self.wait_ended(lb, "closed"))

    def test_upstream_reset_becomes_a_client_reset(self):
        e = self.echo("rst")
        lb = self.tcp_lb([e.endpoint()])
        s = support.connect(lb.port)
        s.sendall(b"boom")
        with self.assertRaises(ConnectionResetError):
            support.read_all(s)
        s.close()
        self.assertTrue(self.wait_ended(lb, "upstream_reset"))

    def test_client_reset_becomes_an_upstream_reset(self):
        e = self.echo("hold")
        lb = self.tcp_lb([e.endpoint()])
        s = support.connect(lb.port)
        s.sendall(b"hi")
        self.assertEqual(support.read_exact(s, 2), b"hi")
        support.reset(s)
        # The echo server sees a reset (ECONNRESET), not a clean end of stream.
        self.assertEqual(e.wait_event("error"), f"error 2 {errno.ECONNRESET}")
        self.assertTrue(self.wait_ended(lb, "client_reset"))

    def test_half_close_timeout_ends_a_flow_the_other_side_never_finishes(self):
        e = self.echo("hold")
        lb = self.tcp_lb([e.endpoint()], listener_extra={"limits": {"half_close_timeout": "1s"}})
        s = support.connect(lb.port)
        s.sendall(b"abc")
        self.assertEqual(support.read_exact(s, 3), b"abc")
        s.shutdown(socket.SHUT_WR)
        t0 = time.monotonic()
        s.settimeout(10)
        self.assertEqual(support.read_all(s), b"")
        self.assertGreater(time.monotonic() - t0, 0.8)
        self.assertLess(time.monotonic() - t0, 3.0)
        self.assertTrue(self.wait_ended(lb, "half_close_timeout"))

    def test_idle_timeout_and_traffic_keeping_a_flow_alive(self):
        e = self.echo()
        lb = self.tcp_lb([e.endpoint()], listener_extra={"limits": {"idle_timeout": "1s"}})
        s = support.connect(lb.port)
        # A byte every 0.4 s for 2 s: never idle for 1 s.
        for _ in range(5):
            s.sendall(b".")
            self.assertEqual(support.read_exact(s, 1), b".")
            time.sleep(0.4)
        t0 = time.monotonic()
        s.settimeout(10)
        self.assertEqual(support.read_all(s), b"")
        self.assertLess(time.monotonic() - t0, 3.0)
        self.assertTrue(self.wait_ended(lb, "idle_timeout"))

    def test_dead_endpoints_are_skipped_before_the_first_byte(self):
        e = self.echo()
        dead = harness.refusing_ports(2)
        lb = self.tcp_lb([f"127.0.0.1:{dead[0]}", e.endpoint(), f"127.0.0.1:{dead[1]}"])
        for i in range(6):
            s = support.connect(lb.port)
            s.sendall(b"n%d" % i)
            self.assertEqual(support.read_exact(s, 2), b"n%d" % i)
            s.close()
        samples = harness.metrics(lb)
        failures = sum(harness.metric_value(samples, "lb_upstream_connect_failures_total", endpoint=f"127.0.0.1:{p}")
                       for p in dead)
        self.assertGreaterEqual(failures, 4)
        self.assertGreaterEqual(harness.metric_value(samples, "lb_upstream_retries_total", pool="p"), 4)

    def test_no_endpoint_closes_the_connection(self):
        dead = harness.refusing_ports(1)
        lb = self.tcp_lb([f"127.0.0.1:{dead[0]}"])
        s = support.connect(lb.port)
        s.settimeout(5)
        self.assertEqual(support.read_all(s), b"")
        self.assertTrue(self.wait_ended(lb, "connect_failed"))

    def test_max_connections_refuses_the_next(self):
        e = self.echo("hold")
        lb = self.tcp_lb([e.endpoint()], listener_extra={"limits": {"max_connections": 2}})
        held = [support.connect(lb.port) for _ in range(2)]
        for s in held:
            s.sendall(b"k")
            self.assertEqual(support.read_exact(s, 1), b"k")
        extra = support.connect(lb.port)
        extra.settimeout(5)
        try:
            self.assertEqual(extra.recv(10), b"")
        except ConnectionResetError:
            pass
        for s in held:
            s.close()


class BackPressureTest(TcpCase):
    def test_small_messages_to_a_client_that_stops_reading_arrive_whole_and_in_order(self):
        # Small numbered messages echoed back to a client that reads nothing
        # for a second: lb's writes to it must wait for room (the relay hands
        # the flow to the waiting write, and reads stop: back-pressure), and
        # every byte still arrives once, in order, when the client reads again.
        e = self.echo()
        lb = self.tcp_lb([e.endpoint()])
        s = support.connect(lb.port, timeout=30.0)
        self.addCleanup(s.close)
        size = 1500
        sent = b"".join(b"%07d:" % i + b"m" * (size - 8) for i in range(6000))  # 9 MB

        def send():
            for at in range(0, len(sent), size):
                s.sendall(sent[at:at + size])

        t = threading.Thread(target=send)
        t.start()
        time.sleep(1.0)  # lb's socket to the client fills meanwhile
        got = support.read_exact(s, len(sent))
        t.join(30)
        self.assertFalse(t.is_alive())
        self.assertEqual(len(got), len(sent))
        self.assertTrue(got == sent, "the echoed bytes differ from what was sent")


class BulkResetTest(TcpCase):
    def test_clients_vanishing_mid_bulk_on_both_paths(self):
        # A client that resets while lb splices (or copies) a large echo into
        # it: lb passes the reset on and lives (a splice() into the dead
        # socket must not raise a fatal SIGPIPE).
        e = self.echo()
        for splice in ("auto", "off"):
            lb = self.tcp_lb([e.endpoint()], listener_extra={"splice": splice})
            for _ in range(5):
                s = support.connect(lb.port)
                s.sendall(b"z" * (8 << 20))
                support.read_exact(s, 1 << 20)
                support.reset(s)
            self.assertTrue(self.wait_ended(lb, "client_reset", 5))
            s = support.connect(lb.port)
            s.sendall(b"alive")
            self.assertEqual(support.read_exact(s, 5), b"alive")
            s.close()
            self.assert_alive(lb)


class AccountingTest(TcpCase):
    def test_access_log_line_and_byte_counters(self):
        e = self.echo()
        lb = self.tcp_lb([e.endpoint()])
        s = support.connect(lb.port)
        s.sendall(b"q" * 1000)
        self.assertEqual(support.read_exact(s, 1000), b"q" * 1000)
        s.shutdown(socket.SHUT_WR)
        self.assertEqual(support.read_all(s), b"EOF 1000\n")
        s.close()
        rec = harness.wait_until(lambda: next((r for r in harness.access_records(lb) if r["listener"] == "t"), None))
        self.assertIsNotNone(rec)
        self.assertEqual(rec["pool"], "p")
        self.assertEqual(rec["endpoint"], e.endpoint())
        self.assertEqual(rec["client"], "127.0.0.1")
        self.assertEqual(rec["bytes_in"], 1000)
        self.assertEqual(rec["bytes_out"], 1009)
        self.assertEqual(rec["reason"], "closed")
        self.assertEqual(rec["attempts"], 1)
        self.assertGreater(rec["duration"], 0)
        samples = harness.metrics(lb)
        self.assertEqual(harness.metric_value(samples, "lb_tcp_bytes_total", listener="t", direction="rx"), 1000)
        self.assertEqual(harness.metric_value(samples, "lb_tcp_bytes_total", listener="t", direction="tx"), 1009)
        self.assertEqual(harness.metric_value(samples, "lb_upstream_tcp_bytes_total", endpoint=e.endpoint(),
                                              direction="tx"), 1000)
        self.assertEqual(harness.metric_value(samples, "lb_upstream_tcp_bytes_total", endpoint=e.endpoint(),
                                              direction="rx"), 1009)
        self.assertEqual(harness.metric_value(samples, "lb_tcp_sessions_active", listener="t"), 0)

    def test_active_gauge_counts_open_flows(self):
        e = self.echo()
        lb = self.tcp_lb([e.endpoint()])
        held = [support.connect(lb.port) for _ in range(3)]
        for s in held:
            s.sendall(b"x")
            support.read_exact(s, 1)
        active = lambda: harness.metric_value(harness.metrics(lb), "lb_tcp_sessions_active", listener="t")
        self.assertEqual(active(), 3)
        for s in held:
            s.close()
        self.assertTrue(harness.wait_until(lambda: active() == 0))

    def test_hash_balancer_keeps_a_client_on_one_endpoint(self):
        a, b = self.echo(), self.echo()
        lb = self.tcp_lb([a.endpoint(), b.endpoint()], pool_extra={"balancer": "maglev"})
        for i in range(6):
            s = support.connect(lb.port)
            s.sendall(b"h")
            support.read_exact(s, 1)
            s.close()
        rec = harness.wait_until(lambda: [r for r in harness.access_records(lb) if r["listener"] == "t"]
                                 if len(harness.access_records(lb)) >= 6 else None)
        self.assertEqual(len({r["endpoint"] for r in rec}), 1)


if __name__ == "__main__":
    unittest.main()
