"""helm/lb rendered by tools/chart (text/template + sprig, as helm does) for
several value sets; every object validated against the Kubernetes schemas,
the values against values.schema.json, the embedded lb.yaml by `lb --check`."""
import difflib
import os
import re
import sys
import unittest

import yaml

sys.path.insert(0, os.path.dirname(__file__))
import ship  # noqa: E402

CHART = os.path.join(ship.REPO, "helm/lb")
# The default values' render, byte for byte: an option added to the chart must
# leave installs that do not use it untouched. After a deliberate change:
#   build/chart-render -chart helm/lb -o tests/ship/golden/helm-default.yaml
GOLDEN_DEFAULT = os.path.join(ship.REPO, "tests/ship/golden/helm-default.yaml")

VALUE_SETS = {
    "default": "",
    # A DaemonSet on port 80 behind a cloud load balancer, with monitoring.
    "daemonset-port80-monitoring": """
kind: DaemonSet
config:
  drain_timeout: 1m
  listeners:
    - { name: http, listen: "0.0.0.0:80", protocol: http, routes: [ { match: { path_prefix: / }, pool: app } ] }
service:
  type: LoadBalancer
  externalTrafficPolicy: Local
  ports: { http: 80 }
  nodePorts: { http: 30080 }
metrics:
  serviceMonitor: { enabled: true }
  prometheusRule: { enabled: true }
networkPolicy: { enabled: true }
""",
    # Autoscaled, one pod per node required, pods rolled on config change.
    "hpa-hard-roll": """
autoscaling: { enabled: true, minReplicas: 3, maxReplicas: 6 }
podAntiAffinity: hard
rollOnConfigChange: true
preStopSleepSeconds: 10
config:
  drain_timeout: 1500ms
service: { type: NodePort }
""",
}


def docs(text):
    return [d for d in yaml.safe_load_all(text) if d]


def by_kind(objs, kind):
    found = [o for o in objs if o["kind"] == kind]
    return found[0] if found else None


class HelmChart(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.render_bin = ship.renderer()
        ship.validator()

    def render(self, values_text, check=True):
        args = [self.render_bin, "-chart", CHART, "-lb-check", ship.LB, "-notes"]
        if values_text:
            args += ["-f", ship.write_temp(values_text)]
        return ship.run(args, check=check)

    def test_every_value_set_renders_and_validates(self):
        for name, values in VALUE_SETS.items():
            with self.subTest(values=name):
                if values:
                    r = ship.run(["node", ship.validator(), "--values", os.path.join(CHART, "values.schema.json"),
                                  os.path.join(CHART, "values.yaml"), ship.write_temp(values)], check=False)
                    self.assertEqual(r.returncode, 0, r.stderr)
                out = self.render(values).stdout
                r = ship.validate_manifests(ship.write_temp(out))
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_default_values_pass_the_schema(self):
        r = ship.run(["node", ship.validator(), "--values", os.path.join(CHART, "values.schema.json"),
                      os.path.join(CHART, "values.yaml")], check=False)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_default_deployment(self):
        objs = docs(self.render("").stdout)
        self.assertEqual(sorted(o["kind"] for o in objs), ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service"])
        dep = by_kind(objs, "Deployment")
        pod = dep["spec"]["template"]["spec"]
        c = pod["containers"][0]
        # 5 s preStop + drain_timeout 20s + 5 s.
        self.assertEqual(pod["terminationGracePeriodSeconds"], 30)
        self.assertEqual(c["lifecycle"]["preStop"]["exec"]["command"], ["sleep", "5"])
        self.assertEqual([(p["name"], p["containerPort"]) for p in c["ports"]], [("web", 8080), ("admin", 9901)])
        for probe in ["startupProbe", "readinessProbe", "livenessProbe"]:
            self.assertEqual(c[probe]["httpGet"]["port"], "admin", probe)
        sc = c["securityContext"]
        self.assertTrue(sc["readOnlyRootFilesystem"])
        self.assertEqual(sc["capabilities"], {"drop": ["ALL"]})  # no NET_BIND_SERVICE above 1024
        self.assertNotIn("sysctls", pod["securityContext"])
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        self.assertEqual(pod["volumes"][0]["configMap"]["name"], "lb")
        self.assertNotIn("subPath", c["volumeMounts"][0])  # ConfigMap updates must reach the file watch
        self.assertNotIn("checksum/config", dep["spec"]["template"]["metadata"].get("annotations", {}))
        self.assertEqual(len(pod["topologySpreadConstraints"]), 2)
        self.assertIn("preferredDuringSchedulingIgnoredDuringExecution", pod["affinity"]["podAntiAffinity"])
        svc = by_kind(objs, "Service")
        self.assertEqual([(p["name"], p["port"]) for p in svc["spec"]["ports"]], [("web", 80), ("admin", 9901)])
        self.assertNotIn("externalTrafficPolicy", svc["spec"])
        cfg = yaml.safe_load(by_kind(objs, "ConfigMap")["data"]["lb.yaml"])
        self.assertEqual(cfg["admin"]["listen"], "0.0.0.0:9901")

    def test_default_render_is_unchanged(self):
        with open(GOLDEN_DEFAULT) as f:
            golden = f.read()
        out = self.render("").stdout
        if out != golden:
            diff = difflib.unified_diff(golden.splitlines(True), out.splitlines(True), "golden", "rendered")
            self.fail("default render differs from " + os.path.relpath(GOLDEN_DEFAULT, ship.REPO) + ":\n" + "".join(diff))

    def test_daemonset_low_port_monitoring(self):
        objs = docs(self.render(VALUE_SETS["daemonset-port80-monitoring"]).stdout)
        kinds = sorted(o["kind"] for o in objs)
        self.assertEqual(kinds, ["ConfigMap", "DaemonSet", "NetworkPolicy", "PodDisruptionBudget", "PrometheusRule",
                                 "Service", "ServiceMonitor"])
        pod = by_kind(objs, "DaemonSet")["spec"]["template"]["spec"]
        self.assertEqual(pod["terminationGracePeriodSeconds"], 5 + 60 + 5)
        self.assertEqual(pod["containers"][0]["securityContext"]["capabilities"],
                         {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]})
        self.assertEqual(pod["securityContext"]["sysctls"], [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "80"}])
        self.assertNotIn("affinity", pod)  # a DaemonSet has one pod per node anyway
        svc = by_kind(objs, "Service")["spec"]
        self.assertEqual(svc["externalTrafficPolicy"], "Local")
        self.assertEqual(svc["ports"][0], {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP",
                                           "nodePort": 30080})
        rules = yaml.safe_load(open(os.path.join(ship.REPO, "deploy/prometheus/lb-rules.yaml")))
        self.assertEqual(by_kind(objs, "PrometheusRule")["spec"], rules)
        np = by_kind(objs, "NetworkPolicy")["spec"]["ingress"]
        self.assertEqual(np[0]["ports"], [{"port": 80, "protocol": "TCP"}])
        self.assertEqual(np[1]["ports"], [{"port": 9901, "protocol": "TCP"}])

    def test_hpa_hard_antiaffinity_roll_on_change(self):
        objs = docs(self.render(VALUE_SETS["hpa-hard-roll"]).stdout)
        dep = by_kind(objs, "Deployment")
        self.assertNotIn("replicas", dep["spec"])  # the HPA owns it
        hpa = by_kind(objs, "HorizontalPodAutoscaler")["spec"]
        self.assertEqual((hpa["minReplicas"], hpa["maxReplicas"]), (3, 6))
        pod = dep["spec"]["template"]["spec"]
        self.assertIn("requiredDuringSchedulingIgnoredDuringExecution", pod["affinity"]["podAntiAffinity"])
        self.assertEqual(pod["terminationGracePeriodSeconds"], 10 + 2 + 5)  # 1500ms rounds up to 2 s
        self.assertRegex(dep["spec"]["template"]["metadata"]["annotations"]["checksum/config"], r"^[0-9a-f]{64}$")
        self.assertEqual(by_kind(objs, "Service")["spec"]["type"], "NodePort")

    def test_invalid_lb_config_fails_at_render_time_with_lb_message(self):
        r = self.render("""
config:
  pools:
    - name: app
      balancer: round_robbin
      endpoints: [ { address: "app:8080" } ]
""", check=False)
        self.assertNotEqual(r.returncode, 0)
        # lb's own FILE:LINE:COL: message, and the rendered file to read it against.
        self.assertRegex(r.stderr, r"lb\.yaml:\d+:\d+: .*round_robbin")
        self.assertIn("rendered lb.yaml:", r.stderr)
        print("\n" + r.stderr.split("rendered lb.yaml:")[0], file=sys.stderr)

    def test_loopback_admin_is_refused(self):
        r = self.render("config: { admin: { listen: 127.0.0.1:9901 } }", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("loopback", r.stderr)

    def test_unknown_value_fails_the_schema(self):
        path = ship.write_temp("replicas: 3\nservice: { type: ClusterIP, exposeAdmin: yes }\n")
        r = ship.run(["node", ship.validator(), "--values", os.path.join(CHART, "values.schema.json"),
                      os.path.join(CHART, "values.yaml"), path], check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("'replicas'", r.stderr)
        r = ship.run(["node", ship.validator(), "--values", os.path.join(CHART, "values.schema.json"),
                      os.path.join(CHART, "values.yaml"), ship.write_temp("kind: StatefulSet\n")], check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("/kind", r.stderr)

    def test_schema_catches_a_bad_object(self):
        # The validator itself: a wrong type in a rendered object fails.
        bad = re.sub(r"containerPort: 8080", "containerPort: eighty", self.render("").stdout)
        r = ship.validate_manifests(ship.write_temp(bad))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("containerPort", r.stderr)


if __name__ == "__main__":
    unittest.main()
