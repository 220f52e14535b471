"""A known mix of traffic through one lb, and what its metrics must then say.

Routes on listener `web` (2 workers):
  ok    /ok    -> pa   [a]              200 (concurrent clients, keep-alive and new connections)
  ab    /ab    -> pab  [a, b]           200, split by round robin (counted by X-Backend)
  err   /err   -> pa                    upstream answers 500 (?status=500)
  slow  /slow  -> pa, timeout 300ms     504 (?delay=1500)
  ej    /ej    -> pej  [dead], outlier  first 502 (connect fails, ejected), then 503 (no healthy endpoint)
  dead  /dead  -> pdead [dead]          502 every time (connect fails, no retries)
  full  /full  -> pfull [a], max 1 conn one slow 200 holds the connection; 503 (endpoints full) meanwhile
  mix   /mix   -> pmix [dead, b]        200 every time; connect failures retried on b
and answered before routing: 404 (no route), 400 (malformed).
"""

import threading

from lib import harness
from lib.harness import build_request
from reload import support

N_OK_THREADS = 4
N_OK_PER_THREAD = 40
N_AB = 20
N_ERR = 5
N_SLOW = 2
N_EJ = 6
N_DEAD = 4
N_FULL_503 = 3
N_MIX = 10
N_404 = 7
N_400 = 3

MALFORMED = [
    b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
    b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n",
]


def config(a, b, dead1, dead2, dead3, workers=2, access_log=None):
    no_retry = {"attempts": 0}

    def r(pool, name, prefix, **kw):
        route = harness.route(pool, name=name, path_prefix=prefix, timeout=kw.pop("timeout", "30s"))
        route.update(kw)
        return route

    routes = [
        r("pa", "ok", "/ok"),
        r("pab", "ab", "/ab"),
        r("pa", "err", "/err"),
        r("pa", "slow", "/slow", timeout="300ms"),
        r("pej", "ej", "/ej", retries=no_retry),
        r("pdead", "dead", "/dead", retries=no_retry),
        r("pfull", "full", "/full"),
        r("pmix", "mix", "/mix"),
    ]
    pools = [
        harness.pool("pa", a),
        harness.pool("pab", a, b),
        harness.pool("pej", dead1, outlier={"consecutive_failures": 1, "base_ejection": "60s",
                                            "max_ejected_percent": 100}),
        harness.pool("pdead", dead2),
        harness.pool("pfull", a, max_connections_per_endpoint=1),
        harness.pool("pmix", dead3, b),
    ]
    doc = {"workers": workers, "drain_timeout": "3s", "admin": {"listen": "127.0.0.1:0"}}
    if access_log is not None:
        doc["access_log"] = access_log
    doc["listeners"] = [{"name": "web", "listen": "127.0.0.1:0", "protocol": "http", "routes": routes}]
    doc["pools"] = pools
    return support.yaml_doc(doc)


class Mix:
    """Starts backends and lb on `test`, sends the mix, and records what was sent."""

    def __init__(self, test, access_log=None, workers=2):
        self.test = test
        self.a = test.backend("a")
        self.b = test.backend("b")
        self.dead = [f"127.0.0.1:{p}" for p in harness.refusing_ports(3)]
        self.lb = test.lb(config(self.a, self.b, *self.dead, workers=workers, access_log=access_log))
        self.connections = 0       # client connections opened to `web`
        self.statuses = {}         # route -> {status: count}
        self.ab_backends = {}      # backend name -> count for route ab
        self.sent = []             # (route, status, reason) in order, for the access log

    def note(self, route, status, reason=None):
        self.statuses.setdefault(route, {}).setdefault(status, 0)
        self.statuses[route][status] += 1
        self.sent.append((route, status, reason))

    def get(self, target, keep=None):
        """One request; on `keep` (a Client) or on a new connection."""
        if keep is not None:
            return keep.request("GET", target)
        self.connections += 1
        return harness.get(self.lb.port, target, headers=[("Connection", "close")])

    def run(self):
        t = self.test
        lock = threading.Lock()
        errors = []

        # ok: concurrent clients; even threads keep one connection, odd ones open one per request.
        def ok_thread(i):
            try:
                keep = harness.Client(self.lb.port) if i % 2 == 0 else None
                opened = 1 if keep else 0
                for _ in range(N_OK_PER_THREAD):
                    if keep is not None:
                        r = keep.request("GET", "/ok")
                    else:
                        r = harness.get(self.lb.port, "/ok", headers=[("Connection", "close")])
                        opened += 1
                    if r.status != 200:
                        raise AssertionError(f"/ok answered {r.status}")
                if keep is not None:
                    keep.close()
                with lock:
                    self.connections += opened
            except Exception as e:  # reported on the main thread
                errors.append(e)
        threads = [threading.Thread(target=ok_thread, args=(i,)) for i in range(N_OK_THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
        t.assertEqual(errors, [])
        with lock:
            for _ in range(N_OK_THREADS * N_OK_PER_THREAD):
                self.statuses.setdefault("ok", {}).setdefault(200, 0)
                self.statuses["ok"][200] += 1
                self.sent.append(("ok", 200, None))

        keep = harness.Client(self.lb.port)
        self.connections += 1
        for _ in range(N_AB):
            r = self.get("/ab", keep)
            t.assertEqual(r.status, 200)
            self.ab_backends[r.backend] = self.ab_backends.get(r.backend, 0) + 1
            self.note("ab", 200)
        for _ in range(N_ERR):
            t.assertEqual(self.get("/err?status=500", keep).status, 500)
            self.note("err", 500)
        keep.close()
        for _ in range(N_SLOW):
            t.assertEqual(self.get("/slow?delay=1500").status, 504)
            self.note("slow", 504, "upstream_timeout")
        for i in range(N_EJ):
            want = 502 if i == 0 else 503
            t.assertEqual(self.get("/ej").status, want)
            self.note("ej", want, "connect_failed" if i == 0 else "no_healthy_endpoint")
        for _ in range(N_DEAD):
            t.assertEqual(self.get("/dead").status, 502)
            self.note("dead", 502, "connect_failed")

        # full: one slow request holds pfull's only allowed connection.
        hold = harness.Client(self.lb.port, timeout=10)
        self.connections += 1
        hold.send(build_request("GET", "/full?delay=1000"))
        t.assertTrue(support.wait_until(
            lambda: {p["name"]: p for p in support.admin_json(self.lb, "/pools")["pools"]}
            ["pfull"]["endpoints"][0]["in_flight"] == 1, 3), "the holding request did not reach pfull")
        for _ in range(N_FULL_503):
            t.assertEqual(self.get("/full").status, 503)
            self.note("full", 503, "endpoints_full")
        t.assertEqual(hold.read_response().status, 200)
        hold.close()
        self.note("full", 200)

        for _ in range(N_MIX):
            t.assertEqual(self.get("/mix").status, 200)
            self.note("mix", 200)
        for i in range(N_404):
            t.assertEqual(self.get(f"/nowhere/{i}").status, 404)
            self.note("", 404, "no_route")
        for data in MALFORMED:
            self.connections += 1
            reply = support.raw_exchange(self.lb.port, data)
            t.assertTrue(reply.startswith(b"HTTP/1.1 400 "), reply[:100])
            self.note("", 400, "malformed_request")
        return self

    def total_requests(self):
        return sum(sum(c.values()) for c in self.statuses.values())
