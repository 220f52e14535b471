"""IPv6 loopback: a [::1] listener and a [::1] upstream endpoint."""

import unittest

from lib import harness


class Ipv6Test(harness.LbTestCase):
    def test_v6_listener_and_endpoint(self):
        a = self.backend("a", listen="[::1]:0")
        self.assertEqual(a.host, "::1")
        lb = self.lb(harness.config([harness.pool("p", a)], listen="[::1]:0"))
        self.assertTrue(lb.addresses["web"].startswith("[::1]:"), lb.addresses)
        with harness.Client(lb.port, host="::1") as c:
            r = c.request("GET", "/?echo=1", headers=[("X-Forwarded-For", "10.0.0.1")])
        self.assertEqual(r.status, 200)
        e = r.json()
        hs = {k.lower(): v for k, v in e["headers"]}
        self.assertEqual(hs["x-real-ip"], "::1")
        self.assertEqual(hs["x-forwarded-for"], "10.0.0.1, ::1")


if __name__ == "__main__":
    unittest.main()
