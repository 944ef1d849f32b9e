#!/usr/bin/env bash
# IP fragments through a UDP VIP: 3,000-byte datagrams, which the client's kernel sends as
# three fragments each, reach the UDP echo servers and come back intact, IPv6 and IPv4.
#
# IPv6 ([2001:db8:1::100]:53): rvsd steers the fragments (docs/ipv6.md, "Fragments"): a
# capture on the real servers' side holds them as rvsd forwarded them (from the LIP), the
# later fragments counted as `fragment_steered`. Fragments whose first never comes are held,
# then dropped as `fragment_timeout` (scapy sends such orphans).
#
# IPv4 (198.18.0.100:53): af_packet's fanout group (the PMD sets PACKET_FANOUT_FLAG_DEFRAG)
# reassembles IPv4 fragments in the kernel before rvsd sees them, as IPVS's netfilter defrag
# does; with 4 KB ring frames (`framesz=4096`, rvsd sizes its mbufs to match) the whole
# datagram reaches rvsd, which sends it on as fragments that fit the 1500-byte egress MTU, as
# a router would (`fragmented`); the capture on the servers' side holds those fragments.
# (Steering of IPv4 fragments as such is unit-tested: pipeline/frag_tests.rs.)
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

export RVS_LAB_IPV6=1
VIP6=2001:db8:1::100
LIP6=2001:db8:2::200
COUNT=200

lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
sed -i -e 's|^addresses = \["198.18.0.1/24"\]|addresses = ["198.18.0.1/24", "2001:db8:1::1/64"]|' \
  -e 's|^addresses = \["198.19.0.1/24"\]|addresses = ["198.19.0.1/24", "2001:db8:2::1/64"]|' "$CFG_DIR/rvsd.toml"
cat >>"$CFG_DIR/rvsd.toml" <<EOF

[[service]]
protocol = "udp"
address = "[$VIP6]:53"
scheduler = "rr"
local_addresses = ["$LIP6"]
real = [ { address = "[2001:db8:2::11]:5353" }, { address = "[2001:db8:2::12]:5353" }, { address = "[2001:db8:2::13]:5353" } ]
EOF
grep -qF "2001:db8:2::1/64" "$CFG_DIR/rvsd.toml" || die "could not add the IPv6 port addresses"
# 4 KB ring frames: a datagram the kernel reassembled fits one.
sed -i -e 's|framecnt=4096"|framecnt=2048,framesz=4096"|' "$CFG_DIR/rvsd.toml"
[[ $(grep -c 'framesz=4096' "$CFG_DIR/rvsd.toml") == 2 ]] || die "could not set framesz"
rvsd_start "$CFG_DIR/rvsd.toml"
wait_for 10 "ping -6 the VIP" in_client ping -6 -n -c 1 -W 1 "$VIP6" >/dev/null 2>&1 || true
# Neighbours resolved on both sides before counting (a burst into an unresolved next hop may
# lose datagrams by design).
udp_burst --dst "$VIP6" --port 53 --count 6 --sports 6 --timeout 1 >/dev/null 2>&1

cap_start srv "$RVS_LAB-sw" sw-lb "ip6 and ip6[6] == 44"
res=$(udp_burst --dst "$VIP6" --port 53 --count "$COUNT" --size 3000 --sports 8 --window 16 --timeout 5)
say "udp_burst -6 --size 3000: $res"
cap_stop srv
assert_eq "3,000-byte datagrams echoed intact through [$VIP6]:53" "$COUNT" "$(json_field "$res" received)"
assert_eq "corrupted" 0 "$(json_field "$res" corrupted)"
assert_eq "replies from another address than the VIP" 0 "$(json_field "$res" wrong_peer)"

# The server side saw fragments: the client's from the LIP, the echoes to it.
frags=$(tcpdump -n -r "$CFG_DIR/srv.pcap" 2>/dev/null)
to_rs=$(grep -c "IP6 $LIP6 > 2001:db8:2::1[123]: frag (" <<<"$frags")
from_rs=$(grep -c "IP6 2001:db8:2::1[123] > $LIP6: frag (" <<<"$frags")
head -n 3 <<<"$frags" | indent
assert_ge "fragments rvsd sent to the real servers (from the LIP)" $((3 * COUNT)) "$to_rs"
assert_ge "fragments the real servers sent back" $((3 * COUNT)) "$from_rs"
assert_not_contains "no fragment from the client's address on the server side" "2001:db8:1::10 >" "$frags"

w=$(rvsadm --workers 2>&1)
assert_ge "fragment_steered" $((4 * COUNT)) "$(event_counter "$w" fragment_steered)"
for r in fragment fragment_invalid fragment_table_full fragment_held_full; do
  assert_eq "drops $r" 0 "$(drop_counter "$w" "$r")"
done

# IPv4: whole datagrams from the kernel's defrag, fragmented again by rvsd.
udp_burst --dst "$VIP" --port 53 --count 6 --sports 6 --timeout 1 >/dev/null 2>&1
cap_start srv4 "$RVS_LAB-sw" sw-lb "ip and (ip[6:2] & 0x3fff != 0)"
res=$(udp_burst --dst "$VIP" --port 53 --count "$COUNT" --size 3000 --sports 8 --window 16 --timeout 5)
say "udp_burst --size 3000: $res"
cap_stop srv4
assert_eq "3,000-byte datagrams echoed intact through $VIP:53" "$COUNT" "$(json_field "$res" received)"
assert_eq "corrupted (IPv4)" 0 "$(json_field "$res" corrupted)"
frags4=$(tcpdump -n -r "$CFG_DIR/srv4.pcap" 2>/dev/null)
head -n 3 <<<"$frags4" | indent
assert_ge "IPv4 fragments rvsd sent to the real servers (from a LIP)" $((3 * COUNT)) \
  "$(grep -cE "IP 198\.19\.0\.20[01](\.[0-9]+)? > 198\.19\.0\.1[123]" <<<"$frags4")"
w=$(rvsadm --workers 2>&1)
assert_ge "fragmented (rvsd's own fragmenting, both ways)" $((2 * COUNT)) "$(event_counter "$w" fragmented)"
assert_eq "drops too_big" 0 "$(drop_counter "$w" too_big)"

# Orphans: later fragments of a datagram whose first never comes are held, then dropped.
in_client "$PY" - "$VIP6" <<'EOF'
import sys
from scapy.all import IPv6, IPv6ExtHdrFragment, Raw, send, conf
conf.verb = 0
for i in range(3):
    send(IPv6(src="2001:db8:1::10", dst=sys.argv[1]) /
         IPv6ExtHdrFragment(nh=17, offset=185, m=0, id=0x5eed0000 + i) / Raw(b"x" * 64))
EOF
wait_for 15 "fragment_timeout 3" bash -c "[[ \$($RVSADM --workers 2>/dev/null | awk '\$1 == \"fragment_timeout\" {print \$2}') == 3 ]]" ||
  true
assert_eq "drops fragment_timeout" 3 "$(drop_counter "$(rvsadm --workers 2>&1)" fragment_timeout)"

finish
