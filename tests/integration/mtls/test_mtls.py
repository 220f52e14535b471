"""Client certificates (mTLS) on TLS listeners and `redirect_https` on plain
ones. Real lb and lb-backend; curl (--cert/--key, HTTP/1.1 and HTTP/2),
openssl s_client and Python's ssl module as clients. The CAs, certificates
and CRLs are made at test time with python3-cryptography (no key is
committed)."""

import datetime
import hashlib
import json
import os
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lib import harness

NOW = datetime.datetime.now(datetime.timezone.utc)


def _name(*parts):
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in parts])


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


class Pki:
    """A CA on disk: issue(...) makes leaf certificates, crl(...) a revocation list."""

    def __init__(self, d, name):
        self.d, self.name = d, name
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = _name((NameOID.COMMON_NAME, f"lb test {name} CA"))
        self.cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(NOW - datetime.timedelta(hours=1))
                     .not_valid_after(NOW + datetime.timedelta(days=2))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.path = _write(os.path.join(d, name + "-ca.crt"), self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, file, subject_parts, dns=None, client=True):
        """Writes FILE.crt and FILE.key; returns (crt, key, certificate)."""
        key = ec.generate_private_key(ec.SECP256R1())
        b = (x509.CertificateBuilder().subject_name(_name(*subject_parts)).issuer_name(self.cert.subject)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(NOW - datetime.timedelta(hours=1))
             .not_valid_after(NOW + datetime.timedelta(days=2)))
        if dns:
            b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False)
        if client:
            b = b.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        cert = b.sign(self.key, hashes.SHA256())
        base = os.path.join(self.d, file)
        _write(base + ".crt", cert.public_bytes(serialization.Encoding.PEM))
        _write(base + ".key", key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
        return base + ".crt", base + ".key", cert

    def crl(self, path, revoked_certs):
        b = (x509.CertificateRevocationListBuilder().issuer_name(self.cert.subject)
             .last_update(NOW - datetime.timedelta(hours=1)).next_update(NOW + datetime.timedelta(days=1)))
        for c in revoked_certs:
            b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(c.serial_number)
                                          .revocation_date(NOW - datetime.timedelta(minutes=5)).build())
        tmp = path + ".tmp"
        _write(tmp, b.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
        os.replace(tmp, path)  # as a Secret update or an editor would: a new file
        return path


def fingerprint(cert):
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def curl(port, path="/?echo=1", cert=None, http2=False, headers=()):
    """curl over TLS to lb (server certificate not checked); returns (exit code, status, body)."""
    cmd = ["curl", "-sk", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}",
           "--http2" if http2 else "--http1.1", "--resolve", f"mtls.test:{port}:127.0.0.1"]
    if cert:
        cmd += ["--cert", cert[0], "--key", cert[1]]
    for h in headers:
        cmd += ["-H", h]
    p = subprocess.run(cmd + [f"https://mtls.test:{port}{path}"], capture_output=True, timeout=20)
    body, _, code = p.stdout.rpartition(b"\n")
    return p.returncode, int(code or 0), body


def echoed_headers(body):
    return {k.lower(): v for k, v in json.loads(body)["headers"]}


def py_tls_get(port, cert=None, version=None):
    """One GET with Python's ssl module; returns the status line, or raises on a refused handshake."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    if cert:
        ctx.load_cert_chain(cert[0], cert[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="mtls.test") as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: mtls.test\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    if not data:
        raise ConnectionError("closed without an answer")
    return data.split(b"\r\n", 1)[0].decode()


def raw_request(port, request):
    """Sends `request` bytes on a plain connection; returns (status, headers dict, raw)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    lines = head.split("\r\n")
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), headers, data


class MtlsTest(harness.LbTestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory(prefix="lb-mtls-")
        d = cls.dir.name
        cls.ca = Pki(d, "clients")
        cls.other_ca = Pki(d, "other")
        server = cls.ca.issue("server", [(NameOID.COMMON_NAME, "mtls.test")], dns="mtls.test", client=False)
        cls.good = cls.ca.issue("good", [(NameOID.COUNTRY_NAME, "FR"), (NameOID.ORGANIZATION_NAME, "Acme, Inc"),
                                         (NameOID.COMMON_NAME, "alice")])
        cls.revoked = cls.ca.issue("revoked", [(NameOID.COMMON_NAME, "mallory")])
        cls.later = cls.ca.issue("later", [(NameOID.COMMON_NAME, "bob")])
        cls.stranger = cls.other_ca.issue("stranger", [(NameOID.COMMON_NAME, "alice")])
        cls.crl = cls.ca.crl(os.path.join(d, "clients.crl"), [cls.revoked[2]])
        cls.backend_ = cls.class_backend("b")
        certs = [{"cert": server[0], "key": server[1]}]
        headers = {"subject": "X-Client-Subject", "fingerprint": "X-Client-Cert-Sha256"}
        listeners = [
            {"name": "required", "listen": "127.0.0.1:0", "routes": [harness.route("p")],
             "tls": {"certificates": certs, "client_ca": cls.ca.path, "verify": "required", "crl": cls.crl,
                     "client_cert_headers": headers}},
            {"name": "optional", "listen": "127.0.0.1:0", "routes": [harness.route("p")],
             "tls": {"certificates": certs, "client_ca": cls.ca.path, "verify": "optional",
                     "alpn": ["h2", "http/1.1"], "client_cert_headers": headers}},
            {"name": "redirect", "listen": "127.0.0.1:0", "protocols": ["h1", "h2"],
             "redirect_https": {"port": 8443}},
            {"name": "redirect301", "listen": "127.0.0.1:0", "redirect_https": {"code": 301}},
        ]
        cls.lbp = cls.class_lb(harness.config([harness.pool("p", cls.backend_)], listeners=listeners, workers=2))
        cls.port = cls.lbp.ports

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def metric(self, name, **labels):
        return harness.metric_value(harness.metrics(self.lbp), name, **labels)

    def cert_failures(self, reason):
        return self.metric("lb_tls_client_cert_failures_total", listener="required", reason=reason)

    def metric_when(self, reached, name, **labels):
        """The metric once reached(value) holds, or after 3 s: lb counts just after
        a response or an alert leaves, so a client may be quicker than the count."""
        deadline = time.monotonic() + 3
        while True:
            got = self.metric(name, **labels)
            if reached(got) or time.monotonic() > deadline:
                return got
            time.sleep(0.02)

    def assert_cert_failures(self, reason, expected, listener="required"):
        got = self.metric_when(lambda v: v >= expected, "lb_tls_client_cert_failures_total",
                               listener=listener, reason=reason)
        self.assertEqual(got, expected)

    # --- verify: required -------------------------------------------------------

    def test_required_good_certificate_reaches_upstream_with_identity(self):
        rc, status, body = curl(self.port["required"], cert=self.good[:2],
                                headers=["X-Client-Subject: CN=forged", "x-client-cert-sha256: 00"])
        self.assertEqual((rc, status), (0, 200))
        h = echoed_headers(body)
        # RFC 2253: most specific first, the comma in a value escaped.
        self.assertEqual(h["x-client-subject"], "CN=alice,O=Acme\\, Inc,C=FR")
        self.assertEqual(h["x-client-cert-sha256"], fingerprint(self.good[2]))
        self.assertEqual(h["x-forwarded-proto"], "https")
        # The forged ones were dropped, not sent beside lb's.
        names = [k.lower() for k, _ in json.loads(body)["headers"]]
        self.assertEqual(names.count("x-client-subject"), 1)
        self.assertEqual(names.count("x-client-cert-sha256"), 1)

    def test_required_refuses_no_certificate(self):
        before = self.cert_failures("missing")
        rc, status, _ = curl(self.port["required"])
        self.assertNotEqual(rc, 0)
        self.assertEqual(status, 0)
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
                py_tls_get(self.port["required"], version=version)
        self.assert_cert_failures("missing", before + 3)
        self.assertGreaterEqual(self.metric("lb_tls_handshake_failures_total", listener="required",
                                            reason="client_cert"), 3)

    def test_required_refuses_certificate_from_another_ca(self):
        before = self.cert_failures("untrusted")
        out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.port['required']}",
                              "-servername", "mtls.test", "-tls1_2", "-cert", self.stranger[0],
                              "-key", self.stranger[1]],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
        self.assertIn("alert unknown ca", out.stdout + out.stderr)
        rc, status, _ = curl(self.port["required"], cert=self.stranger[:2])
        self.assertNotEqual(rc, 0)
        self.assert_cert_failures("untrusted", before + 2)

    def test_revoked_certificate_refused_and_logged_without_flooding(self):
        def refusals():
            recs = [harness.parse_logfmt(l) for l in self.lbp.log_lines()]
            return [r for r in recs if r.get("msg") == "TLS client certificate refused" and r.get("listener") == "required"]

        before = self.cert_failures("revoked")
        logged = len(refusals())
        start = time.monotonic()
        for _ in range(8):
            rc, status, _ = curl(self.port["required"], cert=self.revoked[:2])
            self.assertNotEqual(rc, 0)
            self.assertEqual(status, 0)
        elapsed = time.monotonic() - start
        self.assert_cert_failures("revoked", before + 8)
        # At most one line a second per worker (2 workers): a burst cannot flood the log.
        burst = len(refusals()) - logged
        self.assertLessEqual(burst, 2 * (int(elapsed) + 2))
        self.assertLess(burst, 8)
        # A second later the next refusal is logged again, saying why.
        time.sleep(1.1)
        logged = len(refusals())
        self.assertNotEqual(curl(self.port["required"], cert=self.revoked[:2])[0], 0)
        deadline = time.monotonic() + 3  # the log is read by a thread of the harness
        while len(refusals()) == logged and time.monotonic() < deadline:
            time.sleep(0.02)
        last = refusals()[-1]
        self.assertEqual(last["reason"], "revoked")
        self.assertIn("revoked", last["detail"])
        # The others under the CA still pass.
        self.assertEqual(curl(self.port["required"], cert=self.later[:2])[1], 200)

    def test_certificate_checked_once_per_connection_across_requests(self):
        """Keep-alive requests (and a parked connection resumed) keep the identity."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.load_cert_chain(self.good[0], self.good[1])
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.port["required"]), timeout=5),
                             server_hostname="mtls.test") as s:
            c = harness.Client.__new__(harness.Client)
            c.sock, c.buf, c.timeout = s, bytearray(), 5
            for pause in (0, 0.4, 0.05):
                time.sleep(pause)  # 0.4 s: parked by the sweep, then resumed
                s.sendall(b"GET /?echo=1 HTTP/1.1\r\nHost: mtls.test\r\n\r\n")
                r = c.read_response()
                self.assertEqual(r.status, 200)
                self.assertEqual(echoed_headers(r.body)["x-client-cert-sha256"], fingerprint(self.good[2]))

    # --- verify: optional -------------------------------------------------------

    def test_optional_without_certificate_passes_without_identity_and_strips_forgeries(self):
        rc, status, body = curl(self.port["optional"],
                                headers=["X-Client-Subject: CN=admin", "X-Client-Cert-Sha256: ab"])
        self.assertEqual((rc, status), (0, 200))
        h = echoed_headers(body)
        self.assertNotIn("x-client-subject", h)
        self.assertNotIn("x-client-cert-sha256", h)

    def test_optional_with_certificate_sends_identity(self):
        rc, status, body = curl(self.port["optional"], cert=self.good[:2])
        self.assertEqual((rc, status), (0, 200))
        self.assertEqual(echoed_headers(body)["x-client-cert-sha256"], fingerprint(self.good[2]))

    def test_optional_refuses_a_certificate_that_fails(self):
        rc, status, _ = curl(self.port["optional"], cert=self.stranger[:2])
        self.assertNotEqual(rc, 0)
        self.assert_cert_failures("untrusted", 1, listener="optional")

    def test_h2_carries_identity_and_strips_forgeries(self):
        rc, status, body = curl(self.port["optional"], cert=self.good[:2], http2=True,
                                headers=["X-Client-Subject: CN=forged"])
        self.assertEqual((rc, status), (0, 200))
        h = echoed_headers(body)
        self.assertEqual(h["x-client-subject"], "CN=alice,O=Acme\\, Inc,C=FR")
        self.assertEqual(h["x-client-cert-sha256"], fingerprint(self.good[2]))
        rc, status, body = curl(self.port["optional"], http2=True, headers=["X-Client-Cert-Sha256: ab"])
        self.assertEqual((rc, status), (0, 200))
        self.assertNotIn("x-client-cert-sha256", echoed_headers(body))
        self.assertGreaterEqual(self.metric_when(lambda v: v >= 2, "lb_http_requests_total",
                                                 listener="optional", protocol="h2"), 2)

    # --- redirect_https ---------------------------------------------------------

    def test_redirect_308_keeps_path_and_query_and_sets_port(self):
        before = self.backend_.requests()
        for method in ("GET", "POST", "DELETE"):
            status, h, _ = raw_request(self.port["redirect"], (
                f"{method} /a/b%20c?x=1&y=%2F HTTP/1.1\r\nHost: shop.example:8080\r\nContent-Length: 0\r\n\r\n"
            ).encode())
            self.assertEqual(status, 308, method)
            self.assertEqual(h["location"], "https://shop.example:8443/a/b%20c?x=1&y=%2F")
        status, h, _ = raw_request(self.port["redirect"], b"GET /?q HTTP/1.1\r\nHost: [::1]:80\r\n\r\n")
        self.assertEqual((status, h["location"]), (308, "https://[::1]:8443/?q"))
        # curl follows nothing here; it shows what a client gets (h2c too).
        p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                            "--http2-prior-knowledge", "-H", "Host: h2.example",
                            f"http://127.0.0.1:{self.port['redirect']}/p?z=2"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(p.stdout, "308 https://h2.example:8443/p?z=2")
        self.assertEqual(self.backend_.requests(), before)

    def test_redirect_301_for_get_and_head_only(self):
        port = self.port["redirect301"]
        for method, code in (("GET", 301), ("HEAD", 301), ("POST", 308)):
            status, h, _ = raw_request(port, f"{method} /x?y=z HTTP/1.1\r\nHost: a.example\r\n"
                                             f"Content-Length: 0\r\n\r\n".encode())
            self.assertEqual(status, code, method)
            self.assertEqual(h["location"], "https://a.example/x?y=z")

    def test_redirect_without_host_is_400(self):
        status, _, _ = raw_request(self.port["redirect"], b"GET /x HTTP/1.0\r\n\r\n")
        self.assertEqual(status, 400)
        status, _, _ = raw_request(self.port["redirect"], b"GET /x HTTP/1.1\r\nHost: a/b\r\n\r\n")
        self.assertEqual(status, 400)


class MtlsReloadAndConfigTest(harness.LbTestCase):
    def test_crl_reloads_with_the_certificates_on_file_change(self):
        with tempfile.TemporaryDirectory(prefix="lb-mtls-") as d:
            ca = Pki(d, "c")
            server = ca.issue("server", [(NameOID.COMMON_NAME, "mtls.test")], dns="mtls.test", client=False)
            carol = ca.issue("carol", [(NameOID.COMMON_NAME, "carol")])
            crl = ca.crl(os.path.join(d, "c.crl"), [])
            b = self.backend("b")
            lst = {"name": "web", "listen": "127.0.0.1:0", "routes": [harness.route("p")],
                   "tls": {"certificates": [{"cert": server[0], "key": server[1]}], "client_ca": ca.path,
                           "crl": crl}}
            lb = self.lb(harness.config([harness.pool("p", b)], listeners=[lst]))
            self.assertEqual(curl(lb.port, cert=carol[:2])[1], 200)
            ca.crl(crl, [carol[2]])
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not any(
                    harness.parse_logfmt(l).get("msg") == "certificates reloaded" for l in lb.log_lines()):
                time.sleep(0.05)
            rc, status, _ = curl(lb.port, cert=carol[:2])
            self.assertNotEqual(rc, 0)
            deadline = time.monotonic() + 3
            while True:  # counted just after the alert leaves: poll briefly
                got = harness.metric_value(harness.metrics(lb), "lb_tls_client_cert_failures_total",
                                           listener="web", reason="revoked")
                if got or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            self.assertEqual(got, 1)

    def test_bad_config_is_reported_at_file_line_col(self):
        with tempfile.TemporaryDirectory(prefix="lb-mtls-") as d:
            ca = Pki(d, "c")
            other = Pki(d, "o")
            server = ca.issue("server", [(NameOID.COMMON_NAME, "mtls.test")], dns="mtls.test", client=False)
            bad_crl = other.crl(os.path.join(d, "o.crl"), [])
            cases = [
                ({"verify": "optional"}, "'verify: optional' needs 'client_ca'"),
                ({"client_ca": ca.path, "verify": "sometimes"}, "invalid 'verify' 'sometimes'"),
                ({"client_ca": os.path.join(d, "missing.pem")}, "cannot read"),
                ({"client_ca": server[1]}, "holds no PEM certificate"),
                ({"client_ca": ca.path, "crl": bad_crl}, "is not signed by any certificate"),
                ({"client_ca": ca.path, "client_cert_headers": {"subject": "Host"}}, "lb writes that field itself"),
                ({"client_ca": ca.path, "client_cert_headers": {"subject": "bad name"}}, "invalid header name"),
                ({"client_ca": ca.path, "verify": "off", "crl": bad_crl}, "'crl' applies only"),
            ]
            for extra, message in cases:
                tls = {"certificates": [{"cert": server[0], "key": server[1]}], **extra}
                lst = {"name": "web", "listen": "127.0.0.1:0", "routes": [harness.route("p")], "tls": tls}
                path = os.path.join(d, "lb.yaml")
                with open(path, "w") as f:
                    f.write(harness.config([harness.pool("p", "127.0.0.1:9")], listeners=[lst]))
                p = subprocess.run([harness.lb_bin(), "--check", "--config", path], capture_output=True, text=True,
                                   timeout=20)
                self.assertNotEqual(p.returncode, 0, extra)
                self.assertRegex(p.stdout + p.stderr, rf"{path}:\d+:\d+: .*{message}", extra)
            redirect_cases = [
                ({"redirect_https": {"code": 302}, "routes": None}, "invalid 'code' 302"),
                ({"redirect_https": {"port": 70000}, "routes": None}, "port"),
                ({"redirect_https": True}, "takes no 'routes'"),
            ]
            for extra, message in redirect_cases:
                lst = {"name": "web", "listen": "127.0.0.1:0", "routes": [harness.route("p")], **extra}
                lst = {k: v for k, v in lst.items() if v is not None}
                path = os.path.join(d, "lb.yaml")
                with open(path, "w") as f:
                    f.write(harness.config([harness.pool("p", "127.0.0.1:9")], listeners=[lst]))
                p = subprocess.run([harness.lb_bin(), "--check", "--config", path], capture_output=True, text=True,
                                   timeout=20)
                self.assertNotEqual(p.returncode, 0, extra)
                self.assertRegex(p.stdout + p.stderr, rf"{path}:\d+:\d+: .*{message}", extra)


if __name__ == "__main__":
    unittest.main()
