"""Malformed or ambiguous requests: 400, connection closed, and the backend sees nothing."""

import select
import unittest

from lib import harness

H = b"Host: x\r\n"

# name -> exact request bytes
CASES = {
    # Both framings at once (request smuggling).
    "cl_and_te": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te_and_cl": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    # Content-Length disagreements and garbage.
    "differing_cl": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "differing_cl_list": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5, 6\r\n\r\nhello!",
    "cl_negative": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n",
    "cl_not_a_number": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5x\r\n\r\nhello",
    "cl_plus_sign": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: +5\r\n\r\nhello",
    "cl_overflow": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 99999999999999999999999\r\n\r\nhello",
    # Chunked framing errors.
    "bad_chunk_size": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "chunk_size_overflow": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
                           b"10000000000000000000005\r\nhello\r\n0\r\n\r\n",
    "chunk_missing_crlf": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    # Line folding.
    "obs_fold_space": b"GET / HTTP/1.1\r\n" + H + b"X-A: a\r\n folded\r\n\r\n",
    "obs_fold_tab": b"GET / HTTP/1.1\r\n" + H + b"X-A: a\r\n\tfolded\r\n\r\n",
    "obs_fold_first_header": b"GET / HTTP/1.1\r\n folded: x\r\n" + H + b"\r\n",
    # Invalid header names.
    "space_in_name": b"GET / HTTP/1.1\r\n" + H + b"Bad Header: x\r\n\r\n",
    "at_in_name": b"GET / HTTP/1.1\r\n" + H + b"Bad@Header: x\r\n\r\n",
    "paren_in_name": b"GET / HTTP/1.1\r\n" + H + b"Bad(Header): x\r\n\r\n",
    "ctl_in_name": b"GET / HTTP/1.1\r\n" + H + b"Bad\x01Header: x\r\n\r\n",
    "space_before_colon": b"GET / HTTP/1.1\r\n" + H + b"X-A : x\r\n\r\n",
    "empty_name": b"GET / HTTP/1.1\r\n" + H + b": x\r\n\r\n",
    "no_colon": b"GET / HTTP/1.1\r\n" + H + b"NoColonHere\r\n\r\n",
    # Bare CR and NUL.
    "bare_cr_in_value": b"GET / HTTP/1.1\r\n" + H + b"X-A: a\rb\r\n\r\n",
    "bare_cr_line_end": b"GET / HTTP/1.1\r\n" + H + b"X-A: a\rX-B: b\r\n\r\n",
    "nul_in_value": b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n",
    # Transfer-Encoding other than chunked (chunked not final).
    "te_gzip": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\nhello",
    "te_identity": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: identity\r\n\r\nhello",
    "te_chunked_then_gzip": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    "te_chunkedx": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunkedx\r\n\r\n0\r\n\r\n",
    # Host: exactly one is required in HTTP/1.1 (RFC 9112 3.2).
    "missing_host": b"GET / HTTP/1.1\r\n\r\n",
    "two_hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
}


class MalformedTest(harness.LbTestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = cls.class_backend("a")
        cls.lb_ = cls.class_lb(harness.config([harness.pool("p", cls.a)], workers=1))
        # Warm one pooled upstream connection so any upstream traffic would show.
        assert harness.get(cls.lb_.port, "/").status == 200

    # Body framing errors are only found once the head may already be on its way
    # upstream (bodies stream): there the backend must not see a *request* (its counter
    # stays put), while for everything wrong in the head itself lb must not even touch
    # the upstream (no request, no new or closed connection).
    BODY_FRAMING = {"bad_chunk_size", "chunk_size_overflow", "chunk_missing_crlf"}

    def upstream_view(self, name=None):
        s = self.a.stats()
        keys = ("requests",) if name in self.BODY_FRAMING else ("requests", "connections", "active_connections")
        return {k: s[k] for k in keys}

    def check_case(self, name, data, split=False):
        before = self.upstream_view(name)
        c = self.client(self.lb_.port, timeout=5)
        if split:
            # The head arrives in pieces: the parser must not be fooled by packet boundaries.
            # lb may answer (and close) as soon as it sees the error: stop sending then.
            for i in range(0, len(data), 3):
                if select.select([c.sock], [], [], 0.002)[0]:
                    break
                try:
                    c.send(data[i:i + 3])
                except (BrokenPipeError, ConnectionResetError):
                    break
        else:
            c.send(data)
        r = c.read_response()
        self.assertEqual(r.status, 400, f"{name}: {data!r} -> {r!r}")
        self.assertIsNone(r.backend, name)
        self.assertTrue(0 < len(r.body) < 1024, f"{name}: 400 body should be short text: {r.body!r}")
        self.assertTrue(c.wait_closed(3), f"{name}: connection left open after 400")
        self.assert_alive(self.lb_)
        self.assertEqual(self.upstream_view(name), before, f"{name}: the backend saw something of {data!r}")

    def test_each_case(self):
        for name, data in CASES.items():
            with self.subTest(case=name):
                self.check_case(name, data)

    def test_each_case_byte_by_byte(self):
        for name in ("cl_and_te", "differing_cl", "bad_chunk_size", "obs_fold_space",
                     "space_in_name", "bare_cr_in_value", "te_gzip"):
            with self.subTest(case=name):
                self.check_case(name, CASES[name], split=True)

    def test_malformed_after_valid_keepalive_request(self):
        # A valid request is answered; the bad one that follows on the same connection is
        # refused with 400 and the connection closed, and never forwarded.
        for name in ("cl_and_te", "obs_fold_space", "te_gzip"):
            with self.subTest(case=name):
                c = self.client(self.lb_.port, timeout=5)
                r = c.request("GET", "/")
                self.assertEqual(r.status, 200)
                before = self.upstream_view()
                c.send(CASES[name])
                r = c.read_response()
                self.assertEqual(r.status, 400, r)
                self.assertTrue(c.wait_closed(3))
                self.assertEqual(self.upstream_view(), before)

    def test_smuggled_second_request_not_forwarded(self):
        # CL.TE smuggling attempt: whatever lb decides, nothing reaches the backend.
        data = (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
        self.check_case("cl_te_smuggle", data)

    def test_lb_still_serves(self):
        for name, data in CASES.items():
            c = self.client(self.lb_.port, timeout=5)
            c.send(data)
            c.wait_closed(3)
        r = harness.get(self.lb_.port, "/")
        self.assertEqual((r.status, r.backend), (200, "a"))

    def test_valid_near_misses_accepted(self):
        # Not malformed: these must be forwarded (guards against over-eager rejection).
        ok = {
            "plain_cl": b"POST /?echo=1 HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n\r\nhello",
            "te_chunked_caps": b"POST /?echo=1 HTTP/1.1\r\n" + H + b"Transfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            "chunk_ext": b"POST /?echo=1 HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\n\r\n",
            "trailer": b"POST /?echo=1 HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
            "value_with_tab": b"GET /?echo=1 HTTP/1.1\r\n" + H + b"X-A: a\tb\r\n\r\n",
            "token_chars_in_name": b"GET /?echo=1 HTTP/1.1\r\n" + H + b"X-A!#$%&'*+-.^_`|~0: v\r\n\r\n",
        }
        for name, data in ok.items():
            with self.subTest(case=name):
                c = self.client(self.lb_.port, timeout=5)
                c.send(data)
                r = c.read_response()
                self.assertEqual(r.status, 200, f"{name}: {r!r}")
                e = r.json()
                if data.startswith(b"POST"):
                    self.assertEqual(e["body_bytes"], 5, name)


if __name__ == "__main__":
    unittest.main()
