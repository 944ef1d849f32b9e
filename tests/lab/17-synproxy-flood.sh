#!/usr/bin/env bash
# SYN proxy under a spoofed SYN flood: rvsd answers the flood's SYNs itself with cookies and
# none of them reaches a real server, while a client opening a new connection every ~50 ms
# is served throughout.
#
# The flood (syn-flood.py) sends SYNs to VIP:80 from random sources in 198.18.0.0/15 (never
# the client's subnet or the server side) for FLOOD_SECONDS at the highest rate the machine
# manages. tcpdump in every real server counts the SYNs (without ACK) arriving on eth0.
# Then ACK_FLOOD_SECONDS of bare ACKs with random numbers (forged cookies) from the same kind
# of sources: each is refused (synproxy_ack_invalid; drop reason synproxy_bad_ack with a RST,
# or synproxy_ack_storm beyond the RST budget), none creates a session or reaches a real server.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

FLOOD_SECONDS=${FLOOD_SECONDS:-4}
# Curls launched every 50 ms from half a second before the flood to about a second after it.
CURLS=$(((FLOOD_SECONDS * 1000 + 1500) / 50))
# Server-side connections allowed beyond one per curl: none are expected (warm-up curls end
# before the captures start); the margin covers a stray late one. Even a 0.01 % leak of a
# flood of ~10^5-10^6 SYNs would be many times this.
SYN_MARGIN=10
# Of the flood's SYNs rvsd received (worker RxPkts growth minus the curls' packets), at least
# this percentage must be answered by the SYN proxy.
ANSWERED_PCT_OF_RX=90
# And against what the generator sent (af_packet ring overflows while rvsd is saturated are
# not rvsd's choice): at least this percentage.
ANSWERED_PCT_OF_SENT=10
ACK_FLOOD_SECONDS=${ACK_FLOOD_SECONDS:-2}

lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
rvsd_start "$CFG_DIR/rvsd.toml"
warm_up

assert_ok "rvsadm -E -t $VIP:80 -s rr --synproxy" rvsadm -E -t "$VIP:80" -s rr --synproxy
assert_contains "rvsadm -Ln" "TCP  $VIP:80 rr synproxy" "$(rvsadm -Ln)"
out=$(http_get_many 6)
assert_eq "curls through the SYN proxy before the flood that failed" 0 "$(count_of FAIL "$out")"

lb_mac=$(ip -n "$RVS_LAB-lb" -o link show lb-c | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
[[ -n $lb_mac ]] || die "cannot read lb-c's MAC"

for n in 1 2 3; do
  cap_start "rs$n" "$RVS_LAB-rs$n" eth0 'tcp dst port 80 and tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack == 0'
done
# Samples of rvsd's answers on the client's link (the first 200 packets matching FILTER that are
# not addressed to the client's own subnet): each must come from VIP:80 and go to a flood
# source (198.18.0.0/15 minus the excluded /24s), to c0's MAC.
c0_mac=$(ip -n "$RVS_LAB-client" -o link show c0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
declare -A SAMPLE_PIDS=()
# sample_start NAME FILTER
sample_start() {
  ip netns exec "$RVS_LAB-client" timeout 30 tcpdump -i c0 -n -U --immediate-mode -c 200 -s 128 -Z root \
    -w "$CFG_DIR/$1.pcap" "($2) and not dst net 198.18.0.0/24" </dev/null >/dev/null 2>"$CFG_DIR/$1.tcpdump.err" &
  SAMPLE_PIDS[$1]=$!
  bg_track "${SAMPLE_PIDS[$1]}"
  wait_for 5 "tcpdump $1 to listen" grep -q "listening on" "$CFG_DIR/$1.tcpdump.err" || die "tcpdump $1 on c0 did not start"
}
# sample_check NAME WHAT
sample_check() {
  local out n bad eg
  kill "${SAMPLE_PIDS[$1]}" 2>/dev/null
  wait "${SAMPLE_PIDS[$1]}" 2>/dev/null
  out=$(PYTHONPATH="$ROOT/tests/lab" "$PY" - "$CFG_DIR/$1.pcap" "$VIP" "$c0_mac" <<'PYEOF'
import ipaddress, sys
import tcpcap
segs = tcpcap.read(sys.argv[1])
vip, mac = sys.argv[2], sys.argv[3]
flood_net = ipaddress.ip_network("198.18.0.0/15")
excluded = [ipaddress.ip_network("198.18.0.0/24"), ipaddress.ip_network("198.19.0.0/24")]
bad = [s for s in segs if s.src != vip or s.sport != 80 or s.eth_dst != mac
       or ipaddress.ip_address(s.dst) not in flood_net or any(ipaddress.ip_address(s.dst) in x for x in excluded)]
print("%d %d %s" % (len(segs), len(bad), ["%s:%d>%s:%d %s" % (s.src, s.sport, s.dst, s.dport, s.eth_dst) for s in bad[:3]]))
PYEOF
  )
  read -r n bad eg <<<"$out"
  assert_ge "$2 to flood sources sampled on c0" 100 "$n"
  if [[ $bad == 0 ]]; then
    pass "sampled $2 all from $VIP:80 to a flood source, to c0's MAC"
  else
    fail "sampled $2 not from $VIP:80 / not to a flood source / not to c0's MAC: $bad, e.g. $eg"
  fi
}
c0_rx() { ip -n "$RVS_LAB-client" -s -j link show c0 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])'; }
sample_start synack 'tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)'
c0_before=$(c0_rx)
before=$(rvsadm --workers 2>&1) || die "rvsadm --workers failed: $before"

# The curl loop: one new connection every 50 ms, each in the background so a slow one does
# not delay the next; each writes its body (or FAIL) to its own file.
mkdir -p "$CFG_DIR/curls"
say "curl loop: $CURLS connections, one every 50 ms, while flooding for ${FLOOD_SECONDS}s"
# shellcheck disable=SC2016
in_client timeout 60 bash -c 'n=$1 dir=$2 url=$3
  for ((i = 0; i < n; i++)); do
    { body=$(curl -s --max-time 10 "$url") && [[ -n $body ]] || body=FAIL; printf "%s\n" "$body" >"$dir/$i"; } &
    sleep 0.05
  done
  wait' _ "$CURLS" "$CFG_DIR/curls" "http://$VIP/" &
CURL_PID=$!
bg_track "$CURL_PID"
sleep 0.5
t0=$SECONDS
flood=$(in_client timeout $((FLOOD_SECONDS + 30)) "$PY" "$ROOT/tests/lab/syn-flood.py" --iface c0 \
  --dst-mac "$lb_mac" --dst "$VIP" --dport 80 --seconds "$FLOOD_SECONDS" 2>&1)
rc=$?
say "flood: $flood ($((SECONDS - t0)) s)"
assert_eq "syn-flood.py exit status" 0 "$rc"
sent=$(json_field "$flood" sent)
[[ $sent =~ ^[0-9]+$ ]] || die "no flood summary"
wait "$CURL_PID"
# Let the last SYNs and late server-side handshakes land before counting.
sleep 1
cap_stop rs1 rs2 rs3
after=$(rvsadm --workers 2>&1)
indent <<<"$after"

attempted=$(find "$CFG_DIR/curls" -type f | wc -l)
ok=$(cat "$CFG_DIR"/curls/* 2>/dev/null | grep -cxE 'rs[123]')
assert_eq "curls launched" "$CURLS" "$attempted"
assert_ge "curls answered during the flood (of $attempted, >= 99 %)" $(((attempted * 99 + 99) / 100)) "$ok"

# Server-side connections (distinct LIP:port -> RS:80 flows opened by a SYN) and raw SYNs.
# rvsd may send a server SYN more than once per connection (it resends it when more client
# segments arrive before the server answered, up to its syn_retries, 3 by default), so the
# raw count is bounded by 4 per curl; the connections by one per curl.
read -r rs_conns rs_syns rs_dup <<<"$(PYTHONPATH="$ROOT/tests/lab" "$PY" - "$CFG_DIR" <<'PYEOF'
import collections, sys
import tcpcap
flows = collections.Counter()
for n in (1, 2, 3):
    for s in tcpcap.read("%s/rs%d.pcap" % (sys.argv[1], n)):
        flows[s.flow] += 1
print(len(flows), sum(flows.values()), sum(1 for c in flows.values() if c > 1))
PYEOF
)"
say "real servers: $rs_conns connections opened with $rs_syns SYNs ($rs_dup connections got more than one SYN)"
assert_range "server-side connections during the flood (curls $attempted + margin $SYN_MARGIN; flood sent $sent)" \
  1 $((attempted + SYN_MARGIN)) "$rs_conns"
assert_range "SYNs the real servers saw (<= 4 per curl + margin)" 1 $((4 * attempted + SYN_MARGIN)) "$rs_syns"

answered=$(($(event_counter "$after" synproxy_syn_answered) - $(event_counter "$before" synproxy_syn_answered)))
rx=0
while read -r _ _ r _; do rx=$((rx + r)); done < <(worker_rows "$after")
while read -r _ _ r _; do rx=$((rx - r)); done < <(worker_rows "$before")
# Each curl is at most ~10 packets from the client; what is left of RxPkts is the flood's.
flood_rx=$((rx - attempted * 10))
say "flood sent $sent, rvsd received ~$flood_rx of them (RxPkts +$rx), synproxy_syn_answered +$answered"
assert_ge "synproxy_syn_answered growth (>= $ANSWERED_PCT_OF_RX % of the ~$flood_rx flood SYNs rvsd received)" \
  $((flood_rx * ANSWERED_PCT_OF_RX / 100)) "$answered"
assert_ge "synproxy_syn_answered growth (>= $ANSWERED_PCT_OF_SENT % of the $sent SYNs sent)" \
  $((sent * ANSWERED_PCT_OF_SENT / 100)) "$answered"
# The answers went back out of the client port to the flood's (spoofed) sources. (At least 90 %:
# the client's veth may drop some when its CPU is busy, which is not rvsd's doing.)
c0_got=$(($(c0_rx) - c0_before))
assert_ge "packets c0 received during the flood (>= 90 % of the $answered SYN/ACKs answered)" $((answered * 9 / 10)) "$c0_got"
sample_check synack "SYN/ACKs"
created=0
while read -r _ _ _ _ _ _ _ c _; do created=$((created + c)); done < <(worker_rows "$after")
while read -r _ _ _ _ _ _ _ c _; do created=$((created - c)); done < <(worker_rows "$before")
assert_range "sessions created during the flood (one per curl, none for the flood)" 1 $((attempted + SYN_MARGIN)) "$created"

if rvsd_running; then pass "rvsd still running"; else fail "rvsd died during the flood"; fi
out=$(http_get_many 5)
assert_eq "curls after the flood that failed" 0 "$(count_of FAIL "$out")"

# ACK flood: forged cookies. Nothing else runs meanwhile, so the servers must see nothing.
for n in 1 2 3; do cap_start "ack-rs$n" "$RVS_LAB-rs$n" eth0 'tcp port 80'; done
sample_start rst 'tcp[tcpflags] & tcp-rst != 0'
before=$(rvsadm --workers 2>&1)
flood=$(in_client timeout $((ACK_FLOOD_SECONDS + 30)) "$PY" "$ROOT/tests/lab/syn-flood.py" --iface c0 \
  --dst-mac "$lb_mac" --dst "$VIP" --dport 80 --seconds "$ACK_FLOOD_SECONDS" --flags A 2>&1)
rc=$?
say "ACK flood: $flood"
assert_eq "syn-flood.py --flags A exit status" 0 "$rc"
sent=$(json_field "$flood" sent)
[[ $sent =~ ^[0-9]+$ ]] || die "no ACK flood summary"
sleep 1
cap_stop ack-rs1 ack-rs2 ack-rs3
after=$(rvsadm --workers 2>&1)
indent <<<"$after"
rs_pkts=0
for n in 1 2 3; do rs_pkts=$((rs_pkts + $(tcpdump -nr "$CFG_DIR/ack-rs$n.pcap" 2>/dev/null | wc -l))); done
assert_eq "packets the real servers saw during the ACK flood" 0 "$rs_pkts"
rx=0
while read -r _ _ r _; do rx=$((rx + r)); done < <(worker_rows "$after")
while read -r _ _ r _; do rx=$((rx - r)); done < <(worker_rows "$before")
invalid=$(($(event_counter "$after" synproxy_ack_invalid) - $(event_counter "$before" synproxy_ack_invalid)))
# Each forged ACK is dropped as synproxy_bad_ack (answered with a RST) or, beyond rvsd's RST
# budget ([synproxy] rst_per_sec, 1000/s per worker by default), synproxy_ack_storm (silently).
bad_ack=$(($(drop_counter "$after" synproxy_bad_ack) - $(drop_counter "$before" synproxy_bad_ack)))
storm=$(($(drop_counter "$after" synproxy_ack_storm) - $(drop_counter "$before" synproxy_ack_storm)))
say "ACK flood sent $sent, rvsd received $rx, synproxy_ack_invalid +$invalid, drops synproxy_bad_ack +$bad_ack synproxy_ack_storm +$storm"
assert_ge "synproxy_ack_invalid growth (>= $ANSWERED_PCT_OF_RX % of the $rx packets rvsd received)" \
  $((rx * ANSWERED_PCT_OF_RX / 100)) "$invalid"
assert_ge "drop counters synproxy_bad_ack + synproxy_ack_storm growth (>= $ANSWERED_PCT_OF_RX % of $rx)" \
  $((rx * ANSWERED_PCT_OF_RX / 100)) $((bad_ack + storm))
assert_gt "drop counter synproxy_bad_ack growth (ACKs answered with a RST)" 0 "$bad_ack"
assert_ge "synproxy_ack_invalid growth (>= $ANSWERED_PCT_OF_SENT % of the $sent ACKs sent)" \
  $((sent * ANSWERED_PCT_OF_SENT / 100)) "$invalid"
created=0
while read -r _ _ _ _ _ _ _ c _; do created=$((created + c)); done < <(worker_rows "$after")
while read -r _ _ _ _ _ _ _ c _; do created=$((created - c)); done < <(worker_rows "$before")
assert_eq "sessions created by the ACK flood" 0 "$created"
sample_check rst "RSTs"
out=$(http_get_many 5)
assert_eq "curls after the ACK flood that failed" 0 "$(count_of FAIL "$out")"

finish
