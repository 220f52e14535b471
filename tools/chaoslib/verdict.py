"""Which failed requests break the contract, and the summary of a run.

A request is PROTECTED when all of these hold:
  1. it is idempotent and carries no body: a GET (the keep-alive, new-connection,
     tight-listener, rate-flood (where a 429 counts as success) and HTTP/2 kinds,
     and a WebSocket upgrade request);
  2. a healthy endpoint was left: at least one backend was up (not killed, not
     stopped) for the whole of [start - UP_WINDOW, end], where UP_WINDOW covers the
     health checks that mark a restarted backend up (see cluster.UP_WINDOW);
  3. for the `tight` listener: it did not overlap a window in which a max-conn fault
     held that listener at its limits.max_connections (lb closes new connections
     there by design).
A protected request must succeed: any failure is a violation. Unprotected failures (an
upload or a WebSocket session cut by a killed backend, a 503 during a total outage, a
connection closed over a limit) are counted by cause and reported. A "corrupt" cause
(wrong body, upload digest or echo) is a violation whether protected or not."""

import json
import os

PROTECTED_KINDS = {"get-keepalive", "get-newconn", "tight-get", "h2", "websocket", "rate-flood"}


def classify(records, cluster, limit_windows):
    """Adds the verdict to each failed record: [(record, protected, healthy backends)]."""
    out = []
    for rec in records:
        kind, method, start, end, ok, cause = rec
        if ok:
            continue
        healthy = cluster.healthy_slots(start, end)
        protected = kind in PROTECTED_KINDS and bool(healthy)
        if kind == "tight-get" and any(s <= end and start <= e for s, e in limit_windows):
            protected = False
        out.append((rec, protected, healthy))
    return out


def summarize(args, records, failures, faults, checks, t_run):
    by_kind = {}
    for kind, method, start, end, ok, cause in records:
        k = by_kind.setdefault(kind, {"sent": 0, "ok": 0, "failed": 0})
        k["sent"] += 1
        k["ok" if ok else "failed"] += 1
    causes = {}
    violations = list(faults.violations) + list(checks["violations"])
    examples = []
    for (kind, method, start, end, ok, cause), protected, healthy in failures:
        key = ("protected" if protected else "unprotected", kind, cause)
        causes[key] = causes.get(key, 0) + 1
        if protected or cause.startswith("corrupt"):
            if len(examples) < 10:
                examples.append(f"{kind} {method} at {start:.2f}-{end:.2f}s: {cause} "
                                f"(healthy backends: {', '.join(healthy) or 'none'})")
    bad = sum(n for (p, _, c), n in causes.items() if p == "protected" or c.startswith("corrupt"))
    if bad:
        violations.append(f"{bad} protected request(s) failed or corrupt data delivered")
    return {
        "seed": args.seed,
        "minutes": args.minutes,
        "run_seconds": round(t_run, 1),
        "requests": by_kind,
        "requests_total": sum(k["sent"] for k in by_kind.values()),
        "faults": dict(sorted(faults.counts.items())),
        "failures": [{"class": p, "kind": k, "cause": c, "count": n}
                     for (p, k, c), n in sorted(causes.items(), key=lambda x: (x[0][0], -x[1]))],
        "protected_failures": sum(n for (p, _, _), n in causes.items() if p == "protected"),
        "examples": examples,
        "rss_kib": checks["rss"],
        "leaks": checks["leaks"],
        "lb_errors": checks.get("lb_errors", {}),
        "notes": checks["notes"],
        "violations": violations,
        "result": "FAIL" if violations else "PASS",
    }


def _num(v):
    return "?" if v is None else f"{v:g}"


def text(s):
    lines = [f"chaos: seed {s['seed']}, {s['minutes']} min ({s['run_seconds']} s of load), "
             f"{s['requests_total']} requests"]
    lines.append(f"  {'kind':<18} {'sent':>8} {'ok':>8} {'failed':>7}")
    for kind, k in sorted(s["requests"].items()):
        lines.append(f"  {kind:<18} {k['sent']:>8} {k['ok']:>8} {k['failed']:>7}")
    lines.append("faults: " + ", ".join(f"{k} {v}" for k, v in s["faults"].items()))
    lines.append(f"failures by cause ({s['protected_failures']} protected):")
    for f in s["failures"]:
        lines.append(f"  {f['class']:<11} {f['kind']:<18} {f['cause']:<22} {f['count']}")
    if not s["failures"]:
        lines.append("  none")
    for e in s["examples"]:
        lines.append(f"  e.g. {e}")
    if s["lb_errors"]:
        lines.append("lb's error answers (access log): "
                     + ", ".join(f"{k}: {v}" for k, v in s["lb_errors"].items()))
    r = s["rss_kib"]
    lines.append(f"rss: {r['start'] / 1024:.1f} MiB at the start of load, {r['end'] / 1024:.1f} MiB after it "
                 f"(drift {(r['end'] - r['start']) / 1024:+.1f} MiB, peak {r['peak'] / 1024:.1f} MiB)")
    lk = s["leaks"]
    lines.append(f"after load: fds {lk['fds_end']} (baseline {lk['fds_baseline']}), "
                 f"downstream connections {_num(lk['downstream_active'])}, "
                 f"upstream connections {_num(lk['upstream_active'])}")
    for n in s["notes"]:
        lines.append(f"note: {n}")
    for v in s["violations"]:
        lines.append(f"VIOLATION: {v}")
    lines.append(f"result: {s['result']}")
    return "\n".join(lines)


def write_json(path, s):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(s, f, indent=2)
        f.write("\n")
