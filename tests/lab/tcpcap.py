#!/usr/bin/python3
"""Reads the TCP/IPv4 segments of a pcap file written by 'tcpdump -w' (Ethernet link type).

As a module (the lab tests' inline analyses import it):
    import tcpcap
    for seg in tcpcap.read("rs1.pcap"): ...   # tcpcap.Segment
    tcpcap.toa(seg)                            # (ip, port) from TCP option 254, or None
    tcpcap.first_segments(segs)                # per connection: its first non-SYN segment

As a command: tcpcap.py FILE... prints one JSON object per segment, for looking at a capture.

No dependencies beyond the standard library, so the parsing is the same whatever tshark
version is installed, and options the dissectors do not know (TOA, kind 254) come out raw.
"""

import ipaddress
import json
import struct
import sys
from dataclasses import dataclass, field

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
TOA_KIND = 254


@dataclass
class Segment:
    ts: float  # epoch seconds (the capture's clock: the host's, shared by every namespace)
    src: str
    sport: int
    dst: str
    dport: int
    seq: int
    ack: int
    flags: int
    options: list = field(default_factory=list)  # [(kind, bytes)], NOP/EOL left out
    payload: bytes = b""  # as captured (up to the snap length)
    payload_len: int = 0  # from the IP total length
    eth_src: str = ""
    eth_dst: str = ""

    def has(self, flag):
        return bool(self.flags & flag)

    @property
    def flow(self):
        return (self.src, self.sport, self.dst, self.dport)

    def flag_str(self):
        return "".join(c for c, f in (("S", SYN), ("A", ACK), ("F", FIN), ("R", RST), ("P", PSH)) if self.flags & f)


def parse_options(raw):
    out = []
    i = 0
    while i < len(raw):
        kind = raw[i]
        if kind == 0:  # EOL
            break
        if kind == 1:  # NOP
            i += 1
            continue
        if i + 1 >= len(raw):
            out.append((kind, None))  # truncated
            break
        ln = raw[i + 1]
        if ln < 2 or i + ln > len(raw):
            out.append((kind, None))  # malformed
            break
        out.append((kind, bytes(raw[i + 2:i + ln])))
        i += ln
    return out


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return []
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError("%s: not a pcap file (pcapng is not supported)" % path)
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != 1:
        raise ValueError("%s: link type %d, expected Ethernet (1)" % (path, linktype))
    segs = []
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        pkt = data[off:off + incl]
        off += incl
        ts = sec + frac / (1e9 if nano else 1e6)
        seg = parse_frame(pkt, ts)
        if seg is not None:
            segs.append(seg)
    return segs


def parse_frame(pkt, ts):
    if len(pkt) < 14:
        return None
    eth_type = struct.unpack("!H", pkt[12:14])[0]
    p = 14
    if eth_type == 0x8100 and len(pkt) >= 18:
        eth_type = struct.unpack("!H", pkt[16:18])[0]
        p = 18
    if eth_type != 0x0800 or len(pkt) < p + 20:
        return None
    vihl = pkt[p]
    ihl = (vihl & 0x0F) * 4
    if vihl >> 4 != 4 or ihl < 20 or pkt[p + 9] != 6:
        return None
    total = struct.unpack("!H", pkt[p + 2:p + 4])[0]
    src = str(ipaddress.IPv4Address(pkt[p + 12:p + 16]))
    dst = str(ipaddress.IPv4Address(pkt[p + 16:p + 20]))
    t = p + ihl
    if len(pkt) < t + 20:
        return None
    sport, dport, seq, ack, off_byte, flags = struct.unpack("!HHIIBB", pkt[t:t + 14])
    doff = (off_byte >> 4) * 4
    opts = parse_options(pkt[t + 20:t + doff]) if doff > 20 else []
    payload = bytes(pkt[t + doff:p + total]) if doff >= 20 else b""
    mac = lambda b: ":".join("%02x" % x for x in b)  # noqa: E731
    return Segment(ts, src, sport, dst, dport, seq, ack, flags, opts, payload, max(0, total - ihl - doff),
                   mac(pkt[6:12]), mac(pkt[0:6]))


def toa(seg):
    """(ip, port) of the segment's TOA option (kind 254: length 8 with an IPv4 client, 20 with
    an IPv6 one as DPVS sends for NAT64), None if it has none. Raises ValueError for a
    kind-254 option of another length."""
    for kind, val in seg.options:
        if kind == TOA_KIND:
            if val is None or len(val) not in (6, 18):
                raise ValueError("TOA option of length %s" % (None if val is None else len(val) + 2))
            port = struct.unpack("!H", val[:2])[0]
            if len(val) == 18:
                return str(ipaddress.IPv6Address(val[2:18])), port
            return str(ipaddress.IPv4Address(val[2:6])), port
    return None


def connections(segs, dport=None):
    """Segments grouped by connection, keyed by the initiator's flow (src, sport, dst, dport):
    a connection starts with a SYN without ACK. Both directions are included, in capture order."""
    conns = {}
    for s in segs:
        if s.has(SYN) and not s.has(ACK) and (dport is None or s.dport == dport):
            conns.setdefault(s.flow, [])
    out = {k: [] for k in conns}
    for s in segs:
        fwd = s.flow
        rev = (s.dst, s.dport, s.src, s.sport)
        if fwd in out:
            out[fwd].append(s)
        elif rev in out:
            out[rev].append(s)
    return out


def first_segments(segs, dport=None):
    """{initiator flow: its first non-SYN segment towards the responder (or None)}."""
    res = {}
    for flow, ss in connections(segs, dport).items():
        res[flow] = next((s for s in ss if s.flow == flow and not s.has(SYN)), None)
    return res


def stream_bytes(ss, flow, limit=4096):
    """The initiator's payload bytes on FLOW from its first byte (after its SYN), in sequence
    order, retransmissions dropped; stops at the first gap."""
    syn = next((s for s in ss if s.flow == flow and s.has(SYN)), None)
    if syn is None:
        return b""
    data = {}
    for s in ss:
        if s.flow == flow and s.payload:
            data.setdefault(s.seq, s.payload)
    out = b""
    want = (syn.seq + 1) & 0xFFFFFFFF
    for _ in range(len(data)):
        chunk = data.get(want)
        if chunk is None:
            break
        out += chunk
        want = (want + len(chunk)) & 0xFFFFFFFF
        if len(out) >= limit:
            break
    return out


def main():
    for path in sys.argv[1:]:
        for s in read(path):
            print(json.dumps({
                "file": path, "ts": "%.6f" % s.ts, "src": "%s:%d" % (s.src, s.sport),
                "dst": "%s:%d" % (s.dst, s.dport), "flags": s.flag_str(), "seq": s.seq, "ack": s.ack,
                "options": [[k, None if v is None else v.hex()] for k, v in s.options],
                "len": s.payload_len, "payload": s.payload[:64].hex(),
            }))


if __name__ == "__main__":
    main()
