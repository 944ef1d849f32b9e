# shellcheck shell=bash
# shellcheck disable=SC2034
# Helpers of the exception-path tests (23-26): rvsd's ports get kernel interfaces (taps
# rvsd makes, carrying the port's MAC) and the lb namespace's kernel gets addresses on them.
# Source after lib.sh.

# The kernel interfaces (inside the lb namespace; the lab prefix keeps names apart anyway).
KIF_C=$RVS_LAB-kc
KIF_S=$RVS_LAB-ks
# The lb kernel's own address on the client side (rvsd owns 198.18.0.1 and the VIP).
KERNEL_C_IP=198.18.0.2
NS_LB=$RVS_LAB-lb

# exc_config WORKERS OUT [RATE_PPS [BURST [RING]]]: the lab config with a tap on both ports.
exc_config() {
  local out=$2 rate=${3:-20000} burst=${4:-2000} ring=${5:-1024}
  make_config "$1" "$out"
  sed -i -e "/^devargs = \"iface=lb-c,/a kernel_if = \"tap\"\nkernel_name = \"$KIF_C\"" \
    -e "/^devargs = \"iface=lb-s,/a kernel_if = \"tap\"\nkernel_name = \"$KIF_S\"" "$out"
  printf '\n[exception]\nring_size = %s\nrate_pps = %s\nburst = %s\n' "$ring" "$rate" "$burst" >>"$out"
  grep -qF "kernel_name = \"$KIF_C\"" "$out" || die "exc_config: could not add kernel_if to $out"
  grep -qF "kernel_name = \"$KIF_S\"" "$out" || die "exc_config: could not add kernel_if to $out"
}

# lb_kernel_guard: with af_packet the lb kernel sees the veths rvsd drives too. Keep it from
# answering there itself (ARP for its tap addresses, IP to them arriving on a veth), so that
# whatever reaches the kernel came through rvsd's exception path.
lb_kernel_guard() {
  local dev
  in_lb sysctl -qw net.ipv4.conf.all.rp_filter=1
  for dev in lb-c lb-s; do
    in_lb sysctl -qw "net.ipv4.conf.$dev.arp_ignore=8"
    in_lb sysctl -qw "net.ipv4.conf.$dev.rp_filter=1"
  done
}

# kif_wait NAME: waits (up to 10 s) for kernel interface NAME in the lb namespace.
kif_wait() {
  wait_for 10 "kernel interface $1" in_lb ip link show "$1" >/dev/null 2>&1
}

# mac_of NS DEV
mac_of() { ip netns exec "$1" cat "/sys/class/net/$2/address" 2>/dev/null; }

# pcap_count FILE FILTER: packets of FILE matching the tcpdump FILTER.
pcap_count() { tcpdump -r "$1" -n "$2" 2>/dev/null | wc -l; }

# ---------------------------------------------------------------- OSPF topology (test 24)
#
#  rvs-rc (clients)            rvs-rtr (BIRD, forwards)            rvs-lb
#  c0 198.18.2.10/24 <------> r-c 198.18.2.1   r-lb 198.18.1.254 <------> lb-u: rvsd 198.18.1.1
#  default via 198.18.2.1                                               tap rvs-ku: kernel 198.18.1.2 (BIRD)
#
# The router learns the VIP (198.18.0.100/32) over OSPF from the director's BIRD, through
# rvsd's exception path; rvsd routes 198.18.2.0/24 back via 198.18.1.254.
NS_RTR=$RVS_LAB-rtr
NS_RC=$RVS_LAB-rc
KIF_U=$RVS_LAB-ku
KERNEL_U_IP=198.18.1.2
LB_UPLINK_IP=198.18.1.1
RTR_IP=198.18.1.254
RC_IP=198.18.2.10
BIRD_INCLUDE=$STATE/bird-vips.conf
BIRD_LB_SOCK=$STATE/bird-lb.ctl
BIRD_RTR_SOCK=$STATE/bird-rtr.ctl

in_rtr() { ip netns exec "$NS_RTR" "$@"; }
in_rc() { ip netns exec "$NS_RC" "$@"; }

_ns_plain() {
  local ns=$1
  ip netns add "$ns" || die "ip netns add $ns"
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
  ip netns exec "$ns" ip link set lo up
}

_veth_ready() {
  local ns=$1 dev=$2 f
  for f in rx tx sg tso gso gro; do ip netns exec "$ns" ethtool -K "$dev" "$f" off >/dev/null 2>&1; done
  ip netns exec "$ns" ip link set "$dev" up
}

# ospf_topology_up: the router and client namespaces, on top of lab_up's lab.
ospf_topology_up() {
  _ns_plain "$NS_RTR"
  _ns_plain "$NS_RC"
  ip link add lb-u netns "$NS_LB" address 02:72:76:00:01:03 type veth \
    peer name r-lb netns "$NS_RTR" address 02:72:76:00:03:01 || die "veth lb-u"
  ip link add r-c netns "$NS_RTR" address 02:72:76:00:03:02 type veth \
    peer name c0 netns "$NS_RC" address 02:72:76:00:04:10 || die "veth r-c"
  _veth_ready "$NS_LB" lb-u
  _veth_ready "$NS_RTR" r-lb
  _veth_ready "$NS_RTR" r-c
  _veth_ready "$NS_RC" c0
  in_lb sysctl -qw net.ipv4.conf.lb-u.arp_ignore=8
  in_lb sysctl -qw net.ipv4.conf.lb-u.rp_filter=1
  in_rtr ip addr add "$RTR_IP/24" dev r-lb
  in_rtr ip addr add 198.18.2.1/24 dev r-c
  in_rtr sysctl -qw net.ipv4.ip_forward=1
  in_rc ip addr add "$RC_IP/24" dev c0
  in_rc ip route add default via 198.18.2.1
}

# exc_uplink_config FILE: adds the uplink port (with its tap) and the route to the clients
# behind the router to an exc_config file.
exc_uplink_config() {
  local f=$1 tmp
  tmp=$(mktemp)
  awk -v kif="$KIF_U" -v ip="$LB_UPLINK_IP" -v rtr="$RTR_IP" '
    /^\[\[service\]\]|^\[timeouts\]/ && !done {
      print "[[port]]"; print "name = \"uplink\""; print "device = \"net_af_packet2\""
      print "devargs = \"iface=lb-u,framecnt=4096\""; print "kernel_if = \"tap\""
      print "kernel_name = \"" kif "\""; print "addresses = [\"" ip "/24\"]"; print ""
      print "[[route]]"; print "prefix = \"198.18.2.0/24\""; print "via = \"" rtr "\""; print ""
      done = 1
    }
    {print}' "$f" >"$tmp" && mv "$tmp" "$f"
  grep -qF "kernel_name = \"$KIF_U\"" "$f" || die "exc_uplink_config: no uplink port in $f"
}

# bird_start NAME NS EXAMPLE SOCK: BIRD in NS with examples/EXAMPLE, adapted to this lab's
# prefix and state directory; waits for its control socket.
bird_start() {
  local name=$1 ns=$2 example=$3 sock=$4 conf=$STATE/bird-$1.conf
  sed -e "s|\"rvs-ku\"|\"$KIF_U\"|" -e "s|/tmp/rvs-lab|$STATE|g" "$ROOT/examples/$example" >"$conf"
  ip netns exec "$ns" bird -c "$conf" -s "$sock" -P "$STATE/bird-$name.pid" \
    </dev/null >>"$STATE/bird-$name.log" 2>&1 || die "bird $name did not start"
  wait_for 10 "bird $name socket" birdc -s "$sock" show status >/dev/null 2>&1 || die "bird $name does not answer"
}

# rtr_has_vip: the router's kernel has the VIP route from BIRD.
rtr_has_vip() { in_rtr ip route show "$VIP/32" proto bird 2>/dev/null | grep -q "via $KERNEL_U_IP"; }
rtr_lacks_vip() { ! rtr_has_vip; }

# secs_until LIMIT CMD...: polls CMD every 0.1 s; prints the seconds it took (or "timeout").
secs_until() {
  local limit=$1 t0 i
  shift
  t0=$(date +%s.%N)
  for ((i = 0; i < limit * 10; i++)); do
    if "$@"; then
      awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}'
      return 0
    fi
    sleep 0.1
  done
  echo timeout
  return 1
}

# le WHAT LIMIT SEEN: SEEN (seconds, decimal) is at most LIMIT.
assert_secs_le() {
  if [[ $3 =~ ^[0-9.]+$ ]] && awk -v s="$3" -v l="$2" 'BEGIN {exit !(s <= l)}'; then
    pass "$1 in $3 s (limit $2 s)"
  else
    fail "$1: took '$3' (limit $2 s)"
  fi
}
