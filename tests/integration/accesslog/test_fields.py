"""Access log: exactly one JSON line per request, with the right fields and values
(route, pool, endpoint, status, bytes, durations, reason, attempts)."""

import collections
import datetime
import os
import time
import unittest

from lib import harness
from lib.harness import build_request
from metrics import mix as mixmod
from reload import support

ACCESS_LOG = {"path": "access.log", "format": "json"}


def parse_time(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()


class FieldsTest(harness.LbTestCase):
    def log_path(self, lb):
        return os.path.join(lb.dir.name, "access.log")

    def lines(self, lb, count, settle=0.3):
        lines = support.wait_access_lines(self.log_path(lb), count, timeout=5)
        time.sleep(settle)  # nothing more may come
        return support.read_access_log(self.log_path(lb))

    def test_one_line_per_request_of_the_mix(self):
        t0 = time.time()
        m = mixmod.Mix(self, access_log=ACCESS_LOG).run()
        t1 = time.time()
        a, b = m.a.endpoint(), m.b.endpoint()
        d1, d2, d3 = m.dead
        lines = self.lines(m.lb, m.total_requests())
        self.assertEqual(len(lines), m.total_requests(), "not exactly one line per request")

        for line in lines:
            self.assertEqual(list(line), support.ACCESS_KEYS)
            self.assertEqual(line["listener"], "web")
            self.assertEqual(line["client"], "127.0.0.1")
            # A head lb refused as malformed may be logged without its method and path.
            self.assertIn(line["method"], ("GET", "") if line["status"] == 400 else ("GET",), line)
            self.assertTrue(t0 - 1 <= parse_time(line["time"]) <= t1 + 1, line)
            self.assertIsInstance(line["duration"], float)
            self.assertGreaterEqual(line["duration"], 0)
            self.assertGreater(line["bytes_in"], 0, line)
            self.assertGreater(line["bytes_out"], 0, line)

        got = collections.Counter((l["route"] or "", l["status"], l["reason"]) for l in lines)
        self.assertEqual(got, collections.Counter(m.sent))

        def where(route):
            return [l for l in lines if l["route"] == route]

        expect = {  # route: (pool, set of endpoints, attempts, upstream answered)
            "ok": ("pa", {a}, {1}, True),
            "err": ("pa", {a}, {1}, True),
            "slow": ("pa", {a}, {1}, False),
            "dead": ("pdead", {d2}, {1}, False),
            "mix": ("pmix", {b}, {1, 2}, True),
        }
        for route, (pool, endpoints, attempts, answered) in expect.items():
            with self.subTest(route=route):
                for l in where(route):
                    self.assertEqual(l["pool"], pool, l)
                    self.assertIn(l["endpoint"], endpoints, l)
                    self.assertIn(l["attempts"], attempts, l)
                    if answered:
                        self.assertIsInstance(l["upstream_duration"], float, l)
                        self.assertLessEqual(l["upstream_duration"], l["duration"] + 1e-6, l)
                    else:
                        self.assertIsNone(l["upstream_duration"], l)
        with self.subTest(route="ab"):
            self.assertEqual(collections.Counter(l["endpoint"] for l in where("ab")),
                             collections.Counter({{"a": a, "b": b}[k]: v for k, v in m.ab_backends.items()}))
        with self.subTest(route="mix"):
            # Attempts beyond the first are the retries after connect failures.
            mm = support.metrics(m.lb)
            self.assertEqual(sum(l["attempts"] - 1 for l in where("mix")),
                             mm.get("lb_upstream_retries_total", pool="pmix"))
        with self.subTest(route="ej"):
            ej = sorted(where("ej"), key=lambda l: l["time"])  # workers' lines interleave in the file
            self.assertEqual([(l["status"], l["endpoint"], l["attempts"]) for l in ej],
                             [(502, d1, 1)] + [(503, None, 0)] * (len(ej) - 1))
            self.assertTrue(all(l["pool"] == "pej" for l in ej))
        with self.subTest(route="full"):
            full = sorted(where("full"), key=lambda l: l["status"])
            self.assertEqual([(l["status"], l["endpoint"], l["attempts"], l["reason"]) for l in full],
                             [(200, a, 1, None)] + [(503, None, 0, "endpoints_full")] * mixmod.N_FULL_503)
            self.assertGreaterEqual(full[0]["duration"], 1.0)
        with self.subTest(route="slow"):
            for l in where("slow"):
                self.assertGreaterEqual(l["duration"], 0.3, l)
        with self.subTest(route="none"):
            for l in [l for l in lines if l["route"] is None]:
                self.assertEqual((l["pool"], l["endpoint"], l["attempts"], l["upstream_duration"]),
                                 (None, None, 0, None), l)
        with self.subTest(check="paths"):
            paths = collections.Counter(l["path"] for l in lines)
            self.assertEqual(paths["/ok"], mixmod.N_OK_THREADS * mixmod.N_OK_PER_THREAD)
            self.assertEqual(paths["/err?status=500"], mixmod.N_ERR)
            self.assertEqual(sum(v for k, v in paths.items() if k.startswith("/nowhere/")), mixmod.N_404)

    def test_bytes_in_and_out_are_exact(self):
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a)], routes=[harness.route("p", name="r",
                                                                                   path_prefix="/r")]).replace(
            "listeners:", "access_log:\n  path: access.log\nlisteners:"))
        sent = []  # (path, bytes_in, bytes_out, status)

        def one(data, path, status):
            reply = support.raw_exchange(lb.port, data)
            self.assertTrue(reply.startswith(b"HTTP/1.1 %d " % status), reply[:100])
            sent.append((path, len(data), len(reply), status))

        one(build_request("GET", "/r/get", headers=[("Connection", "close")]), "/r/get", 200)
        body = b"x" * 1000
        one(build_request("POST", "/r/post?echo=1", headers=[("Connection", "close")], body=body),
            "/r/post?echo=1", 200)
        one(build_request("GET", "/r/big?size=1048576", headers=[("Connection", "close")]),
            "/r/big?size=1048576", 200)
        one(build_request("GET", "/nope", headers=[("Connection", "close")]), "/nope", 404)
        # Refused on its head: the body byte is never read, so bytes_in is the head only.
        bad_head = b"GET /r HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
        one(bad_head + b"x", "/r", 400)
        sent[-1] = (sent[-1][0], len(bad_head), sent[-1][2], 400)
        # Three on one keep-alive connection.
        c = self.client(lb.port)
        for i in range(3):
            req = build_request("GET", f"/r/ka{i}?size={100 * i}")
            c.send(req)
            r = c.read_response()
            sent.append((f"/r/ka{i}?size={100 * i}", len(req), len(r.head_raw) + len(r.body), 200))
        lines = self.lines(lb, len(sent))
        self.assertEqual(len(lines), len(sent))
        got = sorted((l["path"], l["bytes_in"], l["bytes_out"], l["status"]) for l in lines)
        want = sorted(sent)
        # The malformed request's path is whatever lb could read: compare it by status only.
        got_bad = [g for g in got if g[3] == 400]
        want_bad = [w for w in want if w[3] == 400]
        self.assertEqual([g for g in got if g[3] != 400], [w for w in want if w[3] != 400])
        self.assertEqual([(g[1], g[2]) for g in got_bad], [(w[1], w[2]) for w in want_bad])

    def test_upstream_statuses_have_no_reason(self):
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a)]).replace(
            "listeners:", "access_log:\n  path: access.log\nlisteners:"))
        for status in (200, 404, 500, 503):
            self.assertEqual(harness.get(lb.port, f"/?status={status}").status, status)
        lines = self.lines(lb, 4)
        self.assertEqual(sorted((l["status"], l["reason"], l["route"], l["pool"]) for l in lines),
                         [(s, None, "route0", "p") for s in (200, 404, 500, 503)])


if __name__ == "__main__":
    unittest.main()
