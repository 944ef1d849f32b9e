#!/usr/bin/python3
"""Listens on many TCP ports of one address: the check targets of tests/lab/21-ctrl-scale.sh.

PORTFILE has one line per port: "PORT tcp" (a connection is accepted and closed at once, what
TCP_CHECK needs) or "PORT http" (the request is read up to its blank line and answered
"HTTP/1.0 200 OK", what HTTP_GET needs). One selectors (epoll) loop serves them all.
Writes its pid to PIDFILE once every port listens; SIGTERM ends it (the listeners close, so
connects to them are refused from then on).
"""
import argparse
import os
import resource
import selectors
import signal
import socket
import sys

REPLY = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--portfile", required=True)
    ap.add_argument("--pidfile", required=True)
    a = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sel = selectors.DefaultSelector()
    n = 0
    with open(a.portfile) as f:
        for line in f:
            port, kind = line.split()
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((a.addr, int(port)))
            s.listen(256)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, ("listen", kind == "http"))
            n += 1
    with open(a.pidfile + ".tmp", "w") as f:
        f.write(f"{os.getpid()}\n")
    os.rename(a.pidfile + ".tmp", a.pidfile)
    print(f"listening on {n} ports of {a.addr}", flush=True)

    bufs = {}
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            what, http = key.data
            if what == "listen":
                while True:
                    try:
                        c, _ = sock.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    if not http:
                        c.close()
                        continue
                    c.setblocking(False)
                    bufs[c] = b""
                    sel.register(c, selectors.EVENT_READ, ("conn", True))
            else:
                try:
                    data = sock.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                buf = bufs.get(sock, b"") + data
                if data and b"\r\n\r\n" not in buf and len(buf) < 65536:
                    bufs[sock] = buf
                    continue
                if data:
                    try:
                        sock.send(REPLY)
                    except OSError:
                        pass
                sel.unregister(sock)
                bufs.pop(sock, None)
                sock.close()


if __name__ == "__main__":
    main()
