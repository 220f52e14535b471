"""Per-connection limits: max_requests_per_connection, max_headers and
max_header_line_bytes (431, or 414 for the request line)."""

import unittest

from lib import harness
from lib.harness import build_request

LIMITS = {"max_requests_per_connection": 3, "max_headers": 10, "max_header_line_bytes": 512}


class ClientLimitsTest(harness.LbTestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = cls.class_backend("a")
        cls.lb_ = cls.class_lb(harness.config([harness.pool("p", cls.a)], limits=LIMITS))

    def test_max_requests_per_connection(self):
        c = self.client(self.lb_.port, timeout=5)
        for i in range(3):
            r = c.request("GET", "/")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("Connection"), "close" if i == 2 else None, i)
        self.assertTrue(c.wait_closed(3))

    def test_too_many_headers_431(self):
        before = self.a.requests()
        c = self.client(self.lb_.port, timeout=5)
        c.send(build_request("GET", "/", headers=[(f"X-H{i}", "v") for i in range(11)]))
        self.assertEqual(c.read_response().status, 431)
        self.assertTrue(c.wait_closed(3))
        self.assertEqual(self.a.requests(), before)
        # Ten are fine (Host is one of them).
        r = harness.get(self.lb_.port, "/", headers=[(f"X-H{i}", "v") for i in range(9)])
        self.assertEqual(r.status, 200)

    def test_long_header_line_431(self):
        c = self.client(self.lb_.port, timeout=5)
        c.send(build_request("GET", "/", headers=[("X-Long", "v" * 600)]))
        self.assertEqual(c.read_response().status, 431)
        self.assertEqual(harness.get(self.lb_.port, "/", headers=[("X-Long", "v" * 400)]).status, 200)

    def test_long_request_line_414(self):
        c = self.client(self.lb_.port, timeout=5)
        c.send(build_request("GET", "/" + "p" * 600))
        self.assertEqual(c.read_response().status, 414)


if __name__ == "__main__":
    unittest.main()
