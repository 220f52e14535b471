"""Bounded mixed client load for a chaos run. Each kind runs in its own threads, paced,
until its deadline, its request cap or stop(); every request (or WebSocket session, or
HTTP/2 request of an h2load batch) becomes one record:

    (kind, method, start, end, ok, cause)

`cause` is None when ok, else a short reason ("status 502", "reset", "closed", ...).
Causes starting with "corrupt" mean lb delivered wrong bytes: never acceptable."""

import base64
import ctypes
import hashlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time

from lib import harness
from lib.harness import ConnectionClosed, build_request, ws_frame, ws_read_message

CLIENT_TIMEOUT = 20.0  # above the route timeout: lb answers (504) before we give up
UPLOAD_MAX = 4 << 20


def cause_of(exc):
    if isinstance(exc, socket.timeout):
        return "timeout"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, BrokenPipeError):
        return "broken pipe"
    if isinstance(exc, ConnectionClosed):
        return "closed mid-body" if "body" in str(exc) else "closed"
    if isinstance(exc, ValueError):
        return "bad response"
    return type(exc).__name__


def _drop(state):
    """Closes and forgets a thread's keep-alive client, if it has one."""
    c = state.pop("client", None)
    if c is not None:
        c.close()


class Recorder:
    def __init__(self, clock):
        self.clock = clock
        self.lock = threading.Lock()
        self.records = []

    def add(self, kind, method, start, ok, cause=None, end=None):
        rec = (kind, method, start, self.clock() if end is None else end, ok, cause)
        with self.lock:
            self.records.append(rec)

    def snapshot(self):
        with self.lock:
            return list(self.records)


class Load:
    """All load threads. `ports` has web and tight; `seed` makes every thread's choices
    (sizes, pauses) replayable; `end` is the monotonic deadline."""

    def __init__(self, ports, recorder, seed, clock, end, backend_names):
        self.ports = ports
        self.rec = recorder
        self.seed = seed
        self.clock = clock
        self.end = end
        self.names = set(backend_names)
        self.stop_evt = threading.Event()
        self.threads = []
        rng = random.Random(seed)
        self.upload_data = rng.randbytes(UPLOAD_MAX)
        self.h2_missing = None
        self.errors = []

    def start(self):
        plan = [("get-keepalive", self._keepalive, 3, 0.02), ("get-newconn", self._newconn, 2, 0.03),
                ("upload", self._upload, 1, 0.2), ("websocket", self._websocket, 2, 0.3),
                ("tight-get", self._tight, 1, 0.1), ("h2", self._h2, 1, 6.0)]
        for kind, fn, n, pace in plan:
            for i in range(n):
                rng = random.Random(f"{self.seed}/{kind}/{i}")
                # A cap on count as well as time: 3x the paced rate over the run.
                cap = int(3 * (self.end - self.clock()) / pace) + 100
                t = threading.Thread(target=self._run, args=(kind, fn, rng, pace, cap),
                                     name=f"load-{kind}-{i}", daemon=True)
                self.threads.append(t)
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_evt.set()
        for t in self.threads:
            t.join(CLIENT_TIMEOUT + 35)
        return [t.name for t in self.threads if t.is_alive()]

    def _run(self, kind, fn, rng, pace, cap):
        state = {}
        n = 0
        try:
            while n < cap and not self.stop_evt.is_set() and self.clock() < self.end:
                fn(kind, rng, state)
                n += 1
                self.stop_evt.wait(pace * rng.uniform(0.5, 1.5))
        except Exception as e:  # a bug in this tool: the run must not pass quietly
            self.errors.append(f"load thread {kind} crashed: {e!r}")
            raise
        finally:
            c = state.get("client")
            if c is not None:
                c.close()

    def _check_default(self, r):
        """A default answer is `NAME\\n` from one of our backends, with X-Backend: NAME."""
        if r.status != 200:
            return f"status {r.status}"
        if r.backend not in self.names or r.body != f"{r.backend}\n".encode():
            return "corrupt body"
        return None

    # ------------------------------------------------------------------ HTTP/1.1 kinds

    def _keepalive(self, kind, rng, state):
        t = self.clock()
        try:
            if state.get("client") is None:
                state["client"] = harness.Client(self.ports["web"], timeout=CLIENT_TIMEOUT)
            r = state["client"].request("GET", f"/ka?n={rng.randrange(1 << 30)}")
            cause = self._check_default(r)
            if (r.header("Connection") or "").lower() == "close":
                _drop(state)
        except (OSError, ConnectionClosed, ValueError) as e:
            cause = cause_of(e)
            _drop(state)
        self.rec.add(kind, "GET", t, cause is None, cause)

    def _one_shot(self, kind, port, source=None):
        t = self.clock()
        try:
            if source:
                c = harness.BoundClient(port, source, timeout=CLIENT_TIMEOUT)
            else:
                c = harness.Client(port, timeout=CLIENT_TIMEOUT)
            with c:
                r = c.request("GET", "/nc", headers=[("Connection", "close")])
                cause = self._check_default(r)
        except (OSError, ConnectionClosed, ValueError) as e:
            cause = cause_of(e)
        self.rec.add(kind, "GET", t, cause is None, cause)

    def _newconn(self, kind, rng, state):
        self._one_shot(kind, self.ports["web"])

    def _tight(self, kind, rng, state):
        self._one_shot(kind, self.ports["tight"])

    def _upload(self, kind, rng, state):
        size = rng.randrange(1 << 20, UPLOAD_MAX + 1)
        off = rng.randrange(0, UPLOAD_MAX - size + 1)
        body = memoryview(self.upload_data)[off:off + size]
        t = self.clock()
        try:
            if state.get("client") is None:
                state["client"] = harness.Client(self.ports["web"], timeout=CLIENT_TIMEOUT)
            c = state["client"]
            c.send(build_request("POST", "/up?echo=1", headers=[("Content-Length", str(size))]))
            c.send(body)
            r = c.read_response()
            cause = None
            if r.status != 200:
                cause = f"status {r.status}"
            else:
                got = r.json()
                if got.get("body_bytes") != size or got.get("body_sha256") != hashlib.sha256(body).hexdigest():
                    cause = "corrupt upload"
            if cause or (r.header("Connection") or "").lower() == "close":
                _drop(state)
        except (OSError, ConnectionClosed, ValueError) as e:
            cause = cause_of(e)
            _drop(state)
        self.rec.add(kind, "POST", t, cause is None, cause)

    # ------------------------------------------------------------------ WebSocket

    def _websocket(self, kind, rng, state):
        """One session: the upgrade (an idempotent GET: recorded as kind `websocket`),
        then 3-12 echoed messages over a few seconds (kind `websocket-session`)."""
        t = self.clock()
        key = base64.b64encode(rng.randbytes(16)).decode()
        try:
            c = harness.Client(self.ports["web"], timeout=CLIENT_TIMEOUT)
        except OSError as e:
            self.rec.add(kind, "GET", t, False, cause_of(e))
            return
        with c:
            try:
                c.send(build_request("GET", "/ws", headers=[
                    ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                    ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]))
                r = c.read_response()
                cause = None
                if r.status != 101:
                    cause = f"status {r.status}"
                elif r.header("Sec-WebSocket-Accept") != harness.ws_accept(key):
                    cause = "corrupt handshake"
            except (OSError, ConnectionClosed, ValueError) as e:
                cause = cause_of(e)
            self.rec.add(kind, "GET", t, cause is None, cause)
            if cause:
                return
            t = self.clock()
            cause = None
            try:
                for _ in range(rng.randrange(3, 13)):
                    payload = rng.randbytes(rng.choice((8, 200, 5000, 70000)))
                    c.send(ws_frame(0x2, payload))
                    op, data = ws_read_message(c)
                    if (op, data) != (0x2, payload):
                        cause = "corrupt echo"
                        break
                    if self.stop_evt.wait(rng.uniform(0.05, 0.4)):
                        break
                if cause is None:
                    c.send(ws_frame(0x8, b"\x03\xe8"))
            except (OSError, ConnectionClosed, ValueError) as e:
                cause = cause_of(e)
            self.rec.add("websocket-session", "WS", t, cause is None, cause)

    # ------------------------------------------------------------------ HTTP/2

    _H2_REQ = re.compile(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                         r"(\d+) failed, (\d+) errored, (\d+) timeout")
    _H2_STATUS = re.compile(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")

    def _h2(self, kind, rng, state):
        """A batch of h2c GETs by h2load; each request is one record over the batch's time."""
        n = 60
        t = self.clock()
        try:
            out = subprocess.run(["h2load", "-n", str(n), "-c", "2", "-m", "4", "-T", "20", "-N", "20",
                                  f"http://127.0.0.1:{self.ports['web']}/h2"],
                                 stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                                 preexec_fn=_die_with_parent)
        except FileNotFoundError:
            self.h2_missing = "h2load not installed (Debian nghttp2-client): no HTTP/2 load"
            self.stop_evt.wait(3600)
            return
        except subprocess.TimeoutExpired:
            for _ in range(n):
                self.rec.add(kind, "GET", t, False, "h2load timeout")
            return
        end = self.clock()
        m, s = self._H2_REQ.search(out.stdout), self._H2_STATUS.search(out.stdout)
        if not m or not s:
            for _ in range(n):
                self.rec.add(kind, "GET", t, False, "h2load: no summary", end)
            return
        succeeded = int(s.group(1))  # 2xx
        for _ in range(succeeded):
            self.rec.add(kind, "GET", t, True, None, end)
        for code, count in zip(("3xx", "4xx", "5xx"), s.groups()[1:]):
            for _ in range(int(count)):
                self.rec.add(kind, "GET", t, False, f"status {code}", end)
        for _ in range(n - succeeded - sum(int(x) for x in s.groups()[1:])):
            self.rec.add(kind, "GET", t, False, "h2 stream failed", end)


_LIBC = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    _LIBC.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: h2load dies with its thread
