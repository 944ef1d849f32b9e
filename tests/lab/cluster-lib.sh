# shellcheck shell=bash
# Variables set by lib.sh (sourced first) and used by the tests:
# shellcheck disable=SC2034,SC2153
# An ECMP cluster of active directors (tests 50-52, issue 11). Source after lib.sh.
#
#   rc (clients)              rtr (BIRD, OSPF, L4-hash ECMP)        sw: br1 (uplink segment)       dN (N = 1..4)
#   c0 198.18.2.10/24 <-----> r-c 198.18.2.1   r-u 198.18.1.254 <--> swu-r ... swu-dN <-------> lb-u: rvsd 198.18.1.N
#                             r-s 198.19.0.254 <--> br0 (rs1..3)                                    tap: kernel 198.18.1.1N (BIRD)
#                                                                   brs (sync segment) <---------> sy 198.18.9.N (kernel)
#
# Each director is one rvsd with one port (one-armed FULLNAT) and BIRD in its namespace's
# kernel, speaking OSPF through rvsd's exception path (the port's tap). Every director
# announces the VIP (equal cost: the router spreads flows by the L4 hash) and the LIPs of
# every member: its own (198.18.8.N) with metric 10, the others' with 1000, so the real
# servers' replies reach the member that chose the port while it lives and a survivor
# (which holds the session) once it died. Real servers route via the router
# (198.19.0.254). Sessions are synced over the sync segment (multicast, the cluster key).
# Directors' BIRDs have OSPF priority 0: the router is the designated router throughout.

NS_RTR=$RVS_LAB-rtr
NS_RC=$RVS_LAB-rc
NS_SW=$RVS_LAB-sw
CL_KEY=$STATE/cluster.key
CL_KIF=$RVS_LAB-ku
RC_IP=198.18.2.10
RTR_U=198.18.1.254
CL_LIPS=(198.18.8.1 198.18.8.2 198.18.8.3 198.18.8.4)
RVS_CTRL=${RVS_CTRL:-$ROOT/target/release/rvs-ctrl}
# Per director: rvsd pid, log, file prefix.
declare -A D_PID D_LOG D_PREFIX

in_rtr() { ip netns exec "$NS_RTR" "$@"; }
in_rc() { ip netns exec "$NS_RC" "$@"; }
in_d() {
  local n=$1
  shift
  ip netns exec "$RVS_LAB-d$n" "$@"
}
d_sock() { echo "/run/rvsd/$RVS_LAB-d$1.sock"; }
# rvsadm_d N ARGS...: rvsadm against director N.
rvsadm_d() {
  local n=$1
  shift
  timeout 15 "$RVSADM" --socket "$(d_sock "$n")" "$@"
}

_cl_ns() {
  ip netns del "$1" 2>/dev/null
  ip netns add "$1" || die "ip netns add $1"
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip netns exec "$1" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
  ip netns exec "$1" ip link set lo up
}

_cl_dev() {
  local ns=$1 dev=$2 f
  for f in rx tx sg tso gso gro lro; do ip netns exec "$ns" ethtool -K "$dev" "$f" off >/dev/null 2>&1; done
  ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1" >/dev/null 2>&1
  ip netns exec "$ns" ip link set "$dev" up
}

# cluster_up N: the lab (real servers), the router, the clients, the uplink and sync
# segments, directors 1..N (namespaces and links; rvsd and BIRD start separately), and
# the cluster key.
cluster_up() {
  local n=$1 i
  lab_up
  say "cluster lab: router, clients, $n director namespaces"
  _cl_ns "$NS_RTR"
  _cl_ns "$NS_RC"
  ip netns exec "$NS_SW" ip link add br1 type bridge stp_state 0 forward_delay 0 || die "br1"
  ip netns exec "$NS_SW" ip link add brs type bridge stp_state 0 forward_delay 0 || die "brs"
  ip netns exec "$NS_SW" ip link set br1 type bridge mcast_snooping 0
  ip netns exec "$NS_SW" ip link set brs type bridge mcast_snooping 0
  _cl_dev "$NS_SW" br1
  _cl_dev "$NS_SW" brs
  ip link add r-c netns "$NS_RTR" type veth peer name c0 netns "$NS_RC" || die "veth r-c"
  ip link add r-u netns "$NS_RTR" address 02:72:76:00:50:fe type veth peer name swu-r netns "$NS_SW" || die "veth r-u"
  ip link add r-s netns "$NS_RTR" type veth peer name sws-r netns "$NS_SW" || die "veth r-s"
  ip -n "$NS_SW" link set swu-r master br1
  ip -n "$NS_SW" link set sws-r master br0
  _cl_dev "$NS_SW" swu-r
  _cl_dev "$NS_SW" sws-r
  for d in r-c r-u r-s; do _cl_dev "$NS_RTR" "$d"; done
  _cl_dev "$NS_RC" c0
  in_rtr ip addr add 198.18.2.1/24 dev r-c
  in_rtr ip addr add "$RTR_U/24" dev r-u
  in_rtr ip addr add 198.19.0.254/24 dev r-s
  in_rtr sysctl -qw net.ipv4.ip_forward=1
  in_rtr sysctl -qw net.ipv4.fib_multipath_hash_policy=1
  in_rtr sysctl -qw net.ipv4.conf.all.rp_filter=0
  in_rtr sysctl -qw net.ipv4.conf.default.rp_filter=0
  for d in r-c r-u r-s; do in_rtr sysctl -qw "net.ipv4.conf.$d.rp_filter=0"; done
  in_rc ip addr add "$RC_IP/24" dev c0
  in_rc ip route add default via 198.18.2.1
  for i in 1 2 3; do in_rs "$i" ip route replace default via 198.19.0.254; done
  for i in $(seq "$n"); do cluster_director_links "$i"; done
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$CL_KEY")
  [[ $(stat -c %a "$CL_KEY") == 600 ]] || die "cluster key file is not mode 600"
}

# cluster_director_links N: director N's namespace, its uplink and sync links.
cluster_director_links() {
  local n=$1 ns=$RVS_LAB-d$1
  _cl_ns "$ns"
  ip link add lb-u netns "$ns" address "02:72:76:00:5$n:01" type veth peer name "swu-d$n" netns "$NS_SW" ||
    die "veth lb-u of d$n"
  ip link add sy netns "$ns" address "02:72:76:00:5$n:09" type veth peer name "sys-d$n" netns "$NS_SW" ||
    die "veth sy of d$n"
  ip -n "$NS_SW" link set "swu-d$n" master br1
  ip -n "$NS_SW" link set "sys-d$n" master brs
  _cl_dev "$NS_SW" "swu-d$n"
  _cl_dev "$NS_SW" "sys-d$n"
  _cl_dev "$ns" lb-u
  _cl_dev "$ns" sy
  in_d "$n" ip addr add "198.18.9.$n/24" dev sy
  # With af_packet the director's kernel sees lb-u too: it must not answer there itself.
  in_d "$n" sysctl -qw net.ipv4.conf.all.rp_filter=1
  in_d "$n" sysctl -qw net.ipv4.conf.lb-u.arp_ignore=8
  in_d "$n" sysctl -qw net.ipv4.conf.lb-u.rp_filter=1
}

# cluster_config N OUT [EXTRA]: director N's rvsd configuration.
cluster_config() {
  local n=$1 out=$2 extra=${3:-}
  D_PREFIX[$n]="rvsd-$RVS_LAB-d$n-$$-$RANDOM"
  cat >"$out" <<EOF
[dataplane]
eal_args = ["--no-huge", "-m", "256", "--file-prefix", "${D_PREFIX[$n]}", "--no-pci", "--no-telemetry"]
workers = [1]
main_cpu = 0
idle_spin = 256
idle_sleep_us = 200
control_socket = "$(d_sock "$n")"
max_sessions = 65536

[[port]]
name = "uplink"
device = "net_af_packet0"
devargs = "iface=lb-u,framecnt=4096"
kernel_if = "tap"
kernel_name = "$CL_KIF"
addresses = ["198.18.1.$n/24"]

[[route]]
prefix = "198.18.2.0/24"
via = "$RTR_U"

[[route]]
prefix = "198.19.0.0/24"
via = "$RTR_U"

[exception]
rate_pps = 20000

[[service]]
protocol = "tcp"
address = "$VIP:80"
scheduler = "wlc"
local_addresses = ["${CL_LIPS[0]}", "${CL_LIPS[1]}", "${CL_LIPS[2]}", "${CL_LIPS[3]}"]
real = [
  { address = "198.19.0.11:80", weight = 1 },
  { address = "198.19.0.12:80", weight = 1 },
  { address = "198.19.0.13:80", weight = 1 },
]

[cluster]
member_id = $n
members = 4
interface = "sy"
key_file = "$CL_KEY"
sync_id = 11
hello_interval_ms = 300
hold_ms = 1200
local_addresses = ["${CL_LIPS[$((n - 1))]}"]
$extra
EOF
}

# cluster_rvsd_start N CONFIG: starts director N's rvsd, waits for rvsadm and its tap, and
# gives the tap the director's kernel address.
cluster_rvsd_start() {
  local n=$1 cfg=$2 i
  require_binaries
  D_LOG[$n]=$STATE/rvsd-d$n-$TEST_NAME.log
  # ip netns exec directly (not through a shell function): $! is then rvsd itself.
  ip netns exec "$RVS_LAB-d$n" "$RVSD" --config "$cfg" </dev/null >"${D_LOG[$n]}" 2>&1 &
  D_PID[$n]=$!
  echo "${D_PID[$n]}" >"$STATE/rvsd-d$n.pid"
  for i in $(seq 80); do
    kill -0 "${D_PID[$n]}" 2>/dev/null || {
      tail -n 30 "${D_LOG[$n]}" | indent
      die "d$n's rvsd exited during startup"
    }
    rvsadm_d "$n" -Ln >/dev/null 2>&1 && break
    sleep 0.25
  done
  rvsadm_d "$n" -Ln >/dev/null 2>&1 || die "d$n's rvsd did not answer within 20 s"
  wait_for 10 "d$n's tap" ip -n "$RVS_LAB-d$n" link show "$CL_KIF" >/dev/null 2>&1 || die "no tap on d$n"
  in_d "$n" ip addr add "198.18.1.1$n/24" dev "$CL_KIF" || die "ip addr on d$n's tap"
  in_d "$n" ip link set "$CL_KIF" up
  pass "d$n's rvsd answers rvsadm (log ${D_LOG[$n]})"
}

# cluster_bird_conf N [INCLUDE]: director N's bird.conf: the VIP and its own LIP
# (metric 10), or, with INCLUDE, whatever rvs-ctrl writes there (the VIP and the own LIP
# while rvsd is an active member, BIRD's default E2 metric 10000); every other member's
# LIP with a worse metric.
cluster_bird_conf() {
  local n=$1 inc=${2:-} m
  echo "router id 198.18.1.1$n;"
  echo "log \"$STATE/bird-d$n.log\" all;"
  echo "protocol device { scan time 1; }"
  echo "protocol static cl_routes {"
  echo "  ipv4;"
  if [[ -n $inc ]]; then
    echo "  include \"$inc\";"
  else
    echo "  route $VIP/32 blackhole;"
    echo "  route ${CL_LIPS[$((n - 1))]}/32 blackhole { ospf_metric2 = 10; };"
  fi
  for m in 1 2 3 4; do
    ((m == n)) || echo "  route ${CL_LIPS[$((m - 1))]}/32 blackhole { ospf_metric2 = 20000; };"
  done
  echo "}"
  cat <<EOF
protocol ospf v2 uplink {
  ipv4 { import none; export where proto = "cl_routes"; };
  area 0 {
    interface "$CL_KIF" { type broadcast; priority 0; hello 1; dead 3; retransmit 2; };
  };
}
EOF
}

cluster_bird_start() {
  local n=$1 conf=$STATE/bird-d$1.conf
  [[ -n ${2:-} ]] && : >>"$2"
  cluster_bird_conf "$n" "${2:-}" >"$conf"
  in_d "$n" bird -c "$conf" -s "$STATE/bird-d$n.ctl" -P "$STATE/bird-d$n.pid" </dev/null ||
    die "bird on d$n did not start"
}

# cluster_ctrl_start N: rvs-ctrl for director N (in its namespace) with a keepalived.conf
# holding the same service and a `cluster` block, announcing through BIRD's include file
# (the BIRD gate: the VIP and the own LIP only while rvsd is an active member).
cluster_ctrl_start() {
  local n=$1 kconf=$STATE/keepalived-d$1.conf inc=$STATE/bird-d$1-include.conf
  cat >"$kconf" <<EOF
local_address_group lips {
$(printf '  %s\n' "${CL_LIPS[@]}")
}
virtual_server $VIP 80 {
  lb_algo wlc
  lb_kind FNAT
  protocol TCP
  laddr_group_name lips
  real_server 198.19.0.11 80 { weight 1 }
  real_server 198.19.0.12 80 { weight 1 }
  real_server 198.19.0.13 80 { weight 1 }
}
cluster {
  member_id $n
  members 4
  sync_interface sy
  sync_key_file $CL_KEY
  hello_interval_ms 300
  hold_ms 1200
}
EOF
  ip netns exec "$RVS_LAB-d$n" "$RVS_CTRL" -f "$kconf" --socket "$(d_sock "$n")" --pidfile "$STATE/rvs-ctrl-d$n.pid" \
    --listen none -l info --bird-include "$inc" --birdc-socket "$STATE/bird-d$n.ctl" --bird-watchdog 500 \
    </dev/null >>"$STATE/rvs-ctrl-d$n-$TEST_NAME.log" 2>&1 &
  bg_track "$!"
}

# cluster_member_start N [EXTRA]: director N as an operator runs it: rvsd, BIRD announcing what
# rvs-ctrl writes to its include file, rvs-ctrl with the keepalived.conf cluster block.
cluster_member_start() {
  local n=$1
  cluster_config "$n" "$CFG_DIR/d$n.toml" "${2:-}"
  cluster_rvsd_start "$n" "$CFG_DIR/d$n.toml"
  cluster_bird_start "$n" "$STATE/bird-d$n-include.conf"
  cluster_ctrl_start "$n"
}

router_bird_start() {
  local conf=$STATE/bird-rtr.conf
  cat >"$conf" <<EOF
router id $RTR_U;
log "$STATE/bird-rtr.log" all;
protocol device { scan time 1; }
protocol kernel { ipv4 { import none; export all; }; merge paths yes; }
protocol ospf v2 core {
  ecmp yes;
  merge external yes;
  ipv4 { import all; export none; };
  area 0 {
    interface "r-u" { type broadcast; priority 100; hello 1; dead 3; retransmit 2; };
  };
}
EOF
  in_rtr bird -c "$conf" -s "$STATE/bird-rtr.ctl" -P "$STATE/bird-rtr.pid" </dev/null || die "router bird"
}

# vip_hops: the director numbers the router's VIP route leads to, in nexthop order.
vip_hops() {
  in_rtr ip route show "$VIP/32" 2>/dev/null | grep -oE 'via 198\.18\.1\.1[0-9]' | sed 's/via 198.18.1.1//' | tr '\n' ' '
}

# route_of SPORT: the director the router sends the client's flow from SPORT to.
route_of() {
  in_rtr ip route get "$VIP" from "$RC_IP" iif r-c ipproto tcp sport "$1" dport 80 2>/dev/null |
    grep -oE 'via 198\.18\.1\.1[0-9]' | sed 's/via 198.18.1.1//'
}

# cluster_state N: director N's state in rvsadm --cluster ("active", ...).
cluster_state() { rvsadm_d "$1" --cluster 2>/dev/null | sed -n 's/^cluster member [0-9]* (epoch [0-9]*): \([a-z]*\) .*/\1/p'; }

# d_kill9 N: director N's rvsd crashes.
d_kill9() {
  kill -KILL "${D_PID[$1]}" 2>/dev/null
  wait "${D_PID[$1]}" 2>/dev/null
  D_PID[$1]=
  rm -f "$STATE/rvsd-d$1.pid" "$(d_sock "$1")"
}

_cluster_cleanup() {
  local n
  for n in "${!D_PID[@]}"; do
    if ((_FAILS)) && [[ -n ${D_LOG[$n]:-} && -f ${D_LOG[$n]} ]]; then
      say "d$n rvsd log tail (${D_LOG[$n]}):"
      tail -n 15 "${D_LOG[$n]}" | indent
    fi
    [[ -n ${D_PID[$n]} ]] && kill -TERM "${D_PID[$n]}" 2>/dev/null
  done
  # A member leaves on SIGTERM: withdrawn, drain_ms (2 s), then it stops.
  for _ in $(seq 80); do
    local alive=0
    for n in "${!D_PID[@]}"; do [[ -n ${D_PID[$n]} ]] && kill -0 "${D_PID[$n]}" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for n in "${!D_PID[@]}"; do
    [[ -n ${D_PID[$n]} ]] && kill -KILL "${D_PID[$n]}" 2>/dev/null
    [[ -n ${D_PREFIX[$n]:-} ]] && rm -rf "/var/run/dpdk/${D_PREFIX[$n]}"
    rm -f "$(d_sock "$n")"
  done
  return 0
}
_cluster_exit() {
  local rc=$?
  _cluster_cleanup
  (exit "$rc")
  _cleanup
}
trap _cluster_exit EXIT
