#!/usr/bin/env bash
# NAT64: an IPv6 VIP served by the lab's IPv4 nginx real servers (RVS_LAB_IPV6=1 gives the
# client its 2001:db8:1::10). 30 curl -6 through [2001:db8:1::100]:80 spread over rs1..3,
# which see only the IPv4 LIPs; -Ln/-Lnc show the IPv6 client and VIP with IPv4 LIPs and real
# servers; the 50 MB download is intact (sha256); 500 UDP datagrams through [VIP]:53 come
# back from the IPv4 echo servers; UDP to an IPv4 port without listener gives the IPv6
# client ECONNREFUSED (ICMPv4 port unreachable translated to ICMPv6); the TOA option on
# the first server-side segment of every connection carries the client's IPv6 address and
# port (kind 254, length 20; captured on the real servers); PROXY v1 and v2 headers carry the
# client's IPv6 address to nginx (its pp.log); rvsadm adds a NAT64 service and
# FULLNAT real server, refuses a DR one; rvs-ctrl -t takes a keepalived.conf NAT64 service.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

export RVS_LAB_IPV6=1
VIP6=2001:db8:1::100
CLIENT6=2001:db8:1::10

lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
sed -i -e 's|^addresses = \["198.18.0.1/24"\]|addresses = ["198.18.0.1/24", "2001:db8:1::1/64"]|' \
  -e 's|^addresses = \["198.19.0.1/24"\]|addresses = ["198.19.0.1/24", "2001:db8:2::1/64"]|' "$CFG_DIR/rvsd.toml"
cat >>"$CFG_DIR/rvsd.toml" <<EOF

[[service]]
protocol = "tcp"
address = "[$VIP6]:80"
scheduler = "rr"
toa = true
local_addresses = ["198.19.0.200", "198.19.0.201"]
real = [ { address = "198.19.0.11:80" }, { address = "198.19.0.12:80" }, { address = "198.19.0.13:80" } ]

[[service]]
protocol = "udp"
address = "[$VIP6]:53"
scheduler = "rr"
local_addresses = ["198.19.0.200", "198.19.0.201"]
real = [ { address = "198.19.0.11:5353" }, { address = "198.19.0.12:5353" }, { address = "198.19.0.13:5353" } ]

# PROXY protocol to nginx 'listen 8081 proxy_protocol': v1 on 8081, v2 on 8082.
[[service]]
protocol = "tcp"
address = "[$VIP6]:8081"
scheduler = "rr"
proxy_protocol = "v1"
local_addresses = ["198.19.0.200"]
real = [ { address = "198.19.0.11:8081" }, { address = "198.19.0.12:8081" }, { address = "198.19.0.13:8081" } ]

[[service]]
protocol = "tcp"
address = "[$VIP6]:8082"
scheduler = "rr"
proxy_protocol = "v2"
local_addresses = ["198.19.0.201"]
real = [ { address = "198.19.0.11:8081" }, { address = "198.19.0.12:8081" }, { address = "198.19.0.13:8081" } ]

# No listener on 5354: the real server answers with ICMPv4 port unreachable.
[[service]]
protocol = "udp"
address = "[$VIP6]:54"
scheduler = "rr"
local_addresses = ["198.19.0.200"]
real = [ { address = "198.19.0.11:5354" } ]
EOF
grep -qF "2001:db8:2::1/64" "$CFG_DIR/rvsd.toml" || die "could not add the IPv6 port addresses"
rvsd_start "$CFG_DIR/rvsd.toml"
wait_for 10 "ping -6 $VIP6" in_client ping -6 -n -c 1 -W 1 "$VIP6" >/dev/null 2>&1 || true

ln=$(rvsadm -Ln 2>&1)
assert_contains "-Ln" "TCP  [$VIP6]:80 rr" "$ln"
assert_contains "-Ln: an IPv4 real server under the IPv6 VIP" "-> 198.19.0.11:80" "$ln"

# 30 curl -6 with the captures on: rr over the three IPv4 servers, TOA v6 on each connection.
for n in 1 2 3; do cap_start "toa-rs$n" "$RVS_LAB-rs$n" eth0 "tcp port 80"; done
# shellcheck disable=SC2016
in_client bash -c 'for ((i = 0; i < 30; i++)); do
    r=$(curl -6 -s --max-time 5 -w " %{local_port}" "http://[$1]/")
    if [[ $r =~ ^(rs[0-9])[[:space:]]+([0-9]+)$ ]]; then
      printf "%s %s %s\n" "$2" "${BASH_REMATCH[2]}" "${BASH_REMATCH[1]}"
    else
      printf "%s 0 FAIL\n" "$2"
    fi
  done' _ "$VIP6" "$CLIENT6" >"$CFG_DIR/conns"
sleep 0.5
cap_stop toa-rs1 toa-rs2 toa-rs3
bodies=$(awk '{print $3}' "$CFG_DIR/conns")
for rs in rs1 rs2 rs3; do
  if ((WORKERS == 1)); then
    assert_eq "curl -6 answered by $rs (IPv4)" 10 "$(count_of "$rs" "$bodies")"
  else
    assert_range "curl -6 answered by $rs (IPv4)" 8 12 "$(count_of "$rs" "$bodies")"
  fi
done
assert_eq "curl -6 failures" 0 "$(count_of FAIL "$bodies")"
peers=$(cat "$STATE"/rs[123]/access.log | awk '{print $1}' | sort -u | tr '\n' ' ')
say "real servers' peers: $peers"
assert_not_contains "real servers' peers" "2001:db8" "$peers"
assert_contains "real servers' peers" "198.19.0.20" "$peers"

# The captures: every server-side connection from an IPv4 LIP, its first segment after the
# handshake carrying option 254 of 20 bytes with the client's IPv6 address and port.
verdicts=$(PYTHONPATH="$ROOT/tests/lab" "$PY" - "$CFG_DIR/conns" "$CFG_DIR/toa" <<'PYEOF'
import collections, sys
import tcpcap
conns = [l.split() for l in open(sys.argv[1]) if l.strip()]
want = collections.Counter((a, int(p)) for a, p, body in conns if body != "FAIL")
got = collections.Counter()
problems, server_conns = [], 0
for n in (1, 2, 3):
    segs = tcpcap.read("%s-rs%d.pcap" % (sys.argv[2], n))
    for flow, first in tcpcap.first_segments(segs, dport=80).items():
        server_conns += 1
        where = "rs%d %s:%d" % (n, flow[0], flow[1])
        if not flow[0].startswith("198.19.0.20"):
            problems.append("%s: not from an IPv4 LIP" % where)
        if first is None:
            problems.append("%s: no segment after the SYN" % where)
            continue
        try:
            t = tcpcap.toa(first)
        except ValueError as e:
            problems.append("%s: %s" % (where, e))
            continue
        if t is None:
            problems.append("%s: no TOA on %s" % (where, first.flag_str()))
            continue
        got[t] += 1
print(("OK" if server_conns == sum(want.values()) else "BAD")
      + " server-side connections captured: %d for %d" % (server_conns, sum(want.values())))
print(("OK" if not problems else "BAD") + " first segments with a TOA option: %d %s" % (sum(got.values()), problems[:3]))
print(("OK" if got == want else "BAD") + " TOA addresses = the curls' [%s]:port: %d of %d, e.g. %s"
      % (conns[0][0] if conns else "?", sum((got & want).values()), sum(want.values()), list(got)[:1]))
PYEOF
)
while IFS= read -r line; do
  case $line in
    OK*) pass "${line#OK }" ;;
    *) fail "${line#BAD }" ;;
  esac
done <<<"$verdicts"
assert_ge "toa_inserted" 30 "$(event_counter "$(rvsadm --workers 2>&1)" toa_inserted)"

# -Lnc while a connection is open: the IPv6 client and VIP, an IPv4 LIP and real server.
in_client curl -6 -s --max-time 20 --limit-rate 2M -o /dev/null "http://[$VIP6]/big.bin" &
bg_track $!
sleep 1
conns=$(conn_lines | grep -F "[$VIP6]:80" | grep ESTABLISHED)
assert_contains "-Lnc: the IPv6 client" "[$CLIENT6]:" "$conns"
assert_contains "-Lnc: an IPv4 LIP" " 198.19.0.20" "$conns"

# The 50 MB download through the IPv6 VIP from the IPv4 servers.
want=$(cat "$STATE/big.sha256")
dl=$CFG_DIR/big64
in_client curl -6 -s --max-time 120 -o "$dl" -w '%{http_code} %{size_download}\n' "http://[$VIP6]/big.bin" >"$CFG_DIR/curl64" 2>&1
assert_eq "download through NAT64: status and size" "200 $((50 * 1024 * 1024))" "$(cat "$CFG_DIR/curl64")"
assert_eq "download through NAT64: sha256" "$want" "$(sha256sum "$dl" 2>/dev/null | awk '{print $1}')"
rm -f "$dl"

# UDP through NAT64.
res=$(udp_burst --dst "$VIP6" --port 53 --count 500 --sports 8 --window 32 --timeout 5)
say "udp_burst -6: $res"
assert_eq "UDP datagrams echoed intact by the IPv4 servers" 500 "$(json_field "$res" received)"
assert_eq "UDP replies from another address than the VIP" 0 "$(json_field "$res" wrong_peer)"

# The IPv4 server's port unreachable reaches the IPv6 client as ECONNREFUSED.
# shellcheck disable=SC2016
refused=$(in_client "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect((sys.argv[1], 54))
s.send(b"anyone there?")
try:
    s.recv(100)
    print("reply")
except ConnectionRefusedError:
    print("ECONNREFUSED")
except socket.timeout:
    print("timeout")
' "$VIP6" 2>&1)
assert_eq "UDP to an IPv4 port without listener through [$VIP6]:54" ECONNREFUSED "$refused"
assert_ge "icmp_error_forwarded" 1 "$(event_counter "$(rvsadm --workers 2>&1)" icmp_error_forwarded)"

# PROXY v1 and v2 with the client's IPv6 address: nginx logs it, the TCP peer is a LIP.
for port in 8081 8082; do
  got=$(in_client bash -c 'for i in 1 2 3; do curl -6 -s -o /dev/null --max-time 5 -w "%{http_code} %{local_port}\n" "http://[$1]:$2/"; done' _ "$VIP6" "$port")
  assert_eq "curl -6 [$VIP6]:$port through PROXY: answered" 3 "$(grep -c '^200 ' <<<"$got")"
  sleep 0.3
  for cport in $(awk '{print $2}' <<<"$got"); do
    line=$(cat "$STATE"/rs[123]/pp.log | grep -F "$CLIENT6 $cport " | tail -1)
    assert_contains "PROXY on $port: nginx logs the IPv6 client [$CLIENT6]:$cport with a LIP as peer" "$CLIENT6 $cport 198.19.0.20" "$line"
  done
done
assert_ge "proxy_header_inserted" 6 "$(event_counter "$(rvsadm --workers 2>&1)" proxy_header_inserted)"

# rvsadm: a NAT64 service by hand; FULLNAT accepted, DR refused.
assert_ok "rvsadm -A -t [$VIP6]:8080" rvsadm -A -t "[$VIP6]:8080" -s rr
assert_ok "rvsadm -P [$VIP6]:8080 -z 198.19.0.201" rvsadm -P -t "[$VIP6]:8080" -z 198.19.0.201
assert_ok "rvsadm -a -r 198.19.0.12:80 -b" rvsadm -a -t "[$VIP6]:8080" -r 198.19.0.12:80 -b
assert_eq "curl -6 [$VIP6]:8080" rs2 "$(in_client curl -6 -s --max-time 5 "http://[$VIP6]:8080/")"
out=$(rvsadm -a -t "[$VIP6]:8080" -r 198.19.0.13:80 -g 2>&1)
assert_contains "a DR IPv4 real server in an IPv6 service is refused" "address families differ" "$out"
assert_contains "... saying NAT64 is FULLNAT only" "NAT64" "$out"

# keepalived.conf: a virtual_server with an IPv6 VIP and IPv4 real_servers.
cat >"$CFG_DIR/nat64.conf" <<EOF
local_address_group lips4 {
    198.19.0.200
}
virtual_server $VIP6 80 {
    lb_algo rr
    lb_kind FNAT
    laddr_group_name lips4
    real_server 198.19.0.11 80 {
        TCP_CHECK {
            connect_timeout 2
        }
    }
}
EOF
assert_ok "rvs-ctrl -t takes a NAT64 virtual_server" "$ROOT/target/release/rvs-ctrl" -t -f "$CFG_DIR/nat64.conf"
sed -i 's/lb_kind FNAT/lb_kind DR/' "$CFG_DIR/nat64.conf"
out=$("$ROOT/target/release/rvs-ctrl" -t -f "$CFG_DIR/nat64.conf" 2>&1)
assert_contains "rvs-ctrl -t refuses a DR NAT64 real_server naming its line" "nat64.conf:8:" "$out"
assert_contains "... saying NAT64 is FULLNAT only" "NAT64" "$out"

# IPv4 beside it.
assert_contains "curl -4 to the IPv4 VIP" "rs" "$(in_client curl -4 -s --max-time 5 "http://$VIP/")"
w=$(rvsadm --workers 2>&1)
for r in nat64_untranslatable bad_ipv6_header; do
  assert_eq "drops $r" 0 "$(drop_counter "$w" "$r")"
done

finish
