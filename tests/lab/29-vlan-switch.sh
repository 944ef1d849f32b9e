#!/usr/bin/env bash
# The lab's 802.1Q tagging switch (tests/tools/vlan-switch), tested on its own with plain
# kernel namespaces (this kernel cannot tag: no 8021q, no bridge vlan_filtering). Two switch
# processes joined by a trunk veth (t1 <-> t2), each with an access port on VLAN 10 and one on
# VLAN 20; four hosts in ONE subnet (198.18.10.0/24), so only the VLANs keep them apart:
#
#   va .1 --a10 [sw1: 10,20] t1 ===trunk=== t2 [sw2: 10,20] b10-- vb .2
#   vc .3 --c20                                             d20-- vd .4
#
# Checks: va<->vb and vc<->vd ping; va->vc and vb->vd do not (other VLAN); tcpdump -e on the
# trunk shows every frame tagged, VLAN 10 carrying only .1/.2 and VLAN 20 only .3/.4; the
# access side is untagged; frames with an unknown VLAN (99) are dropped and counted.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

SWITCH=${VLAN_SWITCH:-$ROOT/target/release/vlan-switch}
[[ -x $SWITCH ]] || die "vlan-switch not built: $SWITCH (cargo build --release -p vlan-switch)"
NS_SW=$RVS_LAB-vsw
lab_down

ns_new() {
  ip netns add "$1" || die "ip netns add $1"
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip netns exec "$1" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
  ip netns exec "$1" ip link set lo up
}
offl() {
  local f
  for f in rx tx sg tso gso gro rxvlan txvlan; do ip netns exec "$1" ethtool -K "$2" "$f" off >/dev/null 2>&1; done
  ip netns exec "$1" ip link set "$2" up
}

ns_new "$NS_SW"
ip -n "$NS_SW" link add t1 type veth peer name t2 || die "trunk veth"
offl "$NS_SW" t1
offl "$NS_SW" t2
# host NAME SWITCH_PORT ADDRESS
host() {
  local ns=$RVS_LAB-$1
  ns_new "$ns"
  ip link add eth0 netns "$ns" type veth peer name "$2" netns "$NS_SW" || die "veth $1"
  offl "$ns" eth0
  offl "$NS_SW" "$2"
  ip -n "$ns" addr add "$3/24" dev eth0
}
host va a10 198.18.10.1
host vb b10 198.18.10.2
host vc c20 198.18.10.3
host vd d20 198.18.10.4

ip netns exec "$NS_SW" "$SWITCH" --trunk t1 --access a10=10 --access c20=20 \
  >"$CFG_DIR/sw1.json" 2>"$CFG_DIR/sw1.err" &
SW1=$!
bg_track $SW1
ip netns exec "$NS_SW" "$SWITCH" --trunk t2 --access b10=10 --access d20=20 \
  >"$CFG_DIR/sw2.json" 2>"$CFG_DIR/sw2.err" &
SW2=$!
bg_track $SW2
wait_for 5 "switches up" grep -q trunk "$CFG_DIR/sw2.err" || die "vlan-switch did not start"
grep -q trunk "$CFG_DIR/sw1.err" || die "vlan-switch sw1 did not start"

cap_start trunk "$NS_SW" t1 ""
cap_start access "$RVS_LAB-vb" eth0 ""

# pings FROM TO COUNT: replies received
pings() {
  ip netns exec "$RVS_LAB-$1" ping -n -c "$3" -i 0.2 -W 1 "$2" 2>&1 | sed -n 's/.* \([0-9][0-9]*\) received.*/\1/p'
}
assert_eq "va -> vb (VLAN 10) replies" 5 "$(pings va 198.18.10.2 5)"
assert_eq "vc -> vd (VLAN 20) replies" 5 "$(pings vc 198.18.10.4 5)"
assert_eq "va -> vc (VLAN 10 to 20, same subnet) replies" 0 "$(pings va 198.18.10.3 2)"
assert_eq "vb -> vd (VLAN 10 to 20, same subnet) replies" 0 "$(pings vb 198.18.10.4 2)"

say "10 frames with VLAN 99 (known to neither switch) onto the trunk"
ip netns exec "$NS_SW" "$PY" -c '
from scapy.all import Ether, Dot1Q, IP, ICMP, sendp
sendp(Ether(dst="ff:ff:ff:ff:ff:ff")/Dot1Q(vlan=99)/IP(src="198.18.10.9", dst="198.18.10.2")/ICMP(), iface="t1", count=10, verbose=False)
' 2>/dev/null || fail "scapy sendp on t1"
sleep 0.5
cap_stop trunk access

tr=$(tcpdump -r "$CFG_DIR/trunk.pcap" -e -n 2>/dev/null)
indent <<<"$(head -n 6 <<<"$tr")"
assert_eq "untagged frames on the trunk" 0 "$(grep -vc 'vlan [0-9]' <<<"$tr")"
assert_ge "VLAN 10 echo requests .1 > .2 on the trunk" 5 \
  "$(grep 'vlan 10,' <<<"$tr" | grep -c '198.18.10.1 > 198.18.10.2: ICMP echo request')"
assert_ge "VLAN 20 echo requests .3 > .4 on the trunk" 5 \
  "$(grep 'vlan 20,' <<<"$tr" | grep -c '198.18.10.3 > 198.18.10.4: ICMP echo request')"
# va and vb ask for .3/.4 in their own VLAN (unanswered): nothing else of .3/.4 is in VLAN 10.
assert_ge "VLAN 10 ARP requests from .1/.2 for .3/.4 (asked in vain)" 1 \
  "$(grep 'vlan 10,' <<<"$tr" | grep -cE 'who-has 198\.18\.10\.[34] tell 198\.18\.10\.[12]')"
assert_eq "other VLAN 10 frames naming .3 or .4" 0 \
  "$(grep 'vlan 10,' <<<"$tr" | grep -E '198\.18\.10\.[34]\b' | grep -cvE 'who-has 198\.18\.10\.[34] tell 198\.18\.10\.[12]')"
assert_eq "VLAN 20 frames naming .1 or .2" 0 "$(grep 'vlan 20,' <<<"$tr" | grep -cE '198\.18\.10\.[12]\b')"
ac=$(tcpdump -r "$CFG_DIR/access.pcap" -e -n 2>/dev/null)
assert_ge "echo requests reaching vb untagged" 5 "$(grep -v 'vlan' <<<"$ac" | grep -c 'ICMP echo request')"
assert_eq "tagged frames on an access port" 0 "$(grep -c 'vlan [0-9]' <<<"$ac")"
assert_eq "frames of 198.18.10.9 (VLAN 99) reaching vb" 0 "$(grep -c '198.18.10.9' <<<"$ac")"

kill -TERM "$SW1" "$SW2"
wait "$SW1" "$SW2"
s2=$(cat "$CFG_DIR/sw2.json")
say "sw2 counters: $s2"
assert_eq "sw2 drop_unknown_vlan_99" 10 "$(json_field "$s2" drop_unknown_vlan_99)"
assert_ge "sw2 frames sent to b10" 5 "$(json_field "$s2" tx_b10)"
assert_ge "sw1 frames tagged onto the trunk" 10 "$(json_field "$(cat "$CFG_DIR/sw1.json")" tx_t1)"
finish
