#!/usr/bin/env bash
# LVS/NAT: the real servers keep the lab's default route via rvsd (198.19.0.1), as NAT real
# servers route through the director. `rvsadm -a ... -m`: the client's packets reach the
# servers with the client's own address (access logs), the replies come back through rvsd
# rewritten to VIP:80; two clients answered by all three; a 50 MB download is intact.
# With two workers (WORKERS=2) a connection lives on the worker its client endpoint names
# (a NAT reply carries no local port of ours): packets landing on the other worker are
# handed over, which --workers shows, and nothing is dropped for want of a session.
# A UDP NAT service to a port with no listener: the real servers' "port unreachable" (to the
# client's address, through rvsd) reaches the client translated: ECONNREFUSED.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ctrl-lib.sh
source "$(dirname "$0")/ctrl-lib.sh"
# shellcheck source=tests/lab/methods-lib.sh
source "$(dirname "$0")/methods-lib.sh"

SVC="TCP  $VIP:80"
ctrl_rvsd_start
assert_ok "rvsadm -A -t $VIP:80 -s rr" rvsadm -A -t "$VIP:80" -s rr
for ip in "${RS_IPS[@]}"; do
  assert_ok "rvsadm -a -t $VIP:80 -r $ip:80 -m" rvsadm -a -t "$VIP:80" -r "$ip:80" -m
done
assert_eq "Masq rows in -Ln" 3 "$(rvsadm -Ln | grep -c ' Masq ')"
for c in 198.18.0.10 198.18.0.11; do
  out=$(curl_from "$c" 9)
  assert_eq "failed requests from $c" 0 "$(count_of FAIL "$out")"
  assert_eq "servers answering $c" "rs1 rs2 rs3" "$(sort -u <<<"$out" | paste -sd' ' -)"
done
for n in 1 2 3; do
  assert_eq "rs$n access log: the clients' own addresses" "198.18.0.10 198.18.0.11" "$(access_clients "$n")"
done
sha=$(download_sha 198.18.0.10)
assert_eq "download sha256" "$(cat "$STATE/big.sha256")" "$sha"
read -r _ out < <(svc_in_out "$SVC")
assert_gt "service OutPkts (replies through rvsd)" 30000 "$out"
conns=$(rvsadm -Lnc)
assert_contains "-Lnc: NAT sessions have no local address" "0.0.0.0:0" "$conns"
say "UDP to a NAT service with no listener: the servers' port unreachable reaches the client"
assert_ok "rvsadm -A -u $VIP:54" rvsadm -A -u "$VIP:54" -s rr
for ip in "${RS_IPS[@]}"; do
  assert_ok "rvsadm -a -u $VIP:54 -r $ip:5454 -m" rvsadm -a -u "$VIP:54" -r "$ip:5454" -m
done
res=$(in_client "$PY" - "$VIP" <<'PY'
import socket, sys
refused = other = 0
for i in range(10):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.connect((sys.argv[1], 54))
    try:
        s.send(b"hello %d" % i)
        s.recv(100)
        other += 1
    except ConnectionRefusedError:
        refused += 1
    except socket.timeout:
        other += 1
    s.close()
print(refused, other)
PY
)
assert_eq "datagrams refused with ECONNREFUSED (refused, other)" "10 0" "$res"
assert_ge "errors translated by rvsd" 10 "$(event_counter "$(rvsadm --workers)" icmp_error_forwarded)"

w=$(rvsadm --workers)
for r in no_session not_local; do
  assert_eq "drops: $r" 0 "$(drop_counter "$w" "$r")"
done
if ((WORKERS == 2)); then
  redir=$(worker_rows "$w" | awk '{n += $6} END {print n + 0}')
  assert_gt "packets handed to the session's worker (RedirOut)" 0 "$redir"
  created=$(worker_rows "$w" | awk '{printf "%s%s", sep, $8; sep = " "}')
  say "sessions created per worker: $created"
  assert_not_contains "both workers own NAT sessions" " 0" " $created"
fi
finish
