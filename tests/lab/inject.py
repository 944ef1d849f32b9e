#!/usr/bin/python3
"""Injects malformed frames from the lab client towards rvsd (raw frames out of IFACE, which
must be c0 in rvs-client) and prints a JSON report of what was sent.

Each category names the drop reasons rvsd may count it under: one reason when the frame is
unambiguous, several when reasonable parsers may disagree (e.g. a total length larger than the
frame is 'truncated' to some, 'bad_ip_header' to others). The lab test checks, for every set of
reasons S, that the counters in S grew by at least the frames whose reasons all lie in S.

Through DPDK 22.11's net_af_packet, IP fragments never reach rvsd: the PMD's PACKET_FANOUT
group has PACKET_FANOUT_FLAG_DEFRAG, so the kernel queues them for reassembly. They are sent
anyway (a PMD without that flag, or a NIC, delivers them).

Usage: inject.py --dst-mac MAC [--iface c0] [--count N] [--only a,b] [--list]
Frames only ever carry 198.18.0.0/15 addresses.
"""
import argparse
import json
import os
import socket
import sys

from scapy.all import IP, TCP, UDP, Raw

VIP = "198.18.0.100"
CLIENT = "198.18.0.10"
HDR = ["bad_ip_header", "truncated"]  # malformed IP header, parsers may call it either


def sport(i):
    return 40000 + (i % 20000)


def syn(i, **ip):
    return IP(src=CLIENT, dst=VIP, **ip) / TCP(sport=sport(i), dport=80, flags="S", seq=1000 + i)


def build(pkt):
    """Serialises a scapy IP packet with correct lengths and checksums."""
    return bytes(pkt)


def set16(b, off, val):
    b = bytearray(b)
    b[off:off + 2] = val.to_bytes(2, "big")
    return bytes(b)


def ip_csum(hdr):
    s = 0
    for k in range(0, len(hdr), 2):
        s += (hdr[k] << 8) + (hdr[k + 1] if k + 1 < len(hdr) else 0)
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def fix_ip_csum(b):
    """Recomputes the IPv4 header checksum over the first 20 bytes (for hand-edited headers)."""
    b = set16(b, 10, 0)
    return set16(b, 10, ip_csum(b[:20]))


# Each builder returns the L3 payload of the frame (bytes after the Ethernet header) or, for
# non-IPv4 categories, a tuple (ethertype, payload).
def c_ihl_lt5(i):
    b = bytearray(build(syn(i)))
    b[0] = 0x44  # version 4, IHL 4 (16 bytes): invalid
    return fix_ip_csum(bytes(b))


def c_ip_version(i):
    b = bytearray(build(syn(i)))
    b[0] = 0x65  # version 6 inside an IPv4 ethertype
    return fix_ip_csum(bytes(b))


def c_ihl_gt_packet(i):
    b = bytearray(build(syn(i)))  # 20 + 20 bytes
    b[0] = 0x4F  # IHL 15 = 60 bytes, more than the 40 the packet has
    return fix_ip_csum(bytes(b))


def c_totlen_gt_frame(i):
    b = build(syn(i))
    return fix_ip_csum(set16(b, 2, len(b) + 200))


def c_totlen_lt_ihl(i):
    b = build(syn(i))
    return fix_ip_csum(set16(b, 2, 12))


def c_ip_bad_checksum(i):
    b = build(syn(i))
    good = int.from_bytes(b[10:12], "big")
    return set16(b, 10, good ^ 0x5A5A)


def c_tcp_truncated(i):
    # IP says 20 + 10 bytes and carries exactly that: a TCP header cut at 10 bytes.
    full = build(syn(i))
    return fix_ip_csum(set16(full[:30], 2, 30))


def c_udp_truncated(i):
    full = build(IP(src=CLIENT, dst=VIP) / UDP(sport=sport(i), dport=53) / Raw(b"x" * 8))
    return fix_ip_csum(set16(full[:24], 2, 24))  # 4 bytes of UDP header


def c_tcp_doff_lt5(i):
    p = IP(src=CLIENT, dst=VIP) / TCP(sport=sport(i), dport=80, flags="S", seq=1000 + i, dataofs=4)
    return build(p)


def c_udp_len_gt(i):
    p = IP(src=CLIENT, dst=VIP) / UDP(sport=sport(i), dport=53, len=200) / Raw(b"rvs-udp-len-%d" % i)
    return build(p)


def c_tcp_bad_checksum(i):
    b = bytearray(build(syn(i)))
    c = int.from_bytes(b[36:38], "big") ^ 0x1234
    b[36:38] = c.to_bytes(2, "big")
    return bytes(b)


def c_udp_bad_checksum(i):
    p = IP(src=CLIENT, dst=VIP) / UDP(sport=sport(i), dport=53) / Raw(b"rvs-bad-udp-csum-%d" % i)
    b = bytearray(build(p))
    c = int.from_bytes(b[26:28], "big") ^ 0x1234
    if c == 0:
        c = 0x1234
    b[26:28] = c.to_bytes(2, "big")
    return bytes(b)


def c_ttl1(i):
    return build(syn(i, ttl=1))


def c_ttl0(i):
    return build(syn(i, ttl=0))


def c_frag_mf(i):
    p = IP(src=CLIENT, dst=VIP, flags="MF", frag=0, id=0x4000 + i) / UDP(sport=sport(i), dport=53) / Raw(b"F" * 64)
    return build(p)


def c_frag_offset(i):
    p = IP(src=CLIENT, dst=VIP, proto=17, flags=0, frag=100, id=0x5000 + i) / Raw(b"G" * 64)
    return build(p)


def c_unknown_ethertype(i):
    return (0x88B5, b"rvs-lab-local-experimental-%04d" % i + b"\0" * 20)


def c_no_service(i):
    p = IP(src=CLIENT, dst=VIP) / TCP(sport=sport(i), dport=81, flags="S", seq=1000 + i)
    return build(p)


def c_eth_only(i):
    return b""  # IPv4 ethertype and nothing after the Ethernet header


def c_garbage(i):
    r = bytearray(os.urandom(12))
    return bytes(r)  # 12 random bytes after an IPv4 ethertype: not even an IP header


def c_runt(i):
    return ("runt", os.urandom(10))  # a 10-byte frame (the kernel may refuse it on veth)


CATEGORIES = [
    # name, builder, reasons it may be counted under
    ("ihl_lt5", c_ihl_lt5, ["bad_ip_header"]),
    ("ip_version_not_4", c_ip_version, ["bad_ip_header"]),
    ("ihl_gt_packet", c_ihl_gt_packet, HDR),
    ("totlen_gt_frame", c_totlen_gt_frame, HDR),
    ("totlen_lt_ihl", c_totlen_lt_ihl, ["bad_ip_header"]),
    ("ip_bad_checksum", c_ip_bad_checksum, ["bad_ip_checksum"]),
    ("tcp_truncated", c_tcp_truncated, ["bad_l4_header", "truncated"]),
    ("udp_truncated", c_udp_truncated, ["bad_l4_header", "truncated"]),
    ("tcp_doff_lt5", c_tcp_doff_lt5, ["bad_l4_header"]),
    ("udp_len_gt_ip", c_udp_len_gt, ["bad_l4_header", "truncated"]),
    ("tcp_bad_checksum", c_tcp_bad_checksum, ["bad_l4_checksum"]),
    ("udp_bad_checksum", c_udp_bad_checksum, ["bad_l4_checksum"]),
    ("ttl1_to_vip", c_ttl1, ["ttl_exceeded"]),
    ("ttl0_to_vip", c_ttl0, ["ttl_exceeded", "bad_ip_header"]),
    ("fragment_mf", c_frag_mf, ["fragment"]),
    ("fragment_offset", c_frag_offset, ["fragment"]),
    ("unknown_ethertype", c_unknown_ethertype, ["unknown_ethertype"]),
    ("syn_no_service", c_no_service, ["no_service"]),
    ("eth_header_only", c_eth_only, ["truncated"]),
    ("garbage_after_eth", c_garbage, HDR),
    ("runt", c_runt, ["truncated"]),
]


def mac_bytes(m):
    return bytes(int(x, 16) for x in m.split(":"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dst-mac")
    ap.add_argument("--iface", default="c0")
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--only", default="", help="comma-separated category names")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()

    if a.list:
        for name, _, reasons in CATEGORIES:
            print("%-20s %s" % (name, ",".join(reasons)))
        return 0
    if not a.dst_mac:
        ap.error("--dst-mac is required")
    only = set(x for x in a.only.split(",") if x)
    unknown = only - {c[0] for c in CATEGORIES}
    if unknown:
        ap.error("unknown categories: %s" % ",".join(sorted(unknown)))

    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.iface, 0))
    src = mac_bytes(open("/sys/class/net/%s/address" % a.iface).read().strip())
    dst = mac_bytes(a.dst_mac)
    eth = dst + src

    report = []
    for name, fn, reasons in CATEGORIES:
        if only and name not in only:
            continue
        sent, err = 0, None
        for i in range(a.count):
            out = fn(i)
            if isinstance(out, tuple) and out[0] == "runt":
                frame = out[1]
            elif isinstance(out, tuple):
                frame = eth + out[0].to_bytes(2, "big") + out[1]
            else:
                frame = eth + b"\x08\x00" + out
            try:
                s.send(frame)
                sent += 1
            except OSError as e:
                err = "%s (frame of %d bytes)" % (e.strerror or e, len(frame))
                break
        report.append({"name": name, "reasons": reasons, "sent": sent, "error": err})
    print(json.dumps({"iface": a.iface, "count": a.count, "categories": report}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
