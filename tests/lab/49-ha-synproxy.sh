#!/usr/bin/env bash
# SYN proxy across a failover (issue 19, must-show 5): both directors proxy SYNs with
# cookies whose secrets derive from the cluster key and the wall-clock time slot. A client
# SYN is answered by lb1's cookie; lb1's rvsd is killed and lb2 takes over; the client's
# ACK then completes the handshake on lb2, which opens the real server's side and serves
# the request. (Handshake by hand with scapy: tests/lab/synproxy_handshake.py.)
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ha-lib.sh
source "$(dirname "$0")/ha-lib.sh"

SPORT=45123
ha_up
for n in 1 2; do
  initial=master
  ((n == 2)) && initial=backup
  ha_config "$n" "$WORKERS" "$CFG_DIR/lb$n.toml" "$initial"
  sed -i '/^address = "198.18.0.100:80"/a syn_proxy = true' "$CFG_DIR/lb$n.toml"
  grep -q '^syn_proxy = true' "$CFG_DIR/lb$n.toml" || die "could not turn syn_proxy on"
done
rvsd_start "$CFG_DIR/lb1.toml"
rvsd2_start "$CFG_DIR/lb2.toml"
warm_up
# The client kernel answers the hand-made SYN/ACK with a RST: keep it off the wire.
in_client nft add table ip h19syn
in_client nft add chain ip h19syn out '{ type filter hook output priority 0; }'
in_client nft add rule ip h19syn out tcp sport "$SPORT" tcp flags rst drop

hs() { in_client "$PY" "$ROOT/tests/lab/synproxy_handshake.py" "$@" --dst "$VIP" --sport "$SPORT" --state "$CFG_DIR/hs.json"; }
out=$(hs syn)
indent <<<"$out"
assert_contains "lb1 answers the SYN itself (a cookie SYN/ACK)" "SYN/ACK seq" "$out"
ev1=$(rvsadm1 --workers)
assert_ge "SYNs lb1 answered with a cookie" 1 "$(event_counter "$ev1" synproxy_syn_answered)"

rvsd1_kill9
rvsadm2 --takeover | indent
# The client's neighbour entry for the VIP follows the gratuitous ARPs.
lb2_mac=$(ip netns exec "$NS_LB2" cat /sys/class/net/lb-c/address)
wait_for 10 "the client's ARP entry for the VIP points at lb2" bash -c \
  "ip netns exec '$RVS_LAB-client' ip neigh show $VIP | grep -q '$lb2_mac'" || fail "client still sends the VIP to lb1"

out=$(hs ack)
rc=$?
indent <<<"$out"
assert_eq "the handshake completed on lb2 and the request was served" 0 "$rc"
assert_contains "the real server's answer reached the client" "200 OK" "$out"
ev2=$(rvsadm2 --workers)
assert_eq "lb2 accepted lb1's cookie" 1 "$(event_counter "$ev2" synproxy_ack_accepted)"
assert_eq "lb2 refused no cookie" 0 "$(event_counter "$ev2" synproxy_ack_invalid)"
finish
