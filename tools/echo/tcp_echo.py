#!/usr/bin/env python3
"""A TCP echo server for lb's TCP-plane tests: one thread per connection.

Prints "listening HOST:PORT" on stdout once bound (port 0 = the kernel's pick),
then one line per event ("eof N": a client half-closed after N bytes). Modes:

  echo      echo every byte; on the client's FIN send "EOF <n>\\n", then close
  hold      echo; on the client's FIN keep the connection open, sending nothing
  fin-first send "hello\\n" and half-close at once, then count what arrives
  rst       read the first bytes, then close with an RST (SO_LINGER 0)
  sink      read and count, send nothing; on FIN send "EOF <n>\\n" and close
"""

import argparse
import socket
import struct
import sys
import threading

CHUNK = 1 << 20


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def serve(conn, mode):
    n = 0
    try:
        if mode == "fin-first":
            conn.sendall(b"hello\n")
            conn.shutdown(socket.SHUT_WR)
        while True:
            data = conn.recv(CHUNK)
            if not data:
                break
            n += len(data)
            if mode == "rst":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
                say(f"rst {n}")
                return
            if mode in ("echo", "hold"):
                conn.sendall(data)
        say(f"eof {n}")
        if mode == "hold":
            threading.Event().wait(3600)
        if mode in ("echo", "sink"):
            conn.sendall(f"EOF {n}\n".encode())
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
