#!/usr/bin/python3
"""A server-speaks-first service behind a PROXY listener, for the lab (test 31).

    banner_server.py PORT NAME LOG

Each connection must start with a PROXY protocol v1 or v2 header (within 5 s); then the
server logs "CLIENT_ADDR CLIENT_PORT PEER_ADDR PEER_PORT vN" to LOG, sends the banner
"220 NAME ready\\r\\n" (as SMTP, FTP, IMAP do) and answers one line from the client with
"221 NAME bye\\r\\n". A connection without a header is logged as "NOHEADER PEER_ADDR
PEER_PORT REASON" and closed without a banner, as a strict PROXY listener does.
"""

import ipaddress
import socket
import struct
import sys
import threading

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ValueError("closed after %d of %d header bytes" % (len(buf), n))
        buf += chunk
    return buf


def read_header(conn):
    """(client address, client port, version) from the PROXY header, byte by byte so
    nothing after it is consumed."""
    first = recv_exact(conn, 12)
    if first == V2_SIG:
        rest = recv_exact(conn, 4)
        ver_cmd, fam, length = rest[0], rest[1], struct.unpack("!H", rest[2:4])[0]
        body = recv_exact(conn, length)
        if ver_cmd != 0x21 or fam != 0x11 or length < 12:
            raise ValueError("v2 header ver/cmd %#x family %#x length %d" % (ver_cmd, fam, length))
        src = str(ipaddress.IPv4Address(body[:4]))
        sport = struct.unpack("!H", body[8:10])[0]
        return src, sport, "v2"
    if not first.startswith(b"PROXY "):
        raise ValueError("no PROXY header: %r" % first)
    line = first
    while not line.endswith(b"\r\n"):
        if len(line) > 107:
            raise ValueError("v1 line too long")
        line += recv_exact(conn, 1)
    parts = line[:-2].decode("ascii").split(" ")
    if len(parts) != 6 or parts[1] != "TCP4":
        raise ValueError("bad v1 line %r" % line)
    return parts[2], int(parts[4]), "v1"


def serve(conn, peer, name, log, lock):
    try:
        conn.settimeout(5)
        try:
            src, sport, ver = read_header(conn)
        except (ValueError, OSError) as e:
            with lock:
                log.write("NOHEADER %s %d %s\n" % (peer[0], peer[1], str(e).replace(" ", "_")))
                log.flush()
            return
        with lock:
            log.write("%s %d %s %d %s\n" % (src, sport, peer[0], peer[1], ver))
            log.flush()
        conn.sendall(("220 %s ready\r\n" % name).encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(512)
            if not chunk:
                return
            data += chunk
        conn.sendall(("221 %s bye\r\n" % name).encode())
    except OSError:
        pass
    finally:
        conn.close()


def main():
    port, name, log_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    lock = threading.Lock()
    log = open(log_path, "a")
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(128)
    print("listening", flush=True)
    while True:
        conn, peer = srv.accept()
        threading.Thread(target=serve, args=(conn, peer, name, log, lock), daemon=True).start()


if __name__ == "__main__":
    main()
