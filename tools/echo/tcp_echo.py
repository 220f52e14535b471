#!/usr/bin/env python3
"""A TCP echo server for lb's TCP-plane tests: one thread per connection.

Prints "listening HOST:PORT" on stdout once bound (port 0 = the kernel's pick),
then one line per event ("eof N": a client half-closed after N bytes). Modes:

  echo      echo every byte; on the client's FIN send "EOF <n>\\n", then close
  hold      echo; on the client's FIN keep the connection open, sending nothing
  fin-first send "hello\\n" and half-close at once, then count what arrives
  rst       read the first bytes, then close with an RST (SO_LINGER 0)
  sink      read and count, send nothing; on FIN send "EOF <n>\\n" and close

echo and hold read and write on two threads: the socket is read while a write
waits, as a proxy's upstream would, so a bulk flow never leaves both of this
server's buffers full at once (over loopback that ends in a receive-queue drop
and TCP backoff of up to 120 s).
"""

import argparse
import queue
import socket
import struct
import sys
import threading

CHUNK = 1 << 20


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Failed(Exception):
    """The connection failed (a reset, most often) after `n` bytes."""

    def __init__(self, n, err):
        super().__init__(n, err)
        self.n, self.errno = n, err.errno


def echo_duplex(conn):
    """Echoes until the client's FIN and returns the byte count. Reads on this
    thread, writes on another; the queue between them is unbounded (the client
    reads what comes back, which bounds it)."""
    chunks = queue.Queue()
    send_errors = []
    n = 0

    def writer():
        try:
            while (data := chunks.get()) is not None:
                conn.sendall(data)
        except OSError as e:
            send_errors.append(e)
            while chunks.get() is not None:  # let the reader finish
                pass

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    failure = None
    try:
        while data := conn.recv(CHUNK):
            n += len(data)
            chunks.put(data)
    except OSError as e:
        failure = e
    chunks.put(None)
    w.join()
    failure = failure or (send_errors[0] if send_errors else None)
    if failure is not None:
        raise Failed(n, failure)
    return n


def consume(conn, mode):
    """fin-first, rst and sink: reads until the client's FIN and returns the
    byte count, or None once rst has reset the connection."""
    n = 0
    try:
        if mode == "fin-first":
            conn.sendall(b"hello\n")
            conn.shutdown(socket.SHUT_WR)
        while data := conn.recv(CHUNK):
            n += len(data)
            if mode == "rst":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
                say(f"rst {n}")
                return None
    except OSError as e:
        raise Failed(n, e)
    return n


def serve(conn, mode):
    n = 0
    try:
        n = echo_duplex(conn) if mode in ("echo", "hold") else consume(conn, mode)
        if n is None:
            return
        say(f"eof {n}")
        if mode == "hold":
            threading.Event().wait(3600)
        if mode in ("echo", "sink"):
            conn.sendall(f"EOF {n}\n".encode())
    except Failed as f:
        say(f"error {f.n} {f.errno}")
    except OSError as e:
        say(f"error {n} {e.errno}")
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--mode", default="echo", choices=["echo", "hold", "fin-first", "rst", "sink"])
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    srv = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host.strip("[]"), int(port)))
    srv.listen(512)
    say(f"listening {host}:{srv.getsockname()[1]}")
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, args.mode), daemon=True).start()


if __name__ == "__main__":
    main()
