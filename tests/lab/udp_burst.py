#!/usr/bin/python3
"""Sends COUNT distinct UDP datagrams to DST:PORT from SPORTS source sockets and checks that
every one comes back unchanged (UDP echo through the VIP).

At most WINDOW datagrams are outstanding at once, so a correct path never overruns a socket
buffer; a datagram not echoed within TIMEOUT seconds of the last progress counts as lost.
Prints one JSON summary line; exit status 0 only if every datagram came back intact.
"""
import argparse
import json
import os
import selectors
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dst", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--sports", type=int, default=8, help="number of source sockets (ports)")
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--size", type=int, default=64, help="payload bytes (>= 32)")
    ap.add_argument("--src", default="0.0.0.0", help="source address to bind")
    ap.add_argument(
        "--sport-base",
        type=int,
        default=0,
        help="source ports BASE, BASE+1, ... (default: the kernel's ephemeral ports, which may be "
        "those of an earlier run whose sessions still live)",
    )
    a = ap.parse_args()

    sel = selectors.DefaultSelector()
    socks = []
    for i in range(a.sports):
        v6 = ":" in a.dst
        s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind(("::" if v6 and a.src == "0.0.0.0" else a.src, a.sport_base + i if a.sport_base else 0))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)

    tag = os.urandom(4).hex()
    outstanding = {}  # payload -> socket index
    sent = received = bad = wrong_peer = dup = 0
    seen = set()
    nxt = 0
    last_progress = time.monotonic()
    dst = (a.dst, a.port)
    while True:
        while nxt < a.count and len(outstanding) < a.window:
            idx = nxt % len(socks)
            body = ("rvs-%s-%06d-" % (tag, nxt)).encode()
            payload = body + bytes((nxt + k) & 0xFF for k in range(max(0, a.size - len(body))))
            try:
                socks[idx].sendto(payload, dst)
            except BlockingIOError:
                break
            outstanding[payload] = idx
            sent += 1
            nxt += 1
        if nxt >= a.count and not outstanding:
            break
        if time.monotonic() - last_progress > a.timeout:
            break
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            while True:
                try:
                    data, peer = s.recvfrom(65535)
                except BlockingIOError:
                    break
                last_progress = time.monotonic()
                if peer[:2] != dst:
                    wrong_peer += 1
                    continue
                idx = outstanding.pop(data, None)
                if idx is None:
                    if data in seen:
                        dup += 1
                    else:
                        bad += 1
                    continue
                if socks[idx] is not s:
                    bad += 1
                    continue
                seen.add(data)
                received += 1
    lost = len(outstanding) + (a.count - sent)
    ok = received == a.count and bad == 0 and wrong_peer == 0
    print(json.dumps({
        "sent": sent, "received": received, "lost": lost, "corrupted": bad,
        "wrong_peer": wrong_peer, "duplicates": dup, "sports": a.sports, "ok": ok,
    }))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
