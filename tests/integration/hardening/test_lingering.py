"""Lingering close (limits.lingering_timeout): after an error answer sent while the client
is still uploading, lb drops the rest of the body for a bounded time instead of closing
with unread input (which sends an RST that can destroy the answer in flight).

The upload crosses a veth pair into a network namespace rate-limited with `tc tbf`, so
the client is really mid-upload when lb answers (on loopback the whole body would sit in
socket buffers at once)."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import unittest

from lib import harness

UPLOAD = 2 * 1024 * 1024

# Runs inside the namespace: uploads `size` bytes (Content-Length or chunked) while a
# thread reads the answer, like a browser or curl does; prints what happened as JSON.
CLIENT = r"""
import json, socket, sys, threading, time
host, port, size, chunked = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
s = socket.create_connection((host, port), timeout=20)
head = b"POST /upload HTTP/1.1\r\nHost: x\r\n"
head += b"Transfer-Encoding: chunked\r\n\r\n" if chunked else b"Content-Length: %d\r\n\r\n" % size
out = {"send_error": None, "recv_error": None, "sent": 0}
got = bytearray()
def reader():
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            got.extend(d)
    except OSError as e:
        out["recv_error"] = type(e).__name__
t = threading.Thread(target=reader); t.start()
start = time.monotonic()
try:
    s.sendall(head)
    piece = b"x" * 16384
    left = size
    while left:
        n = min(left, len(piece))
        s.sendall((b"%x\r\n" % n + piece[:n] + b"\r\n") if chunked else piece[:n])
        left -= n
        out["sent"] += n
    if chunked:
        s.sendall(b"0\r\n\r\n")
    s.shutdown(socket.SHUT_WR)
except OSError as e:
    out["send_error"] = type(e).__name__
t.join(20)
out["elapsed"] = time.monotonic() - start
out["response"] = bytes(got[:200]).decode("latin-1")
print(json.dumps(out))
"""


def sh(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=10)


class NetnsPair:
    """A namespace `ns` holding the client end of a veth pair; the other end stays in
    the root namespace, where lb listens. The client's egress is rate-limited."""

    def __init__(self, rate="8mbit"):
        tag = os.getpid() % 100000
        self.ns = f"lbling{tag}"
        self.host_if, self.ns_if = f"lbl{tag}h", f"lbl{tag}n"
        octet = 1 + tag % 250
        self.host_ip, self.ns_ip = f"10.213.{octet}.1", f"10.213.{octet}.2"
        sh("ip", "netns", "add", self.ns)
        try:
            sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            sh("ip", "link", "set", self.ns_if, "netns", self.ns)
            sh("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
            sh("ip", "link", "set", self.host_if, "up")
            self.ns_exec("ip", "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if)
            self.ns_exec("ip", "link", "set", self.ns_if, "up")
            self.ns_exec("ip", "link", "set", "lo", "up")
            self.ns_exec("tc", "qdisc", "add", "dev", self.ns_if, "root", "tbf", "rate", rate,
                         "burst", "32kbit", "latency", "400ms")
        except Exception:
            self.close()
            raise

    def ns_exec(self, *args):
        sh("ip", "netns", "exec", self.ns, *args)

    def close(self):
        subprocess.run(["ip", "link", "del", self.host_if], stderr=subprocess.DEVNULL, timeout=10)
        subprocess.run(["ip", "netns", "del", self.ns], stderr=subprocess.DEVNULL, timeout=10)


@unittest.skipUnless(os.geteuid() == 0, "network namespaces need root")
class LingeringCloseTest(harness.LbTestCase):
    @classmethod
    def setUpClass(cls):
        cls.net = NetnsPair()
        cls.addClassCleanup(cls.net.close)
        cls.a = cls.class_backend("a")
        limits = {"max_body_bytes": 1000, "lingering_timeout": "10s"}
        cls.lb_ = cls.class_lb(harness.config([harness.pool("p", cls.a)], limits=limits,
                                              listen=f"{cls.net.host_ip}:0"))

    def upload(self, chunked):
        p = subprocess.run(["ip", "netns", "exec", self.net.ns, sys.executable, "-c", CLIENT,
                            self.net.host_ip, str(self.lb_.port), str(UPLOAD), "1" if chunked else "0"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def check_413(self, chunked):
        before = self.a.requests()
        out = self.upload(chunked)
        self.assertTrue(out["response"].startswith("HTTP/1.1 413 "), out)
        self.assertIsNone(out["recv_error"], out)
        self.assertIsNone(out["send_error"], out)  # no RST while the body was still going
        self.assertEqual(out["sent"], UPLOAD, out)
        # 2 MiB at 8 Mbit/s takes about 2 s: the client was still sending when lb answered.
        self.assertGreater(out["elapsed"], 1.0, out)
        self.assertEqual(self.a.requests(), before)
        self.assert_alive(self.lb_)

    def test_content_length_over_limit_413_read_by_client(self):
        self.check_413(chunked=False)

    def test_chunked_over_limit_413_read_by_client(self):
        self.check_413(chunked=True)


class EarlyAnswerUpstream:
    """Answers 403 as soon as a request head arrives, without reading the body."""

    def __init__(self):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.address = "127.0.0.1:%d" % self.lsock.getsockname()[1]
        threading.Thread(target=self.loop, daemon=True).start()

    def __str__(self):
        return self.address

    def loop(self):
        while True:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(s,), daemon=True).start()

    def serve(self, s):
        with s:
            buf = b""
            try:
                while b"\r\n\r\n" not in buf:
                    d = s.recv(65536)
                    if not d:
                        return
                    buf += d
                s.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nno\n")
                s.settimeout(10)
                while s.recv(65536):  # the body lb still sends is read and dropped
                    pass
            except OSError:
                pass

    def close(self):
        self.lsock.close()


@unittest.skipUnless(os.geteuid() == 0, "network namespaces need root")
class LingeringEarlyUpstreamAnswerTest(harness.LbTestCase):
    def test_early_upstream_answer_read_by_client(self):
        net = NetnsPair()
        self.addCleanup(net.close)
        up = EarlyAnswerUpstream()
        self.addCleanup(up.close)
        lb = self.lb(harness.config([harness.pool("p", up)], limits={"lingering_timeout": "10s"},
                                    listen=f"{net.host_ip}:0"))
        p = subprocess.run(["ip", "netns", "exec", net.ns, sys.executable, "-c", CLIENT,
                            net.host_ip, str(lb.port), str(UPLOAD), "0"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)
        self.assertTrue(out["response"].startswith("HTTP/1.1 403 "), out)
        self.assertIsNone(out["send_error"], out)
        self.assertIsNone(out["recv_error"], out)
        self.assertEqual(out["sent"], UPLOAD, out)


class LingeringBoundTest(harness.LbTestCase):
    """A client that never stops sending is cut off after lingering_timeout."""

    def test_linger_is_bounded(self):
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a)],
                                    limits={"max_body_bytes": 1000, "lingering_timeout": "1s"}))
        c = self.client(lb.port, timeout=10)
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
        r = c.read_response()
        self.assertEqual(r.status, 413)
        start = time.monotonic()
        closed = None
        while time.monotonic() - start < 6:
            try:
                c.sock.sendall(b"x" * 1024)
            except OSError:
                closed = time.monotonic() - start
                break
            time.sleep(0.02)
        self.assertIsNotNone(closed, "lb kept reading past lingering_timeout")
        self.assertLess(closed, 3.5)

    def test_linger_off_closes_at_once(self):
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a)],
                                    limits={"max_body_bytes": 1000, "lingering_timeout": "0s"}))
        c = self.client(lb.port, timeout=10)
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
        self.assertEqual(c.read_response().status, 413)
        self.assertTrue(c.wait_closed(1))


if __name__ == "__main__":
    unittest.main()
