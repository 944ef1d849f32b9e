#!/usr/bin/python3
"""The lab's stand-in for a real server's ip6tnl device (this lab's kernel has no ip6_tunnel).

Reads IPv6-in-IPv6 packets (next header 41, RFC 2473) addressed to LOCAL_IP from an
interface with an AF_PACKET socket and writes each inner IPv6 packet into a TUN device
(default "tun6"), which carries the VIP: the kernel then receives the client's packet as if
it had arrived on a real ip6tnl device, and answers the client directly (LVS/TUN over
IPv6). Packets with extension headers in the outer header are ignored (rvsd sends none).
Test tooling only.

Usage: ip6ip6-decap.py IFACE LOCAL_IP [TUN_NAME] [PIDFILE]
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
ETH_P_IPV6 = 0x86DD


def main():
    iface, local = sys.argv[1], socket.inet_pton(socket.AF_INET6, sys.argv[2])
    name = sys.argv[3] if len(sys.argv) > 3 else "tun6"
    if len(sys.argv) > 4:
        with open(sys.argv[4], "w") as f:
            f.write(f"{os.getpid()}\n")
    tun = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IPV6))
    s.bind((iface, ETH_P_IPV6))
    counts = {"decapsulated": 0, "ignored": 0}

    def stop(*_):
        print(f"decapsulated {counts['decapsulated']}, ignored {counts['ignored']}", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    while True:
        pkt, addr = s.recvfrom(65535)
        # Only what arrived for this host (not our own outgoing packets): IPv6 carrying IPv6.
        if addr[2] == socket.PACKET_OUTGOING or len(pkt) < 80 or pkt[0] >> 4 != 6 or pkt[6] != 41:
            continue
        if pkt[24:40] != local:
            counts["ignored"] += 1
            continue
        plen = struct.unpack("!H", pkt[4:6])[0]
        inner = pkt[40:40 + plen]
        if len(inner) < 40 or inner[0] >> 4 != 6:
            counts["ignored"] += 1
            continue
        os.write(tun, inner)
        counts["decapsulated"] += 1


if __name__ == "__main__":
    main()
