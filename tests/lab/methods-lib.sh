# shellcheck shell=bash
# Its variables are used by the tests that source it:
# shellcheck disable=SC2034
# Helpers for the forwarding-method tests (DR, TUN, NAT, ldirectord). Source after lib.sh
# and ctrl-lib.sh.
#
# DR and TUN real servers answer the client directly, so they need a way back that does not
# go through rvsd. The lab's real servers sit on 198.19.0.0/24 (behind rvs-sw's bridge) and
# the client on 198.18.0.0/24 (a veth straight to rvsd), so gw_up adds a router:
#
#   rvs-client c0 198.18.0.10-30 ---- rvsd ---- br0 (rvs-sw) ---- rvs-rsN eth0 198.19.0.1N
#              c1 198.18.2.10 ------------.                |        default via 198.19.0.254
#                                          \               |
#                               rvs-gw  gw-c 198.18.2.1    gw-s 198.19.0.254
#                                       route 198.18.0.0/24 via 198.18.2.10
#
# The client sends to the VIP through rvsd (its default route, c0) and gets the real
# servers' answers from the VIP on c1 (rp_filter off there, as on any host with asymmetric
# routes). NAT needs none of this: its real servers keep their default route via rvsd
# (198.19.0.1), as LVS/NAT real servers route through the director.

GW_NS=$RVS_LAB-gw
# The real servers' GUE port (rs_tun's decapsulator takes GUE there too).
GUE_PORT=6080
GW_IP=198.19.0.254

in_gw() { ip netns exec "$GW_NS" "$@"; }

gw_up() {
  local ns=$GW_NS dev
  ip netns add "$ns" || die "cannot add $ns"
  in_gw ip link set lo up
  in_gw sysctl -qw net.ipv6.conf.all.disable_ipv6=1 >/dev/null 2>&1
  in_gw sysctl -qw net.ipv4.ip_forward=1 >/dev/null
  ip link add gw-s netns "$ns" type veth peer name sw-gw netns "$RVS_LAB-sw" || die "gw veth (server side)"
  ip link add gw-c netns "$ns" type veth peer name c1 netns "$RVS_LAB-client" || die "gw veth (client side)"
  ip -n "$RVS_LAB-sw" link set sw-gw master br0
  for dev in gw-s gw-c; do
    in_gw ethtool -K "$dev" tso off gso off gro off tx off rx off >/dev/null 2>&1
  done
  ip netns exec "$RVS_LAB-sw" ethtool -K sw-gw tso off gso off gro off tx off rx off >/dev/null 2>&1
  in_client ethtool -K c1 tso off gso off gro off tx off rx off >/dev/null 2>&1
  in_gw ip addr add "$GW_IP/24" dev gw-s
  in_gw ip addr add 198.18.2.1/24 dev gw-c
  in_client ip addr add 198.18.2.10/24 dev c1
  ip -n "$RVS_LAB-sw" link set sw-gw up
  in_gw ip link set gw-s up
  in_gw ip link set gw-c up
  in_client ip link set c1 up
  in_gw ip route add 198.18.0.0/24 via 198.18.2.10
  for dev in all default c0 c1; do
    in_client sysctl -qw "net.ipv4.conf.$dev.rp_filter=0" >/dev/null
  done
  wait_for 5 "gateway reachable" in_rs 1 ping -n -c 1 -W 1 "$GW_IP" >/dev/null 2>&1 || die "gateway $GW_IP unreachable"
}

# rs_dr N: real server N as the LVS/DR real-server scripts set it up (lvs_dr_rs.sh): the
# VIP on lo (lo:0, /32) and ARP for it neither answered nor announced, then its default
# route via the gateway instead of rvsd.
rs_dr() {
  local n=$1
  in_rs "$n" sysctl -qw net.ipv4.conf.lo.arp_ignore=1
  in_rs "$n" sysctl -qw net.ipv4.conf.lo.arp_announce=2
  in_rs "$n" sysctl -qw net.ipv4.conf.all.arp_ignore=1
  in_rs "$n" sysctl -qw net.ipv4.conf.all.arp_announce=2
  in_rs "$n" ip addr add "$VIP/32" brd "$VIP" dev lo label lo:0
  in_rs "$n" ip route replace default via "$GW_IP" dev eth0
}

# rvsd_rx_tx: "RX TX" packets summed over rvsd's workers.
rvsd_rx_tx() {
  worker_rows "$(rvsadm --workers)" | awk '{rx += $3; tx += $4} END {print rx + 0, tx + 0}'
}

# svc_in_out SERVICE: "InPkts OutPkts" of SERVICE ("TCP  VIP:80") in 'rvsadm -Ln --stats --exact'.
svc_in_out() {
  rvsadm -Ln --stats --exact | awk -v s="$1" '$1 " " $2 == s || $1 "  " $2 == s {print $4, $5; exit}'
}

# curl_from ADDR N [URL]: N requests from client address ADDR, one body line each (FAIL on error).
curl_from() {
  # shellcheck disable=SC2016
  in_client bash -c 'for ((i = 0; i < $2; i++)); do
      body=$(curl -s --max-time 5 --interface "$1" "$3") && [[ -n $body ]] || body=FAIL
      printf "%s\n" "$body"
    done' _ "$1" "$2" "${3:-http://$VIP/}"
}

# download_sha ADDR: sha256 of /big.bin fetched through the VIP from client address ADDR.
download_sha() {
  in_client curl -s --max-time 120 --interface "$1" "http://$VIP/big.bin" | sha256sum | awk '{print $1}'
}

# access_clients N: the distinct client addresses in real server N's access log (without the
# server's own, from scripts/lab.sh's readiness check).
access_clients() {
  awk -v self="${RS_IPS[$(($1 - 1))]}" '$1 != self {print $1}' "$STATE/rs$1/access.log" | sort -u | paste -sd' ' -
}

# rs_tun N: real server N as an LVS/TUN real server: the VIP on its tunnel device (here
# tunl0 made by tests/tools/ipip-decap.py, since the lab's kernel has no ipip module: the
# helper reads IPIP from eth0 with AF_PACKET and writes the inner packet into the TUN
# device), rp_filter off for it, ARP for the VIP neither answered nor announced, default
# route via the gateway. The kernel's own "protocol unreachable" for IPIP (and "port
# unreachable" for GUE to $GUE_PORT) is filtered.
rs_tun() {
  local n=$1 rip=${RS_IPS[$(($1 - 1))]} i
  in_rs "$n" sysctl -qw net.ipv4.conf.all.arp_ignore=1
  in_rs "$n" sysctl -qw net.ipv4.conf.all.arp_announce=2
  in_rs "$n" sysctl -qw net.ipv4.conf.all.rp_filter=0
  in_rs "$n" sysctl -qw net.ipv4.conf.default.rp_filter=0
  in_rs "$n" nft -f - <<EOF || die "nft in rs$n"
table ip ipipdrop {
  chain in {
    type filter hook input priority 0; policy accept;
    ip protocol 4 drop
    udp dport $GUE_PORT drop
  }
}
EOF
  in_rs "$n" "$PY" "$ROOT/tests/tools/ipip-decap.py" eth0 "$rip" tunl0 "$STATE/rs$n/decap.pid" "$GUE_PORT" \
    </dev/null >"$STATE/rs$n/decap.log" 2>&1 &
  bg_track $!
  for i in $(seq 50); do grep -q ready "$STATE/rs$n/decap.log" 2>/dev/null && break; sleep 0.1; done
  grep -q ready "$STATE/rs$n/decap.log" || die "ipip-decap did not start on rs$n"
  in_rs "$n" sysctl -qw net.ipv4.conf.tunl0.rp_filter=0
  in_rs "$n" ip addr add "$VIP/32" dev tunl0
  in_rs "$n" ip link set tunl0 up
  in_rs "$n" ip route replace default via "$GW_IP" dev eth0
}

# gw6_up GW6: IPv6 on the gateway (after gw_up): GW6/64 on its real servers' leg, the
# client's second leg c1 as 2001:db8:3::/64, and the client's 2001:db8:1::/64 routed back
# through it; waits until real server 1 reaches GW6.
gw6_up() {
  local k dev
  for k in all.disable_ipv6=0 default.disable_ipv6=0 all.forwarding=1; do
    in_gw sysctl -qw "net.ipv6.conf.$k" >/dev/null
  done
  for dev in gw-s gw-c; do
    in_gw sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=0" "net.ipv6.conf.$dev.accept_ra=0" >/dev/null
  done
  in_client sysctl -qw net.ipv6.conf.c1.disable_ipv6=0 net.ipv6.conf.c1.accept_ra=0 >/dev/null
  in_gw ip -6 addr add "$1/64" dev gw-s nodad
  in_gw ip -6 addr add 2001:db8:3::1/64 dev gw-c nodad
  in_client ip -6 addr add 2001:db8:3::10/64 dev c1 nodad
  in_gw ip -6 route add 2001:db8:1::/64 via 2001:db8:3::10
  wait_for 5 "IPv6 gateway reachable" in_rs 1 ping -6 -n -c 1 -W 1 "$1" >/dev/null 2>&1 ||
    die "gateway $1 unreachable"
}
