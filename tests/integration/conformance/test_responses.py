"""RFC 9112/9110 rules for responses lb receives from upstreams: a response that cannot be
framed or is ambiguous is a 502 and nothing of it reaches the client (RFC 9112 §6.3)."""

import socket
import threading
import unittest

from lib import harness


class RawUpstream:
    """Answers every request with fixed bytes, then closes the connection."""

    def __init__(self):
        self.answer = b""
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.address = "127.0.0.1:%d" % self.lsock.getsockname()[1]
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def __str__(self):
        return self.address

    def loop(self):
        while True:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(s,), daemon=True).start()

    def serve(self, s):
        with s:
            s.settimeout(5)
            buf = b""
            try:
                while b"\r\n\r\n" not in buf:
                    data = s.recv(65536)
                    if not data:
                        return
                    buf += data
                s.sendall(self.answer)
                s.shutdown(socket.SHUT_WR)
                while s.recv(65536):
                    pass
            except OSError:
                pass

    def close(self):
        self.lsock.close()


OK_BODY = b"Content-Length: 2\r\n\r\nok"

BAD = {
    "cl_and_te": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    "differing_cl": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!",
    "equal_cl_twice": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
    "cl_garbage": b"HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nok",
    "cl_negative": b"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nok",
    "obs_fold": b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n" + OK_BODY,
    "bare_lf": b"HTTP/1.1 200 OK\nX-A: a\n" + OK_BODY,
    "bare_cr": b"HTTP/1.1 200 OK\r\nX-A: a\rb\r\n" + OK_BODY,
    "nul_in_value": b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n" + OK_BODY,
    "ctl_in_value": b"HTTP/1.1 200 OK\r\nX-A: a\x01b\r\n" + OK_BODY,
    "space_before_colon": b"HTTP/1.1 200 OK\r\nX-A : a\r\n" + OK_BODY,
    "space_in_name": b"HTTP/1.1 200 OK\r\nX A: a\r\n" + OK_BODY,
    "no_colon": b"HTTP/1.1 200 OK\r\nXA\r\n" + OK_BODY,
    "status_two_digits": b"HTTP/1.1 20 OK\r\n" + OK_BODY,
    "status_four_digits": b"HTTP/1.1 2000 OK\r\n" + OK_BODY,
    "status_letters": b"HTTP/1.1 2x0 OK\r\n" + OK_BODY,
    "version_2": b"HTTP/2.0 200 OK\r\n" + OK_BODY,
    "version_lower": b"http/1.1 200 OK\r\n" + OK_BODY,
    "not_http": b"SSH-2.0-OpenSSH\r\n\r\n",
    "te_gzip_only": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx",
    "te_gzip_chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nxx\r\n0\r\n\r\n",
    "te_chunked_twice": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n2\r\nxx\r\n0\r\n\r\n",
    "te_in_http10": b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    "head_too_large": b"HTTP/1.1 200 OK\r\nX-Big: " + b"v" * 70000 + b"\r\n" + OK_BODY,
}


class ResponseConformanceTest(harness.LbTestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = RawUpstream()
        cls.addClassCleanup(cls.up.close)
        cls.lb_ = cls.class_lb(harness.config([harness.pool("p", cls.up)], workers=1))

    def exchange(self, answer, method="GET"):
        self.up.answer = answer
        c = self.client(self.lb_.port, timeout=5)
        c.send(method.encode() + b" / HTTP/1.1\r\nHost: x\r\n\r\n")
        return c, c.read_response(method=method)

    def test_malformed_responses_502(self):
        for name, answer in BAD.items():
            with self.subTest(case=name):
                c, r = self.exchange(answer)
                self.assertEqual(r.status, 502, f"{name}: {r!r}")
                self.assertNotIn(b"ok", r.body)
                self.assertIsNone(r.header("X-A"))
                self.assert_alive(self.lb_)

    def test_well_formed_response_relayed(self):
        _, r = self.exchange(b"HTTP/1.1 200 OK\r\nX-A: \t a \r\n" + OK_BODY)
        self.assertEqual((r.status, r.body, r.header("X-A")), (200, b"ok", "a"))

    def test_chunked_response_decoded_and_reframed(self):
        _, r = self.exchange(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;x=y\r\no\r\n1\r\nk\r\n0\r\n\r\n")
        self.assertEqual((r.status, r.body), (200, b"ok"))

    def test_close_delimited_response(self):
        _, r = self.exchange(b"HTTP/1.1 200 OK\r\n\r\nok")
        self.assertEqual((r.status, r.body), (200, b"ok"))

    def test_204_carries_no_framing(self):
        # RFC 9110 §8.6, RFC 9112 §6.1: no Content-Length or Transfer-Encoding in a 204.
        _, r = self.exchange(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        self.assertEqual(r.status, 204)
        self.assertIsNone(r.header("Content-Length"))
        self.assertIsNone(r.header("Transfer-Encoding"))

    def test_head_response_keeps_content_length(self):
        _, r = self.exchange(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", method="HEAD")
        self.assertEqual((r.status, r.header("Content-Length")), (200, "1234"))

    def test_interim_responses_not_relayed(self):
        _, r = self.exchange(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\n" + OK_BODY)
        self.assertEqual((r.status, r.body), (200, b"ok"))

    def test_truncated_body_not_completed(self):
        # RFC 9112 §8: an incomplete response MUST NOT be passed on as complete.
        self.up.answer = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok"
        c = self.client(self.lb_.port, timeout=5)
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        with self.assertRaises(harness.ConnectionClosed):
            c.read_response()

    def test_via_added_to_response_not_required(self):
        _, r = self.exchange(b"HTTP/1.1 200 OK\r\nVia: 1.1 up\r\n" + OK_BODY)
        self.assertEqual(r.header("Via"), "1.1 up")


if __name__ == "__main__":
    unittest.main()
