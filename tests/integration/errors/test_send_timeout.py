"""A route's send_timeout (ingress-nginx's proxy-send-timeout): an upstream that takes no
part of a request body within it ends the request with a 504, long before the
route's response timeout; HTTP/1.1 and HTTP/2 alike."""

import socket
import threading
import time
import unittest

from lib import harness
from http2.test_h2 import node

BODY = 256 << 20  # far more than the socket buffers between lb and a deaf upstream


def deaf_upstream(testcase):
    """Accepts connections and never reads from them."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(16)
    held = []

    def accept():
        while True:
            try:
                conn, _ = lst.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()

    def close():
        lst.close()
        for c in held:
            c.close()

    testcase.addCleanup(close)
    return f"127.0.0.1:{lst.getsockname()[1]}"


class SendTimeoutTest(harness.LbTestCase):
    def setUp(self):
        route = harness.route("p", timeout="60s")
        route["send_timeout"] = "1s"
        listener = {"name": "web", "listen": "127.0.0.1:0", "protocols": ["h1", "h2"], "routes": [route]}
        self.lb_ = self.lb(harness.config([harness.pool("p", deaf_upstream(self))], listeners=[listener]))

    def test_http1_upload_to_a_deaf_upstream_is_504(self):
        s = socket.create_connection(("127.0.0.1", self.lb_.port), timeout=30)
        self.addCleanup(s.close)
        s.sendall(f"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {BODY}\r\n\r\n".encode())
        stop = threading.Event()

        def feed():
            chunk = b"x" * 65536
            try:
                for _ in range(BODY // len(chunk)):
                    if stop.is_set():
                        return
                    s.sendall(chunk)
            except OSError:
                pass

        feeder = threading.Thread(target=feed, daemon=True)
        start = time.monotonic()
        feeder.start()
        answer = b""
        while b"\r\n" not in answer:
            part = s.recv(4096)
            if not part:
                break
            answer += part
        elapsed = time.monotonic() - start
        stop.set()
        self.assertTrue(answer.startswith(b"HTTP/1.1 504 "), answer[:200])
        # send_timeout (1s) ended it, not the route's 60s timeout.
        self.assertLess(elapsed, 20, answer[:200])

    def test_http2_upload_to_a_deaf_upstream_is_504(self):
        out = node("client.js", "post", self.lb_.port, "/", 32 << 20, timeout=60)
        self.assertEqual(out.get("status"), 504, out)


if __name__ == "__main__":
    unittest.main()
