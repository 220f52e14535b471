"""lb's Kubernetes watch client (lb/kube, run as the real lb-kube-watch)
against the fake API server (lib/fake_kube.py) over TLS on loopback: the
first list of every resource, paging, changes within a second, bookmarks,
410 Gone and re-list, server restarts with and without history, token
rotation (401 then the token file re-read), a wrong CA refused with growing
back-off, namespace scoping, in-cluster credentials, clean exit on SIGTERM.

Environment: LB_KUBE_WATCH_BIN (path to lb-kube-watch).
"""

import json
import os
import signal
import tempfile
import time
import unittest

from lib import harness
from lib.fake_kube import FakeKube, make_ca

ALL = ["ingresses", "ingressclasses", "services", "secrets", "endpointslices"]


def kube_watch_bin():
    path = os.environ.get("LB_KUBE_WATCH_BIN")
    if not path:
        raise RuntimeError("LB_KUBE_WATCH_BIN is not set (path to the lb-kube-watch binary)")
    return path


class KubeWatch:
    """One lb-kube-watch process; its stdout lines parsed as JSON."""

    def __init__(self, *args, env=None):
        self.proc = harness._spawn([kube_watch_bin(), *args], env=env)
        self._out = harness._LineReader(self.proc.stdout, "kube-watch-stdout")
        self._err = harness._LineReader(self.proc.stderr, "kube-watch-stderr")
        self._out.start()
        self._err.start()

    def lines(self):
        return [json.loads(l) for l in self._out.snapshot() if l.startswith("{")]

    def stderr(self):
        return "\n".join(self._err.snapshot())

    def wait_for(self, predicate, timeout=3.0):
        """Waits until predicate(parsed lines) is truthy; returns its value."""
        return self._out.wait_for(lambda raw: predicate([json.loads(l) for l in raw if l.startswith("{")]),
                                  time.monotonic() + timeout)

    def wait_line(self, timeout=3.0, **fields):
        """The first line carrying all `fields`, waited for."""
        return self.wait_for(lambda ls: next((l for l in ls if all(l.get(k) == v for k, v in fields.items())),
                                             None), timeout)

    def stop(self):
        code = harness._stop_process(self.proc)
        harness._close_pipes(self.proc, self._out, self._err)
        return code


class KubeWatchTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="lb-kube-")
        self.dir = self.tmp.name
        self.token_file = os.path.join(self.dir, "token")
        self.write_token("token-1")
        self.fake = FakeKube(self.dir, token="token-1")
        self.kubeconfig = self.fake.write_kubeconfig(os.path.join(self.dir, "kubeconfig"),
                                                     token_file=self.token_file)
        self.watches = []

    def tearDown(self):
        for w in self.watches:
            w.stop()
        self.fake.stop()
        self.tmp.cleanup()

    def write_token(self, token):
        # As the kubelet does: a new file renamed over the old one.
        tmp = self.token_file + ".new"
        with open(tmp, "w") as f:
            f.write(token + "\n")
        os.replace(tmp, self.token_file)

    def start(self, *args, kubeconfig=None, resources=("services",), backoff_ms=(200, 2000), env=None):
        argv = ["--kubeconfig", kubeconfig or self.kubeconfig, "--resources", ",".join(resources),
                "--backoff-initial-ms", str(backoff_ms[0]), "--backoff-max-ms", str(backoff_ms[1]), *args]
        if kubeconfig == "":
            argv = argv[2:]
        w = KubeWatch(*argv, env=env)
        self.watches.append(w)
        return w

    def synced(self, w, timeout=5.0):
        self.assertTrue(w.wait_line(timeout, type="SYNCED"), f"not synced; stderr:\n{w.stderr()}")

    def lists(self, w, resource):
        return [l for l in w.lines() if l.get("resource") == resource and l["type"] == "LIST"]

    def changes(self, w, resource=None):
        return [l for l in w.lines() if l.get("type") in ("ADDED", "MODIFIED", "DELETED")
                and (resource is None or l["resource"] == resource)]

    # ------------------------------------------------------------------ tests

    def test_first_list_of_every_resource(self):
        self.fake.create("services", "web", "shop")
        self.fake.create("secrets", "tls-web", "shop")
        self.fake.create("ingresses", "web", "shop")
        self.fake.create("ingressclasses", "lb")
        self.fake.create("endpointslices", "web-abc", "shop")
        w = self.start(resources=ALL)
        self.synced(w)
        expected = {"services": ["shop/web"], "secrets": ["shop/tls-web"], "ingresses": ["shop/web"],
                    "ingressclasses": ["lb"], "endpointslices": ["shop/web-abc"]}
        for resource, items in expected.items():
            got = self.lists(w, resource)
            self.assertEqual(len(got), 1, resource)
            self.assertEqual(got[0]["items"], items, resource)
            self.assertEqual(got[0]["rv"], str(self.fake.current_rv()))
        paths = {r["path"] for r in self.fake.request_log(watch=False)}
        self.assertEqual(paths, {"/api/v1/services", "/api/v1/secrets", "/apis/networking.k8s.io/v1/ingresses",
                                 "/apis/networking.k8s.io/v1/ingressclasses",
                                 "/apis/discovery.k8s.io/v1/endpointslices"})
        for r in self.fake.request_log(watch=False):
            self.assertEqual(r["query"].get("limit"), "500")
            self.assertEqual(r["token"], "token-1")
        # Then one watch per resource, from the list's version, with bookmarks.
        self.assertTrue(harness.wait_until(lambda: len(self.fake.request_log(watch=True)) == 5, 3))
        for r in self.fake.request_log(watch=True):
            self.assertEqual(r["query"]["resourceVersion"], str(self.fake.current_rv()))
            self.assertEqual(r["query"]["allowWatchBookmarks"], "true")
            self.assertGreaterEqual(int(r["query"]["timeoutSeconds"]), 300)

    def test_list_pages_with_continue(self):
        for i in range(7):
            self.fake.create("services", f"s{i}", "shop")
        w = self.start("--list-limit", "3")
        self.synced(w)
        self.assertEqual(self.lists(w, "services")[0]["items"], [f"shop/s{i}" for i in range(7)])
        pages = self.fake.request_log(watch=False)
        self.assertEqual(len(pages), 3)
        self.assertNotIn("continue", pages[0]["query"])
        self.assertTrue(pages[1]["query"]["continue"] and pages[2]["query"]["continue"])

    def test_changes_seen_within_a_second(self):
        w = self.start()
        self.synced(w)
        self.assertTrue(harness.wait_until(lambda: self.fake.live_watches() == 1, 3))
        for action, kind in (("create", "ADDED"), ("update", "MODIFIED"), ("delete", "DELETED")):
            obj = getattr(self.fake, action)("services", "web", "shop")
            line = w.wait_line(1.0, type=kind, name="web")
            self.assertTrue(line, f"{kind} not seen within 1 s; lines: {w.lines()}")
            self.assertEqual((line["namespace"], line["rv"]), ("shop", obj["metadata"]["resourceVersion"]))
        self.assertEqual([l["type"] for l in self.changes(w)], ["ADDED", "MODIFIED", "DELETED"])

    def test_bookmarks_advance_rv_without_events(self):
        self.fake.create("services", "web", "shop")
        w = self.start("--bookmarks")
        self.synced(w)
        listed_rv = int(self.lists(w, "services")[0]["rv"])
        self.assertTrue(harness.wait_until(lambda: self.fake.live_watches() == 1, 3))
        for i in range(3):  # other resources move the global version
            self.fake.create("secrets", f"s{i}", "shop")
        self.fake.bookmark_now()
        mark = w.wait_line(1.0, type="BOOKMARK")
        self.assertTrue(mark, w.lines())
        self.assertEqual(int(mark["rv"]), listed_rv + 3)
        self.assertEqual(self.changes(w), [])
        # The client resumes from the bookmark's version, not the list's.
        self.fake.drop_watches()
        self.assertTrue(harness.wait_until(lambda: len(self.fake.request_log(watch=True)) == 2, 3))
        self.assertEqual(self.fake.request_log(watch=True)[1]["query"]["resourceVersion"], str(listed_rv + 3))
        self.assertEqual(len(self.lists(w, "services")), 1)

    def test_gone_relists_and_sees_deletions_from_the_gap(self):
        self.fake.create("services", "a", "shop")
        self.fake.create("services", "b", "shop")
        w = self.start()
        self.synced(w)
        self.assertTrue(harness.wait_until(lambda: self.fake.live_watches() == 1, 3))
        self.fake.drop_watches()
        self.fake.delete("services", "a", "shop")
        self.fake.expire_history()
        relist = w.wait_for(lambda ls: len([l for l in ls if l["type"] == "LIST"]) == 2, 4)
        self.assertTrue(relist, f"no re-list; stderr:\n{w.stderr()}")
        self.assertEqual(self.lists(w, "services")[1]["items"], ["shop/b"])
        self.assertTrue(any(r.get("gone") for r in self.fake.request_log(watch=True)))
        self.assertIn("code=410", w.stderr())
        self.assertEqual(self.changes(w), [])  # the deletion was missed as an event, seen by the list
        # And it watches again from the new list.
        self.fake.create("services", "c", "shop")
        self.assertTrue(w.wait_line(2.0, type="ADDED", name="c"))

    def test_gone_as_http_status_relists(self):
        self.fake.gone_as_http = True
        self.fake.create("services", "a", "shop")
        w = self.start()
        self.synced(w)
        self.assertTrue(harness.wait_until(lambda: self.fake.live_watches() == 1, 3))
        self.fake.drop_watches()
        self.fake.delete("services", "a", "shop")
        self.fake.expire_history()
        self.assertTrue(w.wait_for(lambda ls: len([l for l in ls if l["type"] == "LIST"]) == 2, 4), w.stderr())
        self.assertEqual(self.lists(w, "services")[1]["items"], [])
        self.assertIn(410, [r["status"] for r in self.fake.request_log(watch=True)])

    def test_server_timeout_resumes_at_once_from_the_last_version(self):
        w = self.start("--watch-timeout", "1")
        self.synced(w)
        self.fake.create("services", "a", "shop")
        self.assertTrue(w.wait_line(1.0, type="ADDED", name="a"))
        rv_a = str(self.fake.current_rv())
        # timeoutSeconds is 1 (spread to under 2): the server ends each watch cleanly.
        self.assertTrue(harness.wait_until(lambda: len(self.fake.request_log(watch=True)) >= 3, 6))
        watches = self.fake.request_log(watch=True)
        self.assertTrue(all(r["status"] == 200 for r in watches))
        self.assertEqual(watches[2]["query"]["resourceVersion"], rv_a)
        self.assertNotIn("retrying", w.stderr())  # no back-off after a clean end
        self.assertEqual(len(self.lists(w, "services")), 1)
        self.assertEqual([l["name"] for l in self.changes(w)], ["a"])

    def test_restart_with_history_resumes_without_duplicates(self):
        self.fake.create("services", "a", "shop")
        w = self.start()
        self.synced(w)
        self.assertTrue(harness.wait_until(lambda: self.fake.live_watches() == 1, 3))
        self.fake.create("services", "b", "shop")
        self.assertTrue(w.wait_line(1.0, type="ADDED", name="b"))
        rv_b = self.fake.current_rv()
        self.fake.stop()
        self.fake.create("services", "c", "shop")  # while the server is down
        time.sleep(0.3)
        self.fake.start()
        self.assertTrue(w.wait_line(4.0, type="ADDED", name="c"), f"stderr:\n{w.stderr()}")
        time.sleep(0.3)
        self.assertEqual([(l["type"], l["name"]) for l in self.changes(w)], [("ADDED", "b"), ("ADDED", "c")])
        self.assertEqual(len(self.lists(w, "services")), 1)
        resumed = [r for r in self.fake.request_log(watch=True) if r["status"] == 200]
        self.assertEqual(resumed[-1]["query"]["resourceVersion"], str(rv_b))

    def test_restart_without_history_relists(self):
        self.fake.create("services", "a", "shop")
        self.fake.create("services", "b", "shop")
        w = self.start()
        self.synced(w)
        self.assertTrue(harness.wait_until(lambda: self.fake.live_watches() == 1, 3))
        self.fake.stop()
        self.fake.delete("services", "a", "shop")
        self.fake.restart(keep_history=False)
        self.assertTrue(w.wait_for(lambda ls: len([l for l in ls if l["type"] == "LIST"]) == 2, 5),
                        f"stderr:\n{w.stderr()}")
        self.assertEqual(self.lists(w, "services")[1]["items"], ["shop/b"])
        self.assertEqual(self.changes(w), [])

    def test_token_rotation_rereads_the_token_file(self):
        w = self.start()
        self.synced(w)
        self.assertTrue(harness.wait_until(lambda: self.fake.live_watches() == 1, 3))
        self.fake.set_token("token-2")
        self.fake.drop_watches()
        self.assertTrue(harness.wait_until(
            lambda: any(r["status"] == 401 for r in self.fake.request_log()), 3))
        self.assertTrue(harness.wait_until(lambda: "unauthorized" in w.stderr(), 2), w.stderr())
        self.write_token("token-2")
        self.assertTrue(harness.wait_until(
            lambda: any(r["token"] == "token-2" and r["status"] == 200 for r in self.fake.request_log()), 4),
            f"stderr:\n{w.stderr()}")
        self.assertTrue(harness.wait_until(lambda: self.fake.live_watches() == 1, 3))
        self.fake.create("services", "after", "shop")
        self.assertTrue(w.wait_line(1.0, type="ADDED", name="after"))

    def test_wrong_ca_is_refused_with_growing_backoff(self):
        other = os.path.join(self.dir, "other")
        os.mkdir(other)
        wrong = self.fake.write_kubeconfig(os.path.join(self.dir, "wrong-ca"), token_file=self.token_file,
                                           ca_file=make_ca(other, "other-ca")[0])
        w = self.start(kubeconfig=wrong, backoff_ms=(100, 800))
        time.sleep(3.5)
        conns = self.fake.connection_log()
        self.assertEqual(self.fake.request_log(), [])
        self.assertTrue(conns and not any(ok for _, ok, _ in conns))
        self.assertIn("certificate verify failed", w.stderr())
        self.assertNotIn("SYNCED", [l["type"] for l in w.lines()])
        gaps = [b[0] - a[0] for a, b in zip(conns, conns[1:])]
        self.assertGreaterEqual(len(gaps), 4, gaps)
        self.assertLessEqual(len(gaps), 10, gaps)
        # Timers fire late under load, never early: each gap is at least its
        # delay, 100 ms doubling to 800 ms less 25 % jitter...
        for i, gap in enumerate(gaps):
            self.assertGreaterEqual(gap, 0.75 * min(0.1 * 2 ** i, 0.8) - 0.005, gaps)
        self.assertGreater(gaps[3], 3 * gaps[0], gaps)
        # ...and the cap holds (the next doubling would be 1.6 s).
        self.assertLess(max(gaps), 1.3, gaps)

    def test_server_name_is_checked(self):
        # A certificate for "localhost" only: good by name, refused by IP.
        named_dir = os.path.join(self.dir, "named")
        os.mkdir(named_dir)
        named = FakeKube(named_dir, token="token-1", sans=("DNS:localhost",))
        try:
            by_ip = named.write_kubeconfig(os.path.join(self.dir, "by-ip"), token_file=self.token_file)
            by_name = named.write_kubeconfig(os.path.join(self.dir, "by-name"), token_file=self.token_file,
                                             server=f"https://localhost:{named.port}")
            refused = self.start(kubeconfig=by_ip)
            accepted = self.start(kubeconfig=by_name)
            self.synced(accepted)
            self.assertTrue(harness.wait_until(lambda: "certificate verify failed" in refused.stderr(), 2),
                            refused.stderr())
            self.assertIn("IP address mismatch", refused.stderr())
            self.assertEqual({r["path"] for r in named.request_log()}, {"/api/v1/services"})
            self.assertNotIn("SYNCED", [l["type"] for l in refused.lines()])
        finally:
            for w in self.watches:
                w.stop()
            self.watches = []
            named.stop()

    def test_namespace_scoping(self):
        self.fake.create("services", "a", "team-a")
        self.fake.create("services", "b", "team-b")
        self.fake.create("ingressclasses", "lb")
        w = self.start("--namespace", "team-a", resources=("services", "ingressclasses"))
        self.synced(w)
        self.assertEqual(self.lists(w, "services")[0]["items"], ["team-a/a"])
        self.assertEqual(self.lists(w, "ingressclasses")[0]["items"], ["lb"])
        self.assertEqual({r["path"] for r in self.fake.request_log()},
                         {"/api/v1/namespaces/team-a/services", "/apis/networking.k8s.io/v1/ingressclasses"})
        self.assertTrue(harness.wait_until(lambda: self.fake.live_watches() == 2, 3))
        self.fake.create("services", "b2", "team-b")
        self.fake.create("services", "a2", "team-a")
        self.assertTrue(w.wait_line(1.0, type="ADDED", name="a2"))
        self.assertEqual([l["name"] for l in self.changes(w)], ["a2"])

    def test_label_selector(self):
        self.fake.create("services", "web", "shop", labels={"app": "web"})
        self.fake.create("services", "db", "shop", labels={"app": "db"})
        w = self.start("--label-selector", "app=web")
        self.synced(w)
        self.assertEqual(self.lists(w, "services")[0]["items"], ["shop/web"])
        self.assertTrue(all(r["query"]["labelSelector"] == "app=web" for r in self.fake.request_log()))
        self.assertTrue(harness.wait_until(lambda: self.fake.live_watches() == 1, 3))
        self.fake.create("services", "db2", "shop", labels={"app": "db"})
        self.fake.create("services", "web2", "shop", labels={"app": "web"})
        self.assertTrue(w.wait_line(1.0, type="ADDED", name="web2"))
        self.assertEqual([l["name"] for l in self.changes(w)], ["web2"])

    def test_in_cluster_credentials(self):
        sa = os.path.join(self.dir, "serviceaccount")
        os.mkdir(sa)
        with open(os.path.join(sa, "token"), "w") as f:
            f.write("token-1\n")
        with open(self.fake.ca_file) as src, open(os.path.join(sa, "ca.crt"), "w") as dst:
            dst.write(src.read())
        with open(os.path.join(sa, "namespace"), "w") as f:
            f.write("shop")
        env = dict(os.environ, KUBERNETES_SERVICE_HOST="127.0.0.1", KUBERNETES_SERVICE_PORT=str(self.fake.port))
        self.fake.create("services", "web", "shop")
        w = self.start("--service-account-dir", sa, kubeconfig="", env=env)
        self.synced(w)
        self.assertEqual(self.lists(w, "services")[0]["items"], ["shop/web"])

    def test_sigterm_exits_cleanly_and_promptly(self):
        w = self.start(resources=ALL)
        self.synced(w)
        self.assertTrue(harness.wait_until(lambda: self.fake.live_watches() == 5, 3))
        started = time.monotonic()
        w.proc.send_signal(signal.SIGTERM)
        self.assertEqual(w.proc.wait(3), 0)
        self.assertLess(time.monotonic() - started, 1.0)
        self.assertTrue(harness.wait_until(lambda: self.fake.live_watches() == 0, 2))


if __name__ == "__main__":
    unittest.main()
