"""Upstream TLS per pool (`tls:` on a pool): lb verifies nginx's certificate
against a test CA made at test time, sends SNI, reuses pooled TLS connections,
resumes sessions, refuses a wrong CA with a 502 and the reason in the access
log, and keeps an idle pooled connection that receives a late TLS 1.3
NewSessionTicket. HTTP and TCP listeners; real lb, real nginx."""

import socket
import subprocess
import tempfile
import time
import unittest

from lib import harness
from upstream_tls import origins
from tcp import support as tcp


class UpstreamTlsTest(harness.LbTestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="lb-uptls-")
        d = cls.tmp.name
        cls.ca = origins.make_ca(d, "test-ca")
        cls.wrong_ca = origins.make_ca(d, "wrong-ca")
        cls.leaf = origins.make_leaf(d, "origin", cls.ca, ["DNS:a.test", "DNS:b.test", "IP:127.0.0.1"])
        cls.nginx = origins.Nginx(d, cls.leaf)
        cls.addClassCleanup(cls.nginx.stop)
        cls.addClassCleanup(cls.tmp.cleanup)

    def http_lb(self, tls, endpoint=None, workers=1):
        pool = harness.pool("up", endpoint or self.nginx.endpoint(), tls=tls, connect_timeout="2s")
        return self.lb(harness.config([pool], workers=workers))

    def requests_since(self, mark):
        return self.nginx.lines()[mark:]

    def access_reason(self, lb, status):
        recs = []
        harness.wait_until(lambda: recs.extend(r for r in harness.access_records(lb) if r.get("status") == status)
                           or recs, 5)
        return recs

    def test_http_listener_to_tls_pool_verifies_and_reuses(self):
        lb = self.http_lb({"ca": self.ca[0]})
        mark = len(self.nginx.lines())
        with harness.Client(lb.port) as c:
            for _ in range(5):
                r = c.request("GET", "/")
                self.assertEqual(r.status, 200)
                # An IP literal endpoint sends no SNI: nginx's default server answers.
                self.assertEqual(r.body, b"a.test sni= reused=.\n")
        # nginx writes its log line after the response: wait for the fifth.
        harness.wait_until(lambda: len(self.requests_since(mark)) >= 5, 5)
        lines = self.requests_since(mark)
        self.assertEqual(len(lines), 5)
        self.assertEqual(len({l[0] for l in lines}), 1, f"one pooled TLS connection for 5 requests: {lines}")
        self.assertEqual(lines[-1][4], "TLSv1.3")
        samples = harness.metrics(lb)
        self.assertEqual(harness.metric_value(samples, "lb_upstream_tls_handshakes_total", pool="up", result="full"), 1)

    def test_sni_option_picks_the_server_name(self):
        lb = self.http_lb({"ca": self.ca[0], "sni": "b.test"})
        # nginx picks the certificate by SNI ($ssl_server_name), the server block by Host.
        r = harness.get(lb.port, host="b.test")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"b.test sni=b.test reused=.\n")

    def test_session_resumed_on_a_new_connection(self):
        # keepalive max_idle 0: every request opens a new upstream connection.
        pool = harness.pool("up", self.nginx.endpoint(), tls={"ca": self.ca[0], "sni": "a.test"},
                            keepalive={"max_idle": 0})
        lb = self.lb(harness.config([pool]))
        mark = len(self.nginx.lines())
        bodies = [harness.get(lb.port).body for _ in range(3)]
        self.assertEqual(bodies[0], b"a.test sni=a.test reused=.\n")
        self.assertEqual(bodies[1:], [b"a.test sni=a.test reused=r\n"] * 2)
        # nginx writes its log line after the response: wait for the third.
        harness.wait_until(lambda: len(self.requests_since(mark)) >= 3, 5)
        self.assertEqual(len({l[0] for l in self.requests_since(mark)}), 3)
        samples = harness.metrics(lb)
        self.assertEqual(harness.metric_value(samples, "lb_upstream_tls_handshakes_total", pool="up", result="resumed"), 2)

    def test_tls12_origin_resumes_too(self):
        d = tempfile.mkdtemp(dir=self.tmp.name)
        ng = origins.Nginx(d, self.leaf, protocols="TLSv1.2")
        self.addCleanup(ng.stop)
        pool = harness.pool("up", ng.endpoint(), tls={"ca": self.ca[0]}, keepalive={"max_idle": 0})
        lb = self.lb(harness.config([pool]))
        bodies = [harness.get(lb.port).body for _ in range(2)]
        self.assertEqual(bodies, [b"a.test sni= reused=.\n", b"a.test sni= reused=r\n"])
        self.assertEqual(ng.lines()[-1][4], "TLSv1.2")

    def test_wrong_ca_is_a_502_with_the_reason(self):
        lb = self.http_lb({"ca": self.wrong_ca[0]})
        r = harness.get(lb.port)
        self.assertEqual(r.status, 502)
        recs = self.access_reason(lb, 502)
        self.assertTrue(recs, "an access log line for the 502")
        self.assertEqual(recs[0]["reason"], "upstream_tls_verify_failed: unable to get local issuer certificate")
        samples = harness.metrics(lb)
        self.assertEqual(
            harness.metric_value(samples, "lb_upstream_tls_handshakes_total", pool="up", result="verify_failed"), 1)

    def test_name_mismatch_is_refused(self):
        lb = self.http_lb({"ca": self.ca[0], "sni": "c.test"})
        self.assertEqual(harness.get(lb.port).status, 502)
        self.assertEqual(self.access_reason(lb, 502)[0]["reason"], "upstream_tls_verify_failed: hostname mismatch")

    def test_system_store_refuses_the_test_ca(self):
        lb = self.http_lb(True)
        self.assertEqual(harness.get(lb.port).status, 502)
        self.assertTrue(self.access_reason(lb, 502)[0]["reason"].startswith("upstream_tls_verify_failed"))

    def test_verify_off_accepts_the_wrong_ca(self):
        lb = self.http_lb({"ca": self.wrong_ca[0], "verify": False})
        self.assertEqual(harness.get(lb.port).status, 200)

    def test_plain_pool_to_tls_origin_is_not_mixed_up(self):
        # A reload turning TLS off must not hand the pooled TLS connection to the plain pool.
        lb = self.http_lb({"ca": self.ca[0]})
        with harness.Client(lb.port) as c:
            self.assertEqual(c.request("GET", "/").status, 200)
        plain = harness.config([harness.pool("up", self.nginx.endpoint())])
        self.assertEqual(harness.reload_lb(lb, plain).status, 200)
        time.sleep(0.3)
        # Plain HTTP to a TLS port: nginx answers 400 in the clear; a reused TLS connection would give 200.
        self.assertEqual(harness.get(lb.port).status, 400)

    def test_tcp_listener_to_tls_pool(self):
        cfg = tcp.tcp_config([self.nginx.endpoint()], pool_extra={"tls": {"ca": self.ca[0], "sni": "b.test"}})
        lb = self.lb(cfg)
        s = tcp.connect(lb.port)
        s.sendall(b"GET / HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n")
        data = tcp.read_all(s)
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:200])
        self.assertTrue(data.endswith(b"b.test sni=b.test reused=.\n"), data[-200:])

    def test_tcp_listener_wrong_ca_logs_the_reason(self):
        cfg = tcp.tcp_config([self.nginx.endpoint()], pool_extra={"tls": {"ca": self.wrong_ca[0]}})
        lb = self.lb(cfg)
        s = tcp.connect(lb.port)
        self.assertEqual(tcp.read_all(s), b"")
        s.close()
        recs = []
        harness.wait_until(lambda: recs.extend(r for r in harness.access_records(lb) if r.get("reason")) or recs, 5)
        self.assertEqual(recs[0]["reason"], "upstream_tls_verify_failed: unable to get local issuer certificate")

    def test_late_ticket_on_an_idle_pooled_connection_keeps_it(self):
        origin = origins.TicketOrigin(self.leaf, ticket_after=0.3)
        self.addCleanup(origin.stop)
        lb = self.http_lb({"ca": self.ca[0]}, endpoint=origin.endpoint())
        self.assertEqual(harness.get(lb.port).body, b"connection 1\n")
        # Idle for several sweeps: the pool watches the connection, then the ticket arrives.
        self.assertTrue(harness.wait_until(lambda: origin.tickets_sent == 1, 5))
        time.sleep(0.5)
        self.assertEqual(harness.get(lb.port).body, b"connection 1\n")
        self.assertEqual(origin.connections, 1)

    def test_health_checks_speak_tls_and_verify(self):
        hc = {"type": "http", "path": "/", "interval": "500ms", "timeout": "400ms",
              "healthy_threshold": 1, "unhealthy_threshold": 1}
        good = harness.pool("good", self.nginx.endpoint(), tls={"ca": self.ca[0]}, health_check=hc)
        bad = harness.pool("bad", self.nginx.endpoint(), tls={"ca": self.wrong_ca[0]}, health_check=hc)
        lb = self.lb(harness.config([good, bad]))
        healthy = lambda pool: harness.metric_value(harness.metrics(lb), "lb_upstream_endpoint_healthy", pool=pool)
        self.assertTrue(harness.wait_until(lambda: healthy("bad") == 0, 5), "a refused certificate fails the check")
        events = harness.log_events(lb, "endpoint health changed", pool="bad", healthy="false")
        self.assertEqual(events[0]["reason"], "upstream_tls_verify_failed: unable to get local issuer certificate")
        # In the clear, nginx's TLS port answers 400: healthy after several checks means TLS was spoken.
        time.sleep(1.2)
        self.assertEqual(healthy("good"), 1)
        self.assertEqual(harness.get(lb.port).status, 200)


class CheckTest(unittest.TestCase):
    def check(self, pool_tls):
        cfg = harness.config([harness.pool("up", "127.0.0.1:9", tls=pool_tls)], admin=False)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(cfg)
        p = subprocess.run([harness.lb_bin(), "--check", "--config", f.name], capture_output=True, text=True,
                           timeout=20)
        return p.returncode, p.stderr, f.name

    def test_missing_ca_file_is_reported_at_its_key(self):
        code, err, path = self.check({"ca": "/nonexistent/ca.pem"})
        self.assertEqual(code, 1)
        self.assertRegex(err, path.replace(".", r"\.") + r":\d+:\d+: cannot read '/nonexistent/ca.pem'")

    def test_ca_without_certificates_is_reported(self):
        with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as f:
            f.write("not a certificate\n")
        code, err, _ = self.check({"ca": f.name})
        self.assertEqual(code, 1)
        self.assertIn("holds no PEM certificate", err)


if __name__ == "__main__":
    unittest.main()
