#!/usr/bin/env bash
# Per-service source lists and admission limits against real clients in two namespaces:
# rvs-client (198.18.0.10) and a second host behind it, rvs-c2 (198.18.2.10), which
# rvs-client routes to rvsd like a customer router. A `--deny`/`--allow` list leaves the
# refused host with nothing (its curls time out, hping3's SYNs open no session) while the
# other is served; a UDP flood from one source (hping3, a new source port per datagram)
# fills a small session table without a limit, and with `--source-rate` leaves the other
# client's UDP exchange intact; `--max-conns` refuses while full and admits after.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

NS_C2=$RVS_LAB-c2
C2_IP=198.18.2.10
TCP_SVC=$VIP:80
UDP_SVC=$VIP:53

lab_up
# The second client: a veth from rvs-client, which forwards between it and rvsd.
ip netns add "$NS_C2" || die "cannot create $NS_C2"
ip link add c2r netns "$RVS_LAB-client" type veth peer name eth0 netns "$NS_C2" || die "veth to $NS_C2"
in_client ethtool -K c2r tx off rx off gso off gro off tso off >/dev/null 2>&1
in_client ip addr add 198.18.2.1/24 dev c2r
in_client ip link set c2r up
ip netns exec "$NS_C2" ethtool -K eth0 tx off rx off gso off gro off tso off >/dev/null 2>&1
ip netns exec "$NS_C2" ip addr add "$C2_IP/24" dev eth0
ip netns exec "$NS_C2" ip link set lo up
ip netns exec "$NS_C2" ip link set eth0 up
ip netns exec "$NS_C2" ip route add default via 198.18.2.1
in_client sysctl -qw net.ipv4.ip_forward=1
in_client sysctl -qw net.ipv4.conf.all.rp_filter=0
in_c2() { ip netns exec "$NS_C2" "$@"; }

make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
# rvsd reaches the second host through rvs-client; a small table shows what a flood does.
sed -i 's/^max_sessions = .*/max_sessions = 4096/' "$CFG_DIR/rvsd.toml"
cat >>"$CFG_DIR/rvsd.toml" <<'EOF'

[[route]]
prefix = "198.18.2.0/24"
via = "198.18.0.10"
EOF
rvsd_start "$CFG_DIR/rvsd.toml"
# Closed connections go within 2 s, so they do not count against --max-conns at the end.
assert_ok "tcp_fin timeout 2 s" rvsadm --set 0 2 0
warm_up
in_c2 ping -n -c 1 -W 2 "$VIP" >/dev/null 2>&1

# curls FROM_NS N: N curls to the VIP from a namespace; prints "ok timeout other" counts.
curls() {
  local ns=$1 n=$2
  # shellcheck disable=SC2016
  ip netns exec "$ns" bash -c 'ok=0; to=0; other=0
    for ((i = 0; i < $1; i++)); do
      curl -s -o /dev/null --max-time 2 "http://$2/"; rc=$?
      case $rc in 0) ok=$((ok + 1)) ;; 28) to=$((to + 1)) ;; *) other=$((other + 1)) ;; esac
    done
    echo "$ok $to $other"' _ "$n" "$VIP"
}
drops() { drop_counter "$(rvsadm --workers)" "$1"; }

say "before any list: both clients are served"
assert_eq "curls from $CLIENT_IP (ok timeout other)" "10 0 0" "$(curls "$RVS_LAB-client" 10)"
assert_eq "curls from $C2_IP (ok timeout other)" "10 0 0" "$(curls "$NS_C2" 10)"

say "rvsadm -E --deny 198.18.2.0/24"
assert_ok "edit with --deny" rvsadm -E -t "$TCP_SVC" -s rr --deny 198.18.2.0/24
assert_contains "rvsadm -Ln shows the list" "deny 198.18.2.0/24" "$(rvsadm -Ln)"
assert_eq "denied host's curls all time out (ok timeout other)" "0 5 0" "$(curls "$NS_C2" 5)"
assert_eq "the other host's curls (ok timeout other)" "20 0 0" "$(curls "$RVS_LAB-client" 20)"
# hping3 SYNs from the denied host: every one counted, none opens a session.
before=$(drops acl_denied)
in_c2 timeout 20 hping3 -q -S -p 80 -c 300 -i u2000 "$VIP" >/dev/null 2>&1
after=$(drops acl_denied)
assert_ge "hping3's 300 SYNs counted as acl_denied" $((before + 300)) "$after"
assert_eq "sessions of the denied host" 0 "$(conn_lines | grep -c "$C2_IP")"

say "rvsadm -E --allow 198.18.0.0/24 (the list replaces the deny)"
assert_ok "edit with --allow" rvsadm -E -t "$TCP_SVC" -s rr --allow 198.18.0.0/24
before=$(drops acl_not_allowed)
assert_eq "host outside the allow list (ok timeout other)" "0 3 0" "$(curls "$NS_C2" 3)"
assert_ge "its SYNs counted as acl_not_allowed" $((before + 3)) "$(drops acl_not_allowed)"
assert_eq "host inside it (ok timeout other)" "10 0 0" "$(curls "$RVS_LAB-client" 10)"
assert_ok "lists removed" rvsadm -E -t "$TCP_SVC" -s rr
assert_eq "the second host is served again (ok timeout other)" "5 0 0" "$(curls "$NS_C2" 5)"

# UDP flood from the second host: hping3 takes a new source port per datagram, so each one
# is a new flow. Short UDP timeouts let the flood's sessions go between the two rounds.
assert_ok "udp timeout 4 s" rvsadm --set 0 0 4
# flood_round REASON: a flood at up to ~20k datagrams/s for 6 s; once rvsd counts drops
# for REASON (the flood has taken hold: the table is full, or the limit bites), the first
# client echoes 300 datagrams over 6 new flows; prints udp_burst's JSON.
flood_round() {
  local fl res before i
  before=$(drops "$1")
  in_c2 timeout 6 hping3 -q --udp -p 53 -d 16 -i u50 "$VIP" >/dev/null 2>&1 &
  fl=$!
  bg_track "$fl"
  for ((i = 0; i < 50; i++)); do
    (($(drops "$1") > before)) && break
    sleep 0.1
  done
  res=$(udp_burst --dst "$VIP" --port 53 --count 300 --sports 6 --window 16 --timeout 2)
  wait "$fl" 2>/dev/null
  echo "$res"
}
say "UDP flood without a limit: the table (4096 sessions) fills"
full_before=$(drops session_table_full)
res=$(flood_round session_table_full)
say "udp_burst during the flood: $res"
full=$(($(drops session_table_full) - full_before))
assert_gt "session_table_full drops during the unlimited flood" 1000 "$full"
assert_gt "the other client's datagrams lost without a limit" 0 "$(json_field "$res" lost)"
wait_for 15 "the flood's sessions to expire" bash -c "[[ \$($RVSADM -Lnc | grep -c '$C2_IP') -eq 0 ]]"

say "rvsadm -E -u --source-rate 50:100: the same flood"
assert_ok "edit with --source-rate" rvsadm -E -u "$UDP_SVC" -s rr --source-rate 50:100
assert_contains "rvsadm -Ln shows the rate" "source-rate 50:100" "$(rvsadm -Ln)"
limited_before=$(drops source_rate_limited)
full_before=$(drops session_table_full)
res=$(flood_round source_rate_limited)
say "udp_burst during the flood: $res"
flood_sessions=$(conn_lines | grep -c "$C2_IP")
limited=$(($(drops source_rate_limited) - limited_before))
assert_gt "flood datagrams refused as source_rate_limited" 10000 "$limited"
assert_eq "session_table_full drops with the limit" 0 "$(($(drops session_table_full) - full_before))"
# At most the burst plus 4 s at 50/s (and the sessions still alive of those).
assert_range "the flooder's live sessions" 1 400 "$flood_sessions"
assert_eq "the other client's datagrams echoed" 300 "$(json_field "$res" received)"
assert_eq "the other client's datagrams lost" 0 "$(json_field "$res" lost)"

say "rvsadm -E -t --max-conns 3 with three connections held open"
wait_for 15 "earlier connections to expire" bash -c "[[ \$($RVSADM -Lnc | grep -c ':80 ') -eq 0 ]]"
assert_ok "edit with --max-conns" rvsadm -E -t "$TCP_SVC" -s rr --max-conns 3
# shellcheck disable=SC2016
in_client "$PY" -c '
import socket, sys, time
s = [socket.create_connection((sys.argv[1], 80), timeout=3) for _ in range(3)]
time.sleep(6)
' "$VIP" &
holder=$!
bg_track "$holder"
sleep 1.5
before=$(drops max_conns)
assert_eq "a fourth connection while three are open (ok timeout other)" "0 1 0" "$(curls "$RVS_LAB-client" 1)"
assert_gt "refused as max_conns" "$before" "$(drops max_conns)"
wait "$holder"
assert_eq "the three connections' holder exited cleanly" 0 "$?"
wait_for 15 "the closed connections to expire" bash -c "[[ \$($RVSADM -Lnc | grep -c ':80 ') -eq 0 ]]"
assert_eq "a connection once they are gone (ok timeout other)" "1 0 0" "$(curls "$RVS_LAB-client" 1)"

finish
