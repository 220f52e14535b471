"""Request rewriting: X-Forwarded-*, X-Real-IP, Host, hop-by-hop removal, set_headers."""

import hashlib
import unittest

from lib import harness
from lib.harness import route


class HeadersTest(harness.LbTestCase):
    def setUp(self):
        self.a = self.backend("a")
        pools = [harness.pool("p", self.a)]
        routes = [route("p", path_prefix="/set", set_headers={"x-lb": "1", "x-other": "two words"}),
                  route("p")]
        self.lb_ = self.lb(harness.config(pools, routes=routes))

    def echo(self, target="/?echo=1", headers=None, method="GET", body=None, host="svc.test"):
        r = harness.get(self.lb_.port, target, headers=headers, method=method, body=body, host=host)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.backend, "a")
        return r.json()

    @staticmethod
    def values(echo, name):
        return [v for k, v in echo["headers"] if k.lower() == name.lower()]

    def test_forwarded_headers_added(self):
        e = self.echo()
        self.assertEqual(self.values(e, "X-Forwarded-For"), ["127.0.0.1"])
        self.assertEqual(self.values(e, "X-Forwarded-Proto"), ["http"])
        self.assertEqual(self.values(e, "X-Real-IP"), ["127.0.0.1"])

    def test_forwarded_for_appended(self):
        e = self.echo(headers=[("X-Forwarded-For", "10.1.2.3")])
        self.assertEqual(self.values(e, "X-Forwarded-For"), ["10.1.2.3, 127.0.0.1"])

    def test_client_cannot_spoof_real_ip_or_proto(self):
        e = self.echo(headers=[("X-Real-IP", "6.6.6.6"), ("X-Forwarded-Proto", "https")])
        self.assertEqual(self.values(e, "X-Real-IP"), ["127.0.0.1"])
        self.assertEqual(self.values(e, "X-Forwarded-Proto"), ["http"])

    def test_request_line_and_host_kept(self):
        e = self.echo(target="/some/path%20x?echo=1&b=2&a=%2F", host="Svc.Example:8443")
        self.assertEqual(e["backend"], "a")
        self.assertEqual(e["method"], "GET")
        self.assertEqual(e["target"], "/some/path%20x?echo=1&b=2&a=%2F")
        self.assertEqual(self.values(e, "Host"), ["Svc.Example:8443"])
        self.assertIn(str(e["version"]), ("HTTP/1.1", "1.1", "11"))

    def test_end_to_end_headers_kept_in_order(self):
        sent = [("X-One", "1"), ("Accept", "*/*"), ("X-Dup", "first"), ("X-Dup", "second"),
                ("Cookie", "a=b; c=d"), ("X-Spaces", "a  b")]
        e = self.echo(headers=sent)
        got = [(k.lower(), v) for k, v in e["headers"]
               if k.lower() in {n.lower() for n, _ in sent}]
        self.assertEqual(got, [(k.lower(), v) for k, v in sent])

    def test_hop_by_hop_removed(self):
        sent = [("Connection", "keep-alive, X-Hop-Named, x-hop-two"),
                ("X-Hop-Named", "secret"), ("X-Hop-Two", "secret2"),
                ("Keep-Alive", "timeout=5"), ("TE", "trailers"), ("Upgrade", "h2c"),
                ("Proxy-Connection", "keep-alive"), ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
                ("Proxy-Foo", "bar"), ("X-Keep", "yes")]
        e = self.echo(headers=sent)
        names = {k.lower() for k, _ in e["headers"]}
        for gone in ("x-hop-named", "x-hop-two", "keep-alive", "te", "upgrade",
                     "proxy-connection", "proxy-authorization", "proxy-foo"):
            self.assertNotIn(gone, names, f"hop-by-hop header {gone} reached the backend: {e['headers']}")
        for value in self.values(e, "Connection"):
            self.assertNotIn("x-hop", value.lower())
        self.assertEqual(self.values(e, "X-Keep"), ["yes"])

    def test_connection_header_in_several_lines(self):
        sent = [("Connection", "X-A"), ("Connection", "X-B"), ("X-A", "1"), ("X-B", "2"), ("X-C", "3")]
        e = self.echo(headers=sent)
        names = {k.lower() for k, _ in e["headers"]}
        self.assertNotIn("x-a", names)
        self.assertNotIn("x-b", names)
        self.assertEqual(self.values(e, "X-C"), ["3"])

    def test_set_headers_added_and_replacing(self):
        e = self.echo(target="/set?echo=1", headers=[("X-Lb", "from-client"), ("X-Other", "x")])
        self.assertEqual(self.values(e, "x-lb"), ["1"])
        self.assertEqual(self.values(e, "x-other"), ["two words"])
        e = self.echo(target="/plain?echo=1")
        self.assertEqual(self.values(e, "x-lb"), [])

    def test_request_body_forwarded(self):
        body = bytes(range(256)) * 40
        e = self.echo(method="POST", body=body)
        self.assertEqual(e["method"], "POST")
        self.assertEqual(e["body_bytes"], len(body))
        self.assertEqual(e["body_sha256"], hashlib.sha256(body).hexdigest())

    def test_chunked_request_body_forwarded(self):
        body = b"0123456789abcdef" * 1000
        e = self.echo(method="PUT", headers=[("Transfer-Encoding", "chunked")],
                      body=harness.chunked_body(body, 777))
        self.assertEqual(e["body_bytes"], len(body))
        self.assertEqual(e["body_sha256"], hashlib.sha256(body).hexdigest())

    def test_response_headers_and_status_passed_through(self):
        r = harness.get(self.lb_.port, "/?status=418&header=X-Custom:hello")
        self.assertEqual(r.status, 418)
        self.assertEqual(r.header("X-Custom"), "hello")
        self.assertEqual(r.backend, "a")
        r = harness.get(self.lb_.port, "/?status=204")
        self.assertEqual(r.status, 204)
        self.assertEqual(r.body, b"")

    def test_head_request(self):
        c = self.client(self.lb_.port)
        r = c.request("HEAD", "/?size=5000")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"")
        # The connection is still in sync: a HEAD answer carries no body.
        r = c.request("GET", "/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"a\n")


if __name__ == "__main__":
    unittest.main()
