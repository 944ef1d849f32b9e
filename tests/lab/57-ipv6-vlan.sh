#!/usr/bin/env bash
# IPv6 on 802.1Q VLANs: the trunk of 40-vlan-trunk (tests/tools/vlan-switch; rs1 on VLAN 10,
# rs2 and rs3 on VLAN 20) with IPv6 next to IPv4 (RVS_LAB_IPV6=1): rvsd has 2001:db8:10::1
# on VLAN 10 and 2001:db8:20::1 on VLAN 20, the real servers 2001:db8:10::11,
# 2001:db8:20::12 and ::13 with rvsd's VLAN address as their default gateway. Checks: each
# real server's ping -6 of rvsd's address on its own VLAN is answered (rvsd answers their
# neighbour solicitations there) and the other VLAN's address is not on-link; 30 curl -6
# through [2001:db8:1::100]:80 answered by all three, which see only the IPv6 LIPs; 'tcpdump
# -e' on the trunk shows every IPv6 frame of a VLAN's prefix tagged with that VLAN and none
# untagged; the VLANs' counters in rvsadm --workers move; the 50 MB download over IPv6 is
# intact; the IPv4 VIP still works beside it; no frame of the trunk, flooded while rvsd
# starts, is taken for the client port's (unknown_vlan); rvsadm --neigh lists each real
# server's IPv6 address on its VLAN's interface (server.10, server.20) at its eth0's MAC.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/exc-lib.sh
source "$(dirname "$0")/exc-lib.sh"
# shellcheck source=tests/lab/vlan-lib.sh
source "$(dirname "$0")/vlan-lib.sh"

export RVS_LAB_IPV6=1
VIP6=2001:db8:1::100
LIPS6=(2001:db8:10::200 2001:db8:20::200)
RS6=(2001:db8:10::11 2001:db8:20::12 2001:db8:20::13)

lab_up
vlan_trunk_up
# The real servers' IPv6 moves to their VLAN's prefix, rvsd's VLAN address their gateway.
for i in 1 2 3; do
  ns=$RVS_LAB-rs$i
  v=${RS_VLAN[i - 1]}
  ip -n "$ns" -6 addr add "fe80::1$i/64" dev eth0 nodad || die "rs$i link-local address"
  ip -n "$ns" -6 addr add "${RS6[i - 1]}/64" dev eth0 nodad || die "rs$i IPv6 address"
  ip -n "$ns" -6 route replace default via "2001:db8:$v::1" dev eth0 || die "rs$i IPv6 route"
done

vlan_config "$WORKERS" "$CFG_DIR/rvsd.toml"
sed -i -e 's|^addresses = \["198.18.0.1/24"\]|addresses = ["198.18.0.1/24", "2001:db8:1::1/64"]|' \
  -e 's|^addresses = \["198.19.10.1/24"\]|addresses = ["198.19.10.1/24", "2001:db8:10::1/64"]|' \
  -e 's|^addresses = \["198.19.20.1/24"\]|addresses = ["198.19.20.1/24", "2001:db8:20::1/64"]|' \
  "$CFG_DIR/rvsd.toml"
cat >>"$CFG_DIR/rvsd.toml" <<EOF

[[service]]
protocol = "tcp"
address = "[$VIP6]:80"
scheduler = "rr"
local_addresses = ["${LIPS6[0]}", "${LIPS6[1]}"]
real = [ { address = "[${RS6[0]}]:80" }, { address = "[${RS6[1]}]:80" }, { address = "[${RS6[2]}]:80" } ]
EOF
grep -qF '"2001:db8:20::1/64"' "$CFG_DIR/rvsd.toml" || die "could not add the VLANs' IPv6 addresses"
# rs2 floods VLAN 20 with multicast echo requests while rvsd starts. DPDK's af_packet maps
# a queue's ring before it binds the socket to its interface, so in between the client
# port's queues hear the trunk too: rvsd must discard what its queues hold before its
# workers run, or the client port takes these tagged frames for its own (unknown_vlan).
# Not through in_rs: a function runs in a subshell, and killing that subshell would leave
# the ping flooding through the rest of the test (it did, and under load it cost rs2's
# first echo reply). Run directly, $! is timeout itself, which passes the signal to ping.
ip netns exec "$RVS_LAB-rs2" timeout 30 ping -6 -n -q -f -I eth0 ff02::1 >/dev/null 2>&1 &
flood=$!
bg_track "$flood"
rvsd_start "$CFG_DIR/rvsd.toml"
kill "$flood" 2>/dev/null
wait "$flood" 2>/dev/null
for p in $(ip netns pids "$RVS_LAB-rs2"); do
  [[ $(cat "/proc/$p/comm" 2>/dev/null) != ping ]] || die "rs2's ping flood still runs after it was stopped (pid $p)"
done
lb_kernel_guard

cap_start trunk "$RVS_LAB-sw" sw-lb "ip6"

# ping -6 of rvsd's address on the server's own VLAN: rvsd answers the solicitation and the
# echo there, tagged.
ping6_from() {
  local i=$1 dst=$2 out rcv
  out=$(in_rs "$i" ping -6 -n -c 3 -i 0.2 -W 2 "$dst" 2>&1)
  rcv=$(sed -n 's/.* \([0-9][0-9]*\) received.*/\1/p' <<<"$out")
  assert_eq "rs$i: ping -6 $dst replies" 3 "${rcv:-none}"
  [[ ${rcv:-0} == 3 ]] || indent <<<"$out"
}
wait_for 10 "rs1 reaches 2001:db8:10::1" in_rs 1 ping -6 -n -c 1 -W 1 2001:db8:10::1 >/dev/null 2>&1 || true
ping6_from 1 2001:db8:10::1
ping6_from 2 2001:db8:20::1
ping6_from 3 2001:db8:20::1
lbmac=$(mac_of "$NS_LB" lb-s)
assert_contains "rs1's neighbour entry for rvsd's VLAN 10 address" "lladdr $lbmac" \
  "$(in_rs 1 ip -6 neigh show 2001:db8:10::1)"
# VLAN 20's address is rvsd's too, but not on VLAN 10's link: rvsd does not answer rs1's
# solicitation for it there (it is reached through the gateway, i.e. routed).
in_rs 1 ip -6 route add 2001:db8:20::1/128 dev eth0 2>/dev/null
in_rs 1 ping -6 -n -c 1 -W 1 2001:db8:20::1 >/dev/null 2>&1
assert_not_contains "rs1's neighbour entry for VLAN 20's address (on VLAN 10)" "lladdr" \
  "$(in_rs 1 ip -6 neigh show 2001:db8:20::1)"
in_rs 1 ip -6 route del 2001:db8:20::1/128 dev eth0 2>/dev/null

for i in 1 2 3; do : >"$STATE/rs$i/access.log"; done
say "30 curl -6 through [$VIP6]:80"
bodies=$(for _ in $(seq 30); do in_client curl -6 -s --max-time 5 "http://[$VIP6]/" || echo FAIL; done)
assert_eq "curl -6 failures" 0 "$(count_of FAIL "$bodies")"
for i in 1 2 3; do
  if ((WORKERS == 1)); then
    assert_eq "curl -6 answered by rs$i" 10 "$(count_of "rs$i" "$bodies")"
  else
    assert_range "curl -6 answered by rs$i" 6 14 "$(count_of "rs$i" "$bodies")"
  fi
done
peers=$(cat "$STATE"/rs[123]/access.log | awk '{print $1}' | sort -u | tr '\n' ' ')
say "real servers' peers: $peers"
assert_eq "peers other than the IPv6 LIPs" 0 \
  "$(cat "$STATE"/rs[123]/access.log | awk '{print $1}' | grep -cvxE "${LIPS6[0]}|${LIPS6[1]}")"

say "curl through the IPv4 VIP beside it"
assert_contains "curl $VIP" "rs" "$(in_client curl -s --max-time 5 "http://$VIP/")"

want=$(cat "$STATE/big.sha256")
dl=$CFG_DIR/big6
in_client curl -6 -s --max-time 120 -o "$dl" -w '%{http_code} %{size_download}\n' "http://[$VIP6]/big.bin" >"$CFG_DIR/curl6" 2>&1
assert_eq "download -6: status and size" "200 $((50 * 1024 * 1024))" "$(cat "$CFG_DIR/curl6")"
assert_eq "download -6: sha256" "$want" "$(sha256sum "$dl" 2>/dev/null | awk '{print $1}')"
rm -f "$dl"
sleep 0.5
cap_stop trunk

tr=$(tcpdump -r "$CFG_DIR/trunk.pcap" -e -n 2>/dev/null)
indent <<<"$(grep -m 3 'vlan 10' <<<"$tr"; grep -m 3 'vlan 20' <<<"$tr")"
assert_eq "untagged IPv6 frames naming 2001:db8:10:: or 2001:db8:20::" 0 \
  "$(grep -v ' vlan [0-9]' <<<"$tr" | grep -cE '2001:db8:(10|20)::')"
assert_eq "VLAN 10 frames naming rs2/rs3" 0 "$(grep ' vlan 10,' <<<"$tr" | grep -cE '2001:db8:20::1[23]')"
assert_eq "VLAN 20 frames naming rs1" 0 "$(grep ' vlan 20,' <<<"$tr" | grep -cF '2001:db8:10::11')"
assert_ge "VLAN 10: SYNs from a LIP to rs1" 1 \
  "$(grep ' vlan 10,' <<<"$tr" | grep -cE "2001:db8:(10|20)::200\.[0-9]+ > 2001:db8:10::11\.80: Flags \[S\]")"
assert_ge "VLAN 20: SYNs from a LIP to rs2/rs3" 1 \
  "$(grep ' vlan 20,' <<<"$tr" | grep -cE "2001:db8:(10|20)::200\.[0-9]+ > 2001:db8:20::1[23]\.80: Flags \[S\]")"
assert_ge "VLAN 10: rvsd's neighbour advertisements" 1 \
  "$(grep ' vlan 10,' <<<"$tr" | grep -cE '2001:db8:10::1 > .*neighbor advertisement')"
assert_ge "VLAN 20: echo replies from rvsd" 3 \
  "$(grep ' vlan 20,' <<<"$tr" | grep -cE '2001:db8:20::1 > 2001:db8:20::1[23]: ICMP6, echo reply')"

w=$(rvsadm --workers 2>&1)
read -r rx10 _ tx10 _ _ <<<"$(vlan_row "$w" server 10)"
read -r rx20 _ tx20 _ _ <<<"$(vlan_row "$w" server 20)"
assert_gt "VLAN 10 rx packets" 40 "${rx10:-}"
assert_gt "VLAN 10 tx packets" 40 "${tx10:-}"
assert_gt "VLAN 20 rx packets" 40 "${rx20:-}"
assert_gt "VLAN 20 tx packets" 40 "${tx20:-}"
assert_eq "unknown_vlan drops" 0 "$(drop_counter "$w" unknown_vlan)"

# The neighbour tables: each real server resolved by Neighbor Discovery on its VLAN.
neigh=$(rvsadm --neigh 2>&1)
indent <<<"$neigh"
for i in 1 2 3; do
  mac=$(ip -n "$RVS_LAB-rs$i" -br link show eth0 | awk '{print $3}')
  assert_eq "rvsadm --neigh: rs$i's IPv6 on server.${RS_VLAN[i - 1]}" 1 \
    "$(grep -cxE "${RS6[i - 1]} dev server\.${RS_VLAN[i - 1]} lladdr $mac (REACHABLE|STALE)" <<<"$neigh")"
done
finish
