"""Origins for the upstream TLS suite: a test CA made at test time (no key is
committed), nginx serving HTTPS with two server names and logging each
request's connection, SNI and session reuse, and a small Python TLS 1.3 origin
that can send a NewSessionTicket on an idle connection."""

import ctypes
import os
import socket
import ssl
import subprocess
import threading
import time

from lib import harness

OPENSSL = "openssl"


def _run(*args):
    subprocess.run([OPENSSL, *args], check=True, capture_output=True)


def make_ca(d, name):
    """A CA certificate and key; returns (crt, key)."""
    key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".crt")
    _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
         "-out", crt, "-days", "2", "-subj", "/CN=" + name, "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign")
    return crt, key


def make_leaf(d, name, ca, sans):
    """A certificate for `sans` ("DNS:a.test", "IP:127.0.0.1") signed by `ca`; returns (crt, key)."""
    key, csr, crt = (os.path.join(d, name + x) for x in (".key", ".csr", ".crt"))
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=" + ",".join(sans) + "\nextendedKeyUsage=serverAuth\n")
    _run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
         "-out", csr, "-subj", "/CN=" + name)
    _run("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial", "-out", crt, "-days", "2",
         "-extfile", ext)
    return crt, key


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Nginx:
    """nginx with TLS server names a.test (default) and b.test on one port; each
    request logged as "connection requests reused sni protocol"."""

    def __init__(self, d, leaf, protocols="TLSv1.2 TLSv1.3"):
        self.dir = d
        self.port = free_port()
        self.log = os.path.join(d, "nginx-access.log")
        open(self.log, "w").close()
        conf = os.path.join(d, "nginx.conf")
        tmp = os.path.join(d, "nginx-tmp")
        os.makedirs(tmp, exist_ok=True)
        servers = ""
        for name in ("a.test", "b.test"):
            default = " default_server" if name == "a.test" else ""
            servers += f"""
    server {{
        listen 127.0.0.1:{self.port} ssl{default};
        server_name {name};
        ssl_certificate {leaf[0]};
        ssl_certificate_key {leaf[1]};
        ssl_protocols {protocols};
        ssl_session_cache shared:S:1m;
        access_log {self.log} t;
        location / {{ return 200 "{name} sni=$ssl_server_name reused=$ssl_session_reused\\n"; }}
    }}"""
        with open(conf, "w") as f:
            f.write(f"""daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log info;
events {{ worker_connections 512; }}
http {{
    client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};
    uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
    default_type text/plain;
    keepalive_timeout 60s;
    keepalive_requests 10000;
    log_format t '$connection $connection_requests $ssl_session_reused $ssl_server_name $ssl_protocol';
{servers}
}}
""")
        self.proc = harness._spawn(["nginx", "-c", conf, "-p", d, "-e", os.path.join(d, "nginx-error.log")])
        if not harness.wait_until(self._up, 10):
            self.stop()
            raise RuntimeError("nginx did not start: " + open(os.path.join(d, "nginx-error.log")).read())

    def _up(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def endpoint(self):
        return f"127.0.0.1:{self.port}"

    def lines(self):
        """Logged requests as [connection, requests, reused, sni, protocol] (the probes of _up log nothing)."""
        with open(self.log) as f:
            return [l.split() for l in f if l.strip()]

    def stop(self):
        harness._stop_process(self.proc)
        harness._close_pipes(self.proc)


# OpenSSL's SSL* of a Python SSLObject: CPython's PySSLSocket is
# {PyObject_HEAD, PyObject *Socket, SSL *ssl, ...}. Python's ssl module has no
# call for an extra ticket, so SSL_new_session_ticket is called through ctypes.
_SSL_OFFSET = 3 * ctypes.sizeof(ctypes.c_void_p)


class TicketOrigin:
    """TLS 1.3 HTTP/1.1 keep-alive origin: answers every request with its
    connection's number, and `ticket_after` seconds after each response sends
    one more NewSessionTicket on the then idle connection."""

    def __init__(self, leaf, ticket_after):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        self.ctx.load_cert_chain(*leaf)
        self.libssl = ctypes.CDLL("libssl.so.3")
        self.libssl.SSL_new_session_ticket.argtypes = [ctypes.c_void_p]
        self.libssl.SSL_do_handshake.argtypes = [ctypes.c_void_p]
        self.ticket_after = ticket_after
        self.connections = 0
        self.tickets_sent = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def endpoint(self):
        return f"127.0.0.1:{self.port}"

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, raw):
        try:
            s = self.ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        with self.lock:
            self.connections += 1
            n = self.connections
        ptr = ctypes.c_void_p.from_address(id(s._sslobj) + _SSL_OFFSET).value
        s.settimeout(30)
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = s.recv(65536)
                    if not d:
                        return
                    buf += d
                _, buf = buf.split(b"\r\n\r\n", 1)
                body = f"connection {n}\n".encode()
                s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                time.sleep(self.ticket_after)
                if self.libssl.SSL_new_session_ticket(ptr) == 1 and self.libssl.SSL_do_handshake(ptr) == 1:
                    with self.lock:
                        self.tickets_sent += 1
        except (OSError, ssl.SSLError):
            pass
        finally:
            s.close()

    def stop(self):
        self.stopped = True
        self.sock.close()
