# shellcheck shell=bash
# shellcheck disable=SC2034,SC2153
# Two directors for the VRRP tests (37-39). Source after lib.sh and exc-lib.sh.
#
#   client ---+                 br1 (client segment, in $RVS_LAB-sw)                    +--- ka: k0 198.18.0.5 (plain keepalived, test 38)
#             |  lb1: lb-c  rvsd 198.18.0.1, tap rvs-client kernel 198.18.0.2           |
#             +--lb2: lb-c  rvsd 198.18.0.3, tap rvs-client kernel 198.18.0.4 ---------+
#   rs1..3 ---- br0 (server segment) ---- lb1: lb-s rvsd 198.19.0.1 / lb2: lb-s rvsd 198.19.0.3
#
# Both rvsd start with [ha] initial = "backup" and no services: each director's rvs-ctrl
# reads the same keepalived.conf style (DR-style VRRP blocks, virtual_router_id 51,
# auth_type PASS, FULLNAT services), runs keepalived on its rvs-client tap and makes its
# rvsd own the VIP and the LIPs while its instance is MASTER.

NS_LB2=$RVS_LAB-lb2
NS_KA=$RVS_LAB-ka
NS_SW=$RVS_LAB-sw
VRRP_PASS=rvs-lab
LB_MAC=(unused 02:72:76:00:01:01 02:72:76:00:05:01)
LB_NS=(unused "$RVS_LAB-lb" "$NS_LB2")
LB_PORT_C=(unused 198.18.0.1 198.18.0.3)
LB_PORT_S=(unused 198.19.0.1 198.19.0.3)
LB_KERNEL=(unused 198.18.0.2 198.18.0.4)
LB_SOCK=(unused "$CTRL_SOCK" "/run/rvsd/$RVS_LAB-lb2.sock")
LB_RVSD_PID=(unused "" "")
LB_CTRL_PID=(unused "" "")
LB_PREFIX=(unused "" "")
KA_IP=198.18.0.5
KA_MAC=02:72:76:00:06:01

in_ns() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}

# adm N ARGS...: rvsadm against director N's rvsd.
adm() {
  local n=$1
  shift
  timeout 15 "$RVSADM" --socket "${LB_SOCK[$n]}" "$@"
}

# api N PATH: rvs-ctrl's HTTP API of director N.
api() { in_ns "${LB_NS[$1]}" curl -s --max-time 3 "http://127.0.0.1:9595$2"; }

# vrrp_state N: director N's VI_1 state as its rvs-ctrl reports it.
vrrp_state() {
  api "$1" /api/v1/vrrp | "$PY" -c 'import json,sys
try: print(json.load(sys.stdin)["instances"][0]["state"])
except Exception: print("none")'
}

# owns N ADDR: director N's rvsd owns ADDR.
owns() { adm "$1" --owned 2>/dev/null | awk -v a="$2" '$1 == a && $3 == "owned" {f = 1} END {exit !f}'; }

_veth_sw() {
  local ns=$1 dev=$2 mac=$3 swdev=$4 br=$5
  ip link add "$dev" netns "$ns" address "$mac" type veth peer name "$swdev" netns "$NS_SW" || die "veth $dev"
  _veth_ready "$ns" "$dev"
  in_ns "$NS_SW" ethtool -K "$swdev" rx off tx off sg off tso off gso off gro off >/dev/null 2>&1
  in_ns "$NS_SW" ip link set "$swdev" master "$br"
  in_ns "$NS_SW" ip link set "$swdev" up
}

# vrrp_topology_up: lab_up's lab, the client moved onto a switched segment (br1) shared with
# lb2 and the ka namespace, lb2 also on the server segment.
vrrp_topology_up() {
  local i
  lab_up
  _ns_plain "$NS_LB2"
  _ns_plain "$NS_KA"
  in_ns "$NS_SW" ip link add br1 type bridge stp_state 0 forward_delay 0
  in_ns "$NS_SW" ip link set br1 type bridge mcast_snooping 0 2>/dev/null
  in_ns "$NS_SW" ip link set br1 up
  # The client's direct cable to lb1 becomes two switch ports.
  ip -n "${LB_NS[1]}" link del lb-c
  _veth_sw "$RVS_LAB-client" c0 02:72:76:00:00:10 swc-c br1
  in_client ip addr add 198.18.0.10/24 dev c0
  for i in $(seq 11 30); do in_client ip addr add "198.18.0.$i/24" dev c0; done
  in_client ip route add default via 198.18.0.1 dev c0 src 198.18.0.10
  _veth_sw "${LB_NS[1]}" lb-c "${LB_MAC[1]}" swc-lb1 br1
  _veth_sw "$NS_LB2" lb-c "${LB_MAC[2]}" swc-lb2 br1
  _veth_sw "$NS_LB2" lb-s 02:72:76:00:05:02 sw-lb2 br0
  _veth_sw "$NS_KA" k0 "$KA_MAC" swc-ka br1
  in_ns "$NS_KA" ip addr add "$KA_IP/24" dev k0
  for i in 1 2; do
    in_ns "${LB_NS[$i]}" sysctl -qw net.ipv4.conf.all.rp_filter=1
    for dev in lb-c lb-s; do
      in_ns "${LB_NS[$i]}" sysctl -qw "net.ipv4.conf.$dev.arp_ignore=8"
      in_ns "${LB_NS[$i]}" sysctl -qw "net.ipv4.conf.$dev.rp_filter=1"
    done
  done
}

# director_config N OUT: rvsd's TOML for director N: taps on both ports (default names
# rvs-client, rvs-server), no services (rvs-ctrl owns the table), owning nothing at start.
director_config() {
  local n=$1 out=$2
  make_config 1 "$out"
  LB_PREFIX[n]=$RVSD_PREFIX
  sed -i -e '/^\[\[service\]\]/,$d' \
    -e "s|^control_socket = .*|control_socket = \"${LB_SOCK[$n]}\"|" \
    -e "s|\"198.18.0.1/24\"|\"${LB_PORT_C[$n]}/24\"|" -e "s|\"198.19.0.1/24\"|\"${LB_PORT_S[$n]}/24\"|" \
    -e '/^devargs = "iface=lb-[cs],/a kernel_if = "tap"' "$out"
  printf '\n[exception]\nrate_pps = 20000\n\n[ha]\ninitial = "backup"\n' >>"$out"
  grep -qF 'initial = "backup"' "$out" || die "director_config: no [ha] in $out"
}

# director_rvsd N: starts director N's rvsd (waits for its socket and its client tap) and
# gives the tap its kernel address (what an operator's unit does after rvsd starts).
director_rvsd() {
  local n=$1 ns=${LB_NS[$1]} cfg=$CFG_DIR/rvsd$1.toml log=$STATE/rvsd-lb$1.log
  [[ -f $cfg ]] || director_config "$n" "$cfg"
  ip netns exec "$ns" "$RVSD" --config "$cfg" </dev/null >>"$log" 2>&1 &
  LB_RVSD_PID[n]=$!
  echo "${LB_RVSD_PID[$n]}" >"$STATE/rvsd-lb$n.pid"
  wait_for 20 "rvsd lb$n answers" adm "$n" -Ln >/dev/null 2>&1 || {
    tail -n 20 "$log" | indent
    die "rvsd lb$n did not start"
  }
  wait_for 10 "lb$n tap rvs-client" in_ns "$ns" ip link show rvs-client >/dev/null 2>&1 || die "no tap in lb$n"
  in_ns "$ns" ip addr add "${LB_KERNEL[$n]}/24" dev rvs-client
}

# keepalived_conf N OUT [EXTRA_VRRP_LINES]: the operator's keepalived.conf of director N,
# written as the seed LVS setups write it (DR-style VRRP: interface eth0, mapped to the tap
# with --vrrp-interface), plus the FULLNAT service.
keepalived_conf() {
  local n=$1 out=$2 extra=${3:-} state=MASTER prio=100
  ((n == 2)) && state=BACKUP prio=90
  [[ $extra == *"state BACKUP"* ]] && state=BACKUP
  cat >"$out" <<EOF
! Configuration File for keepalived (director lb$n)
global_defs {
    router_id LB$n
    vrrp_garp_master_delay 1
}

vrrp_script chk_rvsd {
    script "$RVSADM --socket ${LB_SOCK[$n]} -Ln"
    interval 1
    fall 2
    rise 1
}

vrrp_instance VI_1 {
    state $state
    interface eth0
    virtual_router_id 51
    priority $prio
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass $VRRP_PASS
    }
    virtual_ipaddress {
        $VIP
    }
    track_script {
        chk_rvsd
    }
    notify_master "$CFG_DIR/notify.sh lb$n MASTER ${LB_SOCK[$n]}"
    notify_backup "$CFG_DIR/notify.sh lb$n BACKUP ${LB_SOCK[$n]}"
    notify_fault "$CFG_DIR/notify.sh lb$n FAULT ${LB_SOCK[$n]}"
    ${extra/state BACKUP/}
}

local_address_group laddr_g1 {
    198.19.0.200-201
}

virtual_server $VIP 80 {
    delay_loop 3
    lb_algo rr
    lb_kind FNAT
    protocol TCP
    laddr_group_name laddr_g1
    real_server 198.19.0.11 80 {
        weight 1
    }
    real_server 198.19.0.12 80 {
        weight 1
    }
    real_server 198.19.0.13 80 {
        weight 1
    }
}
EOF
}

# notify_script: the operator's notify script logs the state and whether rvsd already owns
# the VIP when it runs (rvs-ctrl runs it after the ownership change).
notify_script() {
  cat >"$CFG_DIR/notify.sh" <<EOF
#!/bin/sh
if "$RVSADM" --socket "\$3" --owned 2>/dev/null | awk '\$1 == "$VIP" && \$3 == "owned" {f = 1} END {exit !f}'; then o=owned; else o=released; fi
echo "\$1 \$2 \$o" >>"$STATE/notify.log"
EOF
  chmod 755 "$CFG_DIR/notify.sh"
}

# The API's bearer token (--api-token-file, as ctrl-lib.sh does): its write endpoints
# (POST /api/v1/ownership) refuse requests without it.
CTRL_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

# director_ctrl N CONF: starts director N's rvs-ctrl (which runs keepalived) in its namespace.
director_ctrl() {
  local n=$1 conf=$2 ns=${LB_NS[$1]}
  mkdir -p "$STATE/lb$n"
  (umask 077 && printf '%s\n' "$CTRL_TOKEN" >"$STATE/lb$n/rvs-ctrl.token")
  ip netns exec "$ns" "$ROOT/target/release/rvs-ctrl" -f "$conf" --socket "${LB_SOCK[$n]}" \
    --pidfile "$STATE/lb$n/rvs-ctrl.pid" --run-dir "$STATE/lb$n" --vrrp-interface eth0=rvs-client \
    --api-token-file "$STATE/lb$n/rvs-ctrl.token" \
    </dev/null >>"$STATE/rvs-ctrl-lb$n.log" 2>&1 &
  LB_CTRL_PID[n]=$!
  wait_for 10 "rvs-ctrl lb$n API" api "$n" /api/v1/vrrp >/dev/null || die "rvs-ctrl lb$n did not start"
}

# ctrl_stop N: SIGTERM to director N's rvs-ctrl (keepalived stops, the VIP is released).
ctrl_stop() {
  local n=$1 pid=${LB_CTRL_PID[$1]} i
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  LB_CTRL_PID[n]=
}

# curl_loop FILE: one request every 50 ms from the client until FILE.stop exists; one line
# per request: "epoch_ms body" ("FAIL" for a failed one).
curl_loop() {
  local f=$1
  # shellcheck disable=SC2016
  in_client bash -c 'while [[ ! -e $1.stop ]]; do
      b=$(curl -s --max-time 1 "http://$2/") && [[ -n $b ]] || b=FAIL
      printf "%s %s\n" "$(date +%s%3N)" "$b" >>"$1"
      sleep 0.05
    done' _ "$f" "$VIP" &
  bg_track $!
}

# loop_gap FILE T0_MS: the longest run of failures after T0 (ms from the last success before
# it to the first success after it), and how many requests failed.
loop_gap() {
  awk -v t0="$2" '
    $1 < t0 { if ($2 != "FAIL") last = $1; next }
    $2 == "FAIL" { fails++; next }
    { if (last && $1 - last > gap) gap = $1 - last; last = $1 }
    END { printf "%d %d\n", gap, fails }' "$1"
}

# vrrp_cleanup: the directors' processes (lab_down then removes the namespaces).
vrrp_cleanup() {
  local i
  for i in 1 2; do ctrl_stop "$i"; done
  for i in 1 2; do
    [[ -n ${LB_RVSD_PID[$i]} ]] && kill -TERM "${LB_RVSD_PID[$i]}" 2>/dev/null
  done
  sleep 0.5
  for i in 1 2; do
    [[ -n ${LB_RVSD_PID[$i]} ]] && kill -KILL "${LB_RVSD_PID[$i]}" 2>/dev/null
    [[ -n ${LB_PREFIX[$i]} ]] && rm -rf "/var/run/dpdk/${LB_PREFIX[$i]}"
    rm -f "${LB_SOCK[$i]}"
  done
  return 0
}

# is_state N STATE: director N's VI_1 is in STATE.
is_state() { [[ $(vrrp_state "$1") == "$2" ]]; }

# owns_all N / owns_none N: director N's rvsd owns the VIP and both LIPs / none of them.
owns_all() { owns "$1" "$VIP" && owns "$1" 198.19.0.200 && owns "$1" 198.19.0.201; }
owns_none() { ! owns "$1" "$VIP" && ! owns "$1" 198.19.0.200 && ! owns "$1" 198.19.0.201; }

# vip_mac: the client's ARP entry for the VIP.
vip_mac() { in_client ip neigh show "$VIP" | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}'; }

# failover_kill: kill -9 of lb1's rvsd; prints the ms until lb2 is MASTER (or "timeout").
failover_kill() {
  local t0 ms
  t0=$(date +%s%3N)
  kill -KILL "${LB_RVSD_PID[1]}"
  wait "${LB_RVSD_PID[1]}" 2>/dev/null
  LB_RVSD_PID[1]=
  if secs_until 20 is_state 2 MASTER >/dev/null; then ms=$(($(date +%s%3N) - t0)); else ms=timeout; fi
  echo "$t0 $ms"
}
