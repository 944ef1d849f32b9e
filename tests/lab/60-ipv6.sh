#!/usr/bin/env bash
# IPv6 FULLNAT end to end (RVS_LAB_IPV6=1: the lab's namespaces get 2001:db8:: addresses next
# to the IPv4 ones): rvsd's own IPv6 addresses answer ping -6 (their neighbour solicitations
# answered by rvsd), and so does the IPv6 VIP; 30 curl -6 through [2001:db8:1::100]:80 spread
# over rs1..3, which see only the IPv6 LIPs; wrk -6 with no errors; a service added with rvsadm's bracket syntax
# works and -Ln/-Lnc print brackets; the 50 MB download is intact (sha256); 500 UDP
# datagrams through [VIP]:53 come back; a real server's ICMPv6 port unreachable reaches the
# client as ECONNREFUSED; the IPv4 VIP still works beside it.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

export RVS_LAB_IPV6=1
VIP6=2001:db8:1::100
LB6=2001:db8:1::1
LIPS6=(2001:db8:2::200 2001:db8:2::201)

lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
sed -i -e 's|^addresses = \["198.18.0.1/24"\]|addresses = ["198.18.0.1/24", "2001:db8:1::1/64"]|' \
  -e 's|^addresses = \["198.19.0.1/24"\]|addresses = ["198.19.0.1/24", "2001:db8:2::1/64"]|' "$CFG_DIR/rvsd.toml"
cat >>"$CFG_DIR/rvsd.toml" <<EOF

[[service]]
protocol = "tcp"
address = "[$VIP6]:80"
scheduler = "rr"
local_addresses = ["${LIPS6[0]}", "${LIPS6[1]}"]
real = [ { address = "[2001:db8:2::11]:80" }, { address = "[2001:db8:2::12]:80" }, { address = "[2001:db8:2::13]:80" } ]

[[service]]
protocol = "udp"
address = "[$VIP6]:53"
scheduler = "rr"
local_addresses = ["${LIPS6[0]}", "${LIPS6[1]}"]
real = [ { address = "[2001:db8:2::11]:5353" }, { address = "[2001:db8:2::12]:5353" }, { address = "[2001:db8:2::13]:5353" } ]

# No listener on 5354: the real servers answer with ICMPv6 port unreachable.
[[service]]
protocol = "udp"
address = "[$VIP6]:54"
scheduler = "rr"
local_addresses = ["${LIPS6[0]}"]
real = [ { address = "[2001:db8:2::11]:5354" } ]
EOF
grep -qF "2001:db8:2::1/64" "$CFG_DIR/rvsd.toml" || die "could not add the IPv6 port addresses"
rvsd_start "$CFG_DIR/rvsd.toml"

# ping -6: rvsd answers the client's neighbour solicitation for its address, then the echo.
ping6_check() {
  local out rcv
  out=$(in_client ping -6 -n -c "$2" -i 0.2 -W 2 "$1" 2>&1)
  rcv=$(sed -n 's/.* \([0-9][0-9]*\) received.*/\1/p' <<<"$out")
  assert_eq "ping -6 $1: replies" "$2" "${rcv:-none}"
  [[ ${rcv:-0} == "$2" ]] || indent <<<"$out"
}
wait_for 10 "ping -6 $LB6" in_client ping -6 -n -c 1 -W 1 "$LB6" >/dev/null 2>&1 || true
ping6_check "$LB6" 3
ping6_check "$VIP6" 5
assert_contains "client's neighbour entry for rvsd" "lladdr 02:72:76:00:01:01" "$(in_client ip -6 neigh show "$LB6")"

# -Ln with ipvsadm's brackets.
ln=$(rvsadm -Ln 2>&1)
assert_contains "-Ln" "TCP  [$VIP6]:80 rr" "$ln"
assert_contains "-Ln" "-> [2001:db8:2::11]:80" "$ln"
assert_contains "-Ln" "UDP  [$VIP6]:53 rr" "$ln"

# 30 curl -6: rr over the three real servers (each worker has its own rr position).
bodies=$(for _ in $(seq 30); do in_client curl -6 -s --max-time 5 "http://[$VIP6]/" || echo FAIL; done)
for rs in rs1 rs2 rs3; do
  if ((WORKERS == 1)); then
    assert_eq "curl -6 answered by $rs" 10 "$(count_of "$rs" "$bodies")"
  else
    assert_range "curl -6 answered by $rs" 8 12 "$(count_of "$rs" "$bodies")"
  fi
done
assert_eq "curl -6 failures" 0 "$(count_of FAIL "$bodies")"
# wrk over IPv6: keep-alive load through the VIP, no socket errors, no non-2xx answers.
out=$(in_client timeout 40 wrk -t1 -c20 -d5s --timeout 5s "http://[$VIP6]/" 2>&1)
rc=$?
indent <<<"$out"
assert_eq "wrk -6 exit status" 0 "$rc"
requests=$(sed -n 's/^ *\([0-9][0-9]*\) requests in .*/\1/p' <<<"$out" | head -n1)
assert_gt "wrk -6 requests completed" 100 "${requests:-0}"
assert_not_contains "wrk -6 output" "Socket errors" "$out"
assert_not_contains "wrk -6 output" "Non-2xx" "$out"
# The real servers saw only the IPv6 LIPs, never the client.
peers=$(cat "$STATE"/rs[123]/access.log | awk '{print $1}' | sort -u | tr '\n' ' ')
say "real servers' peers: $peers"
assert_not_contains "real servers' peers" "2001:db8:1::10" "$peers"
assert_contains "real servers' peers" "2001:db8:2::20" "$peers"

# -Lnc while a connection is open: brackets on every address.
in_client curl -6 -s --max-time 20 --limit-rate 2M -o /dev/null "http://[$VIP6]/big.bin" &
bg_track $!
sleep 1
conns=$(conn_lines | grep -F "[$VIP6]:80" | grep ESTABLISHED)
assert_contains "-Lnc" "[2001:db8:1::10]:" "$conns"
assert_contains "-Lnc" "[2001:db8:2::20" "$conns"

# rvsadm -A/-a/-P with brackets: a second service, to rs2 only.
assert_ok "rvsadm -A -t [$VIP6]:8080" rvsadm -A -t "[$VIP6]:8080" -s rr
assert_ok "rvsadm -P [$VIP6]:8080 -z ${LIPS6[1]}" rvsadm -P -t "[$VIP6]:8080" -z "${LIPS6[1]}"
assert_ok "rvsadm -a [2001:db8:2::12]:80" rvsadm -a -t "[$VIP6]:8080" -r "[2001:db8:2::12]:80" -b
assert_eq "curl -6 [$VIP6]:8080" rs2 "$(in_client curl -6 -s --max-time 5 "http://[$VIP6]:8080/")"
out=$(rvsadm -a -t "[$VIP6]:8080" -r 198.19.0.11:80 -g 2>&1)
assert_contains "an IPv4 DR real server in an IPv6 service is refused (NAT64 is FULLNAT only)" "address families differ" "$out"

# The 50 MB download through the IPv6 VIP.
want=$(cat "$STATE/big.sha256")
dl=$CFG_DIR/big6
in_client curl -6 -s --max-time 120 -o "$dl" -w '%{http_code} %{size_download}\n' "http://[$VIP6]/big.bin" >"$CFG_DIR/curl6" 2>&1
assert_eq "download -6: status and size" "200 $((50 * 1024 * 1024))" "$(cat "$CFG_DIR/curl6")"
assert_eq "download -6: sha256" "$want" "$(sha256sum "$dl" 2>/dev/null | awk '{print $1}')"
rm -f "$dl"

# UDP through the IPv6 VIP.
res=$(udp_burst --dst "$VIP6" --port 53 --count 500 --sports 8 --window 32 --timeout 5)
say "udp_burst -6: $res"
assert_eq "UDP datagrams echoed intact" 500 "$(json_field "$res" received)"
assert_eq "UDP replies from another address than the VIP" 0 "$(json_field "$res" wrong_peer)"

# A real server's port unreachable reaches the client translated: its socket sees ECONNREFUSED.
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
assert_eq "UDP to a port without listener through [$VIP6]:54" ECONNREFUSED "$refused"
assert_ge "icmp_error_forwarded" 1 "$(event_counter "$(rvsadm --workers 2>&1)" icmp_error_forwarded)"

# IPv4 beside it.
assert_contains "curl -4 to the IPv4 VIP" "rs" "$(in_client curl -4 -s --max-time 5 "http://$VIP/")"

w=$(rvsadm --workers 2>&1)
for r in bad_ipv6_header ipv6_ext_chain icmpv6_invalid; do
  assert_eq "drops $r" 0 "$(drop_counter "$w" "$r")"
done

finish
