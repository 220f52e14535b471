"""Shared helpers for the control-plane suites (reload/, metrics/, accesslog/).

Built on lib.harness (processes, YAML, raw HTTP client); adds the admin API,
config file swaps (plain, atomic rename, Kubernetes ConfigMap `..data`), a
Prometheus text parser, a bounded load generator and access-log reading.
Import it as `from reload import support`.
"""

import json
import os
import re
import socket
import tempfile
import threading
import time

from lib import harness

# --------------------------------------------------------------------------- waiting


wait_until = harness.wait_until


def log_records_since(lb, start):
    return [harness.parse_logfmt(l) for l in lb.log_lines()[start:]]


def wait_log(lb, start, timeout=5.0, **fields):
    """The first log record at index >= start whose fields include `fields`, or None."""
    def find():
        for rec in log_records_since(lb, start):
            if all(rec.get(k) == str(v) for k, v in fields.items()):
                return rec
        return None
    return wait_until(find, timeout)


# --------------------------------------------------------------------------- admin API


def admin_request(lb, method, target, timeout=10.0):
    """One request to lb's admin server over its own connection; returns the Response."""
    with harness.Client(lb.admin_port, timeout=timeout) as c:
        body = b"" if method == "POST" else None
        return c.request(method, target, headers=[("Connection", "close")], body=body,
                         host=f"127.0.0.1:{lb.admin_port}")


def admin_json(lb, target):
    r = admin_request(lb, "GET", target)
    if r.status != 200:
        raise AssertionError(f"GET {target} on admin answered {r.status}: {r.body[:300]!r}")
    return json.loads(r.body)


def config_version(lb):
    return admin_json(lb, "/config")["version"]


def post_reload(lb):
    """POST /reload; returns (status, parsed JSON body)."""
    r = admin_request(lb, "POST", "/reload")
    try:
        body = json.loads(r.body)
    except ValueError:
        body = {"raw": r.body.decode("latin-1")}
    return r.status, body


def scrape(lb):
    r = admin_request(lb, "GET", "/metrics")
    if r.status != 200:
        raise AssertionError(f"/metrics answered {r.status}")
    return r.body.decode("utf-8")


# --------------------------------------------------------------------------- config files


def write_atomic(path, text):
    """Replaces `path` by rename, as most tools and editors do (one IN_MOVED_TO)."""
    d = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".lb-it-", dir=d)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_in_place(path, text):
    """Truncates and rewrites `path` (IN_MODIFY + IN_CLOSE_WRITE), as `cat >` would."""
    with open(path, "w") as f:
        f.write(text)


class ConfigMapLb(harness.Lb):
    """lb whose config is mounted like a Kubernetes ConfigMap volume:

        mount/..2024_01_01_00_00_00.000000001/lb.yaml
        mount/..data -> ..2024_01_01_00_00_00.000000001
        mount/lb.yaml -> ..data/lb.yaml

    `swap(text)` publishes a new version the way the kubelet does: a new timestamped
    directory, a `..data_tmp` symlink to it renamed over `..data`, the old directory removed.
    """

    def __init__(self, yaml_text, extra_args=(), wait_ready=True, listeners=None):
        self.dir = tempfile.TemporaryDirectory(prefix="lb-it-cm-")
        self.mount = os.path.join(self.dir.name, "config")
        os.mkdir(self.mount)
        self._generation = 0
        self._current = self._publish(yaml_text)
        os.symlink(self._current, os.path.join(self.mount, "..data"))
        os.symlink("..data/lb.yaml", os.path.join(self.mount, "lb.yaml"))
        self._init_state(yaml_text, os.path.join(self.mount, "lb.yaml"))
        self._launch([harness.lb_bin(), "--config", self.config_path, *extra_args], listeners, wait_ready)

    def _publish(self, text):
        self._generation += 1
        name = f"..2024_01_01_00_00_{self._generation:02d}.{os.getpid()}"
        d = os.path.join(self.mount, name)
        os.mkdir(d)
        with open(os.path.join(d, "lb.yaml"), "w") as f:
            f.write(text)
        return name

    def swap(self, text):
        old = self._current
        new = self._publish(text)
        tmp = os.path.join(self.mount, "..data_tmp")
        os.symlink(new, tmp)
        os.rename(tmp, os.path.join(self.mount, "..data"))
        os.unlink(os.path.join(self.mount, old, "lb.yaml"))
        os.rmdir(os.path.join(self.mount, old))
        self._current = new


def register_lb(test, lb):
    """Makes an Lb built outside LbTestCase.lb() reaped and logged like one built by it."""
    test._lbs.append(lb)
    test.addCleanup(test._stop_lb, lb)
    return lb


# --------------------------------------------------------------------------- Prometheus text

_SAMPLE = re.compile(r'^([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$')
_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')


def _unescape(v):
    return re.sub(r'\\(.)', lambda m: {"n": "\n", "\\": "\\", '"': '"'}.get(m.group(1), m.group(0)), v)


class Metrics:
    """A parsed Prometheus text exposition: samples, TYPE and HELP per family."""

    def __init__(self, text):
        self.text = text
        self.samples = []  # (name, {labels}, value)
        self.types = {}
        self.helps = {}
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                self.types[name] = kind
                continue
            if line.startswith("# HELP "):
                parts = line.split(" ", 3)
                self.helps[parts[2]] = parts[3] if len(parts) > 3 else ""
                continue
            if line.startswith("#"):
                continue
            m = _SAMPLE.match(line)
            if not m:
                raise ValueError(f"metrics line {n} does not parse: {line!r}")
            labels = {}
            raw = m.group(3) or ""
            pos = 0
            while pos < len(raw):
                lm = _LABEL.match(raw, pos)
                if not lm:
                    raise ValueError(f"metrics line {n}: bad labels {raw!r}")
                labels[lm.group(1)] = _unescape(lm.group(2))
                pos = lm.end()
            value = m.group(4)
            self.samples.append((m.group(1), labels,
                                 float("inf") if value == "+Inf" else float(value)))

    def series(self, name, **labels):
        """Samples of `name` whose labels include `labels` (a subset match)."""
        return [(l, v) for n, l, v in self.samples
                if n == name and all(l.get(k) == str(x) for k, x in labels.items())]

    def get(self, name, default=None, **labels):
        """The value of the one sample of `name` with exactly `labels`; default if absent."""
        hits = [v for n, l, v in self.samples if n == name and l == {k: str(x) for k, x in labels.items()}]
        if len(hits) > 1:
            raise AssertionError(f"{name}{labels} appears {len(hits)} times")
        return hits[0] if hits else default

    def sum(self, name, **labels):
        return sum(v for _, v in self.series(name, **labels))

    def families(self):
        return set(self.types)


def metrics(lb):
    return Metrics(scrape(lb))


def wait_metrics(lb, predicate, timeout=3.0):
    """Scrapes until predicate(Metrics) is true (counting happens just after a response
    leaves lb); returns the last scrape either way."""
    last = [None]

    def ok():
        last[0] = metrics(lb)
        return predicate(last[0])
    wait_until(ok, timeout, 0.05)
    return last[0]


# --------------------------------------------------------------------------- traffic


RESET_ERRORS = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, harness.ConnectionClosed)


class Result:
    __slots__ = ("kind", "thread", "t0", "t1", "status", "backend", "error", "conn")

    def __init__(self, kind, thread, t0, t1, status=None, backend=None, error=None, conn=0):
        self.kind, self.thread, self.t0, self.t1 = kind, thread, t0, t1
        self.status, self.backend, self.error, self.conn = status, backend, error, conn

    def __repr__(self):
        return (f"<{self.kind}#{self.thread} conn={self.conn} t0={self.t0:.4f} t1={self.t1:.4f} "
                f"status={self.status} backend={self.backend} error={self.error}>")


class Load:
    """Bounded continuous load: `keepalive` threads each send request after request on one
    connection; `fresh` threads open a new connection per request (Connection: close).
    Every thread stops after `max_requests` requests, `max_seconds`, or stop().

    Each request is recorded (monotonic send/receive times, status, X-Backend); an exception
    (reset, early close, timeout, refused) is recorded as a failed request. A keep-alive thread
    whose connection failed opens a new one and goes on."""

    def __init__(self, port, target="/x", keepalive=2, fresh=2, max_requests=3000, max_seconds=20.0,
                 timeout=5.0, pause=0.0):
        self.port, self.target = port, target
        self.max_requests, self.max_seconds, self.timeout, self.pause = max_requests, max_seconds, timeout, pause
        self.results = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._keepalive, args=(i,), daemon=True, name=f"ka{i}")
                         for i in range(keepalive)]
        self._threads += [threading.Thread(target=self._fresh, args=(i,), daemon=True, name=f"fresh{i}")
                          for i in range(fresh)]

    def start(self):
        self.t_start = time.monotonic()
        for t in self._threads:
            t.start()
        return self

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(self.timeout + 5)
        return self

    def _running(self, n):
        return (not self._stop.is_set() and n < self.max_requests
                and time.monotonic() - self.t_start < self.max_seconds)

    def _record(self, r):
        with self._lock:
            self.results.append(r)

    def _keepalive(self, i):
        c = None
        conn = 0
        n = 0
        while self._running(n):
            n += 1
            t0 = time.monotonic()
            try:
                if c is None:
                    conn += 1
                    c = harness.Client(self.port, timeout=self.timeout)
                c.send(harness.build_request("GET", self.target))
                r = c.read_response()
                self._record(Result("keepalive", i, t0, time.monotonic(), r.status, r.backend, conn=conn))
                if (r.header("Connection") or "").lower() == "close":
                    self._record(Result("keepalive", i, t0, time.monotonic(), r.status, r.backend,
                                        error="lb answered Connection: close", conn=conn))
                    c.close()
                    c = None
            except (OSError, harness.ConnectionClosed, ValueError) as e:
                self._record(Result("keepalive", i, t0, time.monotonic(), error=repr(e), conn=conn))
                if c is not None:
                    c.close()
                c = None
            if self.pause:
                time.sleep(self.pause)
        if c is not None:
            c.close()

    def _fresh(self, i):
        n = 0
        while self._running(n):
            n += 1
            t0 = time.monotonic()
            try:
                with harness.Client(self.port, timeout=self.timeout) as c:
                    c.send(harness.build_request("GET", self.target, headers=[("Connection", "close")]))
                    r = c.read_response()
                self._record(Result("fresh", i, t0, time.monotonic(), r.status, r.backend, conn=n))
            except (OSError, harness.ConnectionClosed, ValueError) as e:
                self._record(Result("fresh", i, t0, time.monotonic(), error=repr(e), conn=n))
            if self.pause:
                time.sleep(self.pause)

    def snapshot(self):
        with self._lock:
            return list(self.results)

    def failures(self):
        return [r for r in self.snapshot() if r.error is not None or r.status != 200]

    def resets(self):
        return [r for r in self.snapshot() if r.error is not None and any(
            name in r.error for name in ("Reset", "BrokenPipe", "Aborted", "ConnectionClosed"))]


def expected_body(size):
    """The body lb-backend sends for `size=N`: byte i is 'a' + i % 26."""
    alphabet = bytes(range(ord("a"), ord("a") + 26))
    return (alphabet * (size // 26 + 1))[:size]


class PatternChecker:
    """A sink for Client.read_response that checks a `size=` body as it streams by."""

    def __init__(self, slow_every=0, sleep=0.0):
        self.offset = 0
        self.bad_at = None
        self.slow_every, self.sleep = slow_every, sleep
        self._alphabet = bytes(range(ord("a"), ord("a") + 26)) * 2
        self._since_sleep = 0

    def __call__(self, data):
        data = bytes(data)
        if self.bad_at is None:
            # Compare in slices of 26 aligned to the pattern's phase.
            i = 0
            while i < len(data):
                phase = (self.offset + i) % 26
                n = min(26 - phase, len(data) - i)
                if data[i:i + n] != self._alphabet[phase:phase + n]:
                    self.bad_at = self.offset + i
                    break
                i += n
        self.offset += len(data)
        if self.slow_every:
            self._since_sleep += len(data)
            if self._since_sleep >= self.slow_every:
                self._since_sleep = 0
                time.sleep(self.sleep)


def raw_exchange(port, data, timeout=10.0):
    """Sends `data` on a new connection, half-closes nothing, reads until lb closes;
    returns every byte received. For requests that carry Connection: close."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = bytearray()
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return bytes(out)
    finally:
        s.close()


# --------------------------------------------------------------------------- access log


def read_access_log(path):
    """Every line of an access-log file parsed as JSON (a line that does not parse fails)."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    out = []
    for n, line in enumerate(data.split(b"\n")):
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except ValueError as e:
            raise AssertionError(f"{path} line {n + 1} is not JSON ({e}): {line[:300]!r}")
    if data and not data.endswith(b"\n"):
        raise AssertionError(f"{path} ends with a partial line: {data[-200:]!r}")
    return out


def wait_access_lines(path, count, timeout=5.0):
    """Waits until `path` holds at least `count` lines; returns the parsed lines."""
    return wait_until(lambda: (lambda ls: ls if len(ls) >= count else None)(read_access_log(path)),
                      timeout) or read_access_log(path)


ACCESS_KEYS = ["time", "listener", "route", "pool", "endpoint", "client", "method", "path", "status",
               "bytes_in", "bytes_out", "duration", "upstream_duration", "reason", "attempts", "sni",
               "request_id", "trace_id"]


# --------------------------------------------------------------------------- configs


def two_pool_config(a, b, target_pool, workers=2, access_log=None, extra_routes=(), listeners_extra=(),
                    drain_timeout="3s", extra_pools=()):
    """One listener `web`: route `x` (path /x) to `target_pool` ("pa" -> a, "pb" -> b), then a
    route `rest` for everything else to pa. Pools pa and pb exist in both variants, so a
    switch changes only the routing."""
    routes = [harness.route(target_pool, name="x", path_prefix="/x", timeout="30s"), *extra_routes,
              harness.route("pa", name="rest", path_prefix="/", timeout="30s")]
    listeners = [{"name": "web", "listen": "127.0.0.1:0", "protocol": "http", "routes": routes},
                 *listeners_extra]
    doc = {"workers": workers, "drain_timeout": drain_timeout, "admin": {"listen": "127.0.0.1:0"}}
    if access_log is not None:
        doc["access_log"] = access_log
    doc["listeners"] = listeners
    doc["pools"] = [harness.pool("pa", a), harness.pool("pb", b), *extra_pools]
    return "\n".join(harness.to_yaml(doc)) + "\n"


def yaml_doc(doc):
    return "\n".join(harness.to_yaml(doc)) + "\n"
