#!/usr/bin/python3
"""The client of a server-speaks-first service (test 31): sends nothing until the banner.

    banner_client.py SRC_ADDR HOST PORT COUNT [TIMEOUT]

COUNT connections from SRC_ADDR, one line each: "SRC_ADDR LOCAL_PORT BANNER" where BANNER
is the server's first line (or "NOBANNER" when none came within TIMEOUT seconds, default
3), then "QUIT" and the server's answer are exchanged.
"""

import socket
import sys


def one(src, host, port, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.bind((src, 0))
        s.connect((host, port))
        local = s.getsockname()[1]
        data = b""
        try:
            while b"\n" not in data:
                chunk = s.recv(512)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
        if b"\n" not in data:
            return "%s %d NOBANNER" % (src, local)
        banner = data.split(b"\r\n")[0].decode("ascii", "replace").replace(" ", "_")
        s.sendall(b"QUIT\r\n")
        try:
            s.recv(512)
        except socket.timeout:
            pass
        return "%s %d %s" % (src, local, banner)
    except OSError as e:
        return "%s 0 ERROR_%s" % (src, type(e).__name__)
    finally:
        s.close()


def main():
    src, host, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 3.0
    for _ in range(count):
        print(one(src, host, port, timeout), flush=True)


if __name__ == "__main__":
    main()
