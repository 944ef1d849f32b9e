#!/usr/bin/python3
"""SYN flood for the RVS lab: TCP SYNs to VIP:PORT from random spoofed sources, sent raw.

(--flags A sends bare ACKs with random sequence and acknowledgement numbers instead: forged
SYN-cookie answers.)

Run it inside the client namespace, e.g.
    ip netns exec rvs-client tests/lab/syn-flood.py --dst-mac 02:72:76:00:01:01 --seconds 4

Every source address is drawn at random from --net (default 198.18.0.0/15, the lab's range),
minus the --exclude networks (default 198.18.0.0/24, the client's own subnet with the VIP and
rvsd's address, and 198.19.0.0/24, the server side). Source ports (1024-65535), sequence
numbers and IP ids are random too; IP and TCP checksums are valid; each SYN carries an MSS
option. Frames go out of --iface over an AF_PACKET socket (qdisc bypassed) straight to
--dst-mac, --batch at a time with sendmmsg(2), as fast as the machine manages (or at most
--pps per second), for --seconds (a hard bound).

A pool of --pool distinct frames is built first and then sent round-robin: building frames in
Python would cap the rate far below what the kernel takes.

Prints one JSON line: {"sent": N, "seconds": S, "pps": R, "errors": E, "pool": P, ...}.
"""

import argparse
import ctypes
import ctypes.util
import errno
import ipaddress
import json
import os
import random
import socket
import struct
import sys
import time

ETH_P_IP = 0x0800
SOL_PACKET = 263
PACKET_QDISC_BYPASS = 20


class IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class MsgHdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.POINTER(IoVec)),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class MMsgHdr(ctypes.Structure):
    _fields_ = [("msg_hdr", MsgHdr), ("msg_len", ctypes.c_uint)]


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def parse_mac(text: str) -> bytes:
    parts = text.split(":")
    if len(parts) != 6:
        raise ValueError("bad MAC address %r" % text)
    return bytes(int(p, 16) for p in parts)


class SourcePicker:
    """Uniform random IPv4 addresses in NET outside EXCLUDE, host part not .0 or .255."""

    def __init__(self, net, exclude, rng):
        self.net = net
        self.exclude = exclude
        self.rng = rng
        self.base = int(net.network_address)
        self.size = net.num_addresses

    def pick(self) -> ipaddress.IPv4Address:
        for _ in range(10000):
            a = ipaddress.IPv4Address(self.base + self.rng.randrange(self.size))
            if int(a) & 0xFF in (0, 255):
                continue
            if any(a in x for x in self.exclude):
                continue
            return a
        raise SystemExit("syn-flood: no usable source address in %s minus %s" % (self.net, self.exclude))


def build_frame(dst_mac, src_mac, src, dst, sport, dport, seq, ack, flags, ipid, mss):
    opts = struct.pack("!BBH", 2, 4, mss) if flags & 0x02 else b""  # MSS on SYNs
    doff = (20 + len(opts)) // 4
    tcp_nocsum = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags, 64240, 0, 0) + opts
    pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp_nocsum))
    tcsum = csum(pseudo + tcp_nocsum)
    tcp = tcp_nocsum[:16] + struct.pack("!H", tcsum) + tcp_nocsum[18:]
    total = 20 + len(tcp)
    ip_nocsum = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ipid, 0x4000, 64, socket.IPPROTO_TCP, 0,
                            src.packed, dst.packed)
    ip = ip_nocsum[:10] + struct.pack("!H", csum(ip_nocsum)) + ip_nocsum[12:]
    return dst_mac + src_mac + struct.pack("!H", ETH_P_IP) + ip + tcp


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iface", default="c0")
    ap.add_argument("--dst-mac", required=True, help="the balancer's MAC on --iface's link")
    ap.add_argument("--dst", default="198.18.0.100", help="destination (the VIP)")
    ap.add_argument("--dport", type=int, default=80)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--pps", type=float, default=0, help="rate cap, packets per second (0: none)")
    ap.add_argument("--net", default="198.18.0.0/15", help="network the sources are drawn from")
    ap.add_argument("--exclude", default="198.18.0.0/24,198.19.0.0/24",
                    help="comma-separated networks never used as sources")
    ap.add_argument("--pool", type=int, default=32768, help="distinct frames sent round-robin")
    ap.add_argument("--batch", type=int, default=128, help="frames per sendmmsg call")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--mss", type=int, default=1460)
    ap.add_argument("--flags", choices=("S", "A"), default="S",
                    help="S: SYNs (with MSS); A: bare ACKs with random seq/ack (forged cookies)")
    a = ap.parse_args()
    flags = {"S": 0x02, "A": 0x10}[a.flags]

    allowed = ipaddress.ip_network("198.18.0.0/15")
    net = ipaddress.ip_network(a.net)
    if not net.subnet_of(allowed):
        sys.exit("syn-flood: --net %s is not inside %s" % (net, allowed))
    dst = ipaddress.IPv4Address(a.dst)
    if dst not in allowed:
        sys.exit("syn-flood: --dst %s is not inside %s" % (dst, allowed))
    exclude = [ipaddress.ip_network(x) for x in a.exclude.split(",") if x]
    if not 0 < a.seconds <= 60:
        sys.exit("syn-flood: --seconds must be in (0, 60]")
    if not 1 <= a.batch <= 1024 or not 1 <= a.pool <= 1 << 20:
        sys.exit("syn-flood: --batch must be 1..1024 and --pool 1..1048576")
    rng = random.Random(a.seed)
    pick = SourcePicker(net, exclude, rng)

    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # send only: no ethertype bound
    s.bind((a.iface, 0))
    try:
        s.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
    except OSError:
        pass
    src_mac = s.getsockname()[4]
    dst_mac = parse_mac(a.dst_mac)

    t_build = time.monotonic()
    frames = []
    sources = set()
    for _ in range(a.pool):
        src = pick.pick()
        sources.add(src)
        frames.append(build_frame(dst_mac, src_mac, src, dst, rng.randrange(1024, 65536), a.dport,
                                  rng.getrandbits(32), rng.getrandbits(32) if flags & 0x10 else 0, flags,
                                  rng.getrandbits(16), a.mss))
    flen = len(frames[0])
    pool = ctypes.create_string_buffer(b"".join(frames), flen * a.pool)
    base = ctypes.addressof(pool)
    # One iovec and mmsghdr per frame; a batch is a window of consecutive entries. The array
    # is a batch longer than the pool (wrapping around), so any start index has a full window.
    n = a.pool + a.batch
    iovs = (IoVec * n)()
    msgs = (MMsgHdr * n)()
    for i in range(n):
        iovs[i].iov_base = base + (i % a.pool) * flen
        iovs[i].iov_len = flen
        msgs[i].msg_hdr.msg_iov = ctypes.pointer(iovs[i])
        msgs[i].msg_hdr.msg_iovlen = 1
    build_s = time.monotonic() - t_build

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    sendmmsg = libc.sendmmsg
    sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
    sendmmsg.restype = ctypes.c_int
    fd = s.fileno()
    msz = ctypes.sizeof(MMsgHdr)
    maddr = ctypes.addressof(msgs)

    sent = 0
    errors = 0
    calls = 0
    idx = 0
    t0 = time.monotonic()
    deadline = t0 + a.seconds
    now = t0
    while now < deadline:
        want = a.batch
        if a.pps > 0:
            due = int((now - t0) * a.pps) + 1 - sent
            if due <= 0:
                time.sleep(min(0.001, deadline - now))
                now = time.monotonic()
                continue
            want = min(want, due)
        r = sendmmsg(fd, maddr + idx * msz, want, 0)
        calls += 1
        if r < 0:
            e = ctypes.get_errno()
            if e not in (errno.ENOBUFS, errno.EAGAIN, errno.EINTR):
                raise OSError(e, os.strerror(e))
            errors += 1
            time.sleep(0.0001)
        else:
            sent += r
            idx = (idx + r) % a.pool
        now = time.monotonic()
    elapsed = now - t0
    s.close()
    print(json.dumps({
        "sent": sent,
        "seconds": round(elapsed, 3),
        "pps": int(sent / elapsed) if elapsed > 0 else 0,
        "errors": errors,
        "calls": calls,
        "pool": a.pool,
        "distinct_sources": len(sources),
        "build_seconds": round(build_s, 3),
        "dst": "%s:%d" % (dst, a.dport),
        "flags": a.flags,
        "net": str(net),
        "exclude": [str(x) for x in exclude],
    }))


if __name__ == "__main__":
    main()
