"""helm/lb rendered by tools/chart (text/template + sprig, as helm does) for
several value sets; every object validated against the Kubernetes schemas,
the values against values.schema.json, the embedded lb.yaml by `lb --check`."""
import difflib
import os
import re
import sys
import tempfile
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
    # Ingress controller for the whole cluster, serving only Ingresses.
    "ingress-controller": """
ingressController: { enabled: true }
config: { listeners: null, pools: null }
service: { type: LoadBalancer, externalTrafficPolicy: Local }
""",
    # One namespace, default class, ports 80/443 in the container, next to
    # the config's own listener.
    "ingress-controller-namespaced": """
ingressController:
  enabled: true
  watchNamespace: apps
  default: true
  className: edge
  controllerName: example.com/lb
  takeUnclassed: true
  tlsDir: /run/tls
  containerPorts: { http: 80, https: 443 }
  statusAddresses: [203.0.113.7, edge.example.com]
  leaderElection: false
""",
}

# What the controller reads in the namespaces it watches, and writes about the
# Ingresses it serves (lb/control/ingress_mode.cc lists and watches these).
WATCH_RULES = [
    {"apiGroups": [""], "resources": ["services", "secrets"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses/status"], "verbs": ["update", "patch"]},
    {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
]
CLASS_RULE = {"apiGroups": ["networking.k8s.io"], "resources": ["ingressclasses"], "verbs": ["get", "list", "watch"]}
LEASE_RULES = [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}]
SUBJECTS = [{"kind": "ServiceAccount", "name": "lb", "namespace": "default"}]


def docs(text):
    return [d for d in yaml.safe_load_all(text) if d]


def by_kind(objs, kind):
    found = [o for o in objs if o["kind"] == kind]
    return found[0] if found else None


def named(objs, kind, name):
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


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

    def test_ingress_controller_disabled_changes_nothing(self):
        # The block's other keys do nothing until enabled.
        out = self.render("ingressController: { enabled: false, className: other, watchNamespace: apps }").stdout
        with open(GOLDEN_DEFAULT) as f:
            self.assertEqual(out, f.read())

    def lb_check(self, lb_yaml):
        d = tempfile.mkdtemp()
        path = os.path.join(d, "lb.yaml")
        with open(path, "w") as f:
            f.write(lb_yaml)
        r = ship.run([ship.LB, "--check", "--no-resolve", "--config", path], check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_ingress_controller(self):
        objs = docs(self.render(VALUE_SETS["ingress-controller"]).stdout)
        self.assertEqual(sorted(o["kind"] for o in objs),
                         ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "IngressClass",
                          "PodDisruptionBudget", "Role", "RoleBinding", "Service", "ServiceAccount"])
        # lb.yaml: the kubernetes section, in-cluster (no kubeconfig), and
        # nothing of the default listener and pool.
        lb_yaml = by_kind(objs, "ConfigMap")["data"]["lb.yaml"]
        cfg = yaml.safe_load(lb_yaml)
        self.assertEqual(cfg["kubernetes"], {
            "ingress_class": "lb", "controller": "lb.dev/ingress", "take_unclassed": False,
            "http": "0.0.0.0:8000", "https": "0.0.0.0:8443", "tls_dir": "/var/run/lb/tls",
            "annotations_prefix": "nginx.ingress.kubernetes.io/",
            # The chart's own Service's addresses, written by the Lease holder.
            "status": {"publish_service": "default/lb"}, "leader_election": {"lease": "default/lb-leader"}})
        self.assertNotIn("listeners", cfg)
        self.assertNotIn("pools", cfg)
        self.lb_check(lb_yaml)
        # RBAC: cluster-wide, exactly what lb needs; leases in the release's namespace.
        cr = named(objs, "ClusterRole", "lb-default")
        self.assertEqual(cr["rules"], [CLASS_RULE] + WATCH_RULES)
        crb = named(objs, "ClusterRoleBinding", "lb-default")
        self.assertEqual(crb["roleRef"], {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                          "name": "lb-default"})
        self.assertEqual(crb["subjects"], SUBJECTS)
        role = named(objs, "Role", "lb-leases")
        self.assertNotIn("namespace", role["metadata"])  # the release's
        self.assertEqual(role["rules"], LEASE_RULES)
        rb = named(objs, "RoleBinding", "lb-leases")
        self.assertEqual((rb["roleRef"]["kind"], rb["roleRef"]["name"], rb["subjects"]), ("Role", "lb-leases", SUBJECTS))
        ic = by_kind(objs, "IngressClass")
        self.assertEqual(ic["metadata"]["name"], "lb")
        self.assertEqual(ic["spec"], {"controller": "lb.dev/ingress"})
        self.assertNotIn("annotations", ic["metadata"])
        self.assertEqual(by_kind(objs, "ServiceAccount")["metadata"]["name"], "lb")
        # The pod: the account's token, a writable volume at tls_dir.
        pod = by_kind(objs, "Deployment")["spec"]["template"]["spec"]
        self.assertEqual(pod["serviceAccountName"], "lb")
        self.assertIs(pod["automountServiceAccountToken"], True)
        c = pod["containers"][0]
        self.assertTrue(c["securityContext"]["readOnlyRootFilesystem"])
        self.assertEqual(c["securityContext"]["capabilities"], {"drop": ["ALL"]})  # 8000/8443: unprivileged
        mount = [m for m in c["volumeMounts"] if m["mountPath"] == cfg["kubernetes"]["tls_dir"]]
        self.assertEqual(len(mount), 1)
        self.assertFalse(mount[0].get("readOnly", False))
        vol = [v for v in pod["volumes"] if v["name"] == mount[0]["name"]][0]
        self.assertEqual(vol["emptyDir"], {"medium": "Memory"})
        # Ports: container ports are the listeners' addresses; the Service
        # answers on 80 and 443.
        self.assertEqual([(p["name"], p["containerPort"]) for p in c["ports"]],
                         [("http", 8000), ("https", 8443), ("admin", 9901)])
        svc = by_kind(objs, "Service")["spec"]
        self.assertEqual((svc["type"], svc["externalTrafficPolicy"]), ("LoadBalancer", "Local"))
        self.assertEqual([(p["name"], p["port"], p["targetPort"]) for p in svc["ports"]],
                         [("http", 80, "http"), ("https", 443, "https"), ("admin", 9901, "admin")])

    def test_ingress_controller_one_namespace(self):
        objs = docs(self.render(VALUE_SETS["ingress-controller-namespaced"]).stdout)
        lb_yaml = by_kind(objs, "ConfigMap")["data"]["lb.yaml"]
        cfg = yaml.safe_load(lb_yaml)
        self.assertEqual(cfg["kubernetes"], {
            "namespace": "apps", "ingress_class": "edge", "controller": "example.com/lb", "take_unclassed": True,
            "http": "0.0.0.0:80", "https": "0.0.0.0:443", "tls_dir": "/run/tls",
            "annotations_prefix": "nginx.ingress.kubernetes.io/",
            "status": {"addresses": ["203.0.113.7", "edge.example.com"]}})
        self.assertEqual([l["name"] for l in cfg["listeners"]], ["web"])  # the config's own, kept
        self.lb_check(lb_yaml)
        # Only IngressClasses cluster-wide; the rest in the watched namespace.
        self.assertEqual(named(objs, "ClusterRole", "lb-default")["rules"], [CLASS_RULE])
        self.assertEqual(named(objs, "ClusterRoleBinding", "lb-default")["subjects"], SUBJECTS)
        role = named(objs, "Role", "lb")
        self.assertEqual(role["metadata"]["namespace"], "apps")
        self.assertEqual(role["rules"], WATCH_RULES)
        rb = named(objs, "RoleBinding", "lb")
        self.assertEqual(rb["metadata"]["namespace"], "apps")
        self.assertEqual((rb["roleRef"]["kind"], rb["roleRef"]["name"], rb["subjects"]), ("Role", "lb", SUBJECTS))
        # Fixed status addresses: the chart's Service is not read.
        self.assertEqual(named(objs, "Role", "lb-leases")["rules"], LEASE_RULES)
        self.assertNotIn("namespace", named(objs, "Role", "lb-leases")["metadata"])
        # Publishing the chart's Service from outside the watched namespace
        # needs to read Services in the release's namespace too.
        scoped = docs(self.render("ingressController: { enabled: true, watchNamespace: apps }").stdout)
        self.assertEqual(named(scoped, "Role", "lb-leases")["rules"], LEASE_RULES + [
            {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list", "watch"]}])
        scoped_cfg = yaml.safe_load(by_kind(scoped, "ConfigMap")["data"]["lb.yaml"])
        self.assertEqual(scoped_cfg["kubernetes"]["status"], {"publish_service": "default/lb"})
        ic = by_kind(objs, "IngressClass")
        self.assertEqual(ic["metadata"]["name"], "edge")
        self.assertEqual(ic["metadata"]["annotations"], {"ingressclass.kubernetes.io/is-default-class": "true"})
        self.assertEqual(ic["spec"], {"controller": "example.com/lb"})
        pod = by_kind(objs, "Deployment")["spec"]["template"]["spec"]
        c = pod["containers"][0]
        self.assertIn({"name": "tls", "mountPath": "/run/tls"}, c["volumeMounts"])
        # Port 80 in the container: the chart's usual low-port handling.
        self.assertEqual(c["securityContext"]["capabilities"]["add"], ["NET_BIND_SERVICE"])
        self.assertEqual(pod["securityContext"]["sysctls"][0]["value"], "80")
        svc = by_kind(objs, "Service")["spec"]
        self.assertEqual([(p["name"], p["port"]) for p in svc["ports"]],
                         [("web", 80), ("http", 80), ("https", 443), ("admin", 9901)])

    def test_ingress_controller_refuses_clashes(self):
        cases = {
            # lb --check cannot see these: the controller's listeners come at run time.
            "name \"http\" is used twice": """
ingressController: { enabled: true }
config:
  listeners:
    - { name: http, listen: "0.0.0.0:8080", protocol: http, routes: [ { match: { path_prefix: / }, pool: app } ] }
""",
            "port 9901 is used twice": "ingressController: { enabled: true, containerPorts: { http: 9901, https: 8443 } }",
            "port 8080 is used twice": "ingressController: { enabled: true, containerPorts: { http: 8080, https: 8443 } }",
            "config.kubernetes is written by the chart": """
ingressController: { enabled: true }
config: { kubernetes: { kubeconfig: /root/.kube/config } }
""",
        }
        for message, values in cases.items():
            with self.subTest(message=message):
                r = self.render(values, check=False)
                self.assertNotEqual(r.returncode, 0)
                self.assertIn(message, r.stderr)

    def test_ingress_controller_schema(self):
        schema = os.path.join(CHART, "values.schema.json")
        base = os.path.join(CHART, "values.yaml")

        def check(values):
            return ship.run(["node", ship.validator(), "--values", schema, base, ship.write_temp(values)], check=False)

        r = check("ingressController: { enabled: true, publishService: true, tlsDir: /etc/lb/tls }\n"
                  "config: { kubernetes: {} }\n")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("'publishService'", r.stderr)
        self.assertIn("/ingressController/tlsDir", r.stderr)
        self.assertIn("must match \"then\" schema", r.stderr)  # config.kubernetes is the chart's
        r = check("ingressController: { enabled: true, containerPorts: { http: \"80\" }, watchNamespace: Apps }\n")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("/ingressController/containerPorts/http", r.stderr)
        self.assertIn("/ingressController/watchNamespace", r.stderr)
        # The file's listeners and pools: optional only in controller mode.
        self.assertNotEqual(check("config: { listeners: null }\n").returncode, 0)
        self.assertEqual(check("ingressController: { enabled: true }\nconfig: { listeners: null, pools: null }\n")
                         .returncode, 0)

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
