"""HTTP/2 limits against the known attacks, with hand-made frames (attack.js) and
Node's http2 client. Each attack runs twice: with lb's default limit it ends in
GOAWAY ENHANCE_YOUR_CALM (or the answer the limit gives) and is counted; with
that one limit relaxed the same attack gets through, so the test proves the
limit, not some other behaviour."""

import json
import os
import subprocess
import unittest

from lib import harness
from http2.test_h2 import node

HERE = os.path.dirname(os.path.abspath(__file__))
ENHANCE_YOUR_CALM = 11
REFUSED_STREAM = 7


def attack(mode, port, seconds=3, n=None):
    env = dict(os.environ, ATTACK_SECONDS=str(seconds))
    if n is not None:
        env["ATTACK_N"] = str(n)
    p = subprocess.run(["node", os.path.join(HERE, "attack.js"), mode, str(port)], capture_output=True, text=True,
                       timeout=seconds + 15, env=env)
    return json.loads(p.stdout.strip().splitlines()[-1])


class H2LimitsTest(harness.LbTestCase):
    def start(self, http2=None, limits=None):
        self.b = self.backend("b")
        l = {"name": "web", "listen": "127.0.0.1:0", "protocols": ["h1", "h2"], "routes": [harness.route("p")]}
        if http2:
            l["http2"] = http2
        if limits:
            l["limits"] = limits
        return self.lb(harness.config([harness.pool("p", self.b)], listeners=[l]))

    def abuse(self, lb, limit):
        return sum(v for n, l, v in harness.metrics(lb) if n == "lb_http2_abuse_total" and l["limit"] == limit)

    def assert_others_untouched(self, lb):
        p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", f"http://127.0.0.1:{lb.port}/"],
                           capture_output=True, timeout=10)
        self.assertEqual(p.stdout, b"b\n")

    def test_rapid_reset(self):
        lb = self.start()
        r = attack("rapid_reset", lb.port)
        self.assertEqual(r["goaway"], ENHANCE_YOUR_CALM, r)
        self.assertEqual(self.abuse(lb, "rapid_reset"), 1)
        self.assert_others_untouched(lb)
        lb2 = self.start(http2={"reset_burst": 1000000, "resets_per_second": 1000000})
        self.assertNotEqual(attack("rapid_reset", lb2.port, seconds=2)["goaway"], ENHANCE_YOUR_CALM)

    def test_continuation_flood(self):
        lb = self.start()
        r = attack("continuation", lb.port, n=500)
        self.assertEqual(r["goaway"], ENHANCE_YOUR_CALM, r)
        self.assertEqual(self.abuse(lb, "header_block"), 1)
        lb2 = self.start(http2={"max_continuations": 1024})
        self.assertIsNone(attack("continuation", lb2.port, seconds=1, n=500)["goaway"])

    def test_ping_flood(self):
        lb = self.start()
        r = attack("ping_flood", lb.port)
        self.assertEqual(r["goaway"], ENHANCE_YOUR_CALM, r)
        self.assertEqual(self.abuse(lb, "control_frames"), 1)
        self.assert_others_untouched(lb)
        lb2 = self.start(http2={"control_frame_budget": 1000000})
        attack("ping_flood", lb2.port, seconds=1)
        # Unread PING ACKs may still trip nghttp2's own outbound-queue limit
        # (`flood`); the budget did not fire.
        self.assertEqual(self.abuse(lb2, "control_frames"), 0)

    def test_settings_window_update_empty_data_flood(self):
        lb = self.start()
        r = attack("control_mix", lb.port)
        self.assertEqual(r["goaway"], ENHANCE_YOUR_CALM, r)
        lb2 = self.start(http2={"control_frame_budget": 1000000})
        self.assertIsNone(attack("control_mix", lb2.port, seconds=1)["goaway"])

    def test_slow_read(self):
        lb = self.start(http2={"stall_timeout": "1s"})
        r = attack("slow_read", lb.port, seconds=4)
        self.assertEqual(r["goaway"], ENHANCE_YOUR_CALM, r)
        self.assertEqual(self.abuse(lb, "slow_read"), 1)
        lb2 = self.start(http2={"stall_timeout": "30s"})
        self.assertIsNone(attack("slow_read", lb2.port, seconds=3)["goaway"])

    def test_max_concurrent_streams(self):
        lb = self.start()
        r = attack("streams", lb.port, seconds=3)
        self.assertEqual(r["headers"], 100, r)  # 150 opened, 100 served
        self.assertEqual(r["rst"].get(str(REFUSED_STREAM)), 50, r)
        lb2 = self.start(http2={"max_concurrent_streams": 200})
        self.assertEqual(attack("streams", lb2.port, seconds=3)["headers"], 150)

    def test_hpack_bomb(self):
        lb = self.start()
        # 60 KB decoded, past max_header_bytes (16 KiB): answered 431, not forwarded.
        self.assertEqual(node("client.js", "bomb", lb.port, 15)["status"], 431)
        # 800 KB decoded from 4 KB on the wire: the connection ends.
        r = attack("bomb", lb.port, seconds=2, n=200)
        self.assertEqual(r["goaway"], ENHANCE_YOUR_CALM, r)
        self.assertEqual(self.abuse(lb, "header_block"), 1)
        lb2 = self.start(limits={"max_header_bytes": 1048576})
        self.assertEqual(node("client.js", "bomb", lb2.port, 15)["status"], 200)
        self.assertNotEqual(attack("bomb", lb2.port, seconds=1, n=200)["goaway"], ENHANCE_YOUR_CALM)

if __name__ == "__main__":
    unittest.main()
