#!/usr/bin/env bash
# Path MTU discovery through rvsd, IPv4 and IPv6: a router on the server side whose path to
# the real server (and back to the LIPs) has an MTU of 1400 (IPv4) / 1280 (IPv6), while
# every interface has 1500, so no host can learn the narrow hop from its own MTU or MSS.
# The 50 MB download and a 50 MB upload (curl -T, stored by nginx) complete intact through
# the VIP in both families: the client's too-big segments make the router send "fragmentation
# needed" / "packet too big" to the LIP, which rvsd translates and sends to the client (a
# capture on the client sees it from the VIP, quoting its own segment, with MTU 1400 / 1280);
# the real server's too-big replies are answered by the router directly.
#
#   client --- rvsd --- br0 --- rs1 198.19.0.11 / 2001:db8:2::11
#                        |        (lo: 198.19.1.11, 2001:db8:3::11: the "far" real server)
#                        +--- rtr 198.19.0.254 / 2001:db8:2::fe: routes 198.19.1.11 and the
#                             LIPs with mtu lock 1400, 2001:db8:3::11 and the LIPs with 1280
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

export RVS_LAB_IPV6=1
VIP6=2001:db8:1::100
LIP4=198.19.0.200
LIP6=2001:db8:2::200
FAR4=198.19.1.11
FAR6=2001:db8:3::11
RTR4=198.19.0.254
RTR6=2001:db8:2::fe
NS_RTR=$RVS_LAB-rtr
NS_SW=$RVS_LAB-sw
MB=50

lab_up

# The router, one-armed on the server-side bridge.
ip netns add "$NS_RTR" || die "cannot create $NS_RTR"
ip netns exec "$NS_RTR" ip link set lo up
ip link add eth0 netns "$NS_RTR" address 02:72:76:00:03:fe type veth peer name sw-rtr netns "$NS_SW" ||
  die "cannot create the router's veth"
ip -n "$NS_SW" link set sw-rtr master br0
for f in rx tx sg tso gso gro; do
  ip netns exec "$NS_SW" ethtool -K sw-rtr "$f" off >/dev/null 2>&1
  ip netns exec "$NS_RTR" ethtool -K eth0 "$f" off >/dev/null 2>&1
done
ip -n "$NS_SW" link set sw-rtr up
in_rtr() { ip netns exec "$NS_RTR" "$@"; }
for k in net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0 \
  net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.eth0.disable_ipv6=0 net.ipv6.conf.all.forwarding=1 \
  net.ipv6.conf.eth0.accept_ra=0 net.ipv6.conf.eth0.dad_transmits=0 net.ipv4.icmp_ratelimit=0 \
  net.ipv6.icmp.ratelimit=0; do
  in_rtr sysctl -qw "$k" || say "note: sysctl $k failed"
done
in_rtr ip link set eth0 up
in_rtr ip addr add "$RTR4/24" dev eth0
in_rtr ip -6 addr add "$RTR6/64" dev eth0 nodad
# The narrow hop: forwarded packets honour a route's locked MTU.
in_rtr ip route add "$FAR4/32" via 198.19.0.11 dev eth0 mtu lock 1400
in_rtr ip route add 198.19.0.200/31 dev eth0 mtu lock 1400
in_rtr ip -6 route add "$FAR6/128" via 2001:db8:2::11 dev eth0 mtu lock 1280
in_rtr ip -6 route add 2001:db8:2::200/127 dev eth0 mtu lock 1280

# rs1 answers on its far addresses too (nginx listens on any), and sends what it sends from
# them through the router; no redirect takes the router out of the path.
in_rs 1 ip addr add "$FAR4/32" dev lo
in_rs 1 ip -6 addr add "$FAR6/128" dev lo
in_rs 1 ip rule add from "$FAR4" table 100
in_rs 1 ip route add default via "$RTR4" dev eth0 table 100
in_rs 1 ip -6 rule add from "$FAR6" table 100
in_rs 1 ip -6 route add default via "$RTR6" dev eth0 table 100
in_rs 1 sysctl -qw net.ipv4.conf.all.accept_redirects=0 net.ipv4.conf.eth0.accept_redirects=0 \
  net.ipv6.conf.all.accept_redirects=0 net.ipv6.conf.eth0.accept_redirects=0

make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
sed -i -e 's|^addresses = \["198.18.0.1/24"\]|addresses = ["198.18.0.1/24", "2001:db8:1::1/64"]|' \
  -e 's|^addresses = \["198.19.0.1/24"\]|addresses = ["198.19.0.1/24", "2001:db8:2::1/64"]|' "$CFG_DIR/rvsd.toml"
cat >>"$CFG_DIR/rvsd.toml" <<EOF

[[route]]
prefix = "198.19.1.0/24"
via = "$RTR4"

[[route]]
prefix = "2001:db8:3::/64"
via = "$RTR6"

[[service]]
protocol = "tcp"
address = "$VIP:81"
scheduler = "rr"
local_addresses = ["$LIP4"]
real = [ { address = "$FAR4:80" } ]

[[service]]
protocol = "tcp"
address = "[$VIP6]:81"
scheduler = "rr"
local_addresses = ["$LIP6"]
real = [ { address = "[$FAR6]:80" } ]
EOF
grep -qF "2001:db8:2::1/64" "$CFG_DIR/rvsd.toml" || die "could not add the IPv6 port addresses"
rvsd_start "$CFG_DIR/rvsd.toml"

# The router's path works and is narrow: a 1372-byte DF ping passes, a 1373-byte one does not.
assert_ok "rs1 reaches the router" in_rs 1 ping -n -c 1 -W 2 -I "$FAR4" "$RTR4"
assert_ok "the router sends 1400-byte DF packets to $FAR4" in_rtr ping -n -c 1 -W 2 -M "do" -s 1372 "$FAR4"
if in_rtr ping -n -c 1 -W 2 -M "do" -s 1373 "$FAR4" >/dev/null 2>&1; then
  fail "a 1401-byte DF packet to $FAR4 passed the narrow hop"
else
  pass "a 1401-byte DF packet to $FAR4 does not pass the narrow hop"
fi

want=$(cat "$STATE/big.sha256")
cap_start client "$RVS_LAB-client" c0 "icmp or icmp6"
cap_start rtr "$NS_RTR" eth0 "icmp or icmp6 or greater 1400"

# family URL-HOST: the upload and the download through VIP:81, both intact.
transfer() {
  local fam=$1 host=$2 out code
  # The upload first: once rs1 has learned the narrow hop (the download), it advertises an
  # MSS that fits it, and the client would never send a segment too big.
  rm -f "$STATE/rs1/up/pmtu$fam"
  code=$(in_client curl "-$fam" -s --max-time 120 -T "$STATE/www/big.bin" -o /dev/null -w '%{http_code}' \
    "http://$host:81/up/pmtu$fam" 2>&1)
  assert_eq "IPv$fam upload (curl -T): status" 201 "$code"
  assert_eq "IPv$fam upload: sha256 of what rs1 stored" "$want" \
    "$(sha256sum "$STATE/rs1/up/pmtu$fam" 2>/dev/null | awk '{print $1}')"
  rm -f "$STATE/rs1/up/pmtu$fam"
  out=$CFG_DIR/dl$fam
  code=$(in_client curl "-$fam" -s --max-time 120 -o "$out" -w '%{http_code} %{size_download}' "http://$host:81/big.bin" 2>&1)
  assert_eq "IPv$fam download: status and size" "200 $((MB * 1024 * 1024))" "$code"
  assert_eq "IPv$fam download: sha256" "$want" "$(sha256sum "$out" 2>/dev/null | awk '{print $1}')"
  rm -f "$out"
}
transfer 4 "$VIP"
transfer 6 "[$VIP6]"
cap_stop client rtr
say "router: $(tcpdump -n -r "$CFG_DIR/rtr.pcap" 'icmp or icmp6' 2>/dev/null | wc -l) ICMP, $(tcpdump -n -r "$CFG_DIR/rtr.pcap" 'greater 1400' 2>/dev/null | wc -l) frames over 1400 bytes"
tcpdump -n -r "$CFG_DIR/rtr.pcap" 'icmp or icmp6' 2>/dev/null | head -n 4 | indent

# What the client saw: the translated errors, from the VIP, quoting its own segments to VIP:81.
errs4=$(tcpdump -n -v -r "$CFG_DIR/client.pcap" 'icmp[0] == 3 and icmp[1] == 4' 2>/dev/null)
say "client capture, IPv4 errors: $(grep -c 'need to frag' <<<"$errs4")"
head -n 4 <<<"$errs4" | indent
assert_contains "fragmentation needed from the VIP" "$VIP > $CLIENT_IP: ICMP $VIP unreachable - need to frag (mtu 1400)" "$errs4"
assert_contains "it quotes the client's segment to VIP:81" "> $VIP.81: Flags" "$errs4"
assert_eq "every IPv4 error from the VIP with MTU 1400" "$(grep -c 'need to frag' <<<"$errs4")" \
  "$(grep -c "$VIP > $CLIENT_IP: ICMP $VIP unreachable - need to frag (mtu 1400)" <<<"$errs4")"
# tshark decodes the quoted IPv6 packet: outer and quoted addresses, quoted ports, MTU.
errs6=$(tshark -r "$CFG_DIR/client.pcap" -Y 'icmpv6.type == 2' -T fields -E separator=' ' \
  -e ipv6.src -e ipv6.dst -e icmpv6.mtu -e tcp.dstport 2>/dev/null)
say "client capture, IPv6 errors: $(grep -c . <<<"$errs6")"
head -n 2 <<<"$errs6" | indent
assert_contains "packet too big from the VIP with MTU 1280, quoting the client's segment to [VIP]:81" \
  "$VIP6,2001:db8:1::10 2001:db8:1::10,$VIP6 1280 81" "$errs6"
assert_eq "every IPv6 error from the VIP with MTU 1280" "$(grep -c . <<<"$errs6")" \
  "$(grep -c "^$VIP6,2001:db8:1::10 2001:db8:1::10,$VIP6 1280 81$" <<<"$errs6")"

w=$(rvsadm --workers 2>&1)
assert_ge "icmp_error_forwarded" 2 "$(event_counter "$w" icmp_error_forwarded)"
assert_eq "drops icmp_no_session" 0 "$(drop_counter "$w" icmp_no_session)"
assert_eq "drops icmp_bad_quote" 0 "$(drop_counter "$w" icmp_bad_quote)"

finish
