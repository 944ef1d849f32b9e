#!/usr/bin/python3
"""UDP echo server for the lab's real servers: returns every datagram unchanged to its sender.

Single socket, blocking loop, a large receive buffer (SO_RCVBUFFORCE as root) so a burst of
thousands of datagrams is not dropped while the loop catches up.
Usage: udp-echo.py PORT PIDFILE [dual]   (dual: IPv6 and IPv4 on one socket)
"""
import os
import signal
import socket
import sys


def main():
    port = int(sys.argv[1])
    pidfile = sys.argv[2] if len(sys.argv) > 2 else None
    dual = len(sys.argv) > 3 and sys.argv[3] == "dual"
    s = socket.socket(socket.AF_INET6 if dual else socket.AF_INET, socket.SOCK_DGRAM)
    if dual:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for opt in (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF):
        try:
            s.setsockopt(socket.SOL_SOCKET, opt, 8 << 20)
            break
        except OSError:
            continue
    for opt in (getattr(socket, "SO_SNDBUFFORCE", 32), socket.SO_SNDBUF):
        try:
            s.setsockopt(socket.SOL_SOCKET, opt, 8 << 20)
            break
        except OSError:
            continue
    s.bind(("::" if dual else "0.0.0.0", port))
    if pidfile:
        with open(pidfile + ".tmp", "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(pidfile + ".tmp", pidfile)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        data, peer = s.recvfrom(65535)
        try:
            s.sendto(data, peer)
        except OSError:
            pass  # e.g. no route/ARP failure: drop this one, keep serving


if __name__ == "__main__":
    main()
