"""SNI passthrough: a `protocol: tcp` listener with `routes:` reads the TLS
ClientHello without terminating and routes by its server name (exact before
wildcard, then a default pool), replaying the hello to a real TLS origin: three
nginx servers with their own certificates, made at test time. The hello may
come in pieces and over several records; one that never completes is closed at
`peek_timeout`; a non-TLS first packet goes to the default pool or is closed."""

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from lib import harness
from tcp import support

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def make_cert(d, name, names):
    key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=" + names[0],
                    "-addext", "subjectAltName=" + ",".join("DNS:" + n for n in names)],
                   check=True, capture_output=True)
    return crt, key


def start_nginx(d, origins):
    """One nginx with a TLS server per (name, port, cert, key); each answers
    "origin-NAME SNI ALPN"."""
    tmp = os.path.join(d, "tmp")
    os.makedirs(tmp, exist_ok=True)
    servers = "".join(
        f"  server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {crt}; ssl_certificate_key {key};\n"
        f"    location / {{ return 200 \"origin-{name} $ssl_server_name $ssl_alpn_protocol\\n\"; }} }}\n"
        for name, port, crt, key in origins)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log stderr warn;\n"
                f"events {{ worker_connections 256; }}\n"
                f"http {{\n  access_log off;\n  client_body_temp_path {tmp}; proxy_temp_path {tmp};\n"
                f"  fastcgi_temp_path {tmp}; uwsgi_temp_path {tmp}; scgi_temp_path {tmp};\n{servers}}}\n")
    proc = harness._spawn([NGINX, "-p", d, "-c", conf, "-e", "stderr"])
    up = harness.wait_until(lambda: all(not harness.refused(p) for _, p, _, _ in origins), 10)
    if not up:
        harness._stop_process(proc)
        raise RuntimeError("nginx did not start: " + proc.stderr.read(4096).decode(errors="replace"))
    return proc


def client_context(alpn=("http/1.1",)):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(list(alpn))
    return ctx


def https_get(port, server_name, alpn=("http/1.1",)):
    """(body, peer certificate's CN) of one GET through lb."""
    with client_context(alpn).wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                                          server_hostname=server_name) as s:
        s.sendall(f"GET / HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n".encode())
        resp = support.read_all(s)
    return resp.partition(b"\r\n\r\n")[2].decode().strip()


def pieces_get(port, server_name, cuts, delay=0.3, alpn=("http/1.1",), fragment=None):
    """A handshake driven by hand: the ClientHello (re-framed in records of
    `fragment` bytes when given) sent in pieces cut at `cuts`, `delay` apart,
    then a GET. Returns (body, ClientHello size in bytes)."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_context(alpn).wrap_bio(inc, out, server_hostname=server_name)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    if fragment:
        assert hello[0] == 0x16 and int.from_bytes(hello[3:5], "big") == len(hello) - 5, "one record expected"
        msg = hello[5:]
        hello = b"".join(hello[:3] + len(msg[i:i + fragment]).to_bytes(2, "big") + msg[i:i + fragment]
                         for i in range(0, len(msg), fragment))
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        last = 0
        for c in [*cuts, len(hello)]:
            s.sendall(hello[last:c])
            last = c
            if c != len(hello):
                time.sleep(delay)

        def pump():
            data = out.read()
            if data:
                s.sendall(data)

        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                pump()
                d = s.recv(65536)
                if not d:
                    raise harness.ConnectionClosed("closed in the handshake", b"")
                inc.write(d)
        obj.write(f"GET / HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n".encode())
        pump()
        resp = b""
        while True:
            try:
                chunk = obj.read(65536)
                if not chunk:  # close_notify: SSLObject.read returns b"" from then on
                    break
                resp += chunk
            except ssl.SSLWantReadError:
                d = s.recv(65536)
                if not d:
                    break
                inc.write(d)
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                break
        return resp.partition(b"\r\n\r\n")[2].decode().strip(), len(hello)
    finally:
        s.close()


class SniTest(harness.LbTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dir = tempfile.TemporaryDirectory(prefix="lb-it-sni-")
        d = cls.dir.name
        a = make_cert(d, "a", ["a.example.com"])
        b = make_cert(d, "b", ["*.b.example.com"])
        dflt = make_cert(d, "default", ["default.example"])
        cls.ports = dict(zip("abd", harness.closed_ports(3)))
        cls.nginx = start_nginx(d, [("a", cls.ports["a"], *a), ("b", cls.ports["b"], *b),
                                    ("default", cls.ports["d"], *dflt)])
        pools = [{"name": n, "endpoints": [{"address": f"127.0.0.1:{cls.ports[k]}"}], "connect_timeout": "1s"}
                 for n, k in (("a", "a"), ("b", "b"), ("d", "d"))]
        routes = [{"name": "wild-b", "sni": "*.b.example.com", "pool": "b"},
                  {"name": "exact-a", "sni": "a.example.com", "pool": "a"},
                  # Exact names win over wildcards whatever the order.
                  {"name": "exact-in-b", "sni": "x.b.example.com", "pool": "a"},
                  {"name": "h2-only", "alpn": ["h2"], "pool": "b"}]
        strict = {"name": "strict", "listen": "127.0.0.1:0", "protocol": "tcp", "routes": routes[:2],
                  "peek_timeout": "1s"}
        doc = {"workers": 1, "drain_timeout": "2s", "admin": {"listen": "127.0.0.1:0"},
               "listeners": [{"name": "t", "listen": "127.0.0.1:0", "protocol": "tcp", "pool": "d",
                              "routes": routes, "non_tls": "pool"}, strict],
               "pools": pools}
        cls.lb_ = cls.class_lb("\n".join(harness.to_yaml(doc)) + "\n", listeners=["t", "strict"])
        cls.port = cls.lb_.ports["t"]

    @classmethod
    def tearDownClass(cls):
        harness._stop_process(cls.nginx)
        for p in (cls.nginx.stdout, cls.nginx.stderr):
            p.close()
        cls.dir.cleanup()
        super().tearDownClass()

    def sessions(self, listener, ended):
        return harness.metric_value(harness.metrics(self.lb_), "lb_tcp_sessions_total", listener=listener,
                                    ended=ended)

    def strict_port(self):
        return self.lb_.ports["strict"]

    def test_routes_by_sni_exact_then_wildcard_then_default(self):
        self.assertEqual(https_get(self.port, "a.example.com"), "origin-a a.example.com http/1.1")
        self.assertEqual(https_get(self.port, "one.b.example.com"), "origin-b one.b.example.com http/1.1")
        self.assertEqual(https_get(self.port, "deep.one.b.example.com"), "origin-b deep.one.b.example.com http/1.1")
        # Matched case-insensitively; the origin gets the hello's bytes as sent.
        self.assertEqual(https_get(self.port, "X.B.example.com"), "origin-a X.B.example.com http/1.1")
        self.assertEqual(https_get(self.port, "b.example.com"), "origin-default b.example.com http/1.1")
        self.assertEqual(https_get(self.port, "other.org"), "origin-default other.org http/1.1")
        # ALPN: a route for clients offering h2 (nginx here answers http/1.1 only).
        self.assertEqual(https_get(self.port, "other.org", alpn=("h2", "http/1.1")), "origin-b other.org http/1.1")
        # The log is shared with other tests: wait for these lines among the rest.
        want = {("a.example.com", "exact-a", "a", "closed"), ("deep.one.b.example.com", "wild-b", "b", "closed"),
                ("x.b.example.com", "exact-in-b", "a", "closed"), ("other.org", None, "d", "closed"),
                ("other.org", "h2-only", "b", "closed")}

        def seen():
            return {(r["sni"], r["route"], r["pool"], r["reason"]) for r in harness.access_records(self.lb_)
                    if r["listener"] == "t"}

        harness.wait_until(lambda: want <= seen(), 3)
        self.assertLessEqual(want, seen())

    # ALPN names that pad a ClientHello to about 2 KB (a post-quantum key share's size).
    PAD_2K = [f"pad-{i}-" + "x" * 200 for i in range(8)] + ["http/1.1"]

    def test_2k_hello_in_two_tcp_segments(self):
        body, size = pieces_get(self.port, "a.example.com", cuts=[1000], alpn=self.PAD_2K)
        self.assertEqual(body, "origin-a a.example.com http/1.1")
        self.assertTrue(1800 < size < 2600, size)

    def test_2k_hello_in_two_tls_records(self):
        # Two records (1050 bytes of the message, then the rest) in one write,
        # then in two writes cut inside the second record's header.
        for cuts in ([], [1057]):
            body, size = pieces_get(self.port, "one.b.example.com", cuts=cuts, alpn=self.PAD_2K, fragment=1050)
            self.assertEqual(body, "origin-b one.b.example.com http/1.1")
            self.assertTrue(1800 < size < 2600, size)

    def test_hello_split_inside_the_record_header(self):
        body, size = pieces_get(self.port, "a.example.com", cuts=[3, 200])
        self.assertEqual(body, "origin-a a.example.com http/1.1")
        self.assertGreater(size, 200)

    def test_large_hello_over_many_records(self):
        # About 10 KB of ALPN names, re-framed in 1 KB records and sent in 3 pieces.
        names = [f"proto-{i:03d}-" + "x" * 240 for i in range(40)] + ["http/1.1"]
        body, size = pieces_get(self.port, "one.b.example.com", cuts=[1000, 6000], alpn=names, fragment=1000)
        self.assertEqual(body, "origin-b one.b.example.com http/1.1")
        self.assertGreater(size, 10000)

    def test_non_tls_goes_to_the_default_pool(self):
        s = support.connect(self.port)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        resp = support.read_all(s)
        s.close()
        # nginx's answer to plain HTTP on its TLS port: it got the bytes as sent.
        self.assertTrue(resp.startswith(b"HTTP/1.1 400"), resp)
        self.assertIn(b"plain HTTP request was sent to HTTPS port", resp)

    def test_strict_listener_closes_what_it_cannot_route(self):
        port = self.strict_port()
        before = {e: self.sessions("strict", e) for e in ("not_tls", "no_route", "bad_client_hello", "peek_timeout")}
        # Plain text; a hello for a name no route has; a malformed record.
        s = support.connect(port)
        s.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
        self.assertTrue(support.closed_by_peer(s))
        s.close()
        with self.assertRaises((ssl.SSLError, OSError)):
            https_get(port, "other.org")
        s = support.connect(port)
        s.sendall(b"\x16\x03\x01\x00\x00")
        self.assertTrue(support.closed_by_peer(s))
        s.close()
        # A hello that stops halfway: closed at peek_timeout (1s), not before.
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = client_context().wrap_bio(inc, out, server_hostname="a.example.com")
        with self.assertRaises(ssl.SSLWantReadError):
            obj.do_handshake()
        hello = out.read()
        s = support.connect(port)
        t0 = time.monotonic()
        s.sendall(hello[:len(hello) // 2])
        self.assertTrue(support.closed_by_peer(s, timeout=5))
        waited = time.monotonic() - t0
        s.close()
        self.assertGreaterEqual(waited, 0.9)
        self.assertLess(waited, 3.5)
        after = harness.wait_until(
            lambda: (lambda a: a if all(a[e] > before[e] for e in a) else None)(
                {e: self.sessions("strict", e) for e in before}), 3)
        self.assertTrue(after, {e: self.sessions("strict", e) for e in before})
        for e in before:
            self.assertEqual(after[e] - before[e], 1, e)
        # Other tests' lines share the log: wait for this listener's four.
        def strict_records():
            recs = [r for r in harness.access_records(self.lb_) if r["listener"] == "strict"]
            return recs if {r["reason"] for r in recs} >= set(before) else None

        recs = harness.wait_until(strict_records, 3) or strict_records() or []
        self.assertIn(("other.org", None, "no_route"), [(r["sni"], r["pool"], r["reason"]) for r in recs])
        self.assertIn((None, "peek_timeout"), [(r["pool"], r["reason"]) for r in recs])


if __name__ == "__main__":
    unittest.main()
