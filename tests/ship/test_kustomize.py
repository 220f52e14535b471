"""deploy/kubernetes: the base and both overlays rendered with
`kubectl kustomize` (offline), every object validated against the Kubernetes
schemas, the embedded lb.yaml passed through `lb --check`."""
import os
import shutil
import sys
import tempfile
import unittest

import yaml

sys.path.insert(0, os.path.dirname(__file__))
import ship  # noqa: E402

K8S = os.path.join(ship.REPO, "deploy/kubernetes")


def kustomize(d):
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl not found (make test-deps installs kubernetes-client)"
    return ship.run([kubectl, "kustomize", os.path.join(K8S, d)]).stdout


class Kustomize(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        ship.validator()
        cls.out = {d: kustomize(d) for d in ["base", "overlays/plain", "overlays/prometheus-operator"]}

    def objs(self, d):
        return [o for o in yaml.safe_load_all(self.out[d]) if o]

    def test_renders_validate(self):
        for d, text in self.out.items():
            with self.subTest(dir=d):
                r = ship.validate_manifests(ship.write_temp(text))
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_config_passes_lb_check(self):
        for d in self.out:
            with self.subTest(dir=d):
                cm = [o for o in self.objs(d) if o["kind"] == "ConfigMap"][0]
                tmp = tempfile.mkdtemp()
                path = os.path.join(tmp, "lb.yaml")
                with open(path, "w") as f:
                    f.write(cm["data"]["lb.yaml"])
                r = ship.run([ship.LB, "--check", "--no-resolve", "--config", path], check=False)
                self.assertEqual(r.returncode, 0, r.stderr)
                shutil.rmtree(tmp)

    def test_overlays(self):
        kinds = lambda d: sorted(o["kind"] for o in self.objs(d))  # noqa: E731
        self.assertEqual(kinds("base"), ["ConfigMap", "Deployment", "NetworkPolicy", "PodDisruptionBudget", "Service"])
        self.assertEqual(kinds("overlays/plain"), sorted(kinds("base") + ["Namespace"]))
        self.assertEqual(kinds("overlays/prometheus-operator"),
                         sorted(kinds("overlays/plain") + ["PrometheusRule", "ServiceMonitor"]))
        for o in self.objs("overlays/plain"):
            if o["kind"] != "Namespace":
                self.assertEqual(o["metadata"]["namespace"], "lb", o["kind"])
        dep = [o for o in self.objs("overlays/prometheus-operator") if o["kind"] == "Deployment"][0]
        self.assertNotIn("annotations", dep["spec"]["template"]["metadata"])  # scraped once, by the ServiceMonitor
        self.assertEqual(dep["spec"]["template"]["spec"]["containers"][0]["image"], "lb:0.1.0")

    def test_prometheus_rule_is_lb_rules(self):
        rule = [o for o in self.objs("overlays/prometheus-operator") if o["kind"] == "PrometheusRule"][0]
        rules = yaml.safe_load(open(os.path.join(ship.REPO, "deploy/prometheus/lb-rules.yaml")))
        self.assertEqual(rule["spec"], rules, "regenerate with tools/chart/rules-crd.sh")

    def test_grace_period_covers_prestop_and_drain(self):
        dep = [o for o in self.objs("base") if o["kind"] == "Deployment"][0]
        pod = dep["spec"]["template"]["spec"]
        cfg = yaml.safe_load([o for o in self.objs("base") if o["kind"] == "ConfigMap"][0]["data"]["lb.yaml"])
        sleep = int(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1])
        drain = int(cfg["drain_timeout"].rstrip("s"))
        self.assertGreater(pod["terminationGracePeriodSeconds"], sleep + drain)


if __name__ == "__main__":
    unittest.main()
