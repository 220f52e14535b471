"""What the ingress controller writes back to the cluster, against the fake API
server: status.loadBalancer of the Ingresses lb serves (fixed addresses, or
the controller's own Service, followed as it changes), written by the Lease
holder only when replicas elect a leader, and never reloading lb when it
comes back through the watch; Events for Ingresses refused as a whole or in
part, once per problem."""

import os
import signal
import tempfile
import time
import unittest

from ingress.test_controller import NS, endpoint_slice, ingress, service
from ingress.test_translate import free_port
from lib import harness
from lib.fake_kube import FakeKube


def status_of(kube, name, ns=NS):
    obj = kube.get("ingresses", name, ns) or {}
    return sorted(e.get("ip") or e.get("hostname")
                  for e in obj.get("status", {}).get("loadBalancer", {}).get("ingress", []))


def controller_service(ips, namespace="lb-system"):
    return {"metadata": {"name": "lb", "namespace": namespace},
            "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.10",
                     "ports": [{"name": "http", "port": 80, "targetPort": 8000}]},
            "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}}}


class StatusTest(harness.LbTestCase):
    BACKEND = "127.0.0.64"

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.TemporaryDirectory(prefix="lb-ingress-status-")
        self.addCleanup(self.tmp.cleanup)
        self.kube = FakeKube(self.tmp.name)
        self.addCleanup(self.kube.stop)
        self.port = free_port([self.BACKEND])
        self.backend(self.BACKEND, listen=f"{self.BACKEND}:{self.port}")
        self.kube.apply("services", service("web"))
        self.kube.apply("endpointslices", endpoint_slice("web-1", "web", self.port, [self.BACKEND]))
        self.kube.apply("ingresses", ingress("web", "web.test", "web"))
        self.kubeconfig = self.kube.write_kubeconfig(os.path.join(self.tmp.name, "kubeconfig"), token="token-1")

    def start(self, extra, namespace=None):
        scope = f"\n  namespace: {namespace}" if namespace else ""
        return self.lb(f"""admin: {{ listen: 127.0.0.1:0 }}
kubernetes:
  kubeconfig: {self.kubeconfig}
  http: 127.0.0.1:0
  https: 127.0.0.1:0
  tls_dir: {self.tmp.name}/tls{scope}
{extra}""", listeners=["http"])

    def wait_status(self, name, want, timeout=5.0):
        ok = harness.wait_until(lambda: status_of(self.kube, name) == want, timeout, 0.02)
        self.assertTrue(ok, f"status of {name}: {status_of(self.kube, name)}, want {want}")

    def reloads(self, lb):
        return harness.metric_value(harness.metrics(lb), "lb_config_reloads_total", result="success")

    def test_fixed_addresses_on_served_ingresses_only(self):
        lb = self.start("""  status:
    addresses: [lb.example.test, 203.0.113.7]
""")
        self.wait_status("web", ["203.0.113.7", "lb.example.test"])
        self.assertEqual(harness.get(lb.ports["http"], "/", host="web.test").status, 200)
        # lb's own write comes back through the watch: no reload for it.
        before = self.reloads(lb)
        time.sleep(0.5)
        self.assertEqual(self.reloads(lb), before)
        # A new Ingress of lb's gets it; one of another class does not.
        self.kube.apply("ingresses", ingress("api", "api.test", "web"))
        self.kube.apply("ingresses", ingress("theirs", "theirs.test", "web", klass="other"))
        self.wait_status("api", ["203.0.113.7", "lb.example.test"])
        time.sleep(0.3)
        self.assertEqual(status_of(self.kube, "theirs"), [])
        # Written once per Ingress: the status that is already there is not sent again.
        patches = [e for e in self.kube.request_log(method="PATCH") if e["path"].endswith("/status")]
        self.assertEqual(sorted(e["path"].split("/")[-2] for e in patches), ["api", "web"])

    def test_addresses_of_the_controller_service_followed(self):
        # The watch is scoped to `shop`; the controller's Service lives in
        # lb-system and is watched on its own.
        self.kube.apply("services", controller_service(["198.51.100.9"]))
        self.kube.apply("services", {"metadata": {"name": "other", "namespace": "lb-system"},
                                     "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.99", "ports": []}})
        self.start("""  status:
    publish_service: lb-system/lb
""", namespace=NS)
        self.wait_status("web", ["198.51.100.9"])
        # The cloud gives the load balancer a new address: every Ingress follows.
        self.kube.apply("services", controller_service(["198.51.100.10", "2001:db8::10"]))
        self.wait_status("web", ["198.51.100.10", "2001:db8::10"])
        # A Service that is not the controller's changes nothing.
        self.kube.apply("services", {"metadata": {"name": "other", "namespace": "lb-system"},
                                     "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.98", "ports": []}})
        time.sleep(0.3)
        self.assertEqual(status_of(self.kube, "web"), ["198.51.100.10", "2001:db8::10"])

    def test_only_the_lease_holder_writes_status(self):
        election = """  status:
    addresses: [203.0.113.{n}]
  leader_election:
    lease: lb-system/lb-leader
    identity: replica-{n}
    lease_duration: 3s
    renew_deadline: 2s
    retry_period: 200ms
"""
        a = self.start(election.format(n=1))
        self.wait_status("web", ["203.0.113.1"])
        self.assertEqual(self.kube.lease("lb-system", "lb-leader")["spec"]["holderIdentity"], "replica-1")
        # A dies without giving the Lease back; B serves at once but writes
        # nothing until the Lease has expired.
        a.expected_exit = True
        os.kill(a.pid, signal.SIGKILL)
        a.proc.wait(10)
        b = self.start(election.format(n=2))
        self.kube.apply("ingresses", ingress("api", "api.test", "web"))
        self.assertTrue(harness.wait_until(
            lambda: harness.get(b.ports["http"], "/", host="api.test").status == 200, 2.0, 0.02))
        self.assertEqual(status_of(self.kube, "api"), [])
        self.wait_status("api", ["203.0.113.2"], timeout=10.0)
        self.wait_status("web", ["203.0.113.2"])
        self.assertEqual(self.kube.lease("lb-system", "lb-leader")["spec"]["holderIdentity"], "replica-2")

    def test_events_for_refused_ingresses_once_each(self):
        snippet = ingress("snippet", "snippet.test", "web")
        snippet["metadata"]["annotations"] = {"nginx.ingress.kubernetes.io/configuration-snippet": "return 200;"}
        limited = ingress("limited", "limited.test", "web")
        limited["metadata"]["annotations"] = {"nginx.ingress.kubernetes.io/mirror-target": "http://x"}
        self.kube.apply("ingresses", snippet)
        self.kube.apply("ingresses", limited)
        lb = self.start("")

        def warnings():
            return sorted((e["involvedObject"]["name"], e["reason"]) for e in self.kube.events()
                          if e["type"] == "Warning")

        want = [("limited", "Unsupported"), ("snippet", "Rejected")]
        self.assertTrue(harness.wait_until(lambda: warnings() == want, 5.0, 0.02), warnings())
        ev = {e["involvedObject"]["name"]: e for e in self.kube.events()}
        self.assertIn("configuration-snippet", ev["snippet"]["message"])
        self.assertIn("mirror-target", ev["limited"]["message"])
        self.assertEqual(ev["snippet"]["involvedObject"]["kind"], "Ingress")
        self.assertEqual(ev["snippet"]["involvedObject"]["uid"], self.kube.get("ingresses", "snippet", NS)["metadata"]["uid"])
        # The refused one is not served; the other is, without its annotation.
        self.assertEqual(harness.get(lb.ports["http"], "/", host="snippet.test").status, 404)
        self.assertEqual(harness.get(lb.ports["http"], "/", host="limited.test").status, 200)
        # Later reloads do not repeat them.
        self.kube.apply("ingresses", ingress("api", "api.test", "web"))
        self.assertTrue(harness.wait_until(
            lambda: harness.get(lb.ports["http"], "/", host="api.test").status == 200, 2.0, 0.02))
        time.sleep(0.3)
        self.assertEqual(warnings(), want)


if __name__ == "__main__":
    unittest.main()
