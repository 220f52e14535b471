#!/usr/bin/env python3
"""Small HTTP/1.1 client for tools/bench/bench.sh (loopback only, always bounded).

idle  : open N connections, send one keep-alive GET on each, read the whole
        response, then hold every connection idle until the --release file
        appears (or --max-seconds passes). Writes "ok=.. failed=.." to --ready
        once all connections are up; prints "held=.. still_open=.." at the end.
count : exactly N requests over C connections, one request at a time per
        connection (keep-alive, or a new connection per request with --close).
        Checks the status (200) and the body length; exits 1 unless all N
        succeeded. Used for the fixed-request-count callgrind runs.
"""
import argparse
import errno
import os
import selectors
import socket
import sys
import time

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


def port_range():
    try:
        lo, hi = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
        return max(1000, hi - lo + 1 - 2000)
    except OSError:
        return 20000


class Conn:
    """One non-blocking client connection with a response parser."""

    __slots__ = ("sock", "buf", "want", "hdr_end", "status", "sent")

    def __init__(self, sock):
        self.sock, self.buf = sock, bytearray()
        self.reset()

    def reset(self):
        self.buf.clear()
        self.want, self.hdr_end, self.status, self.sent = None, -1, 0, False

    def parse(self, eof):
        """None: need more bytes; otherwise (status, body_len) of a complete response."""
        if self.hdr_end < 0:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return None
            self.hdr_end = end + 4
            lines = bytes(self.buf[:end]).split(b"\r\n")
            parts = lines[0].split(b" ", 2)
            self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            for line in lines[1:]:
                k, _, v = line.partition(b":")
                k = k.strip().lower()
                if k == b"content-length":
                    self.want = int(v.strip())
                elif k == b"transfer-encoding" and b"chunked" in v.lower():
                    self.want = "chunked"
        body = len(self.buf) - self.hdr_end
        if isinstance(self.want, int):
            return (self.status, body) if body >= self.want else None
        if self.want == "chunked":
            # good enough for a benchmark: the terminating zero-size chunk
            if self.buf.endswith(b"\r\n0\r\n\r\n") or self.buf[self.hdr_end:] == b"0\r\n\r\n":
                return (self.status, -1)
            return None
        return (self.status, body) if eof else None


def new_socket(i, a):
    """Non-blocking connect; the source address 127.0.0.k rotates so that more
    connections than the ephemeral port range allows can be opened."""
    k = 1 + i // a.per_source
    if k > 254:
        raise SystemExit("too many connections for source addresses 127.0.0.1-254")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.bind(("127.0.0.%d" % k, 0))
    rc = s.connect_ex((a.host, a.port))
    if rc not in (0, errno.EINPROGRESS):
        s.close()
        return None
    return s


def run_idle(a, deadline):
    req = b"GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % a.path.encode()
    sel = selectors.DefaultSelector()
    held, ok, failed, started, inflight = [], 0, 0, 0, 0
    errors = {}

    def done(c, good, why=""):
        nonlocal ok, failed, inflight
        sel.unregister(c.sock)
        inflight -= 1
        if good:
            ok += 1
            held.append(c.sock)
        else:
            failed += 1
            errors[why] = errors.get(why, 0) + 1
            c.sock.close()

    t0 = time.monotonic()
    while ok + failed < a.count and time.monotonic() < deadline:
        while inflight < a.window and started < a.count:
            s = new_socket(started, a)
            started += 1
            if s is None:
                failed += 1
                errors["connect"] = errors.get("connect", 0) + 1
                continue
            sel.register(s, selectors.EVENT_WRITE, Conn(s))
            inflight += 1
        for key, _ in sel.select(timeout=0.2):
            c = key.data
            if not c.sent:
                if c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    done(c, False, "connect")
                    continue
                try:
                    c.sock.send(req)
                except OSError:
                    done(c, False, "send")
                    continue
                c.sent = True
                sel.modify(c.sock, selectors.EVENT_READ, c)
                continue
            try:
                data = c.sock.recv(1 << 18)
            except BlockingIOError:
                continue
            except OSError:
                done(c, False, "recv")
                continue
            c.buf += data
            r = c.parse(not data)
            if r is not None:
                if r[0] != 200:
                    done(c, False, "status %d" % r[0])
                else:  # a response ended by EOF is not a kept-alive connection
                    done(c, bool(data), "closed by server")
            elif not data:
                done(c, False, "eof")
    secs = time.monotonic() - t0
    with open(a.ready + ".tmp", "w") as f:
        f.write("ok=%d failed=%d seconds=%.2f errors=%s\n" % (ok, failed, secs, errors or "{}"))
    os.rename(a.ready + ".tmp", a.ready)
    while time.monotonic() < deadline and not os.path.exists(a.release):
        time.sleep(0.1)
    # Which connections did the server close while they were idle?
    sel2 = selectors.DefaultSelector()
    for s in held:
        sel2.register(s, selectors.EVENT_READ)
    closed = 0
    for key, _ in sel2.select(timeout=0):
        try:
            if key.fileobj.recv(1, socket.MSG_PEEK) == b"":
                closed += 1
        except OSError:
            closed += 1
    print("held=%d still_open=%d" % (len(held), len(held) - closed), flush=True)
    for s in held:
        s.close()
    return 0


def run_count(a, deadline):
    hdrs = "GET %s HTTP/1.1\r\nHost: bench\r\n" % a.path
    if a.close:
        hdrs += "Connection: close\r\n"
    req = (hdrs + "\r\n").encode()
    sel = selectors.DefaultSelector()
    ok = failed = started = opened = active = 0
    errors = {}

    def record(good, why):
        nonlocal ok, failed
        if good:
            ok += 1
        else:
            failed += 1
            errors[why] = errors.get(why, 0) + 1

    def drop(c):
        nonlocal active
        sel.unregister(c.sock)
        c.sock.close()
        active -= 1

    t0 = time.monotonic()
    while ok + failed < a.count and time.monotonic() < deadline:
        # one request per connection at a time; open connections as needed
        while active < a.connections and started < a.count:
            started += 1
            s = new_socket(opened, a)
            opened += 1
            if s is None:
                record(False, "connect")
                continue
            sel.register(s, selectors.EVENT_WRITE, Conn(s))
            active += 1
        for key, _ in sel.select(timeout=0.2):
            c = key.data
            if not c.sent:
                if c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    record(False, "connect")
                    drop(c)
                    continue
                try:
                    c.sock.send(req)
                except OSError:
                    record(False, "send")
                    drop(c)
                    continue
                c.sent = True
                sel.modify(c.sock, selectors.EVENT_READ, c)
                continue
            try:
                data = c.sock.recv(1 << 18)
            except BlockingIOError:
                continue
            except OSError:
                record(False, "recv")
                drop(c)
                continue
            c.buf += data
            r = c.parse(not data)
            if r is None and data:
                continue
            if r is None:
                good, why = False, "eof before the end of the response"
            elif r[0] != 200:
                good, why = False, "status %d" % r[0]
            elif a.body_len is not None and r[1] >= 0 and r[1] != a.body_len:
                good, why = False, "body length %d" % r[1]
            else:
                good, why = True, ""
            record(good, why)
            if good and not a.close and data and started < a.count:
                c.reset()
                c.sent = True
                started += 1
                try:
                    c.sock.send(req)
                except OSError:
                    record(False, "send")
                    drop(c)
            else:
                drop(c)
    secs = time.monotonic() - t0
    print("requests=%d ok=%d failed=%d seconds=%.2f errors=%s" % (a.count, ok, failed, secs, errors or "{}"),
          flush=True)
    return 0 if ok == a.count else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["idle", "count"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/")
    p.add_argument("-n", "--count", type=int, required=True)
    p.add_argument("-c", "--connections", type=int, default=10, help="count: concurrent connections")
    p.add_argument("--close", action="store_true", help="count: Connection: close on every request")
    p.add_argument("--body-len", type=int, help="count: expected body length")
    p.add_argument("--window", type=int, default=64, help="idle: connections being set up at once")
    p.add_argument("--per-source", type=int, default=port_range())
    p.add_argument("--ready", help="idle: file written once all connections are up")
    p.add_argument("--release", help="idle: hold the connections until this file exists")
    p.add_argument("--max-seconds", type=float, default=120)
    a = p.parse_args()
    if not (a.host.startswith("127.") or a.host == "::1"):
        raise SystemExit("loopback targets only")
    deadline = time.monotonic() + a.max_seconds
    if a.mode == "idle":
        if not a.ready or not a.release:
            raise SystemExit("idle needs --ready and --release")
        return run_idle(a, deadline)
    return run_count(a, deadline)


if __name__ == "__main__":
    sys.exit(main())
