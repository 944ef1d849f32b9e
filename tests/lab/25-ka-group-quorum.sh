#!/usr/bin/env bash
# keepalived.conf semantics beyond single services, all seen in real traffic:
#  * virtual_server_group web3 { 198.18.1.100-102 80 } with `virtual_server group web3`: the
#    three VIPs answer; the real servers' nginx logs show one HTTP_GET probe per real server
#    per delay_loop (not one per member);
#  * quorum 5 over real servers of total weight 3 (VIP:8091): lowered to 3 with a warning
#    naming file:line, and the three real servers serve (not the sorry server);
#  * quorum 1 + hysteresis 1 with a sorry server (VIP:8090): hysteresis capped at 0, and when
#    every real server is dead the sorry server answers;
#  * UDP_CHECK payload 0a0b0c / require_reply cafe: a test server on rs1 logs the bytes it
#    receives and answers cafe + them only to 0a0b0c; the server checked with a wrong payload
#    and the one expecting another reply are left out of the table;
#  * global_defs lvs_timeouts reach rvsd; an rvsadm --set and an rvsadm -E that drops the
#    group's persistence are reverted by rvs-ctrl.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ctrl-lib.sh
source "$(dirname "$0")/ctrl-lib.sh"

GROUP_VIPS=(198.18.1.100 198.18.1.101 198.18.1.102)
SORRY=198.19.0.13:8080
UDPLOG=$CFG_DIR/udp-check.log
DELAY=2

ctrl_rvsd_start

say "sorry server on $SORRY, UDP check server on 198.19.0.11:5354"
in_rs 3 "$PY" -c '
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = b"sorry\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), H).serve_forever()
' </dev/null >/dev/null 2>&1 &
bg_track $!
in_rs 1 "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5354))
log = open(sys.argv[1], "a", buffering=1)
while True:
    data, peer = s.recvfrom(2048)
    log.write("%s %s\n" % (peer[0], data.hex()))
    if data == bytes.fromhex("0a0b0c"):
        s.sendto(bytes.fromhex("cafe") + data, peer)
' "$UDPLOG" </dev/null >/dev/null 2>&1 &
bg_track $!
wait_for 10 "sorry server" in_rs 3 curl -sf --max-time 1 "http://$SORRY/" >/dev/null || die "sorry server did not start"

tcp_reals() {
  local n
  for n in 1 2 3; do
    cat <<EOF
  real_server 198.19.0.1$n 80 {
    weight 1
    TCP_CHECK {
      connect_timeout 1
      retry 0
    }
  }
EOF
  done
}

{
  cat <<EOF
global_defs {
  router_id rvs-lab
  lvs_timeouts tcp 900 tcpfin 120 udp 300
}
local_address_group lips {
  ${LIPS[0]}
  ${LIPS[1]}
}
virtual_server_group web3 {
  198.18.1.100-102 80
}
virtual_server group web3 {
  delay_loop $DELAY
  lb_algo rr
  lb_kind FNAT
  protocol TCP
  laddr_group_name lips
  persistence_timeout 30
EOF
  for n in 1 2 3; do
    cat <<EOF
  real_server 198.19.0.1$n 80 {
    weight 1
    HTTP_GET {
      url {
        path /
      }
      connect_timeout 1
    }
  }
EOF
  done
  cat <<EOF
}
virtual_server $VIP 8090 {
  delay_loop 1
  lb_algo rr
  protocol TCP
  laddr_group_name lips
  quorum 1
  hysteresis 1
  sorry_server ${SORRY%:*} ${SORRY#*:}
EOF
  tcp_reals
  cat <<EOF
}
virtual_server $VIP 8091 {
  delay_loop 1
  lb_algo rr
  protocol TCP
  laddr_group_name lips
  quorum 5
  sorry_server ${SORRY%:*} ${SORRY#*:}
EOF
  tcp_reals
  cat <<EOF
}
virtual_server $VIP 53 {
  delay_loop 1
  lb_algo rr
  protocol UDP
  laddr_group_name lips
  real_server 198.19.0.11 5353 {
    UDP_CHECK {
      connect_port 5354
      payload 0a0b0c
      require_reply cafe
      connect_timeout 1
      retry 0
    }
  }
  real_server 198.19.0.12 5353 {
    UDP_CHECK {
      connect_ip 198.19.0.11
      connect_port 5354
      payload 0a0b0d
      require_reply cafe
      connect_timeout 1
      retry 0
    }
  }
  real_server 198.19.0.13 5353 {
    UDP_CHECK {
      connect_ip 198.19.0.11
      connect_port 5354
      payload 0a0b0c
      require_reply beef
      connect_timeout 1
      retry 0
    }
  }
}
EOF
} >"$KCONF"

test_out=$(in_ctrl "$RVS_CTRL" -t -f "$KCONF" 2>&1)
indent <<<"$test_out"
assert_contains "rvs-ctrl -t" "configuration OK" "$test_out"
quorum_line=$(grep -n 'quorum 5' "$KCONF" | cut -d: -f1)
hyst_line=$(grep -n 'hysteresis 1' "$KCONF" | cut -d: -f1)
assert_contains "rvs-ctrl -t warns of the quorum" \
  "$KCONF:$quorum_line: quorum 5 exceeds the total weight of the real servers 3, reducing quorum to 3" "$test_out"
assert_contains "rvs-ctrl -t warns of the hysteresis" \
  "$KCONF:$hyst_line: hysteresis 1 >= quorum 1; setting hysteresis to 0" "$test_out"

ctrl_start
ALL="198.19.0.11:80 1,198.19.0.12:80 1,198.19.0.13:80 1"
for v in "${GROUP_VIPS[@]}"; do
  wait_reals 10 "TCP  $v:80" "$ALL" || die "rvsd table of group member $v:80: $REALS_SEEN"
done
pass "the three group members are services in rvsd with the group's real servers"
assert_contains "rvsadm -Ln" "TCP  198.18.1.101:80 rr persistent 30" "$(rvsadm -Ln)"
t0=$(date +%s.%N)
for v in "${GROUP_VIPS[@]}"; do
  out=$(in_client curl -s --max-time 5 "http://$v/")
  if [[ $out =~ ^rs[123]$ ]]; then pass "group VIP $v answered by $out"; else fail "group VIP $v: '$out'"; fi
done

# --- quorum above the total weight: lowered, all three serve.
wait_reals 10 "TCP  $VIP:8091" "$ALL" || fail "$VIP:8091: $REALS_SEEN"
out=$(http_get_many 9 "http://$VIP:8091/")
assert_eq "answers on $VIP:8091 from the sorry server" 0 "$(count_of sorry "$out")"
assert_eq "answers on $VIP:8091 from rs1-rs3" 9 "$(grep -c '^rs[123]$' <<<"$out")"

# --- UDP_CHECK with hex payloads.
if wait_reals 10 "UDP  $VIP:53" "198.19.0.11:5353 1"; then
  pass "UDP service: only the server whose check got 'cafe' back for 0a0b0c"
else
  fail "UDP service table: '$REALS_SEEN' (expected only 198.19.0.11:5353)"
fi
sleep 1
indent <"$UDPLOG" | head -n 4
assert_ge "datagrams 0a0b0c received by the check server" 2 "$(grep -c ' 0a0b0c$' "$UDPLOG")"
assert_ge "datagrams 0a0b0d received (the second real server's check)" 1 "$(grep -c ' 0a0b0d$' "$UDPLOG")"
assert_eq "datagrams other than those bytes (e.g. their ASCII text)" 0 "$(grep -vcE ' 0a0b0[cd]$' "$UDPLOG")"

# --- one probe per real server per delay_loop for the three members. The span counted
# runs from t0 (before the UDP checks above) to now, so it is 12 s and then some: probes at
# least DELAY apart fit at most floor(span / DELAY) + 1 times in it (one checker per member
# would be three times that).
window=12
sleep "$window"
t1=$(date +%s.%N)
span=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
most=$(awk -v s="$span" -v d="$DELAY" 'BEGIN {print int(s / d) + 1}')
for n in 1 2 3; do
  probes=$(awk -v a="$t0" -v b="$t1" -v m="$MGMT_IP" '$1 == m && $3 == "\"GET" && $NF >= a && $NF < b' "$STATE/rs$n/access.log" | wc -l)
  assert_range "HTTP_GET probes rs$n got in $span s at delay_loop $DELAY (one checker for three VIPs)" \
    $((window / DELAY - 1)) "$most" "$probes"
done
api_json=$(api GET /api/v1/services)
assert_eq "API: services of group web3" 3 "$("$PY" -c 'import json,sys; print(sum(1 for s in json.load(sys.stdin)["services"] if s.get("group") == "web3"))' <<<"$api_json")"

# --- lvs_timeouts, and drift repaired.
assert_contains "rvsadm -L --timeout" "900 120 300" "$(rvsadm -L --timeout)"
assert_ok "rvsadm --set 10 10 10 (behind rvs-ctrl's back)" rvsadm --set 10 10 10
assert_ok "rvsadm -E -t 198.18.1.101:80 -s rr (drops the persistence)" rvsadm -E -t 198.18.1.101:80 -s rr
if wait_for 20 "timeouts restored" bash -c "'$RVSADM' -L --timeout | grep -q '900 120 300'"; then
  pass "rvs-ctrl restored lvs_timeouts"
else
  fail "timeouts: $(rvsadm -L --timeout)"
fi
if wait_for 20 "persistence restored" bash -c "'$RVSADM' -Ln | grep -qF 'TCP  198.18.1.101:80 rr persistent 30'"; then
  pass "rvs-ctrl restored the member's persistence"
else
  fail "198.18.1.101:80: $(rvsadm -Ln | grep -F 198.18.1.101)"
fi

# --- quorum 1, hysteresis 1 (capped at 0), every server dead: the sorry server.
say "stopping nginx on rs1, rs2, rs3"
for n in 1 2 3; do in_rs "$n" nginx -c "$STATE/rs$n/nginx.conf" -s stop 2>/dev/null; done
if wait_reals 8 "TCP  $VIP:8090" "$SORRY 1"; then
  pass "$VIP:8090: the sorry server alone once every real server is dead"
else
  fail "$VIP:8090 table: $REALS_SEEN"
fi
out=$(http_get_many 5 "http://$VIP:8090/")
assert_eq "answers on $VIP:8090 from the sorry server" 5 "$(count_of sorry "$out")"
for n in 1 2 3; do in_rs "$n" nginx -c "$STATE/rs$n/nginx.conf" 2>/dev/null; done
if wait_reals 8 "TCP  $VIP:8090" "$ALL"; then pass "$VIP:8090: real servers back"; else fail "$VIP:8090: $REALS_SEEN"; fi
finish
