#!/usr/bin/env bash
# IPv6 DR, NAT and TUN end to end (RVS_LAB_IPV6=1), each set up as an operator would:
#  * DR from a keepalived.conf under rvs-ctrl (an IPv6 virtual_server, lb_kind DR): the real
#    servers hold the VIP on lo (`ip -6 addr add VIP/128 dev lo`; Linux answers neighbour
#    solicitations only for addresses of the interface they arrive on, so no arp_ignore
#    counterpart is needed: checked by soliciting the VIP on the server segment) and answer
#    through a gateway, not rvsd (methods-lib.sh's topology, with IPv6: client c1
#    2001:db8:3::10, gateway 2001:db8:2::254 / 2001:db8:3::1). -Ln shows Route; 30 curl -6
#    reach all three; the access logs show the client's own address; the 50 MB download is
#    intact while rvsd transmits about what it receives from the client (service OutPkts 0);
#    -Lnc shows the sessions, no local address.
#  * NAT with rvsadm -m: the real servers' default route is rvsd (2001:db8:2::1, the lab's);
#    curl -6 reaches all three, access logs show the client, replies come back through rvsd
#    (OutPkts), the 50 MB download is intact; UDP through [VIP]:53 by NAT.
#  * TUN with rvsadm -i: IPv6-in-IPv6 to each real server, decapsulated in userspace
#    (tests/tools/ip6ip6-decap.py: this kernel has no ip6_tunnel) into a TUN device holding the
#    VIP; curl -6, access logs, download intact; an 8 MB upload (PUT) whose 1440-byte
#    segments no longer fit the 1500-byte path once wrapped: rvsd answers ICMPv6 Packet Too
#    Big (1460), the client's route learns it, and the upload arrives intact.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ctrl-lib.sh
source "$(dirname "$0")/ctrl-lib.sh"
# shellcheck source=tests/lab/methods-lib.sh
source "$(dirname "$0")/methods-lib.sh"

export RVS_LAB_IPV6=1
VIP6=2001:db8:1::100
CIP6=2001:db8:1::10
GW6=2001:db8:2::254
RIPS6=(2001:db8:2::11 2001:db8:2::12 2001:db8:2::13)
SVC6="TCP  [$VIP6]:80"
URL6="http://[$VIP6]"

# rvsd from examples/lab.toml without its services (rvs-ctrl and rvsadm fill the table), its
# ports with IPv6 addresses too.
[[ -x $RVS_CTRL ]] || die "rvs-ctrl not built: $RVS_CTRL (cargo build --release)"
lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd-full.toml"
awk '/^\[/ {skip = ($0 == "[[service]]")} !skip' "$CFG_DIR/rvsd-full.toml" >"$CFG_DIR/rvsd.toml"
sed -i -e 's|^addresses = \["198.18.0.1/24"\]|addresses = ["198.18.0.1/24", "2001:db8:1::1/64"]|' \
  -e 's|^addresses = \["198.19.0.1/24"\]|addresses = ["198.19.0.1/24", "2001:db8:2::1/64"]|' "$CFG_DIR/rvsd.toml"
grep -qF "2001:db8:2::1/64" "$CFG_DIR/rvsd.toml" || die "could not add the IPv6 port addresses"
ip -n "$CTRL_NS" addr add "$MGMT_IP/24" dev br0 || die "cannot add $MGMT_IP to $CTRL_NS br0"
rvsd_start "$CFG_DIR/rvsd.toml"

# The gateway of methods-lib.sh, with IPv6 on both of its legs and the client's second leg.
gw_up
gw6_up "$GW6"

# rs_route6 N VIA: real server N's IPv6 default route.
rs_route6() { in_rs "$1" ip -6 route replace default via "$2" dev eth0; }

# curl6_bodies N: N requests to the VIP, one body line each (FAIL on error).
curl6_bodies() {
  local i
  for ((i = 0; i < $1; i++)); do in_client curl -6 -s --max-time 5 "$URL6/" || echo FAIL; done
}

# check_spread WHAT: 30 requests answered by rs1..3 (rr; each worker keeps its own position).
check_spread() {
  local bodies rs
  bodies=$(curl6_bodies 30)
  assert_eq "$1: failed requests" 0 "$(count_of FAIL "$bodies")"
  for rs in rs1 rs2 rs3; do assert_ge "$1: requests answered by $rs" 5 "$(count_of "$rs" "$bodies")"; done
}

# access6 N: the distinct IPv6 peers in real server N's access log.
access6() { awk '$1 ~ /:/ {print $1}' "$STATE/rs$1/access.log" | sort -u | paste -sd' ' -; }

# download6 WHAT: the 50 MB file through the VIP, intact.
download6() {
  local dl=$CFG_DIR/big6
  in_client curl -6 -s --max-time 120 -o "$dl" -w '%{http_code} %{size_download}\n' "$URL6/big.bin" >"$CFG_DIR/curl6" 2>&1
  assert_eq "$1: download status and size" "200 $((50 * 1024 * 1024))" "$(cat "$CFG_DIR/curl6")"
  assert_eq "$1: download sha256" "$(cat "$STATE/big.sha256")" "$(sha256sum "$dl" 2>/dev/null | awk '{print $1}')"
  rm -f "$dl"
}

# ---------------------------------------------------------------- DR (keepalived.conf)
say "DR: real servers with the VIP on lo, default via the gateway"
for n in 1 2 3; do
  in_rs "$n" ip -6 addr add "$VIP6/128" dev lo
  rs_route6 "$n" "$GW6"
done
# Solicit the VIP on the server segment (from the gateway, a host route out of gw-s): no real
# server answers for an address it holds on lo.
in_gw ip -6 route add "$VIP6/128" dev gw-s
in_gw ping -6 -n -c 2 -W 1 "$VIP6" >/dev/null 2>&1
neigh=$(in_gw ip -6 neigh show "$VIP6" dev gw-s)
say "gateway's neighbour entry for the VIP on the server segment: ${neigh:-none}"
assert_not_contains "no real server answers a solicitation for the VIP" "lladdr" "$neigh"
in_gw ip -6 route del "$VIP6/128" dev gw-s
in_gw ip -6 neigh flush dev gw-s >/dev/null 2>&1

{
  kconf_header
  echo "virtual_server $VIP6 80 {"
  echo "    lb_algo rr"
  echo "    lb_kind DR"
  echo "    protocol TCP"
  for ip in "${RIPS6[@]}"; do echo "    real_server $ip 80 { weight 1 }"; done
  echo "}"
} >"$KCONF"
ctrl_start
wait_for 10 "rvs-ctrl's IPv6 DR service in rvsd" bash -c "[[ \$(timeout 5 '$RVSADM' -Ln | grep -c ' Route ') == 3 ]]" ||
  true
listing=$(rvsadm -Ln)
indent <<<"$listing"
assert_contains "-Ln: the IPv6 service from keepalived.conf" "$SVC6 rr" "$listing"
assert_eq "-Ln: Route rows" 3 "$(grep -c ' Route ' <<<"$listing")"
assert_contains "-Ln: a real server by DR" "  -> [2001:db8:2::12]:80" "$listing"

check_spread "DR"
for n in 1 2 3; do assert_eq "DR: rs$n access log, IPv6 peers" "$CIP6" "$(access6 "$n")"; done
# A request on a connection the client holds open for 5 s (nginx keeps it alive), so it is
# open while -Lnc looks, then closed cleanly. (curl's --limit-rate is no such hold: its
# first megabytes can arrive in a fraction of a second.)
in_client timeout 20 bash -c "{ printf 'GET / HTTP/1.1\\r\\nHost: rvs\\r\\n\\r\\n'; sleep 5; } |
  socat -t 2 - 'TCP6:[$VIP6]:80'" >"$CFG_DIR/held" 2>&1 &
slow=$!
bg_track "$slow"
sleep 1
conns=$(conn_lines | grep -F "[$VIP6]:80")
indent <<<"$conns"
assert_contains "DR: -Lnc shows the client's session" "[$CIP6]:" "$conns"
assert_contains "DR: -Lnc: no local address" "[::]:0" "$conns"
assert_contains "DR: -Lnc: established (input-only states)" "ESTABLISHED" "$conns"
wait "$slow"
assert_contains "DR: the held connection's answer" "HTTP/1.1 200" "$(head -1 "$CFG_DIR/held")"

read -r rx0 tx0 < <(rvsd_rx_tx)
read -r in0 out0 < <(svc_in_out "$SVC6")
download6 "DR"
read -r rx1 tx1 < <(rvsd_rx_tx)
read -r in1 out1 < <(svc_in_out "$SVC6")
din=$((in1 - in0))
say "DR download: rvsd rx $((rx1 - rx0)) tx $((tx1 - tx0)) packets, service in $din out $((out1 - out0))"
assert_eq "DR: service OutPkts (replies never reach rvsd)" "$out0" "$out1"
# About the inbound count (the workers' counters are read one after the other: a few apart).
assert_range "DR: rvsd tx packets vs the client's inbound packets" "$((din - 10))" "$((din + 40))" "$((tx1 - tx0))"
assert_range "DR: rvsd rx packets (client side only; 50 MB would be > 34000 frames)" 1 "$((din + 300))" "$((rx1 - rx0))"
assert_eq "DR: drops no_session" 0 "$(drop_counter "$(rvsadm --workers)" no_session)"
ctrl_stop
assert_ok "rvsadm -C" rvsadm -C

# ---------------------------------------------------------------- NAT (rvsadm -m)
say "NAT: the real servers route through rvsd again, the VIP off lo"
for n in 1 2 3; do
  in_rs "$n" ip -6 addr del "$VIP6/128" dev lo
  rs_route6 "$n" 2001:db8:2::1
  : >"$STATE/rs$n/access.log"
done
assert_ok "rvsadm -A -t [$VIP6]:80 -s rr" rvsadm -A -t "[$VIP6]:80" -s rr
assert_ok "rvsadm -A -u [$VIP6]:53 -s rr" rvsadm -A -u "[$VIP6]:53" -s rr
for ip in "${RIPS6[@]}"; do
  assert_ok "rvsadm -a -t [$VIP6]:80 -r [$ip]:80 -m" rvsadm -a -t "[$VIP6]:80" -r "[$ip]:80" -m
  assert_ok "rvsadm -a -u [$VIP6]:53 -r [$ip]:5353 -m" rvsadm -a -u "[$VIP6]:53" -r "[$ip]:5353" -m
done
assert_eq "-Ln: Masq rows" 6 "$(rvsadm -Ln | grep -c ' Masq ')"
check_spread "NAT"
for n in 1 2 3; do
  # Nginx's own reload of its log is not needed: the file was truncated in place.
  assert_eq "NAT: rs$n access log, IPv6 peers" "$CIP6" "$(access6 "$n")"
done
read -r _ out0 < <(svc_in_out "$SVC6")
download6 "NAT"
read -r _ out1 < <(svc_in_out "$SVC6")
assert_gt "NAT: service OutPkts during the download (replies through rvsd)" 30000 "$((out1 - out0))"
res=$(udp_burst --dst "$VIP6" --port 53 --count 300 --sports 8 --window 32 --timeout 5)
say "udp_burst -6 (NAT): $res"
assert_eq "NAT: UDP datagrams echoed intact" 300 "$(json_field "$res" received)"
assert_eq "NAT: UDP replies from another address than the VIP" 0 "$(json_field "$res" wrong_peer)"
conns=$(conn_lines | grep -F "[$VIP6]:")
assert_contains "NAT: -Lnc: no local address" "[::]:0" "$conns"

say "NAT: UDP to a port with no listener: the servers' port unreachable reaches the client"
assert_ok "rvsadm -A -u [$VIP6]:54 -s rr" rvsadm -A -u "[$VIP6]:54" -s rr
for ip in "${RIPS6[@]}"; do
  assert_ok "rvsadm -a -u [$VIP6]:54 -r [$ip]:5454 -m" rvsadm -a -u "[$VIP6]:54" -r "[$ip]:5454" -m
done
res=$(in_client "$PY" - "$VIP6" <<'PY'
import socket, sys
refused = other = 0
for i in range(10):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.connect((sys.argv[1], 54))
    try:
        s.send(b"hello %d" % i)
        s.recv(100)
        other += 1
    except ConnectionRefusedError:
        refused += 1
    except socket.timeout:
        other += 1
    s.close()
print(refused, other)
PY
)
assert_eq "NAT: datagrams refused with ECONNREFUSED (refused, other)" "10 0" "$res"

say "NAT with persistence: -p 60 -M 64 pins the client's /64, -p 60 (a /128) each address"
for i in $(seq 11 21); do in_client ip -6 addr add "2001:db8:1::$i/64" dev c0 nodad; done
# curl6_from ADDR: one request to the VIP from client address ADDR.
curl6_from() { in_client curl -6 -s --max-time 5 --interface "$1" "$URL6/" || echo FAIL; }
assert_ok "rvsadm -E -t [$VIP6]:80 -s rr -p 60 -M 64" rvsadm -E -t "[$VIP6]:80" -s rr -p 60 -M 64
assert_contains "-Ln: persistent with a prefix length" "$SVC6 rr persistent 60 mask 64" "$(rvsadm -Ln)"
assert_contains "-S: -M as a prefix length" "-A -t [$VIP6]:80 -s rr -p 60 -M 64" "$(rvsadm -S -n)"
seen=$(for i in $(seq 10 21); do curl6_from "2001:db8:1::$i"; curl6_from "2001:db8:1::$i"; done)
assert_eq "NAT -M 64: failed requests" 0 "$(count_of FAIL "$seen")"
assert_eq "NAT -M 64: servers answering twelve addresses of one /64" 1 "$(sort -u <<<"$seen" | wc -l)"
# A /128 per client (the /64 template no longer matches): twelve addresses spread
# (rendezvous hashing), each one sticking to its server.
assert_ok "rvsadm -E -t [$VIP6]:80 -s rr -p 60" rvsadm -E -t "[$VIP6]:80" -s rr -p 60
assert_eq "-Ln: persistent, a /128 (no mask shown)" "$SVC6 rr persistent 60" \
  "$(rvsadm -Ln | grep -F "$SVC6" | sed 's/ *$//')"
sticky=0 servers=
for i in $(seq 10 21); do
  one=$(curl6_from "2001:db8:1::$i") two=$(curl6_from "2001:db8:1::$i") three=$(curl6_from "2001:db8:1::$i")
  [[ $one == "$two" && $two == "$three" && $one == rs* ]] && sticky=$((sticky + 1))
  servers+="$one"$'\n'
done
assert_eq "NAT -p 60: client addresses answered by one server each, three times" 12 "$sticky"
assert_ge "NAT -p 60: servers answering twelve addresses" 2 "$(grep -c . <<<"$(sort -u <<<"$servers")")"
# The client's default source address again (the kernel prefers the newest ones).
for i in $(seq 11 21); do in_client ip -6 addr del "2001:db8:1::$i/64" dev c0; done
w=$(rvsadm --workers)
assert_eq "NAT: drops no_session" 0 "$(drop_counter "$w" no_session)"
if ((WORKERS == 2)); then
  redir=$(worker_rows "$w" | awk '{n += $6} END {print n + 0}')
  assert_gt "NAT: packets handed to the session's worker (RedirOut)" 0 "$redir"
fi
assert_ok "rvsadm -C" rvsadm -C

# ---------------------------------------------------------------- TUN (rvsadm -i)
say "TUN: IPv6-in-IPv6 decapsulated into tun6 (VIP) on each real server, default via the gateway"
for n in 1 2 3; do
  rip=${RIPS6[$((n - 1))]}
  # The kernel's own "unrecognized next header" for the tunnel packets is filtered.
  in_rs "$n" nft -f - <<EOF || die "nft in rs$n"
table ip6 ip6ipdrop {
  chain in {
    type filter hook input priority 0; policy accept;
    meta l4proto 41 drop
  }
}
EOF
  in_rs "$n" "$PY" "$ROOT/tests/tools/ip6ip6-decap.py" eth0 "$rip" tun6 "$STATE/rs$n/decap6.pid" \
    </dev/null >"$STATE/rs$n/decap6.log" 2>&1 &
  bg_track $!
  for _ in $(seq 50); do grep -q ready "$STATE/rs$n/decap6.log" 2>/dev/null && break; sleep 0.1; done
  grep -q ready "$STATE/rs$n/decap6.log" || die "ip6ip6-decap did not start on rs$n"
  in_rs "$n" sysctl -qw net.ipv6.conf.tun6.disable_ipv6=0 net.ipv6.conf.tun6.accept_ra=0 >/dev/null
  in_rs "$n" ip link set tun6 up
  in_rs "$n" ip -6 addr add "$VIP6/128" dev tun6 nodad
  rs_route6 "$n" "$GW6"
  : >"$STATE/rs$n/access.log"
done
assert_ok "rvsadm -A -t [$VIP6]:80 -s rr" rvsadm -A -t "[$VIP6]:80" -s rr
for ip in "${RIPS6[@]}"; do
  assert_ok "rvsadm -a -t [$VIP6]:80 -r [$ip]:80 -i" rvsadm -a -t "[$VIP6]:80" -r "[$ip]:80" -i
done
out=$(rvsadm -a -t "[$VIP6]:80" -r "[2001:db8:2::11]:8080" -i --tun-type gue --tun-port 6080 2>&1)
assert_contains "TUN: GUE to an IPv6 real server is refused" "IPv6-in-IPv6" "$out"
assert_eq "-Ln: Tunnel rows" 3 "$(rvsadm -Ln | grep -c ' Tunnel ')"
check_spread "TUN"
for n in 1 2 3; do assert_eq "TUN: rs$n access log, IPv6 peers" "$CIP6" "$(access6 "$n")"; done
download6 "TUN"
# An upload: the client's full-size segments (1500-byte packets) no longer fit once wrapped.
head -c $((8 * 1024 * 1024)) /dev/urandom >"$CFG_DIR/up6.bin"
want=$(sha256sum "$CFG_DIR/up6.bin" | awk '{print $1}')
in_client ip -6 route flush cache >/dev/null 2>&1
code=$(in_client curl -6 -s --max-time 60 -o /dev/null -w '%{http_code}' -T "$CFG_DIR/up6.bin" "$URL6/up/tun6.bin")
if [[ $code == 201 || $code == 204 ]]; then pass "TUN: upload accepted (PUT $code)"; else fail "TUN: upload: HTTP '$code'"; fi
got=$(cat "$STATE"/rs[123]/up/tun6.bin 2>/dev/null | sha256sum | awk '{print $1}')
assert_eq "TUN: uploaded file intact on the real server" "$want" "$got"
w=$(rvsadm --workers)
assert_ge "TUN: Packet Too Big sent to the client (tun_frag_needed)" 1 "$(event_counter "$w" tun_frag_needed)"
assert_contains "TUN: the client's route to the VIP learned the MTU" "mtu 1460" "$(in_client ip -6 route get "$VIP6")"
for n in 1 2 3; do
  [[ -s $STATE/rs$n/decap6.pid ]] && kill -TERM "$(cat "$STATE/rs$n/decap6.pid")" 2>/dev/null
done

w=$(rvsadm --workers)
for r in bad_ipv6_header ipv6_ext_chain bad_l4_header reply_bypassed; do
  assert_eq "drops $r" 0 "$(drop_counter "$w" "$r")"
done
finish
