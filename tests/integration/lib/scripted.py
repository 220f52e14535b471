"""Backends that misbehave on purpose (ScriptedBackend: each connection does
what the test scripted) and a bounded client load (Load)."""

import socket
import struct
import threading
import time

from lib.http_client import Client, ConnectionClosed

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
