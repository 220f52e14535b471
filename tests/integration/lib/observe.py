"""What a running lb shows: its admin API (pools, endpoints, reload), its
metrics, access log and log events, awaited with deadlines."""

import json
import os
import re
import socket
import time

from lib.http_client import Client

# (issue 3: balancers, health, outlier, retries, circuit breaking, DNS)

def refused(port, host="127.0.0.1"):
    """True if a connection to host:port is refused (or reset) at once."""
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect((host, port))
    except (ConnectionRefusedError, ConnectionResetError):
        return True
    except socket.timeout:
        return False
    finally:
        s.close()
    return False


def wait_until(predicate, timeout=5.0, interval=0.05):
    """Polls predicate() until it is truthy or `timeout` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def admin_request(lb, method, target, timeout=10.0):
    """One request to lb's admin server over its own connection; returns the Response."""
    if lb.admin_port is None:
        raise RuntimeError("lb has no admin server")
    with Client(lb.admin_port, timeout=timeout) as c:
        return c.request(method, target, headers=[("Connection", "close")],
                         host=f"127.0.0.1:{lb.admin_port}", body=b"" if method == "POST" else None)


def admin_pools(lb):
    """GET /pools as JSON: {"version": N, "pools": [{"name", "endpoints": [...]}, ...]}."""
    r = admin_request(lb, "GET", "/pools")
    if r.status != 200:
        raise RuntimeError(f"/pools answered {r.status}: {r.body[:200]!r}")
    return r.json()


def pool_endpoints(lb, pool_name):
    """{endpoint address label: endpoint JSON} for one pool, from /pools."""
    for p in admin_pools(lb)["pools"]:
        if p["name"] == pool_name:
            return {e["address"]: e for e in p["endpoints"]}
    raise KeyError(f"no pool {pool_name!r} in /pools")


_METRIC_LINE = re.compile(r'^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)')
_METRIC_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metrics(lb):
    """/metrics parsed into [(name, {label: value}, float)]."""
    r = admin_request(lb, "GET", "/metrics")
    if r.status != 200:
        raise RuntimeError(f"/metrics answered {r.status}")
    out = []
    for line in r.body.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        m = _METRIC_LINE.match(line)
        if m:
            labels = {k: re.sub(r'\\(.)', r'\1', v) for k, v in _METRIC_LABEL.findall(m.group(2) or "")}
            out.append((m.group(1), labels, float(m.group(3))))
    return out


def metric_value(samples, name, **labels):
    """Sum of the samples of `name` whose labels include `labels` (0.0 if none)."""
    return sum(v for n, ls, v in samples if n == name and all(ls.get(k) == str(x) for k, x in labels.items()))


def reload_lb(lb, yaml_text):
    """Rewrites lb's config file and POSTs /reload; returns the Response (200 with the version)."""
    with open(lb.config_path, "w") as f:
        f.write(yaml_text)
    lb.yaml = yaml_text
    return admin_request(lb, "POST", "/reload")


def access_records(lb):
    """lb's access log (stdout, JSON lines) parsed."""
    out = []
    for line in lb.stdout_lines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def log_events(lb, msg, **fields):
    """lb's log records with msg == `msg` and the given field values."""
    return [r for r in lb.log_records()
            if r.get("msg") == msg and all(r.get(k) == str(v) for k, v in fields.items())]


def rewrite_in_place(path, text):
    """Replaces a file's content keeping its inode (a bind mount of it sees the change)."""
    with open(path, "r+") as f:
        f.seek(0)
        f.truncate()
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def wait_access_records(lb, n, timeout=3.0):
    """lb's access records once at least `n` are out (workers flush every ~100 ms)."""
    return wait_until(lambda: (lambda recs: recs if len(recs) >= n else None)(access_records(lb)),
                      timeout) or access_records(lb)


def wait_log_events(lb, msg, n=1, timeout=3.0, **fields):
    """log_events(), once at least `n` match (lb's log reaches us through a pipe, a little
    after the request that caused it was answered); the matches so far on timeout."""
    return wait_until(lambda: (lambda evs: evs if len(evs) >= n else None)(log_events(lb, msg, **fields)),
                      timeout, 0.02) or log_events(lb, msg, **fields)
