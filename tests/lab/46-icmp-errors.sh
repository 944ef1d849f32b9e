#!/usr/bin/env bash
# ICMP errors follow their sessions: a UDP service whose real servers have no listener on
# the port: the real server's "port unreachable" reaches the client translated (its socket
# sees ECONNREFUSED, as it would talking to a server directly), and rvsd counts it; an
# error about no session of ours is dropped and counted.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
rvsd_start "$CFG_DIR/rvsd.toml"
warm_up

# A UDP service to a port nobody listens on (the echo servers listen on 5353 only).
assert_ok "add udp/54" rvsadm -A -u "$VIP:54" -s rr
assert_ok "its local address" rvsadm -P -u "$VIP:54" -z 198.19.0.200
for n in 11 12 13; do assert_ok "add 198.19.0.$n:5454" rvsadm -a -u "$VIP:54" -r "198.19.0.$n:5454"; done

probe=$CFG_DIR/probe.py
cat >"$probe" <<'PY'
import socket, sys
vip, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
refused = answered = timeouts = 0
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.connect((vip, port))
    try:
        s.send(b"hello %d" % i)
        s.recv(100)
        answered += 1
    except ConnectionRefusedError:
        refused += 1
    except socket.timeout:
        timeouts += 1
    s.close()
print(f"refused={refused} answered={answered} timeouts={timeouts}")
PY
res=$(in_client "$PY" "$probe" "$VIP" 54 10)
say "10 datagrams to $VIP:54 (no listener behind): $res"
assert_eq "datagrams refused with ECONNREFUSED" 10 "$(sed -n 's/.*refused=\([0-9]*\).*/\1/p' <<<"$res")"
assert_ge "errors translated by rvsd" 10 "$(event_counter "$(rvsadm --workers)" icmp_error_forwarded)"
# The ordinary echo service still answers.
res=$(in_client "$PY" "$probe" "$VIP" 53 3)
assert_eq "datagrams to the echo service answered" 3 "$(sed -n 's/.*answered=\([0-9]*\).*/\1/p' <<<"$res")"

# An error about a flow rvsd never carried: dropped, counted.
in_client "$PY" - "$VIP" <<'PY'
import sys
from scapy.all import IP, UDP, ICMP, send
vip = sys.argv[1]
send(IP(src="198.18.0.10", dst=vip) / ICMP(type=3, code=3) / IP(src=vip, dst="198.18.0.10") / UDP(sport=53, dport=40404), verbose=False)
PY
# shellcheck disable=SC2317 # called through wait_for
counted() { (($(drop_counter "$(rvsadm --workers)" icmp_no_session) >= 1)); }
if wait_for 5 "icmp_no_session to be counted" counted; then
  pass "an error about no session dropped as icmp_no_session"
else
  fail "icmp_no_session not counted"
fi
finish
