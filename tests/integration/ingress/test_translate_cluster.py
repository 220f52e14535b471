"""`lb ingress translate --kubeconfig`: the recorded manifests (manifests/)
loaded into the fake API server (TLS, token auth) and read back through the
controller's own client. The printed config and report are those of the same
objects given as files; `--namespace` scopes the read; an API server that
refuses the token is a clear error, exit 2, and no config."""

import glob
import json
import os
import subprocess
import tempfile
import unittest

import yaml

from lib import harness
from lib.fake_kube import FakeKube

HERE = os.path.dirname(os.path.abspath(__file__))
PLURALS = {"Ingress": "ingresses", "IngressClass": "ingressclasses", "Service": "services",
           "EndpointSlice": "endpointslices", "Secret": "secrets"}


def translate(*args):
    return subprocess.run([harness.lb_bin(), "ingress", "translate", "--class", "nginx", *args],
                          capture_output=True, text=True, timeout=60)


class TranslateFromClusterTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="lb-translate-cluster-")
        self.addCleanup(self.tmp.cleanup)
        self.kube = FakeKube(self.tmp.name)
        self.addCleanup(self.kube.stop)
        for path in sorted(glob.glob(os.path.join(HERE, "manifests", "*.yaml"))):
            with open(path) as f:
                for obj in yaml.safe_load_all(f):
                    if obj:
                        self.kube.apply(PLURALS[obj["kind"]], obj)
        # Not a TLS Secret: the client never lists it (fieldSelector type=).
        self.kube.apply("secrets", {"metadata": {"name": "password", "namespace": "shop"}, "type": "Opaque",
                                    "data": {"password": "aHVudGVyMg=="}})
        self.kubeconfig = self.kube.write_kubeconfig(os.path.join(self.tmp.name, "kubeconfig"), token="token-1")

    def stored_objects_file(self):
        """What the fake holds, as one List file: the same objects, timestamps and all."""
        items = []
        for kind, plural in PLURALS.items():
            for obj in self.kube.objects[plural].values():
                if kind != "Secret" or obj.get("type") == "kubernetes.io/tls":
                    items.append(obj)
        path = os.path.join(self.tmp.name, "stored.json")
        with open(path, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f)
        return path

    def test_same_config_and_report_as_the_same_objects_in_files(self):
        live = translate("--kubeconfig", self.kubeconfig)
        self.assertIn(live.returncode, (0, 1), live.stderr)
        self.assertEqual(live.stderr, "")
        files = translate("-f", self.stored_objects_file())
        self.assertEqual(live.stdout, files.stdout)
        self.assertEqual(live.returncode, files.returncode)
        self.assertIn("Ingress shop/shop:", live.stdout)
        self.assertNotIn("password", live.stdout)
        # It read through the API: lists of every kind, Secrets of type TLS only.
        lists = [(e["path"], e["query"]) for e in self.kube.request_log(method="GET") if not e["watch"]]
        self.assertTrue(any(p.endswith("/ingresses") for p, _ in lists))
        secrets = [q for p, q in lists if p.endswith("/secrets")]
        self.assertTrue(secrets)
        self.assertTrue(all(q.get("fieldSelector") == "type=kubernetes.io/tls"
                            for q in secrets), secrets)

    def test_namespace_scopes_the_read(self):
        other = translate("--kubeconfig", self.kubeconfig, "--namespace", "elsewhere")
        self.assertEqual(other.returncode, 0, other.stderr)
        self.assertNotIn("Ingress shop/", other.stdout)
        shop = translate("--kubeconfig", self.kubeconfig, "-n", "shop")
        self.assertIn("Ingress shop/shop:", shop.stdout)

    def test_a_refused_token_is_an_error_not_a_config(self):
        bad = self.kube.write_kubeconfig(os.path.join(self.tmp.name, "bad"), token="wrong")
        p = translate("--kubeconfig", bad, "--timeout", "2")
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stdout, "")
        self.assertIn("cannot read the cluster", p.stderr)
        self.assertIn("unauthorized", p.stderr)  # the client's own log says what it met

    def test_usage_errors(self):
        self.assertEqual(translate().returncode, 2)
        self.assertEqual(translate("--kubeconfig", self.kubeconfig, "--in-cluster").returncode, 2)


if __name__ == "__main__":
    unittest.main()
