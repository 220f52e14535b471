"""Request IDs and W3C trace context, end to end: real lb, real lb-backend echoing the
request head it got, real HTTP/1.1 and HTTP/2 (curl) clients. The same X-Request-Id
must reach the upstream, come back to the client and be in the access log; a client's
own is kept only from a trusted address; a valid traceparent passes untouched, a
malformed one never does."""

import json
import os
import re
import tempfile
import uuid

from lib import harness

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$")
VALID_TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRUSTED = "127.0.0.2"  # the only address whose X-Request-Id is kept


def upstream_fields(body, name):
    """Every value of `name` in the head the backend received (echo=1)."""
    return [v for k, v in json.loads(body)["headers"] if k.lower() == name.lower()]


class RequestIdTest(harness.LbTestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = cls.class_backend("b")
        routes = [harness.route("p", name="app", path_prefix="/a"), harness.route("dead", name="dead", path_prefix="/dead")]
        listeners = [
            # IDs, trust for one address, traces started when missing; HTTP/1.1 and h2c.
            {"name": "web", "listen": "127.0.0.1:0", "protocols": ["h1", "h2"],
             "request_id": {"trust_from": [TRUSTED + "/32"]}, "tracing": {"start": True}, "routes": routes},
            # IDs trusted from nobody; trace context checked, never started.
            {"name": "check", "listen": "127.0.0.1:0", "protocols": ["h1", "h2"],
             "request_id": True, "tracing": {}, "routes": routes},
            # Neither: lb does not touch these fields.
            {"name": "plain", "listen": "127.0.0.1:0", "routes": routes},
        ]
        cls.lbp = cls.class_lb(harness.config([harness.pool("p", cls.b), harness.pool("dead", f"127.0.0.1:{harness.closed_port()}")],
                                              listeners=listeners, workers=2),
                               listeners=["web", "check", "plain"])

    def port(self, name):
        return self.lbp.ports[name]

    def record(self, path):
        """The one access-log record of the request for `path` (unique per test)."""
        recs = harness.wait_until(lambda: [r for r in harness.access_records(self.lbp) if r["path"] == path] or None,
                                  timeout=5) or []
        self.assertEqual(len(recs), 1, f"access records for {path}: {recs}")
        return recs[0]

    def tag(self, base="/a"):
        return f"{base}?echo=1&t={uuid.uuid4().hex}"

    # ---------------------------------------------------------------- HTTP/1.1

    def test_generated_ids_are_unique_and_the_same_upstream_back_and_logged(self):
        paths, ids = [], set()
        # Several keep-alive connections, spread over both workers.
        for _ in range(4):
            with harness.Client(self.port("web")) as c:
                for _ in range(25):
                    path = self.tag()
                    r = c.request("GET", path)
                    self.assertEqual(r.status, 200, r)
                    sent = r.header_all("X-Request-Id")
                    self.assertEqual(len(sent), 1, r)
                    self.assertRegex(sent[0], UUID4)
                    self.assertEqual(upstream_fields(r.body, "X-Request-Id"), sent)
                    tps = upstream_fields(r.body, "traceparent")
                    self.assertEqual(len(tps), 1, r.body)
                    self.assertRegex(tps[0], TRACEPARENT)  # started: there was none
                    ids.add(sent[0])
                    paths.append((path, sent[0], TRACEPARENT.match(tps[0]).group(1)))
        self.assertEqual(len(ids), 100, "request IDs repeat")
        for path, rid, trace in paths[:10] + paths[-10:]:
            rec = self.record(path)
            self.assertEqual(rec["request_id"], rid)
            self.assertEqual(rec["trace_id"], trace)
            self.assertEqual(list(rec)[-2:], ["request_id", "trace_id"])  # new keys come last

    def test_untrusted_clients_id_is_replaced(self):
        path = self.tag()
        r = harness.get(self.port("web"), path, headers=[("X-Request-Id", "client-chosen")])
        got = r.header("X-Request-Id")
        self.assertRegex(got, UUID4)
        self.assertEqual(upstream_fields(r.body, "X-Request-Id"), [got])
        self.assertEqual(self.record(path)["request_id"], got)

    def test_trusted_clients_id_is_kept(self):
        path = self.tag()
        with harness.BoundClient(self.port("web"), TRUSTED) as c:
            r = c.request("GET", path, headers=[("X-Request-Id", "edge-1234")])
        self.assertEqual(r.header_all("X-Request-Id"), ["edge-1234"])
        self.assertEqual(upstream_fields(r.body, "X-Request-Id"), ["edge-1234"])
        self.assertEqual(self.record(path)["request_id"], "edge-1234")

    def test_trusted_but_unusable_ids_are_replaced(self):
        for headers in ([("X-Request-Id", "has space")], [("X-Request-Id", "x" * 129)],
                        [("X-Request-Id", "one"), ("X-Request-Id", "two")]):
            with self.subTest(headers=headers):
                with harness.BoundClient(self.port("web"), TRUSTED) as c:
                    r = c.request("GET", self.tag(), headers=headers)
                got = r.header_all("X-Request-Id")
                self.assertEqual(len(got), 1)
                self.assertRegex(got[0], UUID4)
                self.assertEqual(upstream_fields(r.body, "X-Request-Id"), got)

    def test_nobody_is_trusted_without_trust_from(self):
        with harness.BoundClient(self.port("check"), TRUSTED) as c:
            r = c.request("GET", self.tag(), headers=[("X-Request-Id", "edge-1234")])
        self.assertRegex(r.header("X-Request-Id"), UUID4)

    def test_upstreams_own_request_id_is_replaced_in_the_response(self):
        r = harness.get(self.port("web"), self.tag() + "&header=X-Request-Id:from-upstream")
        got = r.header_all("X-Request-Id")
        self.assertEqual(len(got), 1, r)
        self.assertRegex(got[0], UUID4)

    def test_lbs_own_answers_carry_the_id(self):
        for target, status, reason in (("/nowhere?t=" + uuid.uuid4().hex, 404, "no_route"),
                                       ("/dead?t=" + uuid.uuid4().hex, 502, None)):
            with self.subTest(status=status):
                with harness.BoundClient(self.port("web"), TRUSTED) as c:
                    r = c.request("GET", target, headers=[("X-Request-Id", "edge-local")])
                self.assertEqual(r.status, status, r)
                self.assertEqual(r.header_all("X-Request-Id"), ["edge-local"])
                rec = self.record(target)
                self.assertEqual(rec["request_id"], "edge-local")
                if reason:
                    self.assertEqual(rec["reason"], reason)
        # A head lb refuses before reading its fields still gets (and logs) an ID.
        with harness.Client(self.port("web")) as c:
            c.send(b"GET /a HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 400)
        self.assertRegex(r.header("X-Request-Id"), UUID4)

    def test_valid_traceparent_and_tracestate_pass_untouched(self):
        for port in ("web", "check"):
            with self.subTest(listener=port):
                path = self.tag()
                r = harness.get(self.port(port), path, headers=[("traceparent", VALID_TP),
                                                                ("tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")])
                self.assertEqual(upstream_fields(r.body, "traceparent"), [VALID_TP])
                self.assertEqual(upstream_fields(r.body, "tracestate"), ["congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"])
                self.assertEqual(self.record(path)["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736")

    def test_malformed_traceparent_is_never_forwarded(self):
        bad = ["00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   # upper case
               "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   # zero trace-id
               "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   # version ff
               "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",      # short
               "garbage"]
        for tp in bad:
            with self.subTest(traceparent=tp):
                # start: true -> replaced by a new trace; its tracestate goes with the old one.
                path = self.tag()
                r = harness.get(self.port("web"), path, headers=[("traceparent", tp), ("tracestate", "a=b")])
                got = upstream_fields(r.body, "traceparent")
                self.assertEqual(len(got), 1)
                self.assertRegex(got[0], TRACEPARENT)
                self.assertNotIn("4bf92f3577b34da6a3ce929d0e0e4736", got[0].lower())
                self.assertEqual(upstream_fields(r.body, "tracestate"), [])
                self.assertEqual(self.record(path)["trace_id"], got[0][3:35])
                # no start -> dropped.
                path = self.tag()
                r = harness.get(self.port("check"), path, headers=[("traceparent", tp), ("tracestate", "a=b")])
                self.assertEqual(upstream_fields(r.body, "traceparent"), [])
                self.assertEqual(upstream_fields(r.body, "tracestate"), [])
                self.assertIsNone(self.record(path)["trace_id"])

    def test_no_trace_is_started_without_start(self):
        path = self.tag()
        r = harness.get(self.port("check"), path)
        self.assertEqual(upstream_fields(r.body, "traceparent"), [])
        self.assertIsNone(self.record(path)["trace_id"])
        self.assertRegex(self.record(path)["request_id"], UUID4)

    def test_a_listener_without_either_leaves_the_fields_alone(self):
        path = self.tag()
        r = harness.get(self.port("plain"), path, headers=[("X-Request-Id", "client"), ("traceparent", "garbage")])
        self.assertEqual(r.header_all("X-Request-Id"), [])
        self.assertEqual(upstream_fields(r.body, "X-Request-Id"), ["client"])
        self.assertEqual(upstream_fields(r.body, "traceparent"), ["garbage"])
        rec = self.record(path)
        self.assertIsNone(rec["request_id"])
        self.assertIsNone(rec["trace_id"])

    # ---------------------------------------------------------------- HTTP/2

    def curl_h2(self, port, path, *headers, source=None):
        args = ["-i", "--http2-prior-knowledge"]
        if source:
            args += ["--interface", source]
        for h in headers:
            args += ["-H", h]
        p = harness.curl(*args, f"http://127.0.0.1:{self.port(port)}{path}")
        self.assertEqual(p.returncode, 0, p.stderr)
        head, _, body = p.stdout.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.assertTrue(lines[0].startswith("HTTP/2 "), lines[0])
        fields = [l.split(":", 1) for l in lines[1:]]
        return int(lines[0].split()[1]), [(k.strip().lower(), v.strip()) for k, v in fields], body

    def test_h2_generated_id_and_trace_started(self):
        path = self.tag()
        status, fields, body = self.curl_h2("web", path, "x-request-id: client-chosen")
        self.assertEqual(status, 200)
        got = [v for k, v in fields if k == "x-request-id"]
        self.assertEqual(len(got), 1, fields)
        self.assertRegex(got[0], UUID4)
        self.assertEqual(upstream_fields(body, "X-Request-Id"), got)
        tps = upstream_fields(body, "traceparent")
        self.assertEqual(len(tps), 1)
        self.assertRegex(tps[0], TRACEPARENT)
        rec = self.record(path)
        self.assertEqual(rec["request_id"], got[0])
        self.assertEqual(rec["trace_id"], tps[0][3:35])

    def test_h2_trusted_id_and_traceparent_pass(self):
        path = self.tag()
        status, fields, body = self.curl_h2("web", path, "x-request-id: edge-h2", f"traceparent: {VALID_TP}",
                                            "tracestate: k=v", source=TRUSTED)
        self.assertEqual(status, 200)
        self.assertEqual([v for k, v in fields if k == "x-request-id"], ["edge-h2"])
        self.assertEqual(upstream_fields(body, "X-Request-Id"), ["edge-h2"])
        self.assertEqual(upstream_fields(body, "traceparent"), [VALID_TP])
        self.assertEqual(upstream_fields(body, "tracestate"), ["k=v"])
        rec = self.record(path)
        self.assertEqual((rec["request_id"], rec["trace_id"]), ("edge-h2", "4bf92f3577b34da6a3ce929d0e0e4736"))

    def test_h2_malformed_traceparent_dropped_and_local_answer_has_id(self):
        path = self.tag()
        _, _, body = self.curl_h2("check", path, "traceparent: 00-xyz", "tracestate: k=v")
        self.assertEqual(upstream_fields(body, "traceparent"), [])
        self.assertEqual(upstream_fields(body, "tracestate"), [])
        path = "/nowhere?t=" + uuid.uuid4().hex
        status, fields, _ = self.curl_h2("web", path)
        self.assertEqual(status, 404)
        got = [v for k, v in fields if k == "x-request-id"]
        self.assertEqual(len(got), 1, fields)
        self.assertEqual(self.record(path)["request_id"], got[0])


class ReloadTest(harness.LbTestCase):
    def test_request_id_follows_a_reload(self):
        b = self.backend("b")
        lst = {"name": "web", "listen": "127.0.0.1:0", "routes": [harness.route("p")]}
        lb = self.lb(harness.config([harness.pool("p", b)], listeners=[lst]))
        self.assertIsNone(harness.get(lb.port, "/").header("X-Request-Id"))
        lst = dict(lst, request_id=True)  # the same listen: the listener stays, its settings change
        harness.reload_lb(lb, harness.config([harness.pool("p", b)], listeners=[lst]))
        self.assertTrue(harness.wait_until(lambda: harness.get(lb.port, "/").header("X-Request-Id"), timeout=5))


class CheckTest(harness.LbTestCase):
    def test_check_reports_file_line_col(self):
        text = harness.config([harness.pool("p", "127.0.0.1:9")], listeners=[
            {"name": "web", "listen": "127.0.0.1:0", "request_id": {"trust_from": ["10.0.0.1/8"]},
             "routes": [harness.route("p")]}])
        with tempfile.TemporaryDirectory(prefix="lb-it-") as d:
            path = os.path.join(d, "lb.yaml")
            with open(path, "w") as f:
                f.write(text)
            p = harness.run_lb(["--check", "--config", path])
        self.assertNotEqual(p.returncode, 0)
        self.assertRegex(p.stderr + p.stdout, r"lb\.yaml:\d+:\d+: invalid address block '10\.0\.0\.1/8'")
