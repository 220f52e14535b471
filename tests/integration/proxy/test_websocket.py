"""WebSocket upgrade: 101 passed through, then bytes tunnelled both ways."""

import base64
import os
import unittest

from lib import harness
from lib.harness import build_request, ws_frame, ws_read_message


class WebSocketTest(harness.LbTestCase):
    def setUp(self):
        self.a = self.backend("a")
        self.lb_ = self.lb(harness.config([harness.pool("p", self.a)]))

    def handshake(self, path="/ws"):
        c = self.client(self.lb_.port)
        key = base64.b64encode(os.urandom(16)).decode()
        c.send(build_request("GET", path, headers=[
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]))
        r = c.read_response()
        self.assertEqual(r.status, 101, r)
        self.assertEqual(r.header("Upgrade", "").lower(), "websocket")
        self.assertIn("upgrade", r.header("Connection", "").lower())
        self.assertEqual(r.header("Sec-WebSocket-Accept"), harness.ws_accept(key))
        return c

    def test_echo_both_ways(self):
        c = self.handshake()
        for text in ["hello", "second message", "x" * 125, "y" * 126]:
            c.send(ws_frame(0x1, text.encode()))
            self.assertEqual(ws_read_message(c), (0x1, text.encode()))

    def test_large_binary_messages(self):
        c = self.handshake()
        for size in (70000, 1 << 20):
            payload = os.urandom(size)
            c.send(ws_frame(0x2, payload))
            op, data = ws_read_message(c)
            self.assertEqual(op, 0x2)
            self.assertEqual(len(data), size)
            self.assertEqual(data, payload)

    def test_several_messages_in_one_write(self):
        c = self.handshake()
        msgs = [f"m{i}".encode() for i in range(20)]
        c.send(b"".join(ws_frame(0x1, m) for m in msgs))
        for m in msgs:
            self.assertEqual(ws_read_message(c), (0x1, m))

    def test_close_handshake_ends_tunnel(self):
        c = self.handshake()
        c.send(ws_frame(0x1, b"before close"))
        self.assertEqual(ws_read_message(c), (0x1, b"before close"))
        c.send(ws_frame(0x8, b"\x03\xe8bye"))
        fin, op, payload = harness.ws_read_frame(c)
        self.assertEqual(op, 0x8)
        self.assertTrue(c.wait_closed(5), "tunnel not closed after the WebSocket close handshake")

    def test_concurrent_tunnels_and_plain_requests(self):
        tunnels = [self.handshake() for _ in range(5)]
        for i, c in enumerate(tunnels):
            c.send(ws_frame(0x1, f"t{i}".encode()))
        self.assertEqual(harness.get(self.lb_.port, "/").status, 200)
        for i, c in enumerate(tunnels):
            self.assertEqual(ws_read_message(c), (0x1, f"t{i}".encode()))


if __name__ == "__main__":
    unittest.main()
