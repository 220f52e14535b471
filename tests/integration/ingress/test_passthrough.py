"""ingress-nginx's ssl-passthrough in controller mode: the HTTPS address routes TLS by
SNI. A passed-through host's connections reach its Service undeciphered (the Service's
own certificate answers); other hosts are terminated by lb behind it with their Secret's
certificate, and their backends see the real client (a PROXY header carries it over the
internal hop). Dropping the annotation turns the address back into plain termination,
on the same port, without a restart."""

import base64
import json
import os
import socket
import ssl
import tempfile
import threading
import unittest

from ingress.test_controller import NS, endpoint_slice, ingress, service
from ingress.test_translate import free_port
from lib import harness
from lib.fake_kube import FakeKube
from tls.test_tls import make_cert, tls_get

CLIENT = "127.0.0.77"


class TlsOrigin:
    """A TLS server with its own certificate: reads a line, answers `origin:LINE`."""

    def __init__(self, testcase, addr, cert, key):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.lst = socket.socket()
        self.lst.bind((addr, 0))
        self.lst.listen(16)
        self.port = self.lst.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()
        testcase.addCleanup(self.lst.close)

    def serve(self):
        while True:
            try:
                conn, _ = self.lst.accept()
            except OSError:
                return
            threading.Thread(target=self.one, args=(conn,), daemon=True).start()

    def one(self, conn):
        try:
            with self.ctx.wrap_socket(conn, server_side=True) as s:
                s.settimeout(5)
                line = b""
                while not line.endswith(b"\n"):
                    part = s.recv(100)
                    if not part:
                        return
                    line += part
                s.sendall(b"origin:" + line)
        except (OSError, ssl.SSLError):
            pass


def der(cert_path):
    with open(cert_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def tls_connect(port, name, source=CLIENT):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    return ctx.wrap_socket(raw, server_hostname=name)


def passthrough_ingress(passthrough):
    obj = ingress("db", "db.test", "db")
    if passthrough:
        obj["metadata"]["annotations"] = {"nginx.ingress.kubernetes.io/ssl-passthrough": "true"}
    return obj


class PassthroughTest(harness.LbTestCase):
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.TemporaryDirectory(prefix="lb-ingress-pass-")
        self.addCleanup(self.tmp.cleanup)
        self.web_cert, web_key = make_cert(self.tmp.name, "web", "ec", ["web.test"])
        self.db_cert, db_key = make_cert(self.tmp.name, "db", "ec", ["db.test"])
        origin = TlsOrigin(self, "127.0.0.64", self.db_cert, db_key)
        port = free_port(["127.0.0.61"])
        self.backend("web", listen=f"127.0.0.61:{port}")

        self.kube = FakeKube(self.tmp.name)
        self.addCleanup(self.kube.stop)
        self.kube.apply("services", service("web"))
        self.kube.apply("endpointslices", endpoint_slice("web-1", "web", port, ["127.0.0.61"]))
        self.kube.apply("services", service("db"))
        self.kube.apply("endpointslices", endpoint_slice("db-1", "db", origin.port, ["127.0.0.64"]))
        with open(self.web_cert, "rb") as c, open(web_key, "rb") as k:
            self.kube.apply("secrets", {"metadata": {"name": "web-tls", "namespace": NS}, "type": "kubernetes.io/tls",
                                        "data": {"tls.crt": base64.b64encode(c.read()).decode(),
                                                 "tls.key": base64.b64encode(k.read()).decode()}})
        web = ingress("web", "web.test", "web")
        web["spec"]["tls"] = [{"hosts": ["web.test"], "secretName": "web-tls"}]
        self.kube.apply("ingresses", web)
        self.kube.apply("ingresses", passthrough_ingress(True))
        kubeconfig = self.kube.write_kubeconfig(os.path.join(self.tmp.name, "kubeconfig"), token="token-1")
        behind = free_port(["127.0.0.1"])
        self.lb_ = self.lb(f"""admin: {{ listen: 127.0.0.1:0 }}
kubernetes:
  kubeconfig: {kubeconfig}
  http: 127.0.0.1:0
  https: 127.0.0.1:0
  passthrough_listen: 127.0.0.1:{behind}
  tls_dir: {self.tmp.name}/tls
""", listeners=["http", "https", "https_terminate"])
        self.port = self.lb_.ports["https"]

    def passed_through(self):
        with tls_connect(self.port, "db.test") as s:
            if s.getpeercert(binary_form=True) != der(self.db_cert):
                return False
            s.sendall(b"hello\n")
            return s.recv(100) == b"origin:hello\n"

    def terminated_for(self, name):
        with tls_connect(self.port, name) as s:
            self.assertEqual(s.getpeercert(binary_form=True), der(self.web_cert), "the Secret's certificate")
            status, body, _ = tls_get(self.port, name, "/?echo=1", sock=s)
            return status, json.loads(body)

    def test_passed_through_and_terminated_hosts_side_by_side(self):
        self.assertTrue(self.passed_through(), "db.test did not reach its own TLS server")
        status, echo = self.terminated_for("web.test")
        self.assertEqual(status, "HTTP/1.1 200 OK")
        headers = {k.lower(): v for k, v in echo["headers"]}
        self.assertEqual(headers.get("x-forwarded-for"), CLIENT, "the real client, carried by the PROXY header")
        self.assertEqual(headers.get("x-forwarded-proto"), "https")

    def test_dropping_the_annotation_terminates_on_the_same_port(self):
        self.assertTrue(self.passed_through())
        self.kube.apply("ingresses", passthrough_ingress(False))

        def terminated():
            try:
                with tls_connect(self.port, "db.test") as s:
                    return s.getpeercert(binary_form=True) != der(self.db_cert)
            except (OSError, ssl.SSLError):
                return False

        self.assertTrue(harness.wait_until(terminated, 3, 0.05), "db.test still passed through")
        status, echo = self.terminated_for("web.test")
        self.assertEqual(status, "HTTP/1.1 200 OK")
        self.assertEqual({k.lower(): v for k, v in echo["headers"]}.get("x-forwarded-for"), CLIENT)
        # And back again.
        self.kube.apply("ingresses", passthrough_ingress(True))
        self.assertTrue(harness.wait_until(lambda: self.passed_through(), 3, 0.05))


if __name__ == "__main__":
    unittest.main()
