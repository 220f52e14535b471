"""lb's Kubernetes writes (lb/kube/writer.h, run as the real lb-kube-write)
against the fake API server (lib/fake_kube.py) over TLS on loopback: leader
election over a Lease (one leader of two, takeover after a SIGKILL once the
lease expires, at once after a SIGTERM releases it, 409 Conflict re-read),
Ingress status merge patches (sent once, coalesced, skipped when unchanged)
and Events (right involvedObject, de-duplicated).

Environment: LB_KUBE_WATCH_BIN (lb-kube-write is built beside it).
"""

import http.client
import json
import os
import signal
import ssl
import subprocess
import tempfile
import time
import unittest

from lib import harness
from lib.fake_kube import FakeKube


def kube_write_bin():
    watch = os.environ.get("LB_KUBE_WATCH_BIN")
    if not watch:
        raise RuntimeError("LB_KUBE_WATCH_BIN is not set (lb-kube-write is built beside lb-kube-watch)")
    return os.path.join(os.path.dirname(watch), "lb-kube-write")


# Short leases so that expiry fits in a test: 2 s, renew deadline 1.5 s, retry 0.2 s.
FAST_LEASE = ("--lease-duration", "2", "--renew-deadline-ms", "1500", "--retry-period-ms", "200")


class KubeWrite:
    """One lb-kube-write process: commands on its stdin, its stdout lines parsed as JSON."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([kube_write_bin(), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, preexec_fn=harness._die_with_parent)
        harness._LIVE.add(self.proc)
        self._out = harness._LineReader(self.proc.stdout, "kube-write-stdout")
        self._err = harness._LineReader(self.proc.stderr, "kube-write-stderr")
        self._out.start()
        self._err.start()

    def send(self, command):
        self.proc.stdin.write(json.dumps(command).encode() + b"\n")
        self.proc.stdin.flush()

    def lines(self):
        return [json.loads(l) for l in self._out.snapshot() if l.startswith("{")]

    def stderr(self):
        return "\n".join(self._err.snapshot())

    def wait_for(self, predicate, timeout=3.0):
        return self._out.wait_for(lambda raw: predicate([json.loads(l) for l in raw if l.startswith("{")]),
                                  time.monotonic() + timeout)

    def leading_changes(self):
        return [l["leading"] for l in self.lines() if "leading" in l]

    def leading(self):
        changes = self.leading_changes()
        return bool(changes) and changes[-1]

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=5.0):
        return self.proc.wait(timeout)

    def stop(self):
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        code = harness._stop_process(self.proc)
        harness._close_pipes(self.proc, self._out, self._err)
        return code


def wait_until(predicate, timeout, step=0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


class KubeWriteTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="lb-kube-write-")
        self.dir = self.tmp.name
        self.token_file = os.path.join(self.dir, "token")
        with open(self.token_file, "w") as f:
            f.write("token-1\n")
        self.fake = FakeKube(self.dir, token="token-1")
        self.kubeconfig = self.fake.write_kubeconfig(os.path.join(self.dir, "kubeconfig"),
                                                     token_file=self.token_file)
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            p.stop()
        self.fake.stop()
        self.tmp.cleanup()

    def start(self, *args):
        p = KubeWrite("--kubeconfig", self.kubeconfig, "--backoff-initial-ms", "100", "--backoff-max-ms", "400", *args)
        self.procs.append(p)
        return p

    def elector(self, identity, *extra, lease="lb/leader"):
        return self.start("--lease", lease, "--identity", identity, *(extra or FAST_LEASE))

    def wait_leader(self, candidates, timeout=5.0):
        leader = wait_until(lambda: next((c for c in candidates if c.leading()), None), timeout)
        self.assertIsNotNone(leader, "no leader; stderr:\n" + "\n".join(c.stderr() for c in candidates))
        return leader

    def lease_puts(self, status=None):
        return [r for r in self.fake.request_log(method="PUT")
                if "/leases/" in r["path"] and (status is None or r.get("status") == status)]

    # ------------------------------------------------------------------ election

    def test_two_electors_exactly_one_leads(self):
        a, b = self.elector("pod-a"), self.elector("pod-b")
        leader = self.wait_leader([a, b])
        other = b if leader is a else a
        time.sleep(1.5)  # several renewals and attempts
        self.assertEqual(leader.leading_changes(), [True], leader.stderr())
        self.assertEqual(other.leading_changes(), [], other.stderr())
        lease = self.fake.lease("lb", "leader")
        self.assertEqual(lease["spec"]["holderIdentity"], "pod-a" if leader is a else "pod-b")
        self.assertEqual(lease["spec"]["leaseDurationSeconds"], 2)
        # Renewing: renewTime moved within the last second or so.
        renewed = [r for r in self.lease_puts(200) if r["body"]["spec"]["holderIdentity"] == lease["spec"]["holderIdentity"]]
        self.assertGreaterEqual(len(renewed), 3)

    def test_sigkill_of_the_leader_hands_over_after_the_lease_expires(self):
        a, b = self.elector("pod-a"), self.elector("pod-b")
        leader = self.wait_leader([a, b])
        other = b if leader is a else a
        time.sleep(0.5)
        leader.signal(signal.SIGKILL)
        killed = time.monotonic()
        leader.wait()
        self.assertTrue(other.wait_for(lambda ls: any(l.get("leading") for l in ls), timeout=6.0),
                        "no takeover; stderr:\n" + other.stderr())
        took = time.monotonic() - killed
        # The last renewal was at most a retry period (0.2 s) before the kill:
        # the 2 s lease had at least ~1.8 s to run (less the check's slack).
        self.assertGreaterEqual(took, 1.4)
        self.assertLess(took, 4.0)
        holder = self.fake.lease("lb", "leader")["spec"]
        self.assertEqual(holder["holderIdentity"], "pod-b" if leader is a else "pod-a")
        self.assertGreaterEqual(holder["leaseTransitions"], 1)

    def test_sigterm_of_the_leader_releases_and_the_other_takes_over_at_once(self):
        # A 10 s lease: a takeover within 2 s can only come from the release.
        slow = ("--lease-duration", "10", "--renew-deadline-ms", "5000", "--retry-period-ms", "200")
        a, b = self.elector("pod-a", *slow), self.elector("pod-b", *slow)
        leader = self.wait_leader([a, b])
        other = b if leader is a else a
        leader.signal(signal.SIGTERM)
        stopped = time.monotonic()
        self.assertEqual(leader.wait(), 0, leader.stderr())
        self.assertEqual(leader.leading_changes(), [True, False])
        self.assertTrue(any(l.get("stopped") for l in leader.lines()))
        self.assertTrue(other.wait_for(lambda ls: any(l.get("leading") for l in ls), timeout=3.0),
                        "no takeover; stderr:\n" + other.stderr())
        self.assertLess(time.monotonic() - stopped, 2.0)
        released = [r for r in self.lease_puts(200) if r["body"]["spec"]["holderIdentity"] == ""]
        self.assertEqual(len(released), 1)
        self.assertEqual(released[0]["body"]["spec"]["leaseDurationSeconds"], 1)

    def test_a_conflict_on_update_is_read_again(self):
        # A free Lease that exists: the first attempt is a PUT, answered 409.
        self.fake.apply("leases", {"metadata": {"name": "leader", "namespace": "lb"},
                                   "spec": {"holderIdentity": "", "leaseDurationSeconds": 2}})
        self.fake.inject_conflicts(1)
        a = self.elector("pod-a")
        self.wait_leader([a])
        puts = self.lease_puts()
        self.assertEqual(puts[0]["status"], 409)
        self.assertTrue(puts[0].get("injected"))
        # Re-read (GET) between the 409 and the successful PUT.
        log = self.fake.request_log()
        i409 = next(i for i, r in enumerate(log) if r.get("injected"))
        after = [(r["method"], r.get("status")) for r in log[i409 + 1:] if "/leases" in r["path"]]
        self.assertEqual(after[:2], [("GET", 200), ("PUT", 200)])
        # While leading: a conflict on a renewal is read again too, and leading goes on.
        before = len(self.lease_puts(200))
        self.fake.inject_conflicts(1)
        self.assertTrue(wait_until(lambda: len(self.lease_puts(409)) == 2 and len(self.lease_puts(200)) > before + 1,
                                   3.0))
        time.sleep(0.3)
        self.assertEqual(a.leading_changes(), [True], a.stderr())
        self.assertEqual(self.fake.lease("lb", "leader")["spec"]["holderIdentity"], "pod-a")

    def api(self, method, path, body=None):
        """One request to the fake as a client would make it: (status, parsed body)."""
        ctx = ssl.create_default_context(cafile=self.fake.ca_file)
        conn = http.client.HTTPSConnection("127.0.0.1", self.fake.port, context=ctx, timeout=5)
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None,
                         headers={"Authorization": "Bearer token-1", "Content-Type": "application/json"})
            res = conn.getresponse()
            return res.status, json.loads(res.read() or b"null")
        finally:
            conn.close()

    def test_the_lease_is_created_once_and_read_by_the_next_candidate(self):
        a = self.elector("pod-a")
        self.wait_leader([a])
        self.assertEqual(self.fake.request_log(method="POST")[0]["status"], 201)
        b = self.elector("pod-b")
        time.sleep(0.6)
        self.assertEqual(b.leading_changes(), [])
        self.assertEqual(self.fake.request_log(method="POST")[1:], [])  # b read it: no second create
        # What a candidate that lost the create race gets, and a stale update.
        lease = {"metadata": {"name": "leader"}, "spec": {"holderIdentity": "x"}}
        status, body = self.api("POST", "/apis/coordination.k8s.io/v1/namespaces/lb/leases", lease)
        self.assertEqual((status, body["reason"]), (409, "AlreadyExists"))
        lease["metadata"]["resourceVersion"] = "1"
        status, body = self.api("PUT", "/apis/coordination.k8s.io/v1/namespaces/lb/leases/leader", lease)
        self.assertEqual((status, body["reason"]), (409, "Conflict"))
        status, _ = self.api("PUT", "/apis/coordination.k8s.io/v1/namespaces/lb/leases/missing",
                             {"metadata": {"name": "missing", "resourceVersion": "1"}})
        self.assertEqual(status, 404)
        self.assertEqual(a.leading_changes(), [True])

    # ------------------------------------------------------------------ status

    def patches(self, name):
        return [r for r in self.fake.request_log(method="PATCH") if r["path"].endswith(f"/ingresses/{name}/status")]

    def test_status_patch_lands_once(self):
        self.fake.create("ingresses", "web", "shop")
        self.fake.create("ingresses", "api", "shop")
        rv = int(self.fake.get("ingresses", "web", "shop")["metadata"]["resourceVersion"])
        w = self.start()
        status = {"status": {"namespace": "shop", "name": "web", "addresses": ["lb.example", "10.0.0.1"]}}
        w.send(status)
        self.assertTrue(wait_until(lambda: self.patches("web"), 3.0), w.stderr())
        w.send(status)
        w.send({"status": {"namespace": "shop", "name": "web", "addresses": ["10.0.0.1", "lb.example"],
                           "current": ["lb.example", "10.0.0.1"]}})
        # A later write in the same queue: once it landed, the ones before were handled.
        w.send({"status": {"namespace": "shop", "name": "api", "addresses": ["10.0.0.9"]}})
        self.assertTrue(wait_until(lambda: self.patches("api"), 3.0), w.stderr())
        sent = self.patches("web")
        self.assertEqual(len(sent), 1)
        self.assertEqual(sent[0]["status"], 200)
        self.assertEqual(sent[0]["content_type"], "application/merge-patch+json")
        self.assertEqual(sent[0]["body"], {"status": {"loadBalancer": {"ingress": [
            {"ip": "10.0.0.1"}, {"hostname": "lb.example"}]}}})
        obj = self.fake.get("ingresses", "web", "shop")
        self.assertEqual(obj["status"]["loadBalancer"]["ingress"], [{"ip": "10.0.0.1"}, {"hostname": "lb.example"}])
        self.assertGreater(int(obj["metadata"]["resourceVersion"]), rv)
        # Watches see the change.
        with self.fake.cond:
            modified = [h for h in self.fake.history if h[1] == "ingresses" and h[3] == "MODIFIED"]
        self.assertEqual(modified[0][4]["status"], obj["status"])
        # The caller's view of the object wins: a status someone else changed is written again.
        w.send({"status": {"namespace": "shop", "name": "web", "addresses": ["10.0.0.1", "lb.example"],
                           "current": []}})
        self.assertTrue(wait_until(lambda: len(self.patches("web")) == 2, 3.0), w.stderr())

    def test_status_coalesces_while_the_server_refuses(self):
        self.fake.create("ingresses", "web", "shop")
        self.fake.set_token("other")  # 401 until restored: the first write backs off
        w = self.start()
        for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
            w.send({"status": {"namespace": "shop", "name": "web", "addresses": [ip]}})
        self.assertTrue(wait_until(lambda: self.patches("web"), 3.0), w.stderr())
        time.sleep(0.3)
        self.fake.set_token("token-1")
        self.assertTrue(wait_until(lambda: [p for p in self.patches("web") if p["status"] == 200], 3.0), w.stderr())
        time.sleep(0.5)
        landed = [p for p in self.patches("web") if p["status"] == 200]
        self.assertEqual(len(landed), 1)
        self.assertEqual(landed[0]["body"]["status"]["loadBalancer"]["ingress"], [{"ip": "10.0.0.3"}])

    def test_status_of_a_missing_ingress_is_dropped(self):
        w = self.start()
        w.send({"status": {"namespace": "shop", "name": "gone", "addresses": ["10.0.0.1"]}})
        self.assertTrue(wait_until(lambda: self.patches("gone"), 3.0), w.stderr())
        time.sleep(0.5)
        self.assertEqual([p["status"] for p in self.patches("gone")], [404])

    # ------------------------------------------------------------------ events

    def test_event_is_created_once_within_the_window(self):
        ing = self.fake.create("ingresses", "web", "shop")
        w = self.start()
        event = {"event": {"kind": "Ingress", "namespace": "shop", "name": "web", "uid": ing["metadata"]["uid"],
                           "apiVersion": "networking.k8s.io/v1",
                           "resourceVersion": ing["metadata"]["resourceVersion"], "type": "Warning",
                           "reason": "UnsupportedAnnotation", "message": "lb.example/foo is not supported"}}
        for _ in range(3):
            w.send(event)
        other = json.loads(json.dumps(event))
        other["event"]["message"] = "lb.example/bar is not supported"
        w.send(other)
        self.assertTrue(wait_until(lambda: len(self.fake.events()) >= 2, 3.0), w.stderr())
        time.sleep(0.3)
        events = self.fake.events()
        self.assertEqual([e["message"] for e in events],
                         ["lb.example/foo is not supported", "lb.example/bar is not supported"])
        e = events[0]
        self.assertEqual(e["involvedObject"], {"kind": "Ingress", "namespace": "shop", "name": "web",
                                               "uid": ing["metadata"]["uid"], "apiVersion": "networking.k8s.io/v1",
                                               "resourceVersion": ing["metadata"]["resourceVersion"]})
        self.assertEqual((e["type"], e["reason"], e["count"]), ("Warning", "UnsupportedAnnotation", 1))
        self.assertEqual(e["source"], {"component": "lb-ingress"})
        self.assertTrue(e["metadata"]["name"].startswith("web."))
        self.assertEqual(e["metadata"]["namespace"], "shop")
        self.assertRegex(e["firstTimestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(len([r for r in self.fake.request_log(method="POST") if r["path"].endswith("/events")]), 2)

    def test_event_repeats_after_the_window(self):
        w = self.start("--dedup-window", "1")
        event = {"event": {"namespace": "shop", "name": "web", "uid": "u-1", "reason": "Rejected", "message": "m"}}
        w.send(event)
        self.assertTrue(wait_until(lambda: len(self.fake.events()) == 1, 3.0), w.stderr())
        w.send(event)
        time.sleep(1.2)
        w.send(event)
        self.assertTrue(wait_until(lambda: len(self.fake.events()) == 2, 3.0), w.stderr())


if __name__ == "__main__":
    unittest.main()
