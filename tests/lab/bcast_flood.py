#!/usr/bin/python3
"""Floods an interface with Ethernet broadcast frames (UDP to 255.255.255.255:9) over an
AF_PACKET socket, as fast as it can, and prints {"sent": N, "seconds": S} as one JSON line.

Usage: bcast_flood.py IFACE COUNT [SRC_IP]
The frames are exception traffic for rvsd (broadcast, not for any of its addresses): they go
to the kernel interface, through the rate limit.
"""
import json
import socket
import struct
import sys
import time


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def frame(src_mac: bytes, src_ip: str) -> bytes:
    payload = b"rvs-exception-flood" + b"\0" * 13
    udp = struct.pack("!HHHH", 40000, 9, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     socket.inet_aton(src_ip), socket.inet_aton("255.255.255.255"))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return b"\xff" * 6 + src_mac + b"\x08\x00" + ip + udp


def main() -> int:
    iface, count = sys.argv[1], int(sys.argv[2])
    src_ip = sys.argv[3] if len(sys.argv) > 3 else "198.18.0.10"
    with open(f"/sys/class/net/{iface}/address") as f:
        mac = bytes.fromhex(f.read().strip().replace(":", ""))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    f = frame(mac, src_ip)
    send = s.send
    sent = 0
    t0 = time.monotonic()
    while sent < count:
        try:
            send(f)
            sent += 1
        except BlockingIOError:
            time.sleep(0.0001)
        except OSError as e:
            if e.errno == 105:  # ENOBUFS: the qdisc is full, try again
                time.sleep(0.0001)
                continue
            raise
    print(json.dumps({"sent": sent, "seconds": round(time.monotonic() - t0, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
