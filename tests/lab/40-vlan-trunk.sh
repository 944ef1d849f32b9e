#!/usr/bin/env bash
# Real servers on VLAN 10 and VLAN 20 of one trunk behind rvsd (the lab's tagging switch,
# tests/tools/vlan-switch, between the trunk veth and the servers; see vlan-lib.sh), each
# VLAN with its own LIPs, one service over both. Checks: curls all answered, each server
# sees only its VLAN's LIPs; 'tcpdump -e' on the trunk shows every frame of the servers'
# subnets tagged with the right VLAN and the right LIP; ping reaches the lb kernel's address
# on each VLAN's tap, which sees it untagged; 10 frames of an unknown VLAN (scapy, from the
# trunk side) are dropped and counted (unknown_vlan); per-VLAN counters in rvsadm --workers;
# wrk without errors; three 50 MB downloads intact.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/exc-lib.sh
source "$(dirname "$0")/exc-lib.sh"
# shellcheck source=tests/lab/vlan-lib.sh
source "$(dirname "$0")/vlan-lib.sh"

lab_up
vlan_trunk_up
vlan_config "$WORKERS" "$CFG_DIR/rvsd.toml"
rvsd_start "$CFG_DIR/rvsd.toml"
lb_kernel_guard
for v in 10 20; do
  kif_wait "$KIF_S.$v" || die "no kernel interface $KIF_S.$v"
done
assert_eq "VLAN taps carry the port's MAC" "$(mac_of "$NS_LB" lb-s)" "$(mac_of "$NS_LB" "$KIF_S.10")"
in_lb ip addr add "$KERNEL_10_IP/24" dev "$KIF_S.10"
in_lb ip addr add "$KERNEL_20_IP/24" dev "$KIF_S.20"

cap_start trunk "$RVS_LAB-sw" sw-lb ""
cap_start tap10 "$NS_LB" "$KIF_S.10" ""

# The servers' logs from here on only (lab.sh checked each nginx on its old address).
for i in 1 2 3; do : >"$STATE/rs$i/access.log"; done
say "40 curls through the VIP"
bodies=$(http_get_many 40)
assert_eq "curls answered" 40 "$(grep -cE '^rs[123]$' <<<"$bodies")"
for i in 1 2 3; do
  assert_ge "requests served by rs$i" 1 "$(count_of "rs$i" "$bodies")"
done
# Each real server sees only LIPs of its own VLAN.
peers() { awk '{print $1}' "$STATE/rs$1/access.log" | sort -u | tr '\n' ' '; }
say "peers seen: rs1: $(peers 1)| rs2: $(peers 2)| rs3: $(peers 3)"
assert_eq "rs1 (VLAN 10) peers outside VLAN 10's LIPs" 0 \
  "$(awk '{print $1}' "$STATE/rs1/access.log" | grep -cvxE "${LIPS_10[0]//./\\.}|${LIPS_10[1]//./\\.}")"
assert_eq "VLAN 10's LIPs both used towards rs1" 2 "$(awk '{print $1}' "$STATE/rs1/access.log" | sort -u | wc -l)"
for i in 2 3; do
  assert_eq "rs$i (VLAN 20) peers outside VLAN 20's LIP" 0 \
    "$(awk '{print $1}' "$STATE/rs$i/access.log" | grep -cvxF "${LIPS_20[0]}")"
done

say "ping the lb kernel's address on each VLAN tap"
assert_eq "rs1 -> $KERNEL_10_IP (VLAN 10 tap) replies" 3 \
  "$(in_rs 1 ping -n -c 3 -i 0.2 -W 2 "$KERNEL_10_IP" | sed -n 's/.* \([0-9]*\) received.*/\1/p')"
assert_eq "rs2 -> $KERNEL_20_IP (VLAN 20 tap) replies" 3 \
  "$(in_rs 2 ping -n -c 3 -i 0.2 -W 2 "$KERNEL_20_IP" | sed -n 's/.* \([0-9]*\) received.*/\1/p')"

say "10 frames with VLAN 99 from the trunk side (scapy)"
lbmac=$(mac_of "$NS_LB" lb-s)
ip netns exec "$RVS_LAB-sw" "$PY" -c '
import sys
from scapy.all import Ether, Dot1Q, IP, TCP, sendp
sendp(Ether(dst=sys.argv[1])/Dot1Q(vlan=99)/IP(src="198.19.10.11", dst="198.19.10.200")/TCP(sport=80, dport=1025, flags="A"),
      iface="sw-lb", count=10, verbose=False)
' "$lbmac" 2>/dev/null || fail "scapy sendp on sw-lb"
sleep 0.5
cap_stop trunk tap10

tr=$(tcpdump -r "$CFG_DIR/trunk.pcap" -e -n 2>/dev/null)
indent <<<"$(grep -m 4 'vlan 10' <<<"$tr"; grep -m 2 'vlan 20' <<<"$tr")"
sub10='198\.19\.10\.'
sub20='198\.19\.20\.'
assert_eq "untagged frames on the trunk naming 198.19.10/20" 0 \
  "$(grep -v ' vlan [0-9]' <<<"$tr" | grep -cE "$sub10|$sub20")"
assert_eq "VLAN 10 frames naming 198.19.20.x" 0 "$(grep ' vlan 10,' <<<"$tr" | grep -cE "$sub20")"
assert_eq "VLAN 20 frames naming 198.19.10.x" 0 "$(grep ' vlan 20,' <<<"$tr" | grep -cE "$sub10")"
assert_ge "VLAN 10: SYNs from a VLAN 10 LIP to rs1:80" 1 \
  "$(grep ' vlan 10,' <<<"$tr" | grep -cE "198\.19\.10\.20[01]\.[0-9]+ > 198\.19\.10\.11\.80: Flags \[S\]")"
assert_ge "VLAN 20: SYNs from VLAN 20's LIP to rs2/rs3:80" 1 \
  "$(grep ' vlan 20,' <<<"$tr" | grep -cE "198\.19\.20\.200\.[0-9]+ > 198\.19\.20\.1[23]\.80: Flags \[S\]")"
assert_ge "VLAN 10: replies from rs1 to the LIPs" 1 \
  "$(grep ' vlan 10,' <<<"$tr" | grep -cE "198\.19\.10\.11\.80 > 198\.19\.10\.20[01]\.")"
assert_eq "VLAN 99 frames on the trunk" 10 "$(grep -c ' vlan 99,' <<<"$tr")"
tap=$(tcpdump -r "$CFG_DIR/tap10.pcap" -e -n 2>/dev/null)
assert_ge "echo requests on the VLAN 10 tap" 3 "$(grep -c "> $KERNEL_10_IP: ICMP echo request" <<<"$tap")"
assert_eq "tagged frames on the VLAN 10 tap" 0 "$(grep -c ' vlan [0-9]' <<<"$tap")"
assert_eq "VIP/LIP frames on the VLAN 10 tap" 0 "$(grep -cE '198\.18\.0\.100|198\.19\.10\.20[01]' <<<"$tap")"

w=$(rvsadm --workers 2>&1)
indent <<<"$(sed -n '/^Port/,$p' <<<"$w")"
assert_eq "unknown_vlan drops" 10 "$(drop_counter "$w" unknown_vlan)"
read -r rx10 _ tx10 _ _ <<<"$(vlan_row "$w" server 10)"
read -r rx20 _ tx20 _ _ <<<"$(vlan_row "$w" server 20)"
assert_gt "VLAN 10 rx packets" 40 "${rx10:-}"
assert_gt "VLAN 10 tx packets" 40 "${tx10:-}"
assert_gt "VLAN 20 rx packets" 40 "${rx20:-}"
assert_gt "VLAN 20 tx packets" 40 "${tx20:-}"

say "wrk -t2 -c50 -d8s http://$VIP/"
out=$(in_client timeout 40 wrk -t2 -c50 -d8s --timeout 5s "http://$VIP/" 2>&1)
assert_eq "wrk exit status" 0 "$?"
indent <<<"$(grep -E 'requests in|Requests/sec' <<<"$out")"
assert_ge "wrk requests" 100 "$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' <<<"$out")"
assert_not_contains "wrk output" "Socket errors" "$out"
assert_not_contains "wrk output" "Non-2xx" "$out"

want=$(cat "$STATE/big.sha256")
for n in 1 2 3; do
  dl=$CFG_DIR/big.$n
  in_client curl -s --max-time 120 -o "$dl" -w '%{http_code} %{size_download}\n' "http://$VIP/big.bin" >"$CFG_DIR/curl.$n" 2>&1
  assert_eq "download $n: status and size" "200 $((50 * 1024 * 1024))" "$(cat "$CFG_DIR/curl.$n")"
  assert_eq "download $n: sha256" "$want" "$(sha256sum "$dl" 2>/dev/null | awk '{print $1}')"
  rm -f "$dl"
done
served=$(grep -l '"GET /big.bin HTTP/1.1" 200' "$STATE"/rs[123]/access.log | xargs -r -n1 dirname | xargs -r -n1 basename | tr '\n' ' ')
say "big.bin served by: $served"
if ((WORKERS == 1)); then
  assert_eq "distinct RS (both VLANs) that served big.bin" 3 "$(wc -w <<<"$served")"
fi
assert_eq "unknown_vlan drops after the traffic" 10 "$(drop_counter "$(rvsadm --workers 2>&1)" unknown_vlan)"
finish
