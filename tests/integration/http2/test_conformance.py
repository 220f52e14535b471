"""RFC 9113 server requirements, each case a hand-made frame sequence
(attack.js) against lb: the stream or connection error the RFC asks for.
docs/http2-conformance.md lists them with their sections."""

import unittest

from lib import harness
from http2.test_limits import attack

PROTOCOL_ERROR = 1
FRAME_SIZE_ERROR = 6

# mode -> ("stream" | "connection", error code)
CASES = {
    "conn_header": ("stream", PROTOCOL_ERROR),
    "upgrade_header": ("stream", PROTOCOL_ERROR),
    "te_gzip": ("stream", PROTOCOL_ERROR),
    "upper_name": ("stream", PROTOCOL_ERROR),
    "no_path": ("stream", PROTOCOL_ERROR),
    "pseudo_after_regular": ("stream", PROTOCOL_ERROR),
    "bad_length": ("stream", PROTOCOL_ERROR),
    "data_stream0": ("connection", PROTOCOL_ERROR),
    "even_stream": ("connection", PROTOCOL_ERROR),
    "big_frame": ("connection", FRAME_SIZE_ERROR),
    "ping_size": ("connection", FRAME_SIZE_ERROR),
    "settings_on_stream": ("connection", PROTOCOL_ERROR),
    "window_zero": ("connection", PROTOCOL_ERROR),
    "data_idle": ("connection", PROTOCOL_ERROR),
    "push_promise": ("connection", PROTOCOL_ERROR),
    "extended_connect": ("stream", PROTOCOL_ERROR),
}


class H2ConformanceTest(harness.LbTestCase):
    def test_refusals(self):
        b = self.backend("b")
        l = {"name": "web", "listen": "127.0.0.1:0", "protocols": ["h2"], "routes": [harness.route("p")]}
        lb = self.lb(harness.config([harness.pool("p", b)], listeners=[l]))
        for mode, (scope, code) in CASES.items():
            with self.subTest(mode=mode):
                r = attack(mode, lb.port, seconds=0.6)
                if scope == "stream":
                    self.assertEqual(r["rst"], {str(code): 1}, r)
                    self.assertIsNone(r["goaway"], r)
                else:
                    self.assertEqual(r["goaway"], code, r)
        self.assertEqual(b.requests(), 0)  # nothing malformed reached the upstream


if __name__ == "__main__":
    unittest.main()
