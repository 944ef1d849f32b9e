#!/usr/bin/python3
"""Sends VRRPv2 advertisements (RFC 3768) as a peer would, with scapy: to 224.0.0.18 from
IFACE's address, TTL 255, simple-text authentication with PASSWORD (NUL-padded to 8 bytes),
once per INTERVAL for COUNT adverts.

usage: vrrp_advert.py IFACE VRID PRIORITY PASSWORD VIP[,VIP...] [COUNT [INTERVAL]]
"""
import struct
import sys
import time

from scapy.all import Ether, IP, get_if_addr, get_if_hwaddr, sendp
from scapy.layers.vrrp import VRRP


def main():
    iface, vrid, prio, password, vips = sys.argv[1:6]
    count = int(sys.argv[6]) if len(sys.argv) > 6 else 5
    interval = float(sys.argv[7]) if len(sys.argv) > 7 else 1.0
    auth1, auth2 = struct.unpack("!II", password.encode()[:8].ljust(8, b"\0"))
    frame = (
        Ether(src=get_if_hwaddr(iface), dst="01:00:5e:00:00:12")
        / IP(src=get_if_addr(iface), dst="224.0.0.18", ttl=255, tos=0xC0)
        / VRRP(vrid=int(vrid), priority=int(prio), adv=1, authtype=1, auth1=auth1, auth2=auth2,
               addrlist=vips.split(","))
    )
    for _ in range(count):
        sendp(frame, iface=iface, verbose=False)
        time.sleep(interval)
    print(f"sent {count} adverts: vrid {vrid} priority {prio} auth {password!r}")


if __name__ == "__main__":
    main()
