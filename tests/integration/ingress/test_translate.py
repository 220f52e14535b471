"""`lb ingress translate` on manifests modelled on ingress-nginx's documented
examples (manifests/), then the real lb serving the printed config to real
backends: every routing rule of the Ingress API and the annotations lb
carries over are checked through real requests, over HTTP/1.1 and HTTPS
with HTTP/2. The EndpointSlices' ports are rewritten to the backends' ports
and a kubernetes.io/tls Secret is made at test time (no key is committed)."""

import base64
import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import unittest

from lib import harness

HERE = os.path.dirname(os.path.abspath(__file__))

# Placeholder port in manifests/20-slices.yaml -> backends at those addresses.
SLICES = {
    "9101": ["127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"],  # web: .13 terminating, .14 not serving
    "9102": ["127.0.0.21"],  # api
    "9103": ["127.0.0.31"],  # api-canary
    "9104": ["127.0.0.41"],  # static: only a terminating endpoint, still serving
    "9105": ["127.0.0.51"],  # fallback (the default backend)
}


def free_port(addrs):
    """A port free on every address in `addrs` (the slice gives one port to all its endpoints)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((addrs[0], 0))
            port = s.getsockname()[1]
        try:
            for a in addrs[1:]:
                with socket.socket() as t:
                    t.bind((a, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no common free port")


def make_cert(d):
    key, crt = os.path.join(d, "shop.key"), os.path.join(d, "shop.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=shop.example.com",
                    "-addext", "subjectAltName=DNS:shop.example.com,DNS:*.shop.example.com"],
                   check=True, capture_output=True, timeout=20)
    return crt, key


class TranslateTest(harness.LbTestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="lb-ingress-")
        d = cls.tmp.name
        manifests = os.path.join(d, "manifests")
        shutil.copytree(os.path.join(HERE, "manifests"), manifests)
        slices_path = os.path.join(manifests, "20-slices.yaml")
        with open(slices_path) as f:
            slices = f.read()
        cls.backends = {}
        for placeholder, addrs in SLICES.items():
            port = free_port(addrs)
            slices = slices.replace(f"port: {placeholder}", f"port: {port}")
            for a in addrs:
                cls.backends[a] = cls.class_backend(a, listen=f"{a}:{port}")
        with open(slices_path, "w") as f:
            f.write(slices)
        cls.crt, key = make_cert(d)
        with open(cls.crt, "rb") as c, open(key, "rb") as k:
            secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                      "metadata": {"name": "shop-tls", "namespace": "shop"},
                      "data": {"tls.crt": base64.b64encode(c.read()).decode(),
                               "tls.key": base64.b64encode(k.read()).decode()}}
        with open(os.path.join(manifests, "40-secret.json"), "w") as f:
            json.dump(secret, f)

        cls.tls_dir = os.path.join(d, "tls")
        cls.report_path = os.path.join(d, "report.json")
        p = subprocess.run([harness.lb_bin(), "ingress", "translate", "-f", manifests, "--class", "nginx",
                            "--http", "127.0.0.1:0", "--https", "127.0.0.1:0", "--tls-dir", cls.tls_dir,
                            "--report-json", cls.report_path], capture_output=True, text=True, timeout=30)
        cls.translate = p
        with open(cls.report_path) as f:
            cls.report = {(r["kind"], r["name"]): r for r in json.load(f)}
        cls.lb_ = cls.class_lb(p.stdout, listeners=["http", "https"])

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.tmp.cleanup()

    def via(self, host, target, headers=None):
        r = harness.get(self.lb_.ports["http"], target, host=host, headers=headers)
        return r.status, r.backend

    # --- the command ---------------------------------------------------------

    def test_exit_status_says_some_parts_are_not_carried_over(self):
        self.assertEqual(self.translate.returncode, 1, self.translate.stderr)
        self.assertEqual(self.translate.stderr, "")

    def test_report_per_ingress(self):
        r = self.report
        self.assertTrue(r[("Ingress", "shop/shop")]["served"])
        self.assertEqual(r[("Ingress", "shop/shop")]["level"], "approximated")  # proxy-read-timeout
        self.assertEqual(r[("Ingress", "shop/api-canary")]["level"], "supported")
        snippet = r[("Ingress", "shop/snippet")]
        self.assertEqual((snippet["level"], snippet["served"]), ("rejected", False))
        other = r[("Ingress", "shop/other-class")]
        self.assertFalse(other["served"])
        late = r[("Ingress", "shop/late")]
        self.assertEqual(late["level"], "unsupported")
        self.assertIn("older Ingress shop/shop", late["notes"][-1]["text"])
        rewrite = [n for n in r[("Ingress", "shop/default")]["notes"]
                   if n["subject"] == "nginx.ingress.kubernetes.io/rewrite-target"]
        self.assertEqual(rewrite[0]["level"], "supported")
        # The same report heads the printed config as comments.
        self.assertIn("# Ingress shop/snippet: rejected, not served", self.translate.stdout)

    def test_secret_written_with_key_private(self):
        key = os.path.join(self.tls_dir, "shop_shop-tls.key")
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        with open(os.path.join(self.tls_dir, "shop_shop-tls.crt")) as a, open(self.crt) as b:
            self.assertEqual(a.read(), b.read())

    def test_config_passes_check(self):
        path = os.path.join(self.tmp.name, "translated.yaml")
        with open(path, "w") as f:
            f.write(self.translate.stdout)
        p = subprocess.run([harness.lb_bin(), "--check", "--config", path], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    # --- routing through the real lb ----------------------------------------

    def test_prefix_matches_path_elements(self):
        self.assertEqual(self.via("shop.example.com", "/api"), (200, "127.0.0.21"))
        self.assertEqual(self.via("shop.example.com", "/api/orders?id=1"), (200, "127.0.0.21"))
        self.assertEqual(self.via("shop.example.com", "/apix")[1] in ("127.0.0.11", "127.0.0.12"), True)

    def test_exact_path(self):
        # static's only endpoint is terminating but still serving: used, since none is ready.
        self.assertEqual(self.via("shop.example.com", "/health"), (200, "127.0.0.41"))
        self.assertIn(self.via("shop.example.com", "/health/x")[1], ("127.0.0.11", "127.0.0.12"))

    def test_ready_endpoints_only(self):
        seen = {self.via("SHOP.example.com", f"/p{i}")[1] for i in range(12)}
        self.assertEqual(seen, {"127.0.0.11", "127.0.0.12"})

    def test_service_without_endpoints_is_503(self):
        self.assertEqual(self.via("shop.example.com", "/gone/x")[0], 503)

    def test_canary_by_header(self):
        self.assertEqual(self.via("shop.example.com", "/api/x", {"X-Canary": "always"}), (200, "127.0.0.31"))
        self.assertEqual(self.via("shop.example.com", "/api/x", {"X-Canary": "never"}), (200, "127.0.0.21"))
        # The canary covers only its own paths.
        self.assertIn(self.via("shop.example.com", "/", {"X-Canary": "always"})[1], ("127.0.0.11", "127.0.0.12"))

    def test_canary_by_cookie_after_the_header(self):
        self.assertEqual(self.via("shop.example.com", "/api/x", {"Cookie": "a=1; beta=always"}), (200, "127.0.0.31"))
        self.assertEqual(self.via("shop.example.com", "/api/x", {"Cookie": "beta=never"}), (200, "127.0.0.21"))
        self.assertEqual(self.via("shop.example.com", "/api/x", {"Cookie": "Beta=always"}), (200, "127.0.0.21"))
        self.assertEqual(self.via("shop.example.com", "/api/x", {"X-Canary": "never", "Cookie": "beta=always"}),
                         (200, "127.0.0.21"))

    def test_wildcard_host_covers_one_label(self):
        self.assertEqual(self.via("img.shop.example.com", "/a.png"), (200, "127.0.0.41"))
        self.assertEqual(self.via("a.img.shop.example.com", "/a.png"), (200, "127.0.0.51"))  # default backend

    def test_use_regex_is_a_case_insensitive_prefix(self):
        self.assertEqual(self.via("regex.example.com", "/V12/items/3"), (200, "127.0.0.21"))
        self.assertEqual(self.via("regex.example.com", "/vx/items")[1], "127.0.0.51")

    def test_snippet_ingress_not_served_and_unknown_hosts_get_the_default_backend(self):
        self.assertEqual(self.via("snippet.example.com", "/"), (200, "127.0.0.51"))
        self.assertEqual(self.via("other.example.com", "/"), (200, "127.0.0.51"))
        self.assertEqual(self.via("nowhere.test", "/x"), (200, "127.0.0.51"))

    def test_ssl_redirect_for_tls_hosts_on_http1_and_h2c(self):
        r = harness.get(self.lb_.ports["http"], "/cart?id=7", host="secure.shop.example.com")
        self.assertEqual(r.status, 308)
        self.assertEqual(r.header("Location"), "https://secure.shop.example.com/cart?id=7")
        p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w",
                            "%{http_code} %{redirect_url}", "-H", "Host: secure.shop.example.com",
                            f"http://127.0.0.1:{self.lb_.ports['http']}/a"], capture_output=True, text=True,
                           timeout=20)
        self.assertEqual(p.stdout, "308 https://secure.shop.example.com/a", p.stderr)
        # Over https the same Ingress is served.
        port = self.lb_.ports["https"]
        p = subprocess.run(["curl", "-sS", "--cacert", self.crt, "-o", "/dev/null", "-w", "%{http_code}",
                            "--resolve", f"secure.shop.example.com:{port}:127.0.0.1",
                            f"https://secure.shop.example.com:{port}/"], capture_output=True, text=True, timeout=20)
        self.assertEqual(p.stdout, "200", p.stderr)

    def test_source_allowlists(self):
        self.assertEqual(self.via("private.example.com", "/")[0], 403)  # 127.0.0.1 is not in 10/8 or 192.168/16
        self.assertEqual(self.via("local.example.com", "/"), (200, "127.0.0.21"))
        p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code}",
                            "-H", "Host: private.example.com", f"http://127.0.0.1:{self.lb_.ports['http']}/"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(p.stdout, "403", p.stderr)

    # One connection each: a worker balances and limits on its own, and a
    # connection stays on its worker.
    def test_cookie_affinity_sticks_to_the_endpoint_that_answered(self):
        c = self.client(self.lb_.ports["http"])
        r = c.request("GET", "/cart/1", host="sticky.example.com")
        self.assertEqual(r.status, 200, r)
        cookie = r.header("Set-Cookie")
        self.assertRegex(cookie, r"^SHOPSESSION=[0-9a-f]{16}; Path=/cart; Max-Age=3600; HttpOnly$")
        value = cookie.split(";")[0]
        seen = {c.request("GET", f"/cart/{i}", host="sticky.example.com", headers=[("Cookie", value)]).backend
                for i in range(6)}
        self.assertEqual(seen, {r.backend}, "round robin alone would alternate .11 and .12")

    def test_limit_rps_answers_429_past_the_burst(self):
        c = self.client(self.lb_.ports["http"])
        statuses = [c.request("GET", "/", host="limited.example.com").status for _ in range(4)]
        self.assertEqual(statuses[:2], [200, 200], statuses)  # burst: 1 x limit-burst-multiplier 2
        self.assertIn(429, statuses[2:], statuses)

    def test_https_with_the_secrets_certificate_and_http2(self):
        port = self.lb_.ports["https"]
        p = subprocess.run(["curl", "-sS", "--http2", "--cacert", self.crt, "-o", "/dev/null",
                            "-w", "%{http_code} %{http_version}", "-D", "-",
                            "--resolve", f"shop.example.com:{port}:127.0.0.1",
                            f"https://shop.example.com:{port}/api/x"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.endswith("200 2"), p.stdout)
        self.assertIn("x-backend: 127.0.0.21", p.stdout.lower())


if __name__ == "__main__":
    unittest.main()
