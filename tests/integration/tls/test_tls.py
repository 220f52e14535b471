"""TLS termination on a listener: SNI, ECDSA and RSA side by side, versions,
resumption across workers and reloads, parking of idle TLS connections, bad
input. Real lb, real backends, openssl s_client and Python's ssl module as
clients; certificates are made at test time (no key is committed)."""

import json
import os
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from lib import harness

OPENSSL = "openssl"


def make_cert(d, name, key_type, names):
    """A self-signed certificate for `names` (the first is the CN); returns (cert, key) paths."""
    key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".crt")
    newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if key_type == "ec" else ["-newkey", "rsa:2048"]
    subprocess.run([OPENSSL, "req", "-x509", *newkey, "-nodes", "-keyout", key, "-out", crt, "-days", "2",
                    "-subj", "/CN=" + names[0], "-addext", "subjectAltName=" + ",".join("DNS:" + n for n in names)],
                   check=True, capture_output=True)
    return crt, key


def s_client(port, *args, stdin_delay=0.0):
    """openssl s_client against lb; returns its stdout+stderr text. With a delay, the
    input stays open that long so TLS 1.3 tickets arrive before it exits."""
    cmd = [OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", *args]
    if stdin_delay:
        cmd = ["sh", "-c", f"sleep {stdin_delay} | " + " ".join(cmd) + " -ign_eof"]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
    return p.stdout + p.stderr


def tls_get(port, server_name, path="/", sock=None):
    """One GET over TLS (a new connection unless `sock` is given); returns (status line, body, sock)."""
    if sock is None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname=server_name)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {server_name}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise harness.ConnectionClosed("closed before the head", data)
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return head.split(b"\r\n")[0].decode(), body, sock


class TlsTest(harness.LbTestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory(prefix="lb-tls-")
        d = cls.dir.name
        cls.ec = make_cert(d, "ec", "ec", ["example.test", "*.wild.test"])
        cls.rsa = make_cert(d, "rsa", "rsa", ["example.test", "*.wild.test"])
        cls.other = make_cert(d, "other", "ec", ["other.test"])

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def start(self, workers=1, **tls_opts):
        self.b = self.backend("b")
        tls = {"certificates": [{"cert": c, "key": k} for c, k in (self.ec, self.rsa, self.other)]}
        tls.update(tls_opts)
        listener = {"name": "web", "listen": "127.0.0.1:0", "tls": tls, "routes": [harness.route("p")]}
        return self.lb(harness.config([harness.pool("p", self.b)], listeners=[listener], workers=workers))

    def tls_metric(self, lb, name, **labels):
        return harness.metric_value(harness.metrics(lb), name, listener="web", **labels)

    def test_sni_exact_wildcard_and_default(self):
        lb = self.start()
        self.assertIn("subject=CN = other.test", s_client(lb.port, "-servername", "other.test"))
        self.assertIn("subject=CN = example.test", s_client(lb.port, "-servername", "a.wild.test"))
        # Unknown and absent names get the default (first) certificate.
        self.assertIn("subject=CN = example.test", s_client(lb.port, "-servername", "nobody.test"))
        self.assertIn("subject=CN = example.test", s_client(lb.port, "-noservername"))

    def test_ecdsa_and_rsa_for_the_same_names(self):
        lb = self.start()
        self.assertIn("Server public key is 256 bit", s_client(lb.port, "-servername", "example.test"))
        rsa_only = s_client(lb.port, "-servername", "example.test", "-sigalgs", "RSA-PSS+SHA256:RSA+SHA256")
        self.assertIn("Server public key is 2048 bit", rsa_only)

    def test_old_versions_refused_and_min_version(self):
        lb = self.start()
        out = s_client(lb.port, "-tls1_1")
        self.assertNotIn("Cipher is ECDHE", out)
        self.assertIn("New, TLSv1.2", s_client(lb.port, "-tls1_2"))
        self.assertEqual(self.tls_metric(lb, "lb_tls_handshake_failures_total", reason="version"), 1)
        lb13 = self.start(min_version="1.3")
        self.assertNotIn("New, TLSv1.2", s_client(lb13.port, "-tls1_2"))
        self.assertIn("New, TLSv1.3", s_client(lb13.port, "-tls1_3"))

    def test_proxies_with_https_forwarded_proto(self):
        lb = self.start()
        status, body, s = tls_get(lb.port, "example.test", "/?echo=1")
        s.close()
        self.assertEqual(status, "HTTP/1.1 200 OK")
        headers = {k.lower(): v for k, v in json.loads(body)["headers"]}
        self.assertEqual(headers["x-forwarded-proto"], "https")
        self.assertEqual(self.tls_metric(lb, "lb_tls_handshakes_total", version="1.3", resumed="false"), 1)

    def test_idle_tls_connection_parks_and_serves_again(self):
        lb = self.start()
        status, _, s = tls_get(lb.port, "example.test")
        self.assertEqual(status, "HTTP/1.1 200 OK")
        # Parked after its first response and by the sweep (100-200 ms) after that.
        for pause in (0.4, 0.05, 0.4):
            time.sleep(pause)
            status, body, s = tls_get(lb.port, "example.test", sock=s)
            self.assertEqual(status, "HTTP/1.1 200 OK")
        s.close()
        self.assertEqual(self.b.requests(), 4)

    def test_resumption_across_workers_and_reloads(self):
        lb = self.start(workers=2)
        sess = os.path.join(self.dir.name, f"sess-{lb.pid}")
        # TLS 1.3 ticket, TLS 1.2 ticket, TLS 1.2 session id (no ticket).
        kinds = [("t13", ["-tls1_3"], 0.3), ("t12", ["-tls1_2"], 0), ("id12", ["-tls1_2", "-no_ticket"], 0)]
        for name, args, delay in kinds:
            out = s_client(lb.port, "-servername", "example.test", *args, "-sess_out", sess + name,
                           stdin_delay=delay)
            self.assertIn("New,", out, name)
        # Five new connections each: SO_REUSEPORT spreads them over both workers.
        for name, args, delay in kinds:
            for _ in range(5):
                out = s_client(lb.port, "-servername", "example.test", *args, "-sess_in", sess + name,
                               stdin_delay=delay)
                self.assertIn("Reused,", out, name)
        reply = harness.admin_request(lb, "POST", "/reload")
        self.assertEqual(reply.status, 200)
        for name, args, delay in kinds:
            out = s_client(lb.port, "-servername", "example.test", *args, "-sess_in", sess + name,
                           stdin_delay=delay)
            self.assertIn("Reused,", out, f"{name} after a reload")
        resumed = (self.tls_metric(lb, "lb_tls_handshakes_total", resumed="true"))
        self.assertEqual(resumed, 18)

    def test_ticket_keys_file_is_shared_by_two_instances(self):
        keys = os.path.join(self.dir.name, "ticket.keys")
        with open(keys, "wb") as f:
            f.write(os.urandom(80))
        b = self.backend("k")
        lbs = []
        for _ in range(2):
            listener = {"name": "web", "listen": "127.0.0.1:0",
                        "tls": {"certificates": [{"cert": self.ec[0], "key": self.ec[1]}]},
                        "routes": [harness.route("p")]}
            text = harness.config([harness.pool("p", b)], listeners=[listener])
            text += f"tls: {{ ticket_keys_file: {keys} }}\n"
            lbs.append(self.lb(text))
        sess = os.path.join(self.dir.name, f"shared-{lbs[0].pid}")
        self.assertIn("New,", s_client(lbs[0].port, "-sess_out", sess, stdin_delay=0.5))
        self.assertIn("Reused,", s_client(lbs[1].port, "-sess_in", sess, stdin_delay=0.5))

    def test_reject_unknown_sni(self):
        lb = self.start(reject_unknown_sni=True)
        self.assertIn("unrecognized name", s_client(lb.port, "-servername", "nobody.test"))
        self.assertIn("subject=CN = other.test", s_client(lb.port, "-servername", "other.test"))
        self.assertEqual(self.tls_metric(lb, "lb_tls_handshake_failures_total", reason="sni"), 1)

    def test_garbage_and_silence_are_closed_and_counted(self):
        lb = self.start(handshake_timeout="1s")
        with socket.create_connection(("127.0.0.1", lb.port), timeout=5) as g:
            g.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                self.assertEqual(g.recv(100)[:5] != b"HTTP/", True)
            except ConnectionResetError:
                pass
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", lb.port), timeout=5) as quiet:
            self.assertEqual(quiet.recv(100), b"")  # closed by lb, not by our timeout
        self.assertLess(time.monotonic() - started, 2.5)
        self.assertGreaterEqual(time.monotonic() - started, 0.9)
        self.assertEqual(self.tls_metric(lb, "lb_tls_handshake_failures_total", reason="protocol"), 1)
        self.assertEqual(self.tls_metric(lb, "lb_tls_handshake_failures_total", reason="timeout"), 1)
        self.assertEqual(self.b.requests(), 0)  # nothing reached the upstream

    def test_bad_certificate_files_name_the_config_position(self):
        d = self.dir.name
        other_key = self.other[1]
        cases = {
            "missing": ({"cert": os.path.join(d, "nope.crt"), "key": self.ec[1]}, "cannot read"),
            "mismatch": ({"cert": self.ec[0], "key": other_key}, "does not match the certificate"),
            "not_pem": ({"cert": self.ec[1], "key": self.ec[1]}, "holds no PEM certificate"),
        }
        for name, (cert, expect) in cases.items():
            path = os.path.join(d, f"bad-{name}.yaml")
            with open(path, "w") as f:
                f.write("listeners:\n"
                        "  - name: web\n"
                        "    listen: 127.0.0.1:0\n"
                        "    tls:\n"
                        "      certificates:\n"
                        f"        - {{ cert: {cert['cert']}, key: {cert['key']} }}\n"
                        "    routes: [ { match: { path_prefix: / }, pool: p } ]\n"
                        "pools:\n"
                        "  - name: p\n"
                        "    endpoints: [ { address: 127.0.0.1:9 } ]\n")
            r = harness.run_lb(["--check", "--config", path])
            self.assertEqual(r.returncode, 1, name)
            self.assertIn(f"{path}:6:11: ", r.stderr, name)
            self.assertIn(expect, r.stderr, name)


if __name__ == "__main__":
    unittest.main()
