"""A raw HTTP/1.1 client for tests (exact bytes out, a strict parse of what
comes back), curl, and WebSocket frames."""

import base64
import hashlib
import json
import os
import socket
import struct
import subprocess
import time

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
