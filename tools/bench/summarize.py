#!/usr/bin/env python3
"""Print the tools/bench/bench.sh tables from the CSV files in a results dir.

usage: summarize.py RESULTS_DIR TARGET,TARGET,...
"""
import csv
import os
import statistics
import sys

out = sys.argv[1]
order = sys.argv[2].split(",") if len(sys.argv) > 2 else ["lb", "nginx", "haproxy", "direct"]


def rows(name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def num(x):
    return float(x) if x not in (None, "") else None


def med(rs, key):
    xs = [num(r[key]) for r in rs if num(r.get(key)) is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def ratio(a, b):
    return None if a is None or not b else a / b


def ordered(keys):
    return [t for t in order if t in keys] + sorted(k for k in keys if k not in order)


tp = rows("throughput.csv")
NOISY_PCT = 20  # a run is "noisy" when processes outside the benchmark used this much CPU
noisy_runs = [0]
scenarios = []
by = {}
for r in tp:
    if r["scenario"] not in scenarios:
        scenarios.append(r["scenario"])
    by.setdefault(r["scenario"], {}).setdefault(r["target"], []).append(r)

for scen in scenarios:
    targets = by[scen]
    print("\n== %s: wrk, median of %d round(s) ==" % (scen, max(len(v) for v in targets.values())))
    print("%-8s %9s %7s %8s %8s %7s %7s %8s %7s %7s %6s %6s %5s %-5s" % (
        "target", "req/s", "vs ngx", "p50 ms", "p99 ms", "proxy%", "us/req", "us/ngx", "spread",
        "B/resp", "errors", "other%", "noisy", "bound"))
    ngx_rps = med(targets.get("nginx", []), "rps")
    ngx_us = med(targets.get("nginx", []), "proxy_us_per_req")
    for t in ordered(targets):
        rs = targets[t]
        rps = [float(r["rps"]) for r in rs]
        m = statistics.median(rps)
        spread = (max(rps) - min(rps)) / m * 100 if m else 0
        p50, p99, us = med(rs, "p50_us"), med(rs, "p99_us"), med(rs, "proxy_us_per_req")
        busy_load, busy_proxy = med(rs, "load_core_busy_pct"), med(rs, "proxy_core_busy_pct")
        bound = {(True, True): "both", (True, False): "load", (False, True): "proxy"}.get(
            (busy_load >= 95, busy_proxy >= 95 and t != "direct"), "-")
        noisy = sum(1 for r in rs if (num(r["other_cpu_pct"]) or 0) >= NOISY_PCT)
        if t != "direct":  # direct: the idle proxy core's own kernel network work shows as other%
            noisy_runs[0] += noisy
        print("%-8s %9.0f %7s %8s %8s %7s %7s %8s %6.1f%% %7s %6d %6s %5s %-5s" % (
            t, m, fmt(ratio(m, ngx_rps), ".3f"), fmt(p50 and p50 / 1000, ".3f"), fmt(p99 and p99 / 1000, ".3f"),
            fmt(med(rs, "proxy_cpu_pct"), ".0f"), fmt(us, ".2f"), fmt(ratio(us, ngx_us), ".3f"), spread,
            fmt(med(rs, "bytes_per_resp"), ".0f"), sum(int(r["errors"]) for r in rs),
            fmt(max(num(r["other_cpu_pct"]) or 0 for r in rs), ".0f"), "%d/%d" % (noisy, len(rs)), bound))
print_notes = bool(tp)
if print_notes:
    print("\n(req/s, latency, CPU: medians over rounds. vs ngx = ratio to nginx (req/s: higher is better;"
          "\n us/ngx: us/req ratio, lower is better). proxy% = CPU of the proxy process tree on its own core;"
          "\n us/req = proxy CPU time per request, the per-core cost. spread = (max-min)/median req/s."
          "\n B/resp = bytes received per response (headers + body). errors = wrk socket errors +"
          "\n status >= 400. other% = max CPU used outside the benchmark during a run (includes"
          "\n kernel threads). bound = core >= 95% busy: load = wrk+origin core, proxy = proxy core;"
          "\n when the load core is the bottleneck, req/s ratios understate the proxy differences"
          "\n and us/req is the figure to compare. noisy = runs with other% >= " + str(NOISY_PCT) + ".)")
    if noisy_runs[0]:
        print("WARNING: %d of %d proxied runs shared the machine with other work (other%% >= %d):"
              " req/s and latency of those runs are not comparable; us/req is less affected."
              % (noisy_runs[0], sum(1 for r in tp if r["target"] != "direct"), NOISY_PCT))

idle = rows("idle.csv")
if idle:
    print("\n== idle keep-alive connections: RSS growth of the proxy process tree ==")
    print("%-8s %7s %7s %7s %9s %9s %10s %11s %8s" % (
        "target", "conns", "failed", "open", "upstream", "base MiB", "loaded MiB", "bytes/conn", "vs ngx"))
    ngx = next((num(r["bytes_per_conn"]) for r in idle if r["target"] == "nginx"), None)
    for t in ordered({r["target"] for r in idle}):
        for r in (r for r in idle if r["target"] == t):
            b = num(r["bytes_per_conn"])
            print("%-8s %7s %7s %7s %9s %9.1f %10.1f %11s %8s" % (
                t, r["conns_ok"], r["conns_failed"], r["still_open"], r["upstream_conns"],
                int(r["rss_base_kb"]) / 1024, int(r["rss_loaded_kb"]) / 1024, fmt(b, ".0f"),
                fmt(ratio(b, ngx), ".2f")))
    print("(bytes/conn = (loaded - base RSS) / connections; direct = the origin nginx itself;"
          " upstream = proxy->origin connections while idle; open = still open when released)")

ins = rows("instr.csv")
if ins:
    print("\n== user-space instructions per request (callgrind, fixed request count) ==")
    print("%-8s %-6s %9s %11s %8s" % ("target", "scen", "requests", "instr/req", "vs ngx"))
    ngx = {r["scenario"]: num(r["instr_per_req"]) for r in ins if r["target"] == "nginx"}
    for t in ordered({r["target"] for r in ins}):
        for r in (r for r in ins if r["target"] == t):
            ipr = num(r["instr_per_req"])
            print("%-8s %-6s %9s %11s %8s" % (t, r["scenario"], r["requests"], fmt(ipr, ".0f"),
                                           fmt(ratio(ipr, ngx.get(r["scenario"])), ".2f")))
    print("(all threads of the process, counters zeroed after a warm-up; top functions: raw/callgrind-*.top.txt)")
