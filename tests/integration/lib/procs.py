"""The processes of an integration test: lb and lb-backend started on port 0
with their real port read back from their output, readiness awaited against a
deadline, every child reaped by PID (SIGTERM, then SIGKILL) when the test ends
or the interpreter exits; their logs (logfmt), RSS, and loopback ports that
refuse or listen. Nothing is ever killed by name.

Environment: LB_BIN (path to lb), LB_BACKEND_BIN (path to lb-backend).
"""

import atexit
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from lib.http_client import simple_get

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
