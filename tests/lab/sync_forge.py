#!/usr/bin/python3
"""Forges RVS sync messages (docs/sync.md) and sends them with scapy.

  sync_forge.py --key-file F --dst IP[:PORT] --case CASE --cport N [--sync-id N] [--seq N]

One connection record (TCP ESTABLISHED, client 198.18.0.CLIENT:cport -> VIP:80, local
LIP:lport, real RS:80) per message. CASE:
  valid       correct key, sync id and sequence: the receiver installs the session
  wrong-key   tagged with another key                      -> bad_tag
  foreign-id  correct key, another sync id                 -> foreign_sync_id
  truncated   a valid message cut short by 20 bytes        -> truncated
  replay      correct key and tag, but a sequence number the receiver has seen -> replayed
Key derivation and the tag: HKDF-SHA-256 (salt "rvs-sync-v1"), HMAC-SHA-256-128.
"""
import argparse
import hashlib
import hmac
import ipaddress
import struct
import sys

from scapy.all import IP, UDP, Raw, send, conf  # noqa: E402

conf.verb = 0


def hkdf_extract(salt, ikm):
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def hkdf_expand(prk, info, n):
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:n]


def cluster_prk(text):
    s = text.strip()
    if s.startswith("hex:"):
        ikm = bytes.fromhex(s[4:])
    elif len(s) == 64 and all(c in "0123456789abcdefABCDEF" for c in s):
        ikm = bytes.fromhex(s)
    else:
        ikm = s.encode()
    return hkdf_extract(b"rvs-sync-v1", ikm)


def record(cport, client, vip, lip, lport, real, timeout_ms=600000):
    a = lambda x: ipaddress.IPv4Address(x).packed  # noqa: E731
    body = struct.pack("!BBBB", 6, 1, 0x44, 0)  # TCP, ESTABLISHED, v4/v4, no flags
    body += struct.pack("!HHHHI", cport, 80, lport, 80, timeout_ms)
    body += a(client) + a(vip) + a(lip) + a(real)
    return struct.pack("!H", 2 + len(body)) + body


def message(prk, sync_id, sender, epoch, seq, rec):
    length = 28 + len(rec) + 16
    hdr = b"RV" + struct.pack("!BBBBHIIQHH", 1, 1, sync_id, 0, length, sender, epoch, seq, 1, 0)
    auth_key = hkdf_expand(prk, b"rvs sync message authentication", 32)
    tag = hmac.new(auth_key, hdr + rec, hashlib.sha256).digest()[:16]
    return hdr + rec + tag


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--key-file", required=True)
    p.add_argument("--dst", required=True)
    p.add_argument("--case", required=True, choices=["valid", "wrong-key", "foreign-id", "truncated", "replay"])
    p.add_argument("--cport", type=int, required=True)
    p.add_argument("--sync-id", type=int, default=0)
    p.add_argument("--sender", type=int, default=77)
    p.add_argument("--epoch", type=int, default=1000)
    p.add_argument("--seq", type=int, default=1)
    p.add_argument("--client", default="198.18.0.20")
    p.add_argument("--lip", default="198.19.0.200")
    p.add_argument("--real", default="198.19.0.11")
    a = p.parse_args()
    host, _, port = a.dst.partition(":")
    port = int(port or 8848)
    prk = cluster_prk(open(a.key_file).read())
    lport = 50000 + a.cport % 10000
    rec = record(a.cport, a.client, "198.18.0.100", a.lip, lport, a.real)
    sid, seq = a.sync_id, a.seq
    if a.case == "wrong-key":
        prk = cluster_prk("an entirely different cluster passphrase")
    elif a.case == "foreign-id":
        sid = (sid + 1) % 256
    msg = message(prk, sid, a.sender, a.epoch, seq, rec)
    if a.case == "truncated":
        msg = msg[:-20]
    send(IP(dst=host, ttl=1) / UDP(sport=port, dport=port) / Raw(msg))
    print(f"sent {a.case} ({len(msg)} bytes) to {host}:{port}, client port {a.cport}, local port {lport}")


if __name__ == "__main__":
    sys.exit(main())
