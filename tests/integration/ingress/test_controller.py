"""Ingress controller mode: the real lb with `kubernetes:` watching the fake
API server (lib/fake_kube.py, TLS with a test CA, token auth) and routing
to real backends. Ingress and EndpointSlice creates, updates and deletes are
reflected in routing within a second; endpoint churn under load (100
updates a second for 30 s) loses no request and drops no established
connection; the watch survives an API
server restart that lost its history (re-list); /readyz waits for the first
list."""

import os
import tempfile
import threading
import time
import unittest

from ingress.test_translate import free_port
from lib import harness
from lib.fake_kube import FakeKube

NS = "shop"


def service(name, port=80):
    return {"metadata": {"name": name, "namespace": NS},
            "spec": {"ports": [{"name": "http", "port": port, "targetPort": "http"}]}}


def endpoint_slice(name, svc, port, addrs, not_ready=()):
    eps = [{"addresses": [a], "conditions": {"ready": True}} for a in addrs]
    eps += [{"addresses": [a], "conditions": {"ready": False}} for a in not_ready]
    return {"metadata": {"name": name, "namespace": NS, "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": port, "protocol": "TCP"}], "endpoints": eps}


def ingress(name, host, svc, path="/", klass="lb"):
    return {"metadata": {"name": name, "namespace": NS},
            "spec": {"ingressClassName": klass, "rules": [{"host": host, "http": {"paths": [
                {"path": path, "pathType": "Prefix",
                 "backend": {"service": {"name": svc, "port": {"number": 80}}}}]}}]}}


class ControllerTest(harness.LbTestCase):
    ADDRS = ["127.0.0.61", "127.0.0.62", "127.0.0.63"]

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.TemporaryDirectory(prefix="lb-ingress-ctl-")
        self.addCleanup(self.tmp.cleanup)
        self.kube = FakeKube(self.tmp.name)
        self.addCleanup(self.kube.stop)
        self.port = free_port(self.ADDRS)
        for a in self.ADDRS:
            self.backend(a, listen=f"{a}:{self.port}")
        self.kube.apply("services", service("web"))
        self.kube.apply("endpointslices", endpoint_slice("web-1", "web", self.port, self.ADDRS[:1]))
        self.kube.apply("ingresses", ingress("web", "web.test", "web"))
        kubeconfig = self.kube.write_kubeconfig(os.path.join(self.tmp.name, "kubeconfig"), token="token-1")
        self.lb_ = self.lb(f"""admin: {{ listen: 127.0.0.1:0 }}
kubernetes:
  kubeconfig: {kubeconfig}
  http: 127.0.0.1:0
  https: 127.0.0.1:0
  tls_dir: {self.tmp.name}/tls
""", listeners=["http"])

    def get(self, host, target="/"):
        r = harness.get(self.lb_.ports["http"], target, host=host)
        return r.status, r.backend

    def eventually(self, check, timeout=1.0):
        """check() within `timeout` seconds of a change (the issue's bound is a second)."""
        t0 = time.monotonic()
        value = harness.wait_until(check, timeout, 0.01)
        self.assertTrue(value, f"not reflected within {timeout}s")
        return time.monotonic() - t0

    def test_serves_the_cluster_from_the_start_and_is_ready(self):
        self.assertEqual(self.get("web.test"), (200, "127.0.0.61"))
        self.assertEqual(self.get("other.test")[0], 404)
        r = harness.admin_request(self.lb_, "GET", "/readyz")
        self.assertEqual(r.status, 200)

    def test_endpoint_changes_within_a_second(self):
        start = len(self.lb_.log_lines())
        self.kube.apply("endpointslices", endpoint_slice("web-1", "web", self.port, self.ADDRS[1:3]))
        self.eventually(lambda: {self.get("web.test", f"/{i}")[1] for i in range(6)} == set(self.ADDRS[1:3]))
        # Only the Service's pool was built again: routers and the rest were
        # shared. (The log comes through a pipe, a little after the switch.)
        def rebuilt():
            return [r.get("pools_rebuilt") for r in map(harness.parse_logfmt, self.lb_.log_lines()[start:])
                    if r.get("msg") == "config reloaded" and r.get("trigger") == "kubernetes"] or None
        counts = harness.wait_until(rebuilt, 3.0, 0.02)
        self.assertIn("1", counts or [])
        self.assertNotIn("all", counts)
        # Not ready: out of rotation.
        self.kube.apply("endpointslices", endpoint_slice("web-1", "web", self.port, self.ADDRS[2:3],
                                                         not_ready=self.ADDRS[1:2]))
        self.eventually(lambda: {self.get("web.test", f"/{i}")[1] for i in range(6)} == {"127.0.0.63"})
        # No endpoint left: 503, not a stale endpoint.
        self.kube.delete("endpointslices", "web-1", NS)
        self.eventually(lambda: self.get("web.test")[0] == 503)

    def test_ingress_create_update_delete_within_a_second(self):
        self.kube.apply("services", service("api"))
        self.kube.apply("endpointslices", endpoint_slice("api-1", "api", self.port, self.ADDRS[2:3]))
        self.kube.apply("ingresses", ingress("api", "api.test", "api"))
        self.eventually(lambda: self.get("api.test") == (200, "127.0.0.63"))
        self.kube.apply("ingresses", ingress("api", "api.test", "web"))  # now to web
        self.eventually(lambda: self.get("api.test") == (200, "127.0.0.61"))
        self.kube.apply("ingresses", ingress("api", "api.test", "web", klass="other"))  # not lb's any more
        self.eventually(lambda: self.get("api.test")[0] == 404)
        self.kube.delete("ingresses", "web", NS)
        self.eventually(lambda: self.get("web.test")[0] == 404)

    def test_relist_after_an_api_server_restart_without_history(self):
        self.kube.restart(keep_history=False)
        # Changed while lb's watch was cut: seen through the re-list (410).
        self.kube.apply("endpointslices", endpoint_slice("web-1", "web", self.port, self.ADDRS[1:2]))
        self.eventually(lambda: self.get("web.test") == (200, "127.0.0.62"), timeout=5.0)

    def test_endpoint_churn_loses_no_request_and_keeps_connections(self):
        """100 EndpointSlice updates a second for 30 s, over two Services,
        while clients send requests to both hosts on kept-alive connections:
        every request succeeds, no connection is dropped."""
        self.kube.apply("services", service("api"))
        self.kube.apply("endpointslices", endpoint_slice("api-1", "api", self.port, self.ADDRS[2:3]))
        self.kube.apply("ingresses", ingress("api", "api.test", "api"))
        self.eventually(lambda: self.get("api.test") == (200, "127.0.0.63"))
        failures, done, counts = [], threading.Event(), []

        def client(host):
            n = 0
            try:
                with harness.Client(self.lb_.ports["http"], timeout=5) as c:
                    while not done.is_set():
                        r = c.request("GET", "/", host=host)
                        if r.status != 200:
                            failures.append((host, r.status))
                        n += 1
            except Exception as e:  # a dropped connection fails the test
                failures.append((host, repr(e)))
            counts.append(n)

        threads = [threading.Thread(target=client, args=(h,)) for h in ("web.test", "api.test") * 2]
        for t in threads:
            t.start()
        start = time.monotonic()
        i = 0
        while time.monotonic() - start < 30:
            # Always at least one ready endpoint; each Service's set moves every 20 ms.
            live = [self.ADDRS[i % 3], self.ADDRS[(i + 1) % 3]]
            svc = ("web", "api")[i % 2]
            self.kube.apply("endpointslices", endpoint_slice(svc + "-1", svc, self.port, live))
            i += 1
            # 100 updates a second, on schedule however long an update took.
            time.sleep(max(0.0, start + i / 100 - time.monotonic()))
        done.set()
        for t in threads:
            t.join(10)
        self.assertEqual(failures, [])
        self.assertEqual(len(counts), 4)
        self.assertGreater(min(counts), 100)
        self.assertGreater(i, 2900, "the fake API server took fewer than 100 updates a second")

if __name__ == "__main__":
    unittest.main()
