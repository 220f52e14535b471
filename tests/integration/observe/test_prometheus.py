"""deploy/prometheus/lb-rules.yaml and deploy/grafana/lb.json against a real Prometheus
server (Debian's `prometheus`) scraping a real lb under bounded load.

The load is shaped so that every alert's condition holds (5xx from a pool whose only
endpoint is down, a flapping endpoint, a failed reload that leaves the file newer than
the running config, a slow route, a listener at its connection limit): then every
recording rule, every alert expression and every dashboard query must return data
through Prometheus' HTTP API, and every alert must be pending or firing. The TLS and TCP
panels must be valid queries naming a metric that docs/metrics.md documents."""

import json
import os
import re
import time
import unittest

import yaml

from lib import harness
from observe import support
from reload import support as rs

DEADLINE = 60  # seconds for everything to show up in Prometheus

# Grafana's variables, as "All" selects them.
VARIABLES = {"$__rate_interval": "1m", "$instance": ".*", "$listener": ".*", "$pool": ".*"}
NOT_YET_PRODUCED = {"lb_tls_handshakes_total", "lb_tcp_bytes_total"}


def grafana_expr(expr):
    for k, v in VARIABLES.items():
        expr = expr.replace(k, v)
    return expr


def documented_metrics():
    with open(os.path.join(support.REPO, "docs", "metrics.md")) as f:
        return set(re.findall(r"`(lb_[a-z_]+)`", f.read()))


class PrometheusTest(harness.LbTestCase):
    def test_rules_and_dashboard_return_data_from_a_real_scrape(self):
        t_test = time.monotonic()
        with open(support.RULES) as f:
            groups = yaml.safe_load(f)["groups"]
        with open(support.DASHBOARD) as f:
            dash = json.load(f)
        records = [r for g in groups for r in g["rules"] if "record" in r]
        alerts = [r for g in groups for r in g["rules"] if "alert" in r]
        panels = [p for p in dash["panels"] if p["type"] != "row"]

        a1, a2, b1, f1 = (self.backend(n) for n in ("a1", "a2", "b1", "f1"))
        check = {"type": "http", "path": "/", "interval": "200ms", "timeout": "150ms",
                 "healthy_threshold": 1, "unhealthy_threshold": 1}
        pools = [harness.pool("pa", a1, a2, health_check=check),
                 harness.pool("pb", b1, health_check=check),
                 harness.pool("pflap", f1, health_check=check),
                 harness.pool("pdead", f"127.0.0.1:{harness.refusing_port()}", health_check=check)]
        web = {"name": "web", "listen": "127.0.0.1:0", "protocol": "http", "routes": [
            harness.route("pa", name="a", path_prefix="/a"),
            harness.route("pb", name="b", path_prefix="/b"),
            harness.route("pa", name="slow", path_prefix="/slow"),
            harness.route("pdead", name="dead", path_prefix="/dead"),
            harness.route("pflap", name="flap", path_prefix="/flap")]}
        tight = {"name": "tight", "listen": "127.0.0.1:0", "protocol": "http",
                 "limits": {"max_connections": 5, "idle_timeout": "120s"},
                 "routes": [harness.route("pb", name="t", path_prefix="/")]}
        text = harness.config(pools, workers=2, listeners=[web, tight])
        text += "metrics:\n  request_duration_buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 1, 2.5, 10]\n"
        lb = self.lb(text, listeners=["web", "tight"])
        prom = support.Prometheus(self, [f"127.0.0.1:{lb.admin_port}"], [support.RULES])
        # The changes below must happen after a first scrape (a counter's increase needs its
        # value from before).
        t0 = time.monotonic()
        while not prom.query('lb_config_reloads_total{result="failure"} == 0')[0]:
            self.assertLess(time.monotonic() - t0, 20, "prometheus never scraped lb")
            time.sleep(0.2)

        # Bounded load (count and time): 2xx on /a and /b, 503 on /dead, 404 off every route,
        # a few 1.2 s requests on /slow, and the tight listener held at its limit.
        port = lb.ports["web"]
        loads = [rs.Load(port, target=t, keepalive=1, fresh=0, max_requests=n, max_seconds=DEADLINE, pause=p).start()
                 for t, n, p in (("/a", 3000, 0.02), ("/b", 3000, 0.02), ("/dead", 600, 0.1),
                                 ("/nope", 300, 0.2), ("/slow?delay=1200", 30, 0.0))]
        self.addCleanup(lambda: [l.stop() for l in loads])
        held = []
        for _ in range(5):
            c = self.client(lb.ports["tight"])
            c.send(harness.build_request("GET", "/"))
            self.assertEqual(c.read_response().status, 200)
            held.append(c)

        # Flapping: f1 goes down and comes back twice on the same port (4 health changes,
        # each held for a few scrapes). On this thread: a backend dies with the thread
        # that started it.
        for i in range(2):
            time.sleep(3)
            f1.stop()
            if i == 0:
                # A failed reload that leaves the file newer than the running config.
                rs.write_atomic(lb.config_path, text.replace("pools:", "pools: [", 1))
                status, body = rs.post_reload(lb)
                self.assertEqual(status, 400, body)
            time.sleep(3)
            f1 = self.backend("f1", listen=f"127.0.0.1:{f1.port}")

        # Now poll until every expression returns data (or the deadline says what did not).
        def missing():
            out = []
            for r in records:
                res, err = prom.query(r["record"])
                if err or not res:
                    out.append(f"record {r['record']}: {err or 'no data'}")
            for a in alerts:
                res, err = prom.query(a["expr"])
                if err or not res:
                    out.append(f"alert {a['alert']} expr: {err or 'no data'}")
            active = {a["labels"]["alertname"] for a in prom.api("alerts")["alerts"]
                      if a["state"] in ("pending", "firing")}
            out += [f"alert {a['alert']} not pending/firing" for a in alerts if a["alert"] not in active]
            for p in panels:
                for t in p["targets"]:
                    expr = grafana_expr(t["expr"])
                    res, err = prom.query(expr)
                    names = set(re.findall(r"\b(lb_[a-z_]+)\b", t["expr"]))
                    if err:
                        out.append(f"panel {p['title']!r}: invalid query {expr}: {err}")
                    elif names & NOT_YET_PRODUCED:
                        continue  # valid, and empty until lb produces it; named in docs (checked below)
                    elif not res:
                        out.append(f"panel {p['title']!r}: no data for {expr}")
            for v in dash["templating"]["list"]:
                if v["type"] != "query":
                    continue
                m = re.fullmatch(r"label_values\((.+), (\w+)\)", v["query"]["query"])
                values = prom.api(f"label/{m.group(2)}/values", **{"match[]": grafana_expr(m.group(1))})
                if not values:
                    out.append(f"variable {v['name']}: no values")
            return out

        t0 = time.monotonic()
        left = missing()
        while left and time.monotonic() - t0 < DEADLINE:
            time.sleep(1)
            left = missing()
        waited = time.monotonic() - t0
        self.assertEqual(left, [], "\n".join(left))

        # The rules loaded and evaluate without errors.
        for g in prom.api("rules")["groups"]:
            for r in g["rules"]:
                self.assertEqual(r["health"], "ok", r)

        # The TLS/TCP panels name metrics lb documents (they are queried above: valid).
        documented = documented_metrics()
        for p in panels:
            for t in p["targets"]:
                for name in set(re.findall(r"\b(lb_[a-z_]+)\b", t["expr"])):
                    self.assertIn(name, documented, f"panel {p['title']!r} names an undocumented metric")
        self.assertTrue(NOT_YET_PRODUCED <= documented)

        for l in loads:
            l.stop()
        print(f"\nprometheus: {len(records)} records, {len(alerts)} alerts, "
              f"{sum(len(p['targets']) for p in panels)} panel queries answered after {waited:.1f}s; "
              f"test {time.monotonic() - t_test:.1f}s")


if __name__ == "__main__":
    unittest.main()
