"""Helpers for the TCP-plane suite: the echo server (tools/echo/tcp_echo.py) as a
reaped child process, `protocol: tcp` configs, and raw socket clients.
Import it as `from tcp import support`.
"""

import hashlib
import os
import socket
import struct
import subprocess
import sys
import threading
import time

from lib import harness

ECHO = os.path.join(os.path.dirname(__file__), "..", "..", "..", "tools", "echo", "tcp_echo.py")


class Echo:
    """One tcp_echo.py process in `mode`, on an ephemeral loopback port."""

    def __init__(self, mode="echo", listen="127.0.0.1:0"):
        self.proc = harness._spawn([sys.executable, ECHO, "--listen", listen, "--mode", mode])
        self.out = harness._LineReader(self.proc.stdout, "echo-stdout")
        self.err = harness._LineReader(self.proc.stderr, "echo-stderr")
        self.out.start()
        self.err.start()
        ok = self.out.wait_for(lambda ls: any(l.startswith("listening ") for l in ls), time.monotonic() + 10)
        if not ok:
            self.stop()
            raise RuntimeError("echo server did not start: " + "\n".join(self.err.snapshot()))
        line = next(l for l in self.out.snapshot() if l.startswith("listening "))
        self.port = harness.split_hostport(line.split()[1])[1]

    def endpoint(self):
        return f"127.0.0.1:{self.port}"

    def events(self):
        return [l for l in self.out.snapshot() if not l.startswith("listening ")]

    def wait_event(self, prefix, timeout=5.0):
        found = lambda: next((e for e in self.events() if e.startswith(prefix)), None)
        return harness.wait_until(found, timeout)

    def stop(self):
        harness._stop_process(self.proc)
        harness._close_pipes(self.proc, self.out, self.err)


def tcp_config(pool_endpoints, listener_extra=None, pool_extra=None, drain_timeout="3s", workers=1,
               extra_listeners=(), extra_pools=(), access_log=True):
    """YAML: one `protocol: tcp` listener `t` on port 0 to pool `p` (round robin)."""
    lst = {"name": "t", "listen": "127.0.0.1:0", "protocol": "tcp", "pool": "p"}
    lst.update(listener_extra or {})
    pool = {"name": "p", "balancer": "round_robin",
            "endpoints": [{"address": e} for e in pool_endpoints], "connect_timeout": "1s"}
    pool.update(pool_extra or {})
    doc = {"workers": workers, "drain_timeout": drain_timeout, "admin": {"listen": "127.0.0.1:0"}}
    if not access_log:
        doc["access_log"] = {"path": "off"}
    doc["listeners"] = [lst, *extra_listeners]
    doc["pools"] = [pool, *extra_pools]
    return "\n".join(harness.to_yaml(doc)) + "\n"


def connect(port, timeout=10.0, source=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    return s


def read_all(s, limit=1 << 24):
    """Everything until EOF (or until a reset, which raises)."""
    out = b""
    while len(out) < limit:
        d = s.recv(65536)
        if not d:
            break
        out += d
    return out


def read_exact(s, n):
    out = b""
    while len(out) < n:
        d = s.recv(min(1 << 20, n - len(out)))
        if not d:
            raise harness.ConnectionClosed(f"closed after {len(out)} of {n} bytes", out)
        out += d
    return out


def closed_by_peer(s, timeout=5.0):
    """True once the peer has closed `s` without sending a byte: a FIN, or an RST
    (lb closing with unread bytes still in its socket sends one)."""
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def reset(s):
    """Closes `s` with an RST."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def pattern(seed, size):
    """`size` pseudo-random bytes: a random 4 MiB block repeated (cheap to make at 1 GiB)."""
    block = hashlib.shake_256(seed).digest(1 << 22)
    reps, rest = divmod(size, len(block))
    return block, reps, rest


def socket_report(ports, pids=()):
    """What the kernel holds for the flows through `ports` (queues, windows,
    memory: `ss -tinm`) and where each thread of `pids` sleeps: the evidence a
    stalled flow leaves."""
    flt = " or ".join(f"sport = :{p} or dport = :{p}" for p in ports)
    try:
        out = subprocess.run(["ss", "-tinm", "state", "all", f"( {flt} )"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        out = f"(ss failed: {e})"
    for pid in pids:
        for tid in sorted(os.listdir(f"/proc/{pid}/task")) if os.path.isdir(f"/proc/{pid}/task") else []:
            try:
                comm = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
                wchan = open(f"/proc/{pid}/task/{tid}/wchan").read().strip()
                state = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            out += f"\npid {pid} tid {tid} {comm}: state {state} wchan {wchan}"
    return out


class Stalled(AssertionError):
    pass


# How long a bulk flow may make no progress before it counts as stalled. Over
# loopback with 32 MiB autotuned buffers, a receiver whose queue is full can
# drop an in-window segment (TcpExtTCPRcvQDrop: its skbs cost more memory than
# the window it advertised) while the other direction is also full; the
# sender's retransmission or window probe then backs off exponentially, up to
# the kernel's TCP_RTO_MAX of 120 s, before the flow moves again. Seen twice in
# ~570 runs of 256 MiB, four at once, with an echo server that stopped reading
# while it wrote (`ss`: lb's sockets drained, the echo's receive queue over
# its buffer, both ends in backoff 8); tools/echo now reads on while it
# writes. lb has no part in that wait, so the limit is above it: a flow lb
# really stopped still fails, with the sockets' state in the message.
STALL_SECONDS = 150


def transfer(port, size, seed=b"lb", chunk=1 << 20, stall_report=None):
    """Sends `size` bytes through an echo flow while reading them back; half-closes
    and reads the echo server's trailer. Returns (sent_sha256, received_sha256, trailer).
    No progress either way for STALL_SECONDS raises Stalled, with `stall_report()`
    (the sockets' and threads' state) in the message."""
    block, reps, rest = pattern(seed, size)
    s = connect(port, timeout=STALL_SECONDS)
    sent_bytes = [0]

    def stalled(where):
        detail = stall_report() if stall_report else ""
        s.close()
        return Stalled(f"stalled for {STALL_SECONDS} s while {where}: {sent_bytes[0]} of {size} bytes sent, "
                       f"{received[0]} received\n{detail}")
    sent = hashlib.sha256()
    got = hashlib.sha256()
    received = [0, b""]
    err = []

    def reader():
        try:
            tail = b""
            while True:
                d = s.recv(chunk)
                if not d:
                    break
                if received[0] + len(d) <= size:
                    got.update(d)
                    received[0] += len(d)
                else:
                    take = size - received[0]
                    got.update(d[:take])
                    received[0] = size
                    tail += d[take:]
            received[1] = tail
        except OSError as e:
            err.append(e)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    mv = memoryview(block)
    try:
        for _ in range(reps):
            s.sendall(mv)
            sent.update(mv)
            sent_bytes[0] += len(mv)
        if rest:
            s.sendall(mv[:rest])
            sent.update(mv[:rest])
            sent_bytes[0] += rest
    except socket.timeout:
        raise stalled("sending")
    s.shutdown(socket.SHUT_WR)
    t.join(STALL_SECONDS)
    if t.is_alive() or (err and isinstance(err[0], socket.timeout)):
        raise stalled("reading the echo")
    s.close()
    if err:
        raise err[0]
    return sent.hexdigest(), got.hexdigest(), received[1]
