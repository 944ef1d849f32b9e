#!/usr/bin/python3
"""The lab's stand-in for a real server's tunl0 (this lab's kernel has no ipip module).

Reads IPIP packets (IPv4 protocol 4) addressed to this host from an interface with an
AF_PACKET socket, and with a GUE port also GUE (variant 1: UDP to that port, the inner
IPv4 packet right after the UDP header; this kernel has no fou module either), and writes
each inner packet into a TUN device (default "tunl0"), which
carries the VIP: the kernel then receives the client's packet as if it had arrived on a
real tunl0, and answers the client directly (LVS/TUN). Test tooling only.

Usage: ipip-decap.py IFACE LOCAL_IP [TUN_NAME] [PIDFILE] [GUE_PORT]
Prints "ready" once the TUN device exists; counts on SIGTERM ("decapsulated N, ignored M").
"""
import fcntl
import os
import signal
import socket
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
ETH_P_IP = 0x0800


def main():
    iface, local = sys.argv[1], socket.inet_aton(sys.argv[2])
    name = sys.argv[3] if len(sys.argv) > 3 else "tunl0"
    gue_port = int(sys.argv[5]) if len(sys.argv) > 5 else None
    if len(sys.argv) > 4:
        with open(sys.argv[4], "w") as f:
            f.write(f"{os.getpid()}\n")
    tun = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    s.bind((iface, ETH_P_IP))
    counts = {"decapsulated": 0, "ignored": 0}

    def stop(*_):
        print(f"decapsulated {counts['decapsulated']}, ignored {counts['ignored']}", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    while True:
        pkt, addr = s.recvfrom(65535)
        # Only what arrived for this host (not our own outgoing packets): IPv4 carrying IPv4,
        # or UDP to the GUE port.
        if addr[2] == socket.PACKET_OUTGOING or len(pkt) < 40 or pkt[0] >> 4 != 4 or pkt[9] not in (4, 17):
            continue
        ihl = (pkt[0] & 0x0F) * 4
        if pkt[9] == 17 and (gue_port is None or struct.unpack("!H", pkt[ihl + 2:ihl + 4])[0] != gue_port):
            continue
        if pkt[16:20] != local:
            counts["ignored"] += 1
            continue
        total = struct.unpack("!H", pkt[2:4])[0]
        inner = pkt[ihl + (8 if pkt[9] == 17 else 0):total]
        if len(inner) < 20 or inner[0] >> 4 != 4:
            counts["ignored"] += 1
            continue
        os.write(tun, inner)
        counts["decapsulated"] += 1


if __name__ == "__main__":
    main()
