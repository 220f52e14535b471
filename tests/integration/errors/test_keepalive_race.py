"""An upstream that closes a keep-alive connection as it is reused costs no client request."""

import unittest

from lib import harness


class KeepaliveRaceTest(harness.LbTestCase):
    def test_reused_connection_dropped_is_retried(self):
        # After one response on a connection, the backend drops the next request on it
        # (closes, no response byte): every reuse by lb hits the race.
        a = self.backend("a", "--drop-request-after", "1")
        lb = self.lb(harness.config([harness.pool("p", a)], workers=1))
        c = self.client(lb.port)
        failures = []
        n = 200
        for i in range(n):
            r = c.request("GET", f"/?n={i}")
            if r.status != 200 or r.backend != "a":
                failures.append((i, r.status, r.body[:80]))
        self.assertEqual(failures, [])
        # The backend counts the requests it dropped too: the race was really hit (on
        # nearly every request, as each reuse meets a connection about to drop).
        self.assertGreaterEqual(a.stats()["requests"], n + n // 2)

    def test_new_client_connections(self):
        a = self.backend("a", "--drop-request-after", "1")
        lb = self.lb(harness.config([harness.pool("p", a)], workers=2))
        failures = []
        for i in range(100):
            try:
                r = harness.get(lb.port, f"/?n={i}")
                if r.status != 200:
                    failures.append((i, r.status))
            except harness.ConnectionClosed as e:
                failures.append((i, str(e)))
        self.assertEqual(failures, [])

    def test_every_third_request_dropped(self):
        a = self.backend("a", "--drop-request-after", "3")
        lb = self.lb(harness.config([harness.pool("p", a)], workers=1))
        c = self.client(lb.port)
        statuses = [c.request("GET", f"/?echo=1&n={i}").status for i in range(60)]
        self.assertEqual(statuses, [200] * 60)

    def test_retried_request_body_intact(self):
        # A small request body is replayed in full on the new connection.
        a = self.backend("a", "--drop-request-after", "1")
        lb = self.lb(harness.config([harness.pool("p", a)], workers=1))
        c = self.client(lb.port)
        for i in range(20):
            body = f"payload-{i}-".encode() * 50
            r = c.request("PUT", "/?echo=1", body=body)
            self.assertEqual(r.status, 200, (i, r))
            self.assertEqual(r.json()["body_bytes"], len(body), i)

    def test_fresh_connection_drop_is_still_502(self):
        # The retry is only for a *reused* connection: a request the backend drops on a
        # fresh connection is a real failure and ends in 502, not an endless loop.
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a)], workers=1))
        r = harness.get(lb.port, "/?drop=1", timeout=10)
        self.assertEqual(r.status, 502)


if __name__ == "__main__":
    unittest.main()
