"""Routing: host exact/wildcard/prefix/regex, path prefix/exact/regex, headers, cookies; first match wins."""

import json
import unittest

from lib import harness
from lib.harness import route


class RoutingTest(harness.LbTestCase):
    def setUp(self):
        self.a = self.backend("a")
        self.b = self.backend("b")
        pools = [harness.pool("pa", self.a), harness.pool("pb", self.b)]

        def r(name, pool, **kw):
            return route(pool, name=name, set_headers={"x-route": name}, **kw)

        routes = [
            r("api", "pa", host="api.example.com", path_prefix="/v1/"),
            r("wild", "pb", host="*.example.com"),
            r("exact", "pa", path_exact="/exact"),
            r("regex", "pb", path_regex="/re/[0-9]+"),
            r("canary", "pa", path_prefix="/canary", headers={"x-canary": "1", "x-team": "blue"}),
            r("hostre", "pb", host=r"~img[0-9]+\.example\.org"),
            r("hostprefix", "pa", host="www.example.*"),
        ]
        self.lb_ = self.lb(harness.config(pools, routes=routes))

    def routed(self, host, target, headers=None):
        sep = "&" if "?" in target else "?"
        r = harness.get(self.lb_.port, target + sep + "echo=1", host=host, headers=headers)
        if r.status != 200:
            return r.status, None, None
        seen = r.json()["headers"]
        names = [v for k, v in seen if k.lower() == "x-route"]
        return r.status, r.backend, names

    def test_matches(self):
        cases = [
            # host, target, headers, expected route, expected backend
            ("api.example.com", "/v1/users", None, "api", "a"),
            ("API.Example.COM:8080", "/v1/x", None, "api", "a"),
            ("api.example.com.", "/v1/x", None, "api", "a"),
            ("api.example.com", "/v2/x", None, "wild", "b"),    # first match: api fails on path
            ("api.example.com", "/v1", None, "wild", "b"),      # prefix /v1/ needs the slash
            ("foo.example.com", "/", None, "wild", "b"),
            ("a.b.example.com", "/exact", None, "wild", "b"),   # wild precedes exact
            ("www.example.com", "/", None, "wild", "b"),        # wild precedes hostprefix
            ("example.com", "/exact", None, "exact", "a"),      # *.example.com needs a label
            ("other.test", "/exact", None, "exact", "a"),
            ("other.test", "/exact?q=1", None, "exact", "a"),   # query ignored
            ("other.test", "/re/123", None, "regex", "b"),
            ("other.test", "/canary/x", [("x-canary", "1"), ("x-team", "blue")], "canary", "a"),
            ("other.test", "/canary", [("X-Canary", "1"), ("X-TEAM", "blue")], "canary", "a"),
            ("img42.example.org", "/anything", None, "hostre", "b"),
            ("IMG7.example.org:81", "/", None, "hostre", "b"),
            ("www.example.net", "/p", None, "hostprefix", "a"),
        ]
        for host, target, headers, want_route, want_backend in cases:
            with self.subTest(host=host, target=target, headers=headers):
                status, backend, names = self.routed(host, target, headers)
                self.assertEqual(status, 200)
                self.assertEqual(names, [want_route])
                self.assertEqual(backend, want_backend)

    def test_no_route_is_404_and_reaches_no_backend(self):
        before = (self.a.requests(), self.b.requests())
        cases = [
            ("other.test", "/exact/", None),                   # path_exact is exact
            ("other.test", "/exactly", None),
            ("other.test", "/re/12a", None),                    # path_regex is a full match
            ("other.test", "/re/123/x", None),
            ("other.test", "/x/re/123", None),
            ("other.test", "/canary", [("x-canary", "1")]),     # all headers must match
            ("other.test", "/canary", [("x-canary", "2"), ("x-team", "blue")]),
            ("img.example.org", "/", None),                     # regex needs digits
            ("ximg42.example.org", "/", None),                  # host regex is a full match
            ("www.example", "/", None),
            ("wwwexample.com", "/", None),
        ]
        for host, target, headers in cases:
            with self.subTest(host=host, target=target, headers=headers):
                r = harness.get(self.lb_.port, target, host=host, headers=headers)
                self.assertEqual(r.status, 404, r)
                self.assertIsNone(r.backend)
                self.assertTrue(0 < len(r.body) < 1024, f"404 body should be short text: {r.body!r}")
        self.assertEqual((self.a.requests(), self.b.requests()), before)

    def test_404_keeps_connection_usable(self):
        c = self.client(self.lb_.port)
        self.assertEqual(c.request("GET", "/nowhere", host="other.test").status, 404)
        r = c.request("GET", "/exact", host="other.test")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.backend, "a")


class CookieRoutingTest(harness.LbTestCase):
    """match.cookies over HTTP/1.1 (one Cookie header or several) and HTTP/2,
    whose clients send each cookie as a field of its own (RFC 9113 §8.2.3)."""

    @classmethod
    def setUpClass(cls):
        cls.a = cls.class_backend("a")
        cls.b = cls.class_backend("b")
        routes = [dict(route("pb", name="beta"), match={"path_prefix": "/", "cookies": {"Beta": "always", "tier": "gold"}}),
                  route("pa", name="rest")]
        listener = {"name": "web", "listen": "127.0.0.1:0", "protocols": ["h1", "h2"], "routes": routes}
        cls.lb_ = cls.class_lb(harness.config([harness.pool("pa", cls.a), harness.pool("pb", cls.b)],
                                              listeners=[listener]))

    def h1(self, *cookies):
        return harness.get(self.lb_.port, "/?echo=1", headers=[("Cookie", c) for c in cookies]).backend

    def h2(self, cookie_fields):
        from http2.test_h2 import node
        r = node("client.js", "get", self.lb_.port, "/?echo=1", json.dumps({"cookie": cookie_fields}))
        self.assertEqual(r["status"], 200, r)
        return json.loads(r["body"])["backend"]

    def test_http1(self):
        self.assertEqual(self.h1("a=1; Beta=always; tier=gold"), "b")
        self.assertEqual(self.h1("Beta=always", "x=2;tier=gold"), "b")  # across Cookie headers
        self.assertEqual(self.h1("Beta=always"), "a")                    # every cookie must match
        self.assertEqual(self.h1("beta=always; tier=gold"), "a")         # names as written
        self.assertEqual(self.h1("Beta=never; tier=gold"), "a")
        self.assertEqual(self.h1("XBeta=always; tier=gold"), "a")        # a name, not a suffix
        self.assertEqual(self.h1(), "a")

    def test_http2_crumbs(self):
        self.assertEqual(self.h2(["Beta=always", "tier=gold"]), "b")
        self.assertEqual(self.h2(["a=1", "tier=gold; Beta=always"]), "b")
        self.assertEqual(self.h2(["Beta=always"]), "a")
        self.assertEqual(self.h2(["Beta=never", "tier=gold"]), "a")


if __name__ == "__main__":
    unittest.main()
