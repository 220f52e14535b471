"""Cookie affinity (`affinity:` on a pool, ingress-nginx's `affinity: cookie`) with real
backends: a new client gets a cookie naming the endpoint that answered and stays there
while round robin would move it; a cookie that names an endpoint gone, failing or
unknown is balanced anew and replaced; HTTP/2 the same."""

import re
import subprocess
import unittest

from lib import harness

COOKIE = re.compile(r"^SRV=([0-9a-f]{16}); Path=/; Max-Age=3600; HttpOnly$")


class AffinityTest(harness.LbTestCase):
    def setUp(self):
        self.backends = [self.backend(n) for n in "abc"]
        pool = harness.pool("p", *self.backends, affinity={"cookie": "SRV", "max_age": "1h"})
        listener = {"name": "web", "listen": "127.0.0.1:0", "protocols": ["h1", "h2"],
                    "routes": [harness.route("p")]}
        self.lb_ = self.lb(harness.config([pool], listeners=[listener]))

    def first_visit(self, client=None):
        r = (client or self.client(self.lb_.port)).request("GET", "/")
        self.assertEqual(r.status, 200, r)
        cookies = r.header_all("Set-Cookie")
        self.assertEqual(len(cookies), 1, r)
        m = COOKIE.match(cookies[0])
        self.assertTrue(m, cookies[0])
        return m.group(1), r.backend

    def visit(self, value, client=None):
        r = (client or self.client(self.lb_.port)).request("GET", "/", headers=[("Cookie", f"a=1; SRV={value}")])
        self.assertEqual(r.status, 200, r)
        return r

    def test_a_new_client_gets_a_cookie_and_stays_on_its_endpoint(self):
        value, first = self.first_visit()
        c = self.client(self.lb_.port)
        for i in range(9):
            # Same connection and new ones alike; round robin alone would rotate a, b, c.
            r = self.visit(value, c if i % 2 else None)
            self.assertEqual(r.backend, first, r)
            self.assertEqual(r.header_all("Set-Cookie"), [], "the cookie already names the endpoint")
        served = {b.name: b.requests() for b in self.backends}
        self.assertEqual(served[first], 10, served)

    def test_each_endpoint_has_its_own_value(self):
        c = self.client(self.lb_.port)
        seen = dict(self.first_visit(c) for _ in range(3))  # round robin: a, b, c
        self.assertEqual(sorted(seen.values()), ["a", "b", "c"], seen)
        for value, backend in seen.items():
            for _ in range(2):
                self.assertEqual(self.visit(value).backend, backend)

    def test_a_cookie_for_a_gone_endpoint_moves_to_a_live_one(self):
        value, first = self.first_visit()
        gone = next(b for b in self.backends if b.name == first)
        gone.stop()
        r = self.visit(value)  # the connect fails: retried on another endpoint
        self.assertNotEqual(r.backend, first, r)
        cookies = r.header_all("Set-Cookie")
        self.assertEqual(len(cookies), 1, r)
        new_value = COOKIE.match(cookies[0]).group(1)
        self.assertNotEqual(new_value, value)
        for _ in range(4):
            self.assertEqual(self.visit(new_value).backend, r.backend)

    def test_an_unknown_or_malformed_cookie_is_balanced_and_replaced(self):
        for bad in ("0123456789abcdef", "zz", "0123456789ABCDEF", ""):
            r = self.visit(bad)
            cookies = r.header_all("Set-Cookie")
            self.assertEqual(len(cookies), 1, (bad, r))
            self.assertTrue(COOKIE.match(cookies[0]), cookies[0])

    def test_http2_sticks_and_sets_the_cookie_the_same_way(self):
        url = f"http://127.0.0.1:{self.lb_.port}/"

        def curl(*args):
            out = subprocess.run(["curl", "-sS", "-i", "--http2-prior-knowledge", *args, url],
                                 capture_output=True, timeout=30, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            # Text mode reads curl's CRLFs as newlines.
            heads = [l.split(":", 1) for l in out.stdout.split("\n\n", 1)[0].split("\n")[1:]]
            return {k.lower(): [v.strip() for kk, v in heads if kk.lower() == k.lower()] for k, _ in heads}

        first = curl()
        self.assertEqual(len(first["set-cookie"]), 1, first)
        value = COOKIE.match(first["set-cookie"][0]).group(1)
        backend = first["x-backend"][0]
        for _ in range(5):
            again = curl("-b", f"SRV={value}")
            self.assertEqual(again["x-backend"], [backend], again)
            self.assertNotIn("set-cookie", again)
        # An HTTP/1.1 cookie is an HTTP/2 cookie: the value is the endpoint's, not the protocol's.
        self.assertEqual(self.visit(value).backend, backend)


if __name__ == "__main__":
    unittest.main()
