#!/usr/bin/python3
"""A TCP handshake in two halves, by hand (scapy), so that a director can change between
them: `syn` sends a SYN to DST:PORT and saves the SYN/ACK's numbers in STATE; `ack` sends
the handshake-completing ACK and an HTTP request from the saved numbers and prints the
first response bytes that come back. The client kernel's RSTs for this port must be
dropped (it knows nothing of the connection).

  synproxy_handshake.py syn|ack --dst IP --port N --sport N --state FILE [--timeout S]
"""
import argparse
import json
import sys

from scapy.all import IP, TCP, AsyncSniffer, Raw, conf, send  # noqa: E402

conf.verb = 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("phase", choices=["syn", "ack"])
    p.add_argument("--dst", required=True)
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--sport", type=int, required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--iface", default="c0")
    p.add_argument("--timeout", type=float, default=5)
    a = p.parse_args()
    flt = f"tcp and src host {a.dst} and src port {a.port} and dst port {a.sport}"
    got = []  # AsyncSniffer.results only exists once stopped: collect as packets come
    sniff = AsyncSniffer(iface=a.iface, filter=flt, prn=got.append, store=False)
    sniff.start()
    import time

    time.sleep(0.3)
    if a.phase == "syn":
        isn = 1_000_000
        send(IP(dst=a.dst) / TCP(sport=a.sport, dport=a.port, flags="S", seq=isn, options=[("MSS", 1460)]))
        deadline = time.time() + a.timeout
        synack = None
        while time.time() < deadline and synack is None:
            time.sleep(0.1)
            for pk in list(got):
                if pk.haslayer(TCP) and pk[TCP].flags & 0x12 == 0x12:
                    synack = pk
                    break
        sniff.stop()
        if synack is None:
            print("no SYN/ACK")
            return 1
        state = {"isn": isn, "server_isn": synack[TCP].seq}
        json.dump(state, open(a.state, "w"))
        print(f"SYN/ACK seq {synack[TCP].seq} ack {synack[TCP].ack}")
        return 0
    st = json.load(open(a.state))
    seq, ack = st["isn"] + 1, st["server_isn"] + 1
    req = b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n"
    send(IP(dst=a.dst) / TCP(sport=a.sport, dport=a.port, flags="A", seq=seq, ack=ack))
    send(IP(dst=a.dst) / TCP(sport=a.sport, dport=a.port, flags="PA", seq=seq, ack=ack) / Raw(req))
    deadline = time.time() + a.timeout
    body = b""
    while time.time() < deadline and b"rs" not in body:
        time.sleep(0.2)
        body = b"".join(bytes(pk[Raw].load) for pk in list(got) if pk.haslayer(Raw))
    sniff.stop()
    print("flags seen:", " ".join(str(pk[TCP].flags) for pk in got if pk.haslayer(TCP)) or "none")
    print("response:", body.decode(errors="replace").replace("\r\n", " | ")[:200])
    return 0 if b"200 OK" in body else 1


if __name__ == "__main__":
    sys.exit(main())
