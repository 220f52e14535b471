"""Admin server: /healthz and /readyz on their own port."""

import unittest

from lib import harness


class AdminTest(harness.LbTestCase):
    def setUp(self):
        self.a = self.backend("a")
        self.lb_ = self.lb(harness.config([harness.pool("p", self.a)]))
        self.assertIsNotNone(self.lb_.admin_port, "lb did not log 'admin listening'")
        self.assertNotEqual(self.lb_.admin_port, self.lb_.port)

    def test_healthz(self):
        status, body = harness.simple_get(self.lb_.admin_port, "/healthz")
        self.assertEqual(status, 200)
        self.assertEqual(body.strip(), b"ok")

    def test_readyz(self):
        status, _ = harness.simple_get(self.lb_.admin_port, "/readyz")
        self.assertEqual(status, 200)

    def test_admin_paths_not_on_traffic_listener(self):
        r = harness.get(self.lb_.port, "/healthz?echo=1")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.backend, "a")
        self.assertEqual(r.json()["target"], "/healthz?echo=1")

    def test_admin_traffic_never_reaches_backends(self):
        before = self.a.requests()
        for _ in range(3):
            harness.simple_get(self.lb_.admin_port, "/healthz")
        self.assertEqual(self.a.requests(), before)

    def test_unknown_admin_path_404(self):
        status, _ = harness.simple_get(self.lb_.admin_port, "/no-such-endpoint")
        self.assertEqual(status, 404)


class NoAdminTest(harness.LbTestCase):
    def test_admin_is_optional(self):
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a)], admin=False))
        self.assertIsNone(lb.admin_port)
        self.assertEqual(harness.get(lb.port, "/").status, 200)


if __name__ == "__main__":
    unittest.main()
