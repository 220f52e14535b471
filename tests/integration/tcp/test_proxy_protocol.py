"""PROXY protocol both ways, against HAProxy as the real other end:
lb sends v1 and v2 headers HAProxy reads (`accept-proxy`); lb reads the v2
header HAProxy's `send-proxy-v2` writes, and then uses the client it names
(logs, the header lb sends on, X-Forwarded-For). Bad headers: malformed, slow,
truncated, or from a peer not trusted to send one, end the connection."""

import os
import shutil
import socket
import tempfile
import time
import unittest

from lib import harness
from tcp import support

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


class HaproxyCase(harness.LbTestCase):
    def haproxy(self, body):
        port = harness.closed_ports(1)[0]
        d = tempfile.TemporaryDirectory(prefix="lb-it-haproxy-")
        self.addCleanup(d.cleanup)
        path = os.path.join(d.name, "haproxy.cfg")
        with open(path, "w") as f:
            f.write("global\n  maxconn 200\ndefaults\n  timeout connect 2s\n  timeout client 10s\n"
                    "  timeout server 10s\n" + body.replace("{port}", str(port)))
        proc = harness._spawn([HAPROXY, "-db", "-f", path])
        self.addCleanup(harness._stop_process, proc)
        self.addCleanup(lambda: [s.close() for s in (proc.stdout, proc.stderr) if s])
        up = harness.wait_until(lambda: not harness.refused(port), 10)
        self.assertTrue(up, "haproxy did not start")
        return port

    def failures(self, lb, reason):
        return harness.metric_value(harness.metrics(lb), "lb_proxy_protocol_failures_total", listener="t",
                                    reason=reason)


class SendTest(HaproxyCase):
    """lb -> HAProxy `accept-proxy`: HAProxy's %[src] is lb's client."""

    def check(self, version):
        hp = self.haproxy("frontend fe\n  mode http\n  bind 127.0.0.1:{port} accept-proxy\n"
                          "  http-request return status 200 content-type text/plain "
                          "lf-string \"%[src] %[src_port] %[dst] %[dst_port]\"\n")
        lb = self.lb(support.tcp_config([f"127.0.0.1:{hp}"], pool_extra={"proxy_protocol": version}))
        s = support.connect(lb.port)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        resp = support.read_all(s)
        head, _, body = resp.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), resp)
        self.assertEqual(body.decode().split(),
                         ["127.0.0.1", str(s.getsockname()[1]), "127.0.0.1", str(lb.port)])
        s.close()

    def test_v1(self):
        self.check("v1")

    def test_v2(self):
        self.check("v2")


class AcceptTest(HaproxyCase):
    def test_haproxy_send_proxy_v2_names_the_client(self):
        e = support.Echo()
        self.addCleanup(e.stop)
        # lb trusts loopback's 127.0.0.1 (HAProxy's source) and passes the client
        # on to the echo server in a v1 header, which comes back echoed.
        lb = self.lb(support.tcp_config([e.endpoint()],
                                        listener_extra={"accept_proxy_protocol": {"from": ["127.0.0.1/32"]}},
                                        pool_extra={"proxy_protocol": "v1"}))
        hp = self.haproxy("frontend fe\n  mode tcp\n  bind 127.0.0.1:{port}\n  default_backend be\n"
                          f"backend be\n  mode tcp\n  server lb 127.0.0.1:{lb.port} send-proxy-v2\n")
        s = support.connect(hp, source="127.0.0.5")
        s.sendall(b"payload")
        line = f"PROXY TCP4 127.0.0.5 127.0.0.1 {s.getsockname()[1]} {hp}\r\n".encode()
        self.assertEqual(support.read_exact(s, len(line) + 7), line + b"payload")
        s.close()
        # (The first line is the start-up probe's, through HAProxy from 127.0.0.1.)
        rec = harness.wait_until(lambda: next((r for r in harness.access_records(lb) if r["bytes_in"] == 7), None))
        self.assertEqual(rec["client"], "127.0.0.5", harness.access_records(lb))

    def test_http_listener_uses_the_named_client(self):
        b = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", b)], listeners=[{
            "name": "web", "listen": "127.0.0.1:0", "protocol": "http",
            "accept_proxy_protocol": {"from": ["127.0.0.0/8"]},
            "routes": [harness.route("p")]}]))
        s = support.connect(lb.port)
        s.sendall(b"PROXY TCP4 203.0.113.9 127.0.0.1 5555 80\r\n"
                  b"GET /?echo=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        resp = support.read_all(s)
        self.assertIn(b"203.0.113.9", resp)
        self.assertNotIn(b"PROXY", resp)


class BadHeaderTest(HaproxyCase):
    def setUp(self):
        self.e = support.Echo()
        self.addCleanup(self.e.stop)

    def lb_trusting(self, block):
        return self.lb(support.tcp_config([self.e.endpoint()], listener_extra={
            "accept_proxy_protocol": {"from": [block], "timeout": "1s"}}))

    def test_header_from_an_untrusted_peer_is_refused(self):
        lb = self.lb_trusting("10.0.0.0/8")
        s = support.connect(lb.port)
        s.sendall(b"PROXY TCP4 10.9.9.9 127.0.0.1 1 2\r\nsecret")
        self.assertTrue(support.closed_by_peer(s))
        self.assertTrue(harness.wait_until(lambda: harness.metric_value(
            harness.metrics(lb), "lb_tcp_sessions_total", listener="t", ended="proxy_refused") == 1))
        # Nothing reached the upstream.
        self.assertFalse([ev for ev in self.e.events() if not ev.startswith(("eof 0", "error 0"))])
        # Plain traffic from the same untrusted peer flows.
        s = support.connect(lb.port)
        s.sendall(b"hello")
        self.assertEqual(support.read_exact(s, 5), b"hello")

    def test_malformed_header_is_counted_and_closed(self):
        lb = self.lb_trusting("127.0.0.1")
        s = support.connect(lb.port)
        s.sendall(b"PROXY TCP4 nonsense here\r\nGET /")
        self.assertTrue(support.closed_by_peer(s))
        self.assertTrue(harness.wait_until(lambda: self.failures(lb, "malformed") == 1))
        # A trusted peer that sends no header at all is malformed too.
        s = support.connect(lb.port)
        s.sendall(b"GET / HTTP/1.1\r\n\r\n")
        self.assertTrue(support.closed_by_peer(s))
        self.assertTrue(harness.wait_until(lambda: self.failures(lb, "malformed") == 2))
        self.assertEqual(self.e.events(), [])

    def test_slow_and_truncated_headers(self):
        lb = self.lb_trusting("127.0.0.1")
        slow = support.connect(lb.port)
        slow.sendall(b"PROXY TCP4 1.2.3.4")
        t0 = time.monotonic()
        self.assertTrue(support.closed_by_peer(slow))
        self.assertLess(time.monotonic() - t0, 3)
        self.assertTrue(harness.wait_until(lambda: self.failures(lb, "timeout") == 1))
        cut = support.connect(lb.port)
        cut.sendall(b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c\x01\x02")
        cut.shutdown(socket.SHUT_WR)
        self.assertTrue(support.closed_by_peer(cut))
        self.assertTrue(harness.wait_until(lambda: self.failures(lb, "closed") == 1))
        self.assertEqual(self.e.events(), [])

    def test_header_split_over_segments_is_read_whole(self):
        lb = self.lb(support.tcp_config([self.e.endpoint()], listener_extra={
            "accept_proxy_protocol": {"from": ["127.0.0.1"]}}, pool_extra={"proxy_protocol": "v2"}))
        s = support.connect(lb.port)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for part in (b"PROXY TCP6 2001:db8::", b"9 2001:db8::1 4000", b"0 443\r\n"):
            s.sendall(part)
            time.sleep(0.1)
        s.sendall(b"data")
        # The echo server gets lb's v2 header (16 + 36 bytes for IPv6) and then the data.
        got = support.read_exact(s, 52 + 4)
        self.assertEqual(got[-4:], b"data")
        self.assertEqual(got[16:32], socket.inet_pton(socket.AF_INET6, "2001:db8::9"))
        self.assertEqual(int.from_bytes(got[48:50], "big"), 40000)


if __name__ == "__main__":
    unittest.main()
