#!/usr/bin/env bash
# Service and real-server options set only in keepalived.conf, each seen in real traffic as
# the rvsadm-driven tests (16, 18, 19, 20) see it:
#
#   VIP:80   rr, syn_proxy + toa      -> rs1-3:80   the server-side SYN (from a LIP) follows the
#                                                   client's handshake-completing ACK; the first
#                                                   server-side segment carries TCP option 254
#                                                   with the client's address:port
#   VIP:8082 rr, proxy_protocol v2    -> rs1-3:8081 nginx's proxy_protocol log names each
#                                                   client address:port, the TCP peer is a LIP
#   VIP:81   rr, rs1 uthreshold 10 lthreshold 5     50 long connections: rs1 never holds more
#                                                   than 10, all 50 served
#   VIP:82   sh, then sh-port (SIGHUP)              one client's connections: one server
#                                                   without the flag, spread with it
#
# Then, with rvs-ctrl stopped, `rvsadm -S`, `rvsadm -C`, `rvsadm -R` of that output and
# `rvsadm -S` again: byte-identical (thresholds, persistence, flags, SYN proxy, TOA, PROXY).
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ctrl-lib.sh
source "$(dirname "$0")/ctrl-lib.sh"

PINNED=3

ctrl_rvsd_start

# vs PORT RS_PORT BODY [RS1_EXTRA]: one virtual_server block, three real servers with TCP_CHECK.
vs() {
  cat <<EOF
virtual_server $VIP $1 {
  delay_loop 1
  lb_kind FNAT
  protocol TCP
  laddr_group_name lips
$3
EOF
  local n extra
  for n in 1 2 3; do
    extra=
    [[ $n == 1 ]] && extra=${4:-}
    cat <<EOF
  real_server 198.19.0.1$n $2 {
    weight 1
$extra
    TCP_CHECK {
      connect_timeout 1
    }
  }
EOF
  done
  echo "}"
}

write_conf() {
  {
    kconf_header
    vs 80 80 "  lb_algo rr
  syn_proxy
  toa"
    vs 8082 8081 "  lb_algo rr
  proxy_protocol v2
  persistence_timeout 60
  persistence_granularity 255.255.255.0"
    vs 81 80 "  lb_algo rr" "    uthreshold 10
    lthreshold 5"
    vs 82 80 "  lb_algo sh
$1"
  } >"$KCONF"
}

write_conf ""
ctrl_start
for p in 80 81 82; do
  wait_reals 10 "TCP  $VIP:$p" "198.19.0.11:80 1,198.19.0.12:80 1,198.19.0.13:80 1" ||
    die "rvsd table of $VIP:$p: $REALS_SEEN"
done
wait_reals 10 "TCP  $VIP:8082" "198.19.0.11:8081 1,198.19.0.12:8081 1,198.19.0.13:8081 1" ||
  die "rvsd table of $VIP:8082: $REALS_SEEN"
pass "four services with their real servers in rvsd"
listing=$(rvsadm -Ln)
assert_contains "rvsadm -Ln" "TCP  $VIP:80 rr synproxy toa" "$listing"
assert_contains "rvsadm -Ln" "TCP  $VIP:8082 rr persistent 60 mask 255.255.255.0 proxy-protocol v2" "$listing"
assert_not_contains "rvs-ctrl log" "is not supported by the dataplane" "$(cat "$CTRL_LOG")"
th=$(rvsadm -Ln --thresholds 2>&1)
indent <<<"$th"
assert_eq "rs1 of $VIP:81 in 'rvsadm -Ln --thresholds' (Uthreshold Lthreshold)" "10 5" \
  "$(awk '/^TCP/ {cur = $2} cur == "'"$VIP"':81" && $2 == "198.19.0.11:80" {print $3, $4}' <<<"$th")"
warm_up

# --- syn_proxy + toa on VIP:80: PINNED sequential connections, captured on both sides.
cap_start client "$RVS_LAB-client" c0 "tcp port 80"
for n in 1 2 3; do cap_start "rs$n" "$RVS_LAB-rs$n" eth0 "tcp port 80"; done
ports=()
for ((k = 0; k < PINNED; k++)); do
  r=$(in_client curl -s --max-time 5 -w ' %{local_port}' "http://$VIP/")
  [[ $r =~ ^rs[123][[:space:]]+([0-9]+)$ ]] || { fail "curl $k through the SYN proxy failed: '$r'"; continue; }
  ports+=("${BASH_REMATCH[1]}")
  sleep 0.2
done
sleep 0.5
cap_stop client rs1 rs2 rs3
verdicts=$(PYTHONPATH="$ROOT/tests/lab" "$PY" - "$CFG_DIR" "$CLIENT_IP" "$VIP" "${LIPS[*]}" "${ports[@]}" <<'PYEOF'
import sys
import tcpcap
d, client, vip, lips = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
ports = [int(p) for p in sys.argv[5:]]
cs = tcpcap.read(d + "/client.pcap")
server = []  # (time of the first SYN, rs, flow, first segment after the handshake)
for n in (1, 2, 3):
    segs = tcpcap.read("%s/rs%d.pcap" % (d, n))
    firsts = tcpcap.first_segments(segs, dport=80)
    for flow, ss in tcpcap.connections(segs, dport=80).items():
        # rvs-ctrl's own TCP_CHECKs come from its management address, not from a LIP.
        if flow[0] in lips:
            server.append((ss[0].ts, n, flow, firsts.get(flow)))
server.sort(key=lambda x: x[0])
print(("OK" if len(server) == len(ports) else "BAD")
      + " server-side connections from a LIP: %d for %d client connections" % (len(server), len(ports)))
for k, port in enumerate(ports):
    synack = next((s for s in cs if s.flow == (vip, 80, client, port) and s.has(tcpcap.SYN) and s.has(tcpcap.ACK)), None)
    ack = next((s for s in cs if s.flow == (client, port, vip, 80) and not s.has(tcpcap.SYN)
                and s.has(tcpcap.ACK) and synack and s.ts >= synack.ts), None)
    if synack is None or ack is None or k >= len(server):
        print("BAD conn %d (port %d): missing SYN/ACK, ACK or server side" % (k, port))
        continue
    t, n, flow, first = server[k]
    what = "conn %d (client port %d): client ACK %.6f, rs%d SYN from %s:%d %.6f" % (k, port, ack.ts, n, flow[0], flow[1], t)
    print(("OK" if t > ack.ts else "BAD") + " syn_proxy: " + what)
    got = tcpcap.toa(first) if first is not None else None
    print(("OK" if got == (client, port) else "BAD") + " toa: %s carries %s" % (what, got))
PYEOF
)
while read -r verdict rest; do
  case $verdict in
    OK) pass "$rest" ;;
    *) fail "$rest" ;;
  esac
done <<<"$verdicts"
assert_eq "connections checked for syn_proxy and toa" $((2 * PINNED + 1)) "$(grep -c '^OK' <<<"$verdicts")"

# --- proxy_protocol v2 on VIP:8082: nginx's proxy_protocol log.
for n in 1 2 3; do : >"$STATE/rs$n/pp.log"; done
curls=$CFG_DIR/pp.curls
: >"$curls"
for src in 198.18.0.10 198.18.0.11; do
  # shellcheck disable=SC2016
  in_client bash -c 'for ((i = 0; i < 10; i++)); do
      r=$(curl -s --max-time 5 --interface "$1" -w " %{local_port}" "$2")
      if [[ $r =~ ^(rs[0-9])[[:space:]]+([0-9]+)$ ]]; then echo "$1 ${BASH_REMATCH[2]}"; else echo "$1 FAIL"; fi
    done' _ "$src" "http://$VIP:8082/" >>"$curls"
done
assert_eq "proxy_protocol curls that failed (of 20)" 0 "$(grep -c FAIL "$curls")"
sleep 0.5
logged=$(cat "$STATE"/rs{1,2,3}/pp.log)
indent <<<"$(head -n 3 <<<"$logged")"
matched=0
while read -r a p; do
  [[ $p == FAIL ]] && continue
  n=$(awk -v a="$a" -v p="$p" '$1 == a && $2 == p && ($3 == "'"${LIPS[0]}"'" || $3 == "'"${LIPS[1]}"'") && $NF == 200' <<<"$logged" | wc -l)
  ((n == 1)) && matched=$((matched + 1))
done <"$curls"
assert_eq "curls whose client address:port nginx logged once as the PROXY v2 source, from a LIP" 20 "$matched"

# --- uthreshold 10 / lthreshold 5 on rs1 of VIP:81 under 50 long connections.
hold_out=$CFG_DIR/hold.out
in_client "$PY" -c '
import socket, time
socks, ok = [], 0
for i in range(50):
    s = socket.create_connection(("'"$VIP"'", 81), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: vip\r\n\r\n")
    ok += b"200 OK" in s.recv(4096)
    socks.append(s)
    time.sleep(0.02)
print("served", ok, flush=True)
time.sleep(5)
' >"$hold_out" 2>&1 &
HOLD_PID=$!
bg_track "$HOLD_PID"
max=0
for _ in $(seq 20); do
  row=$(rvsadm -Ln | awk '/^TCP/ {cur = $2} cur == "'"$VIP"':81" && $2 == "198.19.0.11:80" {print $5 + $6}')
  [[ $row =~ ^[0-9]+$ ]] && ((row > max)) && max=$row
  sleep 0.25
done
wait "$HOLD_PID"
assert_contains "all 50 connections to $VIP:81 served" "served 50" "$(cat "$hold_out")"
assert_range "most connections rs1 held at once (uthreshold 10)" 1 10 "$max"

# --- sh without and with sh-port on VIP:82: one client, 30 connections.
spread() {
  # shellcheck disable=SC2016
  in_client bash -c 'for ((i = 0; i < 30; i++)); do curl -s --max-time 5 "$1" || echo FAIL; done' _ "http://$VIP:82/" |
    sort -u | grep -c '^rs'
}
assert_eq "servers one client reaches through sh (source address hashed)" 1 "$(spread)"
write_conf "  sh-port"
assert_ok "rvsadm --reload" ctrl_reload
if wait_for 5 "sh-port" bash -c "'$RVSADM' -Ln | grep -qF 'TCP  $VIP:82 sh (sh-port)'"; then
  pass "rvsadm -Ln shows sh (sh-port)"
else
  fail "sh-port not applied: $(rvsadm -Ln | grep -F "$VIP:82")"
fi
assert_range "servers one client reaches through sh with sh-port (source port hashed too)" 2 3 "$(spread)"

# --- rvsadm -S | rvsadm -R restores this table exactly (rvs-ctrl stopped, so only rvsadm acts).
ctrl_stop
rvsadm -S >"$CFG_DIR/save1" || fail "rvsadm -S failed"
indent <"$CFG_DIR/save1"
for want in "-x 10 -y 5" "-p 60 -M 255.255.255.0 --proxy-protocol v2" "--sched-flags sh-port" "--synproxy --toa"; do
  assert_contains "rvsadm -S" "$want" "$(cat "$CFG_DIR/save1")"
done
assert_ok "rvsadm -C" rvsadm -C
assert_eq "services after -C" 0 "$(rvsadm -Ln | grep -cE '^(TCP|UDP) ')"
assert_ok "rvsadm -R < saved" bash -c "'$RVSADM' -R <'$CFG_DIR/save1'"
rvsadm -S >"$CFG_DIR/save2"
if cmp -s "$CFG_DIR/save1" "$CFG_DIR/save2"; then
  pass "rvsadm -S after -R is byte-identical ($(wc -l <"$CFG_DIR/save1") lines)"
else
  fail "rvsadm -S after -R differs:"
  diff "$CFG_DIR/save1" "$CFG_DIR/save2" | indent
fi
out=$(in_client curl -s --max-time 5 "http://$VIP/")
[[ $out =~ ^rs[123]$ ]] && pass "the restored SYN-proxied service answers ($out)" || fail "restored $VIP:80: '$out'"
finish
