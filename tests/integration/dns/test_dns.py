"""Hostname endpoints: resolved on the control thread with getaddrinfo (so /etc/hosts
counts), one endpoint per address labelled host:port@ip, re-resolved every dns_refresh and
applied live. lb runs in a private mount namespace with a hosts file of ours bind-mounted
over /etc/hosts (the real one is never touched); rewriting that file moves the name between
two loopback addresses, 127.0.0.2 and 127.0.0.3, each with its own backend."""

import collections
import os
import tempfile
import time
import unittest

from lib import harness

NAME = "app.lb-it.test"


class DnsTest(harness.LbTestCase):
    def setUp(self):
        # One port on both addresses: bind 127.0.0.2:0, then the same port on 127.0.0.3.
        self.two = self.backend("two", listen="127.0.0.2:0")
        self.port = self.two.port
        try:
            self.three = self.backend("three", listen=f"127.0.0.3:{self.port}")
        except RuntimeError as e:
            self.skipTest(f"port {self.port} not free on 127.0.0.3: {e}")
        self.hosts_dir = tempfile.TemporaryDirectory(prefix="lb-it-hosts-")
        self.addCleanup(self.hosts_dir.cleanup)
        self.hosts = os.path.join(self.hosts_dir.name, "hosts")
        self.write_hosts("127.0.0.2")

    def write_hosts(self, *addresses):
        text = "127.0.0.1 localhost\n" + "".join(f"{a} {NAME}\n" for a in addresses)
        if os.path.exists(self.hosts):
            harness.rewrite_in_place(self.hosts, text)
        else:
            with open(self.hosts, "w") as f:
                f.write(text)

    def start(self, **pool_opts):
        pool_opts.setdefault("dns_refresh", "300ms")
        pool = harness.pool("p", f"{NAME}:{self.port}", **pool_opts)
        lb = harness.HostsLb(harness.config([pool]), self.hosts)
        self._lbs.append(lb)
        self.addCleanup(self._stop_lb, lb)
        return lb

    def label(self, ip):
        return f"{NAME}:{self.port}@{ip}"

    def backends_seen(self, lb, n=12):
        with harness.Client(lb.port) as c:
            return collections.Counter(c.request("GET", "/").backend for _ in range(n))

    def wait_dns_change(self, lb, since, timeout=3.0):
        ok = harness.wait_until(lambda: len(harness.log_events(lb, "dns changed")) > since, timeout, 0.02)
        self.assertTrue(ok, "no 'dns changed' within %.1fs; log:\n" % timeout + "\n".join(lb.log_lines()[-15:]))
        return harness.log_events(lb, "dns changed")[since]

    def test_resolved_from_hosts_file(self):
        lb = self.start()
        self.assertEqual(self.backends_seen(lb), {"two": 12})
        eps = harness.pool_endpoints(lb, "p")
        self.assertEqual(list(eps), [self.label("127.0.0.2")])
        self.assertEqual(eps[self.label("127.0.0.2")]["resolved"], f"127.0.0.2:{self.port}")

    def test_changed_address_picked_up(self):
        lb = self.start()
        self.assertEqual(self.backends_seen(lb), {"two": 12})
        self.write_hosts("127.0.0.3")
        t = time.monotonic()
        ev = self.wait_dns_change(lb, 0)
        waited = time.monotonic() - t
        self.assertLess(waited, 0.3 * 1.1 + 1.0)  # one dns_refresh, plus slack
        self.assertEqual(ev.get("endpoint"), f"{NAME}:{self.port}")
        self.assertEqual(ev.get("addresses"), f"127.0.0.3:{self.port}")
        self.assertEqual(self.backends_seen(lb), {"three": 12})
        self.assertEqual(list(harness.pool_endpoints(lb, "p")), [self.label("127.0.0.3")])
        m = harness.metrics(lb)
        names = {ls.get("endpoint") for n, ls, _ in m if n == "lb_upstream_endpoint_healthy"}
        self.assertIn(self.label("127.0.0.3"), names)
        # Only a change is logged: no more 'dns changed' while the file stays the same.
        time.sleep(1.0)
        self.assertEqual(len(harness.log_events(lb, "dns changed")), 1)

    def test_address_added_then_removed_without_dropping(self):
        lb = self.start()
        self.write_hosts("127.0.0.2", "127.0.0.3")
        ev = self.wait_dns_change(lb, 0)
        self.assertEqual(ev.get("addresses"), f"127.0.0.2:{self.port},127.0.0.3:{self.port}")
        self.assertEqual(self.backends_seen(lb), {"two": 6, "three": 6})
        self.assertEqual(sorted(harness.pool_endpoints(lb, "p")),
                         [self.label("127.0.0.2"), self.label("127.0.0.3")])
        # A slow request is in flight to .3 when .3 leaves the name: it completes.
        client = harness.Client(lb.port)
        self.addCleanup(client.close)
        for _ in range(2):  # round robin: one of two consecutive requests goes to .3
            n3 = self.three.requests()
            client.send(harness.build_request("GET", "/?delay=1500"))
            if harness.wait_until(lambda: self.three.requests() > n3, 0.5):
                break
            client.read_response()
        self.assertEqual(self.three.requests(), n3 + 1, "no request in flight to .3")
        self.write_hosts("127.0.0.2")
        self.wait_dns_change(lb, 1)
        r = client.read_response()
        self.assertEqual((r.status, r.backend), (200, "three"))
        self.assertEqual(self.backends_seen(lb), {"two": 12})
        self.assertEqual(list(harness.pool_endpoints(lb, "p")), [self.label("127.0.0.2")])

    def test_resolution_failure_keeps_last_addresses(self):
        lb = self.start()
        self.write_hosts()  # the name is gone: NXDOMAIN (or no answer)
        ok = harness.wait_until(lambda: harness.log_events(lb, "dns refresh failed: keeping the last addresses"),
                                6.0, 0.05)
        self.assertTrue(ok, "\n".join(lb.log_lines()[-10:]))
        self.assertEqual(self.backends_seen(lb), {"two": 12})
        self.assertEqual(harness.log_events(lb, "dns changed"), [])
        self.write_hosts("127.0.0.3")
        self.wait_dns_change(lb, 0, timeout=6.0)
        self.assertEqual(self.backends_seen(lb), {"three": 12})

    def test_health_check_host_header_of_hostname_endpoint(self):
        # The probe's default Host is the endpoint's address as configured, host:port --
        # not the internal label host:port@ip.
        self.two.stop()
        probe = harness.ScriptedBackend("two-probe", host="127.0.0.2", port=self.port)
        self.addCleanup(probe.stop)
        lb = self.start(health_check={"interval": "200ms", "timeout": "100ms"})
        self.assertTrue(harness.wait_until(lambda: probe.probes(), 2.0))
        hs = {k.lower(): v for k, v in probe.probes()[0][2]}
        self.assertEqual(hs.get("host"), f"{NAME}:{self.port}")

    def test_new_address_is_health_checked(self):
        # The address a DNS change brings in is probed like any endpoint; a dead one is
        # marked down and gets no traffic.
        self.three.stop()
        lb = self.start(health_check={"type": "tcp", "interval": "200ms", "timeout": "100ms",
                                      "unhealthy_threshold": 1})
        self.write_hosts("127.0.0.2", "127.0.0.3")
        self.wait_dns_change(lb, 0)
        label3 = self.label("127.0.0.3")
        ok = harness.wait_until(lambda: harness.log_events(lb, "endpoint health changed",
                                                           endpoint=label3, healthy="false"), 2.0)
        self.assertTrue(ok, "\n".join(lb.log_lines()[-10:]))
        self.assertEqual(self.backends_seen(lb), {"two": 12})


if __name__ == "__main__":
    unittest.main()
