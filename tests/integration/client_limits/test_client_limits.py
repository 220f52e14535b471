"""Per-client limits (client_limits): open connections, new connections per second and
requests per second per client address, on HTTP/1.1, HTTP/2 (h2c) and TCP listeners, with
an allowlist and the address a PROXY header names. One worker, so the per-worker limits
are exact. Each test speaks from its own loopback source address (a client of its own)."""

import json
import os
import socket
import subprocess
import time
import unittest

from lib import harness

ALLOWED = "127.0.0.2"
HERE = os.path.dirname(os.path.abspath(__file__))


class ClientLimitsTest(harness.LbTestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = cls.class_backend("a")
        route = [harness.route("p")]
        listeners = [
            {"name": "web", "listen": "127.0.0.1:0", "protocol": "http", "protocols": ["h1", "h2"],
             "routes": route, "request_id": True,
             "client_limits": dict(connections=2, requests_per_second=1, burst=3, allowlist=[ALLOWED])},
            {"name": "rate", "listen": "127.0.0.1:0", "protocol": "http", "routes": route,
             "client_limits": dict(connections_per_second=2)},
            {"name": "pg", "listen": "127.0.0.1:0", "protocol": "tcp", "pool": "p",
             "client_limits": dict(connections=1)},
            {"name": "small", "listen": "127.0.0.1:0", "protocol": "http", "routes": route,
             "client_limits": dict(connections=5, table_size=16)},
            {"name": "proxied", "listen": "127.0.0.1:0", "protocol": "http", "routes": route,
             "accept_proxy_protocol": {"from": ["127.0.0.1"]},
             "client_limits": dict(connections=1)},
        ]
        cls.lb_ = cls.class_lb(harness.config([harness.pool("p", cls.a)], listeners=listeners),
                               listeners=["web", "rate", "pg", "small", "proxied"])

    def limited(self, listener, limit):
        return harness.metric_value(harness.metrics(self.lb_), "lb_client_limited_total",
                                    listener=listener, limit=limit)

    def bound(self, listener, source):
        return harness.BoundClient(self.lb_.ports[listener], source, timeout=5)

    def test_connection_cap_closes_the_next_connection(self):
        src = "127.0.0.10"
        before = self.limited("web", "connections")
        c1, c2 = self.bound("web", src), self.bound("web", src)
        self.addCleanup(c1.close)
        self.addCleanup(c2.close)
        for c in (c1, c2):
            self.assertEqual(c.request("GET", "/").status, 200)
        c3 = self.bound("web", src)
        self.addCleanup(c3.close)
        self.assertTrue(c3.wait_closed(3), "the third connection of a client with connections: 2 stays open")
        self.assertEqual(self.limited("web", "connections"), before + 1)
        # Another client is not affected; and a closed connection gives its place back.
        with self.bound("web", "127.0.0.11") as other:
            self.assertEqual(other.request("GET", "/").status, 200)
        c1.close()

        def fourth_ok():
            with self.bound("web", src) as c4:
                try:
                    return c4.request("GET", "/").status == 200
                except (harness.ConnectionClosed, OSError):
                    return False
        self.assertTrue(harness.wait_until(fourth_ok, timeout=3))

    def test_request_rate_429_with_retry_after_then_recovery(self):
        before_backend = self.a.requests()
        before = self.limited("web", "request_rate")
        with self.bound("web", "127.0.0.12") as c:
            statuses = []
            for _ in range(5):
                r = c.request("GET", "/")
                statuses.append(r.status)
                if r.status == 429:
                    self.assertEqual(r.header("Retry-After"), "1")
                    self.assertIsNone(r.header("Connection"))  # the connection stays open
                    self.assertTrue(r.header("X-Request-Id"))  # like lb's other answers
            self.assertEqual(statuses[:3], [200, 200, 200], statuses)  # burst: 3
            self.assertEqual(statuses[3], 429, statuses)
            self.assertEqual(self.a.requests() - before_backend, statuses.count(200))
            self.assertEqual(self.limited("web", "request_rate") - before, statuses.count(429))
            time.sleep(1.1)  # one token back at 1 per second
            self.assertEqual(c.request("GET", "/").status, 200)
        # The access log says why (access lines leave the worker every sweep).
        self.assertTrue(harness.wait_until(lambda: any(
            r.get("status") == 429 and r.get("reason") == "client_request_rate" and r.get("client") == "127.0.0.12"
            for r in harness.access_records(self.lb_)), timeout=3), harness.access_records(self.lb_)[-3:])

    def test_allowlisted_client_is_unlimited(self):
        before = sum(self.limited("web", k) for k in ("connections", "request_rate"))
        conns = [self.bound("web", ALLOWED) for _ in range(4)]  # over connections: 2
        for c in conns:
            self.addCleanup(c.close)
        for c in conns:
            for _ in range(3):  # 12 requests, over burst 3
                self.assertEqual(c.request("GET", "/").status, 200)
        self.assertEqual(sum(self.limited("web", k) for k in ("connections", "request_rate")), before)

    def test_h2_stream_gets_429_and_the_connection_goes_on(self):
        before = self.limited("web", "request_rate")
        p = subprocess.run(["node", os.path.join(HERE, "h2_client.js"), str(self.lb_.ports["web"]), "127.0.0.13", "5"],
                           capture_output=True, text=True, timeout=20)
        out = json.loads(p.stdout)
        self.assertNotIn("error", out, out)
        statuses = [r["status"] for r in out["responses"]]
        self.assertEqual(statuses[:4], [200, 200, 200, 429], out)  # burst: 3
        self.assertEqual(out["responses"][3]["retry_after"], "1")
        self.assertTrue(out["open"], "the 429 ended the connection, not just the stream")
        self.assertEqual(self.limited("web", "request_rate") - before, statuses.count(429))

    def test_connection_rate(self):
        src = "127.0.0.14"
        before = self.limited("rate", "connection_rate")
        results = []
        for _ in range(3):  # 2 per second: a burst of 2
            with self.bound("rate", src) as c:
                try:
                    results.append(c.request("GET", "/", headers=[("Connection", "close")]).status)
                except (harness.ConnectionClosed, OSError):
                    results.append("closed")
        self.assertEqual(results, [200, 200, "closed"])
        self.assertEqual(self.limited("rate", "connection_rate"), before + 1)
        time.sleep(0.6)  # one connection's worth back
        with self.bound("rate", src) as c:
            self.assertEqual(c.request("GET", "/", headers=[("Connection", "close")]).status, 200)

    def test_tcp_listener_closes_over_the_cap(self):
        src = "127.0.0.15"
        before = self.limited("pg", "connections")
        first = socket.create_connection(("127.0.0.1", self.lb_.ports["pg"]), timeout=5, source_address=(src, 0))
        self.addCleanup(first.close)
        first.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(first.recv(100).startswith(b"HTTP/1.1 200"))
        second = socket.create_connection(("127.0.0.1", self.lb_.ports["pg"]), timeout=5, source_address=(src, 0))
        self.addCleanup(second.close)
        try:
            second.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            data = second.recv(100)
        except ConnectionResetError:
            data = b""
        self.assertEqual(data, b"", "the second flow of a client with connections: 1 was served")
        self.assertEqual(self.limited("pg", "connections"), before + 1)

    def test_full_table_admits_new_clients_untracked(self):
        untracked = lambda: harness.metric_value(harness.metrics(self.lb_), "lb_client_untracked_total",
                                                 listener="small")
        before = untracked()
        # 16 clients, each holding a connection, pin every entry of the 16-client table.
        held = [self.bound("small", f"127.0.1.{i}") for i in range(1, 17)]
        for c in held:
            self.addCleanup(c.close)
            self.assertEqual(c.request("GET", "/").status, 200)
        self.assertEqual(untracked(), before)
        with self.bound("small", "127.0.1.100") as c:  # no room: served, untracked, counted
            self.assertEqual(c.request("GET", "/").status, 200)
        self.assertEqual(untracked(), before + 1)

    def test_limits_apply_to_the_address_a_proxy_header_names(self):
        port = self.lb_.ports["proxied"]

        def via_proxy(client_ip):
            c = harness.Client(port, timeout=5)
            c.send(f"PROXY TCP4 {client_ip} 127.0.0.1 4000 80\r\n".encode())
            return c
        before = self.limited("proxied", "connections")
        c1 = via_proxy("203.0.113.9")
        self.addCleanup(c1.close)
        self.assertEqual(c1.request("GET", "/").status, 200)
        c2 = via_proxy("203.0.113.9")  # same client behind the same proxy: over its cap
        self.addCleanup(c2.close)
        self.assertTrue(c2.wait_closed(3))
        with via_proxy("203.0.113.10") as c3:  # another client through the same proxy address
            self.assertEqual(c3.request("GET", "/").status, 200)
        self.assertEqual(self.limited("proxied", "connections"), before + 1)


class ClientLimitsReloadTest(harness.LbTestCase):
    def test_reload_adds_changes_and_rejects_limits(self):
        a = self.backend("a")

        def yaml(cl):
            lst = {"name": "web", "listen": "127.0.0.1:0", "protocol": "http", "routes": [harness.route("p")]}
            if cl is not None:
                lst["client_limits"] = cl
            return harness.config([harness.pool("p", a)], listeners=[lst])
        lb = self.lb(yaml(None))
        src = "127.0.0.20"

        def statuses(n):
            with harness.BoundClient(lb.port, src, timeout=5) as c:
                return [c.request("GET", "/").status for _ in range(n)]
        self.assertEqual(statuses(4), [200] * 4)
        self.assertEqual(harness.reload_lb(lb, yaml({"requests_per_second": 1, "burst": 2})).status, 200)
        self.assertEqual(statuses(3), [200, 200, 429])
        # A bad block is refused with its position; the running limits stay.
        r = harness.reload_lb(lb, yaml({"requests_per_second": 1, "allowlist": ["10.0.0.1/8"]}))
        self.assertEqual(r.status, 400)
        self.assertIn(b"lb.yaml:", r.body)
        running = harness.admin_request(lb, "GET", "/config").json()
        self.assertEqual(running["listeners"][0]["client_limits"]["allowlist"], [])
        self.assertEqual(harness.reload_lb(lb, yaml({"requests_per_second": 1, "allowlist": [src]})).status, 200)
        self.assertEqual(statuses(3), [200] * 3)


if __name__ == "__main__":
    unittest.main()
