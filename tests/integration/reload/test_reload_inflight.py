"""Work in flight when a reload lands finishes on the config it started with: long streamed
responses, slow responses, streamed uploads and WebSocket tunnels, even when the reload
removes their pool."""

import base64
import hashlib
import os
import threading
import time
import unittest

from lib import harness
from lib.harness import build_request
from reload import support

MIB = 1 << 20


def only_b_config(b, workers=2):
    """Pool pa is gone: everything goes to pb."""
    listeners = [{"name": "web", "listen": "127.0.0.1:0", "protocol": "http",
                  "routes": [harness.route("pb", name="x", path_prefix="/x", timeout="30s"),
                             harness.route("pb", name="rest", path_prefix="/", timeout="30s")]}]
    return support.yaml_doc({"workers": workers, "drain_timeout": "3s", "admin": {"listen": "127.0.0.1:0"},
                             "listeners": listeners, "pools": [harness.pool("pb", b)]})


class InFlightTest(harness.LbTestCase):
    def setUp(self):
        self.a = self.backend("a")
        self.b = self.backend("b")
        self.cfg = {p: support.two_pool_config(self.a, self.b, p, workers=2) for p in ("pa", "pb")}
        self.cfg["only_b"] = only_b_config(self.b)
        self.lb_ = self.lb(self.cfg["pa"])

    def reload_to(self, name):
        support.write_atomic(self.lb_.config_path, self.cfg[name])
        status, body = support.post_reload(self.lb_)
        self.assertEqual(status, 200, body)
        return body["version"]

    def reload_twice_removing_pool(self):
        """pa -> pb (routing moves) -> only_b (pool pa and its endpoint are gone)."""
        self.reload_to("pb")
        self.reload_to("only_b")
        self.assertEqual(harness.get(self.lb_.port, "/x").backend, "b")

    def download_across_reloads(self, query):
        size = 24 * MIB
        c = self.client(self.lb_.port, timeout=30)
        c.send(build_request("GET", f"/x?size={size}{query}"))
        checker = support.PatternChecker(slow_every=512 * 1024, sleep=0.05)
        out = {}

        def read():
            try:
                out["response"] = c.read_response(sink=checker)
            except Exception as e:  # reported below
                out["error"] = e
        t = threading.Thread(target=read, daemon=True)
        t.start()
        self.assertTrue(support.wait_until(lambda: checker.offset > MIB, 5), "the download did not start")
        self.reload_twice_removing_pool()
        self.assertGreater(size - checker.offset, 4 * MIB, "the download ended before the reloads: too fast")
        t.join(30)
        self.assertFalse(t.is_alive(), "the download did not finish within 30 s")
        self.assertNotIn("error", out, f"download cut after {checker.offset} bytes: {out.get('error')!r}")
        r = out["response"]
        self.assertEqual((r.status, r.backend), (200, "a"))
        self.assertEqual(r.body_bytes, size)
        self.assertIsNone(checker.bad_at, f"body corrupted at byte {checker.bad_at}")
        # The same connection goes on, on the new config.
        r2 = c.request("GET", "/x")
        self.assertEqual((r2.status, r2.backend), (200, "b"))

    def test_long_download_content_length(self):
        self.download_across_reloads("")

    def test_long_download_chunked(self):
        self.download_across_reloads("&chunked=1")

    def test_slow_response_started_before_reload(self):
        slow = [self.client(self.lb_.port, timeout=10) for _ in range(4)]
        for c in slow:
            c.send(build_request("GET", "/x?delay=1200"))
        time.sleep(0.3)  # the requests are at the backend
        self.reload_twice_removing_pool()
        for c in slow:
            r = c.read_response()
            self.assertEqual((r.status, r.backend, r.body), (200, "a", b"a\n"))

    def test_streamed_upload_across_reload(self):
        c = self.client(self.lb_.port, timeout=15)
        c.send(build_request("POST", "/x?echo=1", headers=[("Transfer-Encoding", "chunked")]))
        sha = hashlib.sha256()
        total = 0
        for i in range(40):
            piece = os.urandom(64 * 1024)
            sha.update(piece)
            total += len(piece)
            c.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
            if i == 10:
                self.reload_twice_removing_pool()
            time.sleep(0.01)
        c.send(b"0\r\n\r\n")
        r = c.read_response()
        self.assertEqual((r.status, r.backend), (200, "a"))
        echo = r.json()
        self.assertEqual(echo["body_bytes"], total)
        self.assertEqual(echo["body_sha256"], sha.hexdigest())

    def test_websocket_tunnel_across_reload(self):
        c = self.client(self.lb_.port, timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        c.send(build_request("GET", "/x/ws", headers=[
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]))
        r = c.read_response()
        self.assertEqual((r.status, r.backend), (101, "a"))
        c.send(harness.ws_frame(0x1, b"before"))
        self.assertEqual(harness.ws_read_message(c), (0x1, b"before"))
        self.reload_twice_removing_pool()
        for i in range(5):
            c.send(harness.ws_frame(0x1, f"after {i}".encode()))
            self.assertEqual(harness.ws_read_message(c), (0x1, f"after {i}".encode()))


if __name__ == "__main__":
    unittest.main()
