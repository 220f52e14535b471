"""OCSP stapling from files and hot reload of certificates on file change,
including the `..data` symlink swap of Kubernetes Secret volumes. Real lb,
openssl s_client and Python's ssl module as clients; a test CA, its
certificates and OCSP responses are made at test time (no key is committed)."""

import datetime
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest

from lib import harness

OPENSSL = "openssl"


def run(*args):
    subprocess.run([OPENSSL, *args], check=True, capture_output=True, timeout=20)


def make_ca(d):
    crt, key = os.path.join(d, "ca.crt"), os.path.join(d, "ca.key")
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
        "-days", "2", "-subj", "/CN=lb test CA", "-addext", "basicConstraints=critical,CA:TRUE")
    return crt, key


def make_leaf(d, name, ca, serial, cn, dns="example.test"):
    """A certificate for `dns` signed by `ca`, with subject CN `cn` (to tell generations apart)."""
    base = os.path.join(d, name)
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", base + ".key",
        "-out", base + ".csr", "-subj", "/CN=" + cn, "-addext", "subjectAltName=DNS:" + dns)
    run("x509", "-req", "-in", base + ".csr", "-CA", ca[0], "-CAkey", ca[1], "-set_serial", str(serial), "-days", "2",
        "-copy_extensions", "copy", "-out", base + ".crt")
    return base + ".crt", base + ".key", serial


def ocsp_response(d, ca, leaf, out):
    """A fresh 'good' response for `leaf` from `ca`'s own responder (openssl ocsp with an index file)."""
    index = os.path.join(d, "index.txt")
    expiry = (datetime.datetime.utcnow() + datetime.timedelta(days=2)).strftime("%y%m%d%H%M%SZ")
    with open(index, "w") as f:
        f.write(f"V\t{expiry}\t\t{leaf[2]:X}\tunknown\t/CN=x\n")
    run("ocsp", "-index", index, "-rsigner", ca[0], "-rkey", ca[1], "-CA", ca[0], "-issuer", ca[0], "-cert", leaf[0],
        "-respout", out, "-ndays", "1")
    return out


def stale_ocsp_response(ca, leaf, out):
    """A 'good' response whose nextUpdate passed yesterday (openssl ocsp cannot back-date one)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp
    issuer = x509.load_pem_x509_certificate(open(ca[0], "rb").read())
    key = serialization.load_pem_private_key(open(ca[1], "rb").read(), None)
    cert = x509.load_pem_x509_certificate(open(leaf[0], "rb").read())
    now = datetime.datetime.utcnow()
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=cert, issuer=issuer, algorithm=hashes.SHA1(), cert_status=ocsp.OCSPCertStatus.GOOD,
        this_update=now - datetime.timedelta(days=2), next_update=now - datetime.timedelta(days=1),
        revocation_time=None, revocation_reason=None).responder_id(ocsp.OCSPResponderEncoding.HASH, issuer)
    with open(out, "wb") as f:
        f.write(builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
    return out


def s_client(port, name, *args):
    p = subprocess.run([OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-servername", name, *args],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
    return p.stdout + p.stderr


def stapled(port, name):
    out = s_client(port, name, "-status")
    if "OCSP response: no response sent" in out:
        return False
    return "OCSP Response Status: successful" in out and "Cert Status: good" in out


def served_cn(port, name="example.test"):
    out = s_client(port, name)
    for line in out.splitlines():
        if line.startswith("subject=CN = "):
            return line[len("subject=CN = "):]
    return None


def get(sock, name="example.test"):
    """One keep-alive GET on `sock`; returns the status line."""
    sock.sendall(f"GET / HTTP/1.1\r\nHost: {name}\r\n\r\n".encode())
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
    return head.split(b"\r\n")[0].decode()


def connect(port, name="example.test"):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname=name)


def secret_volume(root, files):
    """A Kubernetes Secret volume: `root/..data` -> a timestamped folder holding
    `files` ({name: source path}), and `root/name` -> `..data/name`."""
    os.makedirs(root, exist_ok=True)
    swap_secret(root, files, "..2026_01")
    for name in files:
        os.symlink(os.path.join("..data", name), os.path.join(root, name))


def swap_secret(root, files, version):
    """What the kubelet does on a Secret update: a new folder, then `..data`
    replaced by a rename of a fresh symlink (atomic)."""
    folder = os.path.join(root, version)
    os.makedirs(folder)
    for name, src in files.items():
        shutil.copy(src, os.path.join(folder, name))
    tmp = os.path.join(root, "..data_tmp")
    os.symlink(version, tmp)
    os.replace(tmp, os.path.join(root, "..data"))


class TlsReloadTest(harness.LbTestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory(prefix="lb-tls-reload-")
        d = cls.dir.name
        cls.ca = make_ca(d)
        cls.gen1 = make_leaf(d, "gen1", cls.ca, 0x1001, "gen1")
        cls.gen2 = make_leaf(d, "gen2", cls.ca, 0x1002, "gen2")
        cls.other = make_leaf(d, "other", cls.ca, 0x2001, "other", dns="other.test")
        cls.stale = make_leaf(d, "stale", cls.ca, 0x3001, "stale", dns="stale.test")
        cls.wrong = make_leaf(d, "wrong", cls.ca, 0x4001, "wrong", dns="wrong.test")
        cls.garbage = make_leaf(d, "garbage", cls.ca, 0x5001, "garbage", dns="garbage.test")

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def start(self, certificates):
        b = self.backend("b")
        listener = {"name": "web", "listen": "127.0.0.1:0", "tls": {"certificates": certificates},
                    "routes": [harness.route("p")]}
        return self.lb(harness.config([harness.pool("p", b)], listeners=[listener]))

    def reloads(self, lb, result):
        return harness.metric_value(harness.metrics(lb), "lb_config_reloads_total", result=result)

    def test_ocsp_staple_present_missing_stale_wrong_unparsable_and_reread(self):
        d = tempfile.mkdtemp(dir=self.dir.name)
        good = ocsp_response(d, self.ca, self.gen1, os.path.join(d, "gen1.der"))
        missing = os.path.join(d, "other.der")
        garbage = os.path.join(d, "garbage.der")
        with open(garbage, "wb") as f:
            f.write(b"not an OCSP response")
        certs = [{"cert": self.gen1[0], "key": self.gen1[1], "ocsp": good},
                 {"cert": self.other[0], "key": self.other[1], "ocsp": missing},
                 {"cert": self.stale[0], "key": self.stale[1],
                  "ocsp": stale_ocsp_response(self.ca, self.stale, os.path.join(d, "stale.der"))},
                 {"cert": self.wrong[0], "key": self.wrong[1], "ocsp": good},  # gen1's response
                 {"cert": self.garbage[0], "key": self.garbage[1], "ocsp": garbage}]
        lb = self.start(certs)
        self.assertTrue(stapled(lb.port, "example.test"))
        self.assertNotIn("OCSP response", s_client(lb.port, "example.test"))  # not asked: not sent
        for name in ("other.test", "stale.test", "wrong.test", "garbage.test"):
            self.assertFalse(stapled(lb.port, name), name)
            self.assertEqual(served_cn(lb.port, name), name.split(".")[0])  # served all the same
        warnings = [r for r in lb.log_records() if r.get("msg") == "OCSP response not stapled"]
        self.assertEqual(sorted(r["file"] for r in warnings), sorted([missing, certs[2]["ocsp"], good, garbage]))
        joined = "\n".join(r["error"] for r in warnings)
        for why in ("No such file", "nextUpdate has passed", "not for this certificate", "not a DER OCSP response"):
            self.assertIn(why, joined)
        # The missing response appears: stapled from then on, without a reload.
        ocsp_response(d, self.ca, self.other, missing + ".new")
        os.replace(missing + ".new", missing)
        self.assertTrue(harness.wait_until(lambda: stapled(lb.port, "other.test"), timeout=5))
        self.assertTrue(stapled(lb.port, "example.test"))
        # A response removed is no longer stapled (the deletion is a file change too).
        os.remove(good)
        harness.wait_until(lambda: self.reloads(lb, "success") >= 3, timeout=3)
        self.assertTrue(harness.wait_until(lambda: not stapled(lb.port, "example.test"), timeout=5))

    def test_secret_symlink_swap_serves_new_certificate_and_keeps_open_connection(self):
        root = os.path.join(tempfile.mkdtemp(dir=self.dir.name), "secret")
        secret_volume(root, {"tls.crt": self.gen1[0], "tls.key": self.gen1[1]})
        lb = self.start([{"cert": os.path.join(root, "tls.crt"), "key": os.path.join(root, "tls.key")}])
        self.assertEqual(served_cn(lb.port), "gen1")
        before = connect(lb.port)
        self.assertEqual(get(before), "HTTP/1.1 200 OK")
        first_cert = before.getpeercert(binary_form=True)
        swap_secret(root, {"tls.crt": self.gen2[0], "tls.key": self.gen2[1]}, "..2026_02")
        self.assertEqual(harness.wait_until(lambda: served_cn(lb.port) == "gen2", timeout=5), True)
        # The connection opened before keeps its session and its certificate.
        self.assertEqual(get(before), "HTTP/1.1 200 OK")
        self.assertEqual(before.getpeercert(binary_form=True), first_cert)
        before.close()
        self.assertEqual(self.reloads(lb, "success"), 2)  # startup and the swap
        self.assertEqual(self.reloads(lb, "failure"), 0)
        self.assertTrue(any(r.get("msg") == "certificates reloaded" and r.get("trigger") == "certificate file change"
                            for r in lb.log_records()))

    def test_mismatched_key_keeps_the_old_certificate(self):
        root = os.path.join(tempfile.mkdtemp(dir=self.dir.name), "secret")
        secret_volume(root, {"tls.crt": self.gen1[0], "tls.key": self.gen1[1]})
        key = os.path.join(root, "tls.key")
        lb = self.start([{"cert": os.path.join(root, "tls.crt"), "key": key}])
        open_conn = connect(lb.port)
        self.assertEqual(get(open_conn), "HTTP/1.1 200 OK")
        swap_secret(root, {"tls.crt": self.gen2[0], "tls.key": self.other[1]}, "..2026_02")  # gen2 with a wrong key
        self.assertTrue(harness.wait_until(lambda: self.reloads(lb, "failure") >= 1, timeout=5))
        refused = [r for r in lb.log_records() if r.get("msg", "").startswith("certificate reload refused")]
        self.assertTrue(refused)
        self.assertIn(f"the key '{key}' does not match", refused[0]["error"])
        self.assertEqual(served_cn(lb.port), "gen1")
        self.assertEqual(get(open_conn), "HTTP/1.1 200 OK")
        open_conn.close()
        # Fixed in the next update: served from then on.
        swap_secret(root, {"tls.crt": self.gen2[0], "tls.key": self.gen2[1]}, "..2026_03")
        self.assertEqual(harness.wait_until(lambda: served_cn(lb.port) == "gen2", timeout=5), True)

    def test_reload_of_pools_alone_still_reads_changed_certificates(self):
        # A reload that changes pools alone keeps the listeners, unless a
        # certificate file changed since: then it builds everything.
        d = tempfile.mkdtemp(dir=self.dir.name)
        crt, key = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
        shutil.copy(self.gen1[0], crt)
        shutil.copy(self.gen1[1], key)
        b, c = self.backend("b"), self.backend("c")

        def cfg(*backends):
            listener = {"name": "web", "listen": "127.0.0.1:0", "tls": {"certificates": [{"cert": crt, "key": key}]},
                        "routes": [harness.route("p")]}
            return harness.config([harness.pool("p", *backends)], listeners=[listener])

        lb = self.lb(cfg(b))
        self.assertEqual(served_cn(lb.port), "gen1")
        start = len(lb.log_lines())
        shutil.copy(self.gen2[0], crt)
        shutil.copy(self.gen2[1], key)
        # At once: the certificate watch waits 200 ms before it reloads.
        r = harness.reload_lb(lb, cfg(b, c))
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(harness.wait_until(lambda: served_cn(lb.port) == "gen2", timeout=5), True)
        records = [harness.parse_logfmt(l) for l in lb.log_lines()[start:]]
        ours = [x for x in records if x.get("msg") == "config reloaded" and x.get("trigger") == "POST /reload"]
        self.assertEqual(len(ours), 1, records)
        # Unless the watch happened to run first, the reload itself read the new files.
        before = records[:records.index(ours[0])]
        if not any(x.get("msg") == "certificates reloaded" for x in before):
            self.assertEqual(ours[0].get("pools_rebuilt"), "all")


if __name__ == "__main__":
    unittest.main()
