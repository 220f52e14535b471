"""Integration-test harness: real `lb` and `lb-backend` processes on loopback.

Everything binds port 0 and reads the real port back from the process's own
output; readiness is awaited against a deadline; every child is reaped by PID
(SIGTERM, then SIGKILL), also when a test fails. Nothing is ever killed by name.

Environment: LB_BIN (path to lb), LB_BACKEND_BIN (path to lb-backend).
"""

import atexit
import base64
import ctypes
import hashlib
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def lb_bin():
    path = os.environ.get("LB_BIN")
    if not path:
        raise RuntimeError("LB_BIN is not set (path to the lb binary)")
    return path


def backend_bin():
    path = os.environ.get("LB_BACKEND_BIN")
    if not path:
        raise RuntimeError("LB_BACKEND_BIN is not set (path to the lb-backend binary)")
    return path


# --------------------------------------------------------------------------- logfmt

_LOGFMT = re.compile(r'([A-Za-z_][\w.\-]*)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_logfmt(line):
    out = {}
    for key, value in _LOGFMT.findall(line):
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = re.sub(r'\\(.)', r'\1', value[1:-1])
        out[key] = value
    return out


def split_hostport(address):
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


# --------------------------------------------------------------------------- processes

class _LineReader(threading.Thread):
    """Drains a pipe into a list of lines so the child never blocks on it."""

    def __init__(self, stream, name):
        super().__init__(name=name, daemon=True)
        self.stream = stream
        self.lines = []
        self.cond = threading.Condition()
        self.eof = False

    def run(self):
        try:
            for raw in iter(self.stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                with self.cond:
                    self.lines.append(line)
                    self.cond.notify_all()
        finally:
            with self.cond:
                self.eof = True
                self.cond.notify_all()

    def snapshot(self):
        with self.cond:
            return list(self.lines)

    def wait_for(self, predicate, deadline):
        """Waits until predicate(lines) is truthy, EOF, or the deadline; returns its value."""
        with self.cond:
            while True:
                value = predicate(self.lines)
                if value or self.eof:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return value
                self.cond.wait(min(remaining, 0.1))


_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1
_LIVE = set()


def _die_with_parent():
    # In the child, before exec: if the test runner dies (e.g. killed by a CTest
    # timeout), the kernel kills this child too, so nothing outlives the suite.
    # (Tied to the spawning thread: start processes from the test's main thread.)
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _spawn(args, **kw):
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=_die_with_parent, **kw)
    _LIVE.add(proc)
    return proc


@atexit.register
def _reap_all():
    for proc in list(_LIVE):
        _stop_process(proc)


def _stop_process(proc, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
    """Stops one child by PID and reaps it; returns its exit code."""
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _LIVE.discard(proc)
    return proc.returncode


def _close_pipes(proc, *readers):
    for r in readers:
        r.join(2)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None and not any(r.is_alive() and r.stream is stream for r in readers):
            stream.close()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


class RssSampler(threading.Thread):
    """Samples a process's RSS every `interval` seconds; `.peak_kib` is the maximum seen."""

    def __init__(self, pid, interval=0.02):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak_kib = rss_kib(pid)
        self.samples = 0
        self._stop_evt = threading.Event()

    def run(self):
        while not self._stop_evt.is_set():
            try:
                self.peak_kib = max(self.peak_kib, rss_kib(self.pid))
                self.samples += 1
            except (OSError, RuntimeError):
                return
            self._stop_evt.wait(self.interval)

    def stop(self):
        self._stop_evt.set()
        self.join()
        try:
            self.peak_kib = max(self.peak_kib, rss_kib(self.pid))
        except (OSError, RuntimeError):
            pass
        return self.peak_kib


class Backend:
    """One `lb-backend` process: `Backend(name, *extra_args)`."""

    def __init__(self, name, *extra_args, listen="127.0.0.1:0"):
        self.name = name
        self.args = [backend_bin(), "--name", name, "--listen", listen, *extra_args]
        self.proc = _spawn(self.args)
        self.pid = self.proc.pid
        self._out = _LineReader(self.proc.stdout, f"backend-{name}-stdout")
        self._err = _LineReader(self.proc.stderr, f"backend-{name}-stderr")
        self._out.start()
        self._err.start()
        try:
            line = self._out.wait_for(
                lambda lines: next((l for l in lines if l.startswith("listening ")), None),
                time.monotonic() + READY_TIMEOUT)
            if not line:
                raise RuntimeError(
                    f"backend {name} did not report 'listening HOST:PORT' "
                    f"(exit={self.proc.poll()}): stdout={self._out.snapshot()} "
                    f"stderr={self._err.snapshot()}")
            self.address = line.split()[1]
            self.host, self.port = split_hostport(self.address)
            self._calibrate()
        except BaseException:
            self.stop()
            raise

    # /__stats is read over its own short connection each time. Those connections and
    # requests are ours, not lb's: the first two reads (before any other traffic)
    # measure what one read adds, and stats() subtracts it from every later read.
    def _raw_stats(self):
        status, body = simple_get(self.port, "/__stats", host=self.host)
        if status != 200:
            raise RuntimeError(f"backend {self.name}: /__stats answered {status}")
        return json.loads(body)

    def _calibrate(self):
        self._stats_calls = 0
        s1 = self._raw_stats()
        s2 = self._raw_stats()
        self._base = s1
        self._per_call = {k: s2[k] - s1[k] for k in ("connections", "requests")}
        self._stats_calls = 2

    def stats(self):
        """Backend counters with the harness's own /__stats traffic removed."""
        raw = self._raw_stats()
        self._stats_calls += 1
        out = dict(raw)
        for key in ("connections", "requests"):
            out[key] = raw[key] - self._base[key] - (self._stats_calls - 1) * self._per_call[key]
        out["active_connections"] = raw["active_connections"] - self._base["active_connections"]
        return out

    def requests(self):
        return self.stats()["requests"]

    def endpoint(self):
        return f"{self.host}:{self.port}" if ":" not in self.host else f"[{self.host}]:{self.port}"

    def stop(self):
        code = _stop_process(self.proc)
        _close_pipes(self.proc, self._out, self._err)
        return code

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Lb:
    """One `lb --config FILE` process, started from YAML text and awaited until ready."""

    def __init__(self, yaml_text, extra_args=(), wait_ready=True, listeners=None):
        self._write_config(yaml_text)
        self._launch([lb_bin(), "--config", self.config_path, *extra_args], listeners, wait_ready)

    def _write_config(self, yaml_text):
        """lb.yaml in a fresh temporary directory."""
        self.dir = tempfile.TemporaryDirectory(prefix="lb-it-")
        path = os.path.join(self.dir.name, "lb.yaml")
        with open(path, "w") as f:
            f.write(yaml_text)
        self._init_state(yaml_text, path)

    def _init_state(self, yaml_text, config_path):
        """What every launch path sets before _launch()."""
        self.config_path = config_path
        self.yaml = yaml_text
        self.ports = {}
        self.addresses = {}
        self.admin_port = None
        self.expected_exit = False

    def _launch(self, argv, listeners, wait_ready):
        """Start lb with `argv` (its PID is the one we hold) and wait for its listeners."""
        self.proc = _spawn(argv, cwd=self.dir.name)
        self.pid = self.proc.pid
        self._err = _LineReader(self.proc.stderr, "lb-stderr")
        self._out = _LineReader(self.proc.stdout, "lb-stdout")
        self._err.start()
        self._out.start()
        if wait_ready:
            try:
                self._wait_ready(listeners)
            except BaseException:
                self.stop()
                raise

    def _wait_ready(self, listeners):
        ready = self._err.wait_for(
            lambda lines: any(parse_logfmt(l).get("msg") == "ready" for l in lines),
            time.monotonic() + READY_TIMEOUT)
        if not ready:
            raise RuntimeError(f"lb not ready within {READY_TIMEOUT}s (exit={self.proc.poll()}); "
                               f"log:\n" + "\n".join(self.log_lines()))
        for line in self.log_lines():
            rec = parse_logfmt(line)
            if rec.get("msg") == "listener bound" and "listener" in rec and "address" in rec:
                self.addresses.setdefault(rec["listener"], rec["address"])
                self.ports.setdefault(rec["listener"], split_hostport(rec["address"])[1])
            elif rec.get("msg") == "admin listening" and "address" in rec:
                self.admin_port = split_hostport(rec["address"])[1]
        for name in listeners or ():
            if name not in self.ports:
                raise RuntimeError(f"lb did not log 'listener bound' for {name}; log:\n"
                                   + "\n".join(self.log_lines()))

    @property
    def port(self):
        """The port of the first (usually only) listener."""
        return next(iter(self.ports.values()))

    def log_lines(self):
        return self._err.snapshot()

    def stdout_lines(self):
        return self._out.snapshot()

    def log_records(self):
        return [parse_logfmt(l) for l in self.log_lines()]

    def rss_kib(self):
        return rss_kib(self.pid)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def alive(self):
        return self.proc.poll() is None

    def wait(self, timeout):
        """Waits for exit; returns the exit code, or None on timeout (process left running)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        code = _stop_process(self.proc)
        _close_pipes(self.proc, self._out, self._err)
        self.dir.cleanup()
        return code

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def run_lb(args, timeout=10):
    """Runs lb to completion (e.g. --check, --version); returns CompletedProcess (text)."""
    return subprocess.run([lb_bin(), *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


def closed_ports(n):
    """`n` distinct loopback ports with nothing listening on them: all are bound
    at once (so the kernel cannot hand out one twice), read back, then closed."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def closed_port():
    """A loopback port with nothing listening on it (bound, read back, closed)."""
    return closed_ports(1)[0]


# Sockets kept bound (never listening) for the life of the test process: see
# refusing_ports.
_held_refusing = []


def refusing_ports(n):
    """`n` loopback ports that refuse connections for as long as the test
    process lives: each is bound without listen(), so a SYN gets an RST, and
    the bind keeps every other process (another suite's lb or backend in a
    parallel ctest run, whose SO_REUSEPORT bind needs every holder to have it)
    and the kernel's ephemeral-port choice (a self-connect) off it. A port
    from closed_ports is free again the moment it is returned: fine to listen
    on, racy as a dead upstream."""
    ports = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        _held_refusing.append(s)
        ports.append(s.getsockname()[1])
    return ports


def refusing_port():
    return refusing_ports(1)[0]


def listening_sockets(port, pid=None):
    """Listening TCP sockets (v4 and v6) on `port`; if pid is given, only those it owns."""
    inodes = None
    if pid is not None:
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    local, state, inode = cols[1], cols[3], cols[9]
                    if state != "0A" or int(local.rsplit(":", 1)[1], 16) != port:
                        continue
                    if inodes is not None and inode not in inodes:
                        continue
                    found.append(inode)
        except FileNotFoundError:
            pass
    return found


# --------------------------------------------------------------------------- config YAML

_PLAIN = re.compile(r"^[A-Za-z0-9_/][A-Za-z0-9_./:\-]*$")


def _scalar(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    if _PLAIN.match(s) and not re.match(r"^[0-9.+\-]+$", s) and s.lower() not in (
            "true", "false", "yes", "no", "on", "off", "null", "y", "n"):
        return s
    return json.dumps(s)


def to_yaml(obj, indent=0):
    """Minimal block-style YAML emitter for dicts, lists and scalars."""
    pad = " " * indent
    lines = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{_scalar(k)}:")
                lines.extend(to_yaml(v, indent + 2))
            elif isinstance(v, dict):
                lines.append(f"{pad}{_scalar(k)}: {{}}")
            elif isinstance(v, list):
                lines.append(f"{pad}{_scalar(k)}: []")
            else:
                lines.append(f"{pad}{_scalar(k)}: {_scalar(v)}")
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, (dict, list)) and item:
                sub = to_yaml(item, indent + 2)
                sub[0] = pad + "- " + sub[0][indent + 2:]
                lines.extend(sub)
            else:
                lines.append(f"{pad}- {_scalar(item) if not isinstance(item, (dict, list)) else '{}'}")
    else:
        lines.append(pad + _scalar(obj))
    return lines


def endpoints(*backends, weights=None):
    out = []
    for i, b in enumerate(backends):
        addr = b.endpoint() if isinstance(b, Backend) else str(b)
        ep = {"address": addr}
        if weights is not None:
            ep["weight"] = weights[i]
        out.append(ep)
    return out


def pool(name, *backends, weights=None, **opts):
    """A pool dict; backends are Backend objects or 'host:port' strings."""
    p = {"name": name, "balancer": "round_robin", "endpoints": endpoints(*backends, weights=weights)}
    p.update(opts)
    return p


def route(pool_name, name=None, host=None, path_prefix=None, path_exact=None, path_regex=None,
          headers=None, timeout=None, set_headers=None):
    r = {}
    if name:
        r["name"] = name
    match = {}
    if host is not None:
        match["host"] = host
    if path_prefix is not None:
        match["path_prefix"] = path_prefix
    if path_exact is not None:
        match["path_exact"] = path_exact
    if path_regex is not None:
        match["path_regex"] = path_regex
    if headers:
        match["headers"] = headers
    if not match:
        match["path_prefix"] = "/"
    r["match"] = match
    r["pool"] = pool_name
    if timeout is not None:
        r["timeout"] = timeout
    if set_headers:
        r["set_headers"] = set_headers
    return r


def config(pools, routes=None, limits=None, workers=1, drain_timeout="3s", admin=True,
           listeners=None, listen="127.0.0.1:0"):
    """YAML for one http listener `web` (port 0) routing to `pools` (first pool by default)."""
    if listeners is None:
        lst = {"name": "web", "listen": listen, "protocol": "http"}
        if limits:
            lst["limits"] = limits
        lst["routes"] = routes if routes is not None else [route(pools[0]["name"])]
        listeners = [lst]
    doc = {"workers": workers, "drain_timeout": drain_timeout}
    if admin:
        doc["admin"] = {"listen": "127.0.0.1:0"}
    doc["listeners"] = listeners
    doc["pools"] = pools
    return "\n".join(to_yaml(doc)) + "\n"


# --------------------------------------------------------------------------- HTTP client

class ConnectionClosed(Exception):
    """The peer closed the connection before a complete message arrived."""

    def __init__(self, msg, partial=b""):
        super().__init__(msg)
        self.partial = partial


class Response:
    def __init__(self, version, status, reason, headers, body, head_raw):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # [(name, value)] in order received
        self.body = body        # bytes (b"" when streamed to a sink)
        self.head_raw = head_raw
        self.body_bytes = 0
        self.chunked = False

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        return json.loads(self.body)

    @property
    def backend(self):
        return self.header("X-Backend")

    def __repr__(self):
        return f"<Response {self.status} {self.reason!r} headers={self.headers} body={self.body[:200]!r}>"


def build_request(method="GET", target="/", headers=None, body=None, host="test.local",
                  version="HTTP/1.1"):
    """Request bytes. `headers` is a list of (name, value) or a dict; Host first unless given."""
    hs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {k.lower() for k, _ in hs}
    if host is not None and "host" not in names:
        hs.insert(0, ("Host", host))
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        hs.append(("Content-Length", str(len(body))))
    head = f"{method} {target} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hs) + "\r\n"
    return head.encode("latin-1") + (body or b"")


def chunked_body(data, chunk=1000):
    out = bytearray()
    for i in range(0, len(data), chunk):
        piece = data[i:i + chunk]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    out += b"0\r\n\r\n"
    return bytes(out)


class Client:
    """An HTTP/1.1 client over one raw TCP connection: send exact bytes, read whole responses."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.connect((host, port))
        self.buf = bytearray()
        self.timeout = timeout

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def settimeout(self, t):
        self.timeout = t
        self.sock.settimeout(t)

    def send(self, data):
        self.sock.sendall(data)

    def request(self, method="GET", target="/", headers=None, body=None, host="test.local", **kw):
        self.send(build_request(method, target, headers, body, host))
        return self.read_response(method=method, **kw)

    def _fill(self, n=65536):
        try:
            data = self.sock.recv(n)
        except ConnectionResetError:
            data = b""
        if not data:
            return False
        self.buf += data
        return True

    def _read_line(self, limit=1 << 20):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            if len(self.buf) > limit:
                raise ValueError("line too long")
            if not self._fill():
                raise ConnectionClosed("closed while reading a line", bytes(self.buf))

    def _read_exact(self, n, sink):
        take = min(n, len(self.buf))
        if take:
            sink(bytes(self.buf[:take]))
            del self.buf[:take]
            n -= take
        if n == 0:
            return
        chunk = bytearray(min(n, 1 << 20))
        view = memoryview(chunk)
        while n:
            try:
                got = self.sock.recv_into(view[:min(n, len(chunk))])
            except ConnectionResetError:
                got = 0
            if got == 0:
                raise ConnectionClosed(f"closed with {n} body bytes missing")
            sink(view[:got])
            n -= got

    def read_head(self):
        """Reads a response head; returns (version, status, reason, headers, raw)."""
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                raw = bytes(self.buf[:i + 4])
                del self.buf[:i + 4]
                break
            if not self._fill():
                raise ConnectionClosed("closed before a complete response head", bytes(self.buf))
        lines = raw[:-4].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ValueError(f"malformed response head: {raw[:300]!r}")
        version, status = parts[0], int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers.append((k, v.strip(" \t")))
        return version, status, reason, headers, raw

    def read_response(self, method="GET", sink=None, skip_1xx=False):
        """Reads one response; honours Content-Length, chunked, and close-delimited bodies.

        sink(bytes-like) receives body bytes instead of them being stored in .body."""
        while True:
            version, status, reason, headers, raw = self.read_head()
            resp = Response(version, status, reason, headers, b"", raw)
            if skip_1xx and 100 <= status < 200 and status != 101:
                continue
            break
        parts = []
        counter = [0]

        def collect(data):
            counter[0] += len(data)
            if sink is not None:
                sink(data)
            else:
                parts.append(bytes(data))

        te = resp.header("Transfer-Encoding")
        cl = resp.header("Content-Length")
        if method == "HEAD" or 100 <= status < 200 or status in (204, 304):
            pass
        elif te is not None and "chunked" in te.lower():
            resp.chunked = True
            while True:
                line = self._read_line()
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self._read_line() not in (b"\r\n", b"\n"):
                        pass
                    break
                self._read_exact(size, collect)
                if self._read_line() != b"\r\n":
                    raise ValueError("bad chunk terminator")
        elif cl is not None:
            self._read_exact(int(cl), collect)
        else:
            while True:
                if self.buf:
                    collect(bytes(self.buf))
                    self.buf.clear()
                if not self._fill(1 << 20):
                    break
        resp.body = b"".join(parts)
        resp.body_bytes = counter[0]
        return resp

    def read_responses(self, n, method="GET"):
        return [self.read_response(method=method) for _ in range(n)]

    def wait_closed(self, timeout=5.0):
        """True if the peer closes (EOF or RST) within timeout; unread data is discarded."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.sock.settimeout(remaining)
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(self.timeout)


def simple_get(port, target, host="127.0.0.1", timeout=10.0):
    """One GET over its own `Connection: close` connection; returns (status, body)."""
    with Client(port, host=host, timeout=timeout) as c:
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        r = c.request("GET", target, headers=[("Connection", "close")], host=authority)
        return r.status, r.body


def get(port, target="/", headers=None, host="test.local", timeout=10.0, method="GET", body=None):
    """One request over a fresh connection; returns the Response."""
    with Client(port, timeout=timeout) as c:
        return c.request(method, target, headers=headers, body=body, host=host)


def curl(*args, timeout=60):
    return subprocess.run(["curl", "-sS", *args], capture_output=True, timeout=timeout)


# --------------------------------------------------------------------------- WebSocket

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def ws_frame(opcode, payload, fin=True, mask=True):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if n < 4096 else _xor_mask(payload, key)
    return head + key + masked


def _xor_mask(payload, key):
    n = len(payload)
    k = int.from_bytes((key * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ k).to_bytes(n, "big")


def ws_read_frame(client):
    """Reads one frame from a Client after the 101; returns (fin, opcode, payload)."""
    def need(n):
        while len(client.buf) < n:
            if not client._fill():
                raise ConnectionClosed("closed inside a WebSocket frame", bytes(client.buf))
    need(2)
    b0, b1 = client.buf[0], client.buf[1]
    n = b1 & 0x7F
    off = 2
    if n == 126:
        need(4)
        n = struct.unpack("!H", bytes(client.buf[2:4]))[0]
        off = 4
    elif n == 127:
        need(10)
        n = struct.unpack("!Q", bytes(client.buf[2:10]))[0]
        off = 10
    mask_key = None
    if b1 & 0x80:
        need(off + 4)
        mask_key = bytes(client.buf[off:off + 4])
        off += 4
    need(off + n)
    payload = bytes(client.buf[off:off + n])
    del client.buf[:off + n]
    if mask_key:
        payload = _xor_mask(payload, mask_key)
    return bool(b0 & 0x80), b0 & 0x0F, payload


def ws_read_message(client):
    data = b""
    first_op = None
    while True:
        fin, op, payload = ws_read_frame(client)
        if op in (0x9, 0xA):  # ping/pong interleaved
            continue
        if first_op is None:
            first_op = op
        data += payload
        if fin:
            return first_op, data


# --------------------------------------------------------------------------- test base

class LbTestCase(unittest.TestCase):
    """Starts processes through helpers that always reap them, and prints lb's log when
    a test fails. If lb died on its own during a test, the test errors."""

    def run(self, result=None):
        self._lbs = []
        before = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > before:
            for lb in self._lbs + getattr(type(self), "_class_lbs", []):
                tail = lb.log_lines()[-40:]
                sys.stderr.write(f"\n---- lb pid {lb.pid} log (last {len(tail)} lines) ----\n")
                sys.stderr.write("\n".join(tail) + "\n")
        return out

    def backend(self, name, *extra_args, **kw):
        b = Backend(name, *extra_args, **kw)
        self.addCleanup(b.stop)
        return b

    def lb(self, yaml_text, **kw):
        lb = Lb(yaml_text, **kw)
        self._lbs.append(lb)
        self.addCleanup(self._stop_lb, lb)
        return lb

    def _stop_lb(self, lb):
        died = lb.proc.poll()
        lb.stop()
        if died is not None and not lb.expected_exit:
            raise AssertionError(f"lb exited on its own during the test with code {died}; log:\n"
                                 + "\n".join(lb.log_lines()[-40:]))

    @classmethod
    def class_backend(cls, name, *extra_args, **kw):
        b = Backend(name, *extra_args, **kw)
        cls.addClassCleanup(b.stop)
        return b

    @classmethod
    def class_lb(cls, yaml_text, **kw):
        lb = Lb(yaml_text, **kw)
        if "_class_lbs" not in cls.__dict__:
            cls._class_lbs = []
        cls._class_lbs.append(lb)
        cls.addClassCleanup(lb.stop)
        return lb

    def assert_alive(self, lb):
        self.assertIsNone(lb.proc.poll(), "lb died; log:\n" + "\n".join(lb.log_lines()[-40:]))

    def client(self, port, **kw):
        c = Client(port, **kw)
        self.addCleanup(c.close)
        return c


# --------------------------------------------------------------------------- pool-state helpers
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


class BoundClient(Client):
    """A Client whose socket is bound to a chosen local address first (e.g. 127.0.0.7), so
    hash balancers keyed on client_ip see different clients."""

    def __init__(self, port, source, host="127.0.0.1", timeout=10.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.bind((source, 0))
        self.sock.connect((host, port))
        self.buf = bytearray()
        self.timeout = timeout


class ScriptedBackend:
    """An in-process HTTP/1.1 upstream on loopback whose behaviour the test sets, and may
    change while it runs: `status`, `delay` (seconds before the response head) and `mode`
    ("respond", "drop": read the request then close without a byte, "reset": the same with
    RST). Keep-alive, Content-Length request bodies only. Every response carries
    `X-Backend: NAME`. `log` records (method, target, headers) of every request, health
    probes (User-Agent lb-health-check) included; `requests()` counts the others. Probes get
    `status` too, but never `mode` or `delay`; `probe_delay` delays them instead."""

    def __init__(self, name, status=200, delay=0.0, mode="respond", host="127.0.0.1", port=0):
        self.name = name
        self.status = status
        self.delay = delay
        self.mode = mode
        self.probe_delay = 0.0
        self.lock = threading.Lock()
        self.log = []
        self.connections = 0
        self._socks = set()
        self._stop_evt = threading.Event()
        self._lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind((host, port))
        self._lsock.listen(512)
        self._lsock.settimeout(0.1)
        self.host, self.port = host, self._lsock.getsockname()[1]
        self.address = f"{self.host}:{self.port}"
        self._thread = threading.Thread(target=self._accept_loop, name=f"scripted-{name}", daemon=True)
        self._thread.start()

    def endpoint(self):
        return self.address

    def __str__(self):
        return self.address  # so harness.pool()/endpoints() take it like a Backend

    def _accept_loop(self):
        while not self._stop_evt.is_set():
            try:
                s, _ = self._lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            s.settimeout(None)
            with self.lock:
                self.connections += 1
                self._socks.add(s)
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    @staticmethod
    def is_probe(headers):
        return any(k.lower() == "user-agent" and v.startswith("lb-health-check") for k, v in headers)

    def requests(self, probes=False):
        with self.lock:
            return sum(1 for _, _, h in self.log if self.is_probe(h) == probes)

    def probes(self):
        with self.lock:
            return [entry for entry in self.log if self.is_probe(entry[2])]

    def _serve(self, s):
        buf = b""
        try:
            while not self._stop_evt.is_set():
                while b"\r\n\r\n" not in buf:
                    data = s.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                method, target = lines[0].split(" ")[:2]
                headers = []
                for line in lines[1:]:
                    k, _, v = line.partition(":")
                    headers.append((k.strip(), v.strip()))
                length = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))
                while len(buf) < length:
                    data = s.recv(65536)
                    if not data:
                        return
                    buf += data
                buf = buf[length:]
                with self.lock:
                    self.log.append((method, target, headers))
                    status, delay, mode = self.status, self.delay, self.mode
                probe = self.is_probe(headers)
                if probe and self.probe_delay:
                    time.sleep(self.probe_delay)
                if mode == "drop" and not probe:
                    s.shutdown(socket.SHUT_RDWR)
                    return
                if mode == "reset" and not probe:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                if delay and not probe:
                    time.sleep(delay)
                close = any(k.lower() == "connection" and v.lower() == "close" for k, v in headers)
                body = f"{self.name}\n".encode()
                if method == "HEAD":
                    body = b""
                head_out = (f"HTTP/1.1 {status} Scripted\r\nX-Backend: {self.name}\r\n"
                            f"Content-Type: text/plain\r\nContent-Length: {len(self.name) + 1}\r\n"
                            + ("Connection: close\r\n" if close else "") + "\r\n")
                s.sendall(head_out.encode() + body)
                if close:
                    return
        except (OSError, ValueError):
            return
        finally:
            with self.lock:
                self._socks.discard(s)
            try:
                s.close()
            except OSError:
                pass

    def stop(self):
        self._stop_evt.set()
        try:
            self._lsock.close()
        except OSError:
            pass
        self._thread.join(2)
        with self.lock:
            socks = list(self._socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Load:
    """Bounded concurrent load: `threads` clients, each sending `method target` over its own
    keep-alive connection (reopened when lb closes it), until `total` requests have been
    started, `duration` seconds have passed, or stop(). Every request is recorded as
    (start, end, status or None, X-Backend or None, error or None), times from time.monotonic().
    `make_client(port)` may replace the default Client factory."""

    def __init__(self, port, threads=4, total=1000, duration=10.0, target="/", method="GET",
                 body=None, pace=0.0, timeout=5.0, headers=None, make_client=None):
        self.port = port
        self.target = target
        self.method = method
        self.body = body
        self.pace = pace
        self.timeout = timeout
        self.headers = headers
        self.total = total
        self.duration = duration
        self.make_client = make_client or (lambda p: Client(p, timeout=timeout))
        self.records = []
        self._lock = threading.Lock()
        self._started = 0
        self._stop_evt = threading.Event()
        self._threads = [threading.Thread(target=self._run, name=f"load-{i}", daemon=True)
                         for i in range(threads)]

    def start(self):
        self.t0 = time.monotonic()
        self.deadline = self.t0 + self.duration
        for t in self._threads:
            t.start()
        return self

    def _take(self):
        with self._lock:
            if self._stop_evt.is_set() or self._started >= self.total or time.monotonic() >= self.deadline:
                return False
            self._started += 1
            return True

    def _run(self):
        c = None
        while self._take():
            t = time.monotonic()
            status = backend = err = None
            try:
                if c is None:
                    c = self.make_client(self.port)
                r = c.request(self.method, self.target, headers=self.headers, body=self.body)
                status, backend = r.status, r.backend
                if (r.header("Connection") or "").lower() == "close":
                    c.close()
                    c = None
            except (OSError, ConnectionClosed, ValueError) as e:
                err = repr(e)
                if c is not None:
                    c.close()
                c = None
            with self._lock:
                self.records.append((t, time.monotonic(), status, backend, err))
            if self.pace:
                time.sleep(self.pace)
        if c is not None:
            c.close()

    def stop(self):
        self._stop_evt.set()
        return self.join()

    def join(self, timeout=None):
        limit = time.monotonic() + (timeout if timeout is not None else self.duration + self.timeout + 5)
        for t in self._threads:
            t.join(max(0.0, limit - time.monotonic()))
        return self.records

    def snapshot(self):
        with self._lock:
            return list(self.records)

    def failures(self):
        return [r for r in self.snapshot() if r[2] is None or r[2] >= 500]


class HostsLb(Lb):
    """An lb whose /etc/hosts is `hosts_path`: started under `unshare --mount` with the file
    bind-mounted over /etc/hosts in that private mount namespace (the real one is never
    touched). Rewrite the file with rewrite_in_place() to change what names resolve to.
    Raises unittest.SkipTest when mount namespaces are not permitted here."""

    def __init__(self, yaml_text, hosts_path, extra_args=(), wait_ready=True, listeners=None):
        probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                'mount --bind "$0" /etc/hosts', hosts_path],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
        if probe.returncode != 0:
            raise unittest.SkipTest("cannot bind-mount a hosts file in a private mount namespace "
                                    f"(unshare/mount not permitted): {probe.stderr.strip()}")
        self._write_config(yaml_text)
        # unshare execs sh, which execs lb: the PID we hold is lb's.
        self._launch(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                      'mount --bind "$0" /etc/hosts && exec "$@"', hosts_path,
                      lb_bin(), "--config", self.config_path, *extra_args], listeners, wait_ready)


def wait_access_records(lb, n, timeout=3.0):
    """lb's access records once at least `n` are out (workers flush every ~100 ms)."""
    return wait_until(lambda: (lambda recs: recs if len(recs) >= n else None)(access_records(lb)),
                      timeout) or access_records(lb)


def wait_log_events(lb, msg, n=1, timeout=3.0, **fields):
    """log_events(), once at least `n` match (lb's log reaches us through a pipe, a little
    after the request that caused it was answered); the matches so far on timeout."""
    return wait_until(lambda: (lambda evs: evs if len(evs) >= n else None)(log_events(lb, msg, **fields)),
                      timeout, 0.02) or log_events(lb, msg, **fields)
