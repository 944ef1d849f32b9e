#!/usr/bin/env bash
# The RVS lab: network namespaces joined by veth pairs, real nginx and UDP echo servers.
#
#   rvs-client                 rvs-lb (rvsd, DPDK af_packet)              rvs-sw (bridge br0)     rvs-rsN
#   c0 198.18.0.10-30/24 <--> lb-c  [198.18.0.1]  lb-s [198.19.0.1] <--> sw-lb ---+--- sw-rs1 <--> eth0 198.19.0.11
#   default via 198.18.0.1     (no kernel addresses: rvsd owns them)               +--- sw-rs2 <--> eth0 198.19.0.12
#                                                                                  +--- sw-rs3 <--> eth0 198.19.0.13
#   VIP 198.18.0.100 (tcp/80 -> nginx :80, udp/53 -> echo :5353), LIPs 198.19.0.200-201
#   Each RS's nginx also listens on :8081 with 'proxy_protocol' (PROXY v1/v2 header required),
#   logging "proxy_protocol_addr proxy_protocol_port remote_addr remote_port request status"
#   to $STATE/rsN/pp.log.
#
# Usage: scripts/lab.sh up|down|status
# State (configs, pids, logs, big.bin and its sha256) lives in $RVS_LAB_STATE (default /tmp/$RVS_LAB-lab).
# RVS_LAB_IPV6=1 adds IPv6 next to IPv4 (documentation space, inside the lab only): client
#   2001:db8:1::10/64 (default via 2001:db8:1::1, rvsd's), rsN 2001:db8:2::1N/64 (default
#   via 2001:db8:2::1); nginx and the UDP echo servers listen on both families. Without it
#   IPv6 stays off everywhere, so the IPv4 tests see no IPv6 neighbour discovery at all.
# RVS_LAB (default "rvs") prefixes every namespace, so separate labs can coexist on one machine.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB=${RVS_LAB:-rvs}
[[ $LAB =~ ^[a-z][a-z0-9]{0,7}$ ]] || { echo "lab: RVS_LAB must be a short lowercase name" >&2; exit 2; }
STATE=${RVS_LAB_STATE:-/tmp/$LAB-lab}
PY=/usr/bin/python3
NS_CLIENT=$LAB-client
NS_LB=$LAB-lb
NS_SW=$LAB-sw
RS_COUNT=3
NAMESPACES=("$NS_CLIENT" "$NS_LB" "$NS_SW")
for i in $(seq 1 "$RS_COUNT"); do NAMESPACES+=("$LAB-rs$i"); done
# Namespaces some tests create on their own (08-bad-config's empty rvs-cfg); 'down' removes them too.
# The HA and VRRP tests add a second director (lb2), the VRRP tests a plain keepalived peer (ka);
# the exception-path tests add a router, clients behind it and a VLAN switch's namespaces; the
# DR/TUN tests (methods-lib.sh) add a gateway for the real servers' direct replies.
EXTRA_NAMESPACES=("$LAB-lb2" "$LAB-ka" "$LAB-cfg" "$LAB-rtr" "$LAB-rc" "$LAB-vsw" "$LAB-va" "$LAB-vb" "$LAB-vc" "$LAB-vd" "$LAB-gw" "$LAB-d1" "$LAB-d2" "$LAB-d3" "$LAB-d4" "$LAB-pr" "$LAB-c2")
BIG_MB=${RVS_LAB_BIG_MB:-50}
IPV6=${RVS_LAB_IPV6:-0}

log() { echo "lab: $*"; }
die() { echo "lab: error: $*" >&2; exit 1; }

ns_exists() { [[ -e /run/netns/$1 ]]; }

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# Offloads off so kernel peers put real checksums on the wire and no GRO/TSO super-frames
# reach af_packet; each feature separately, since not every kernel knows every name.
offloads_off() {
  local ns=$1 dev=$2 f
  for f in rx tx sg tso gso gro lro rxvlan txvlan tx-udp-segmentation rx-gro-list rx-udp-gro-forwarding; do
    nsx "$ns" ethtool -K "$dev" "$f" off >/dev/null 2>&1 || true
  done
}

no_ipv6() {
  local ns=$1 dev=$2
  nsx "$ns" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1" >/dev/null 2>&1 || true
}

# IPv6 on for one device (RVS_LAB_IPV6=1): no router solicitations or autoconfiguration,
# so the only IPv6 on the wire is the lab's own traffic and neighbour discovery.
v6_on() {
  local ns=$1 dev=$2 k
  for k in "all.disable_ipv6=0" "default.disable_ipv6=0" "$dev.disable_ipv6=0" "$dev.accept_ra=0" \
    "$dev.autoconf=0" "$dev.router_solicitations=0" "$dev.dad_transmits=0"; do
    nsx "$ns" sysctl -qw "net.ipv6.conf.$k" >/dev/null 2>&1 || true
  done
}

ns_base() {
  local ns=$1
  ip netns add "$ns"
  nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 >/dev/null 2>&1 || true
  nsx "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1 || true
  nsx "$ns" ip link set lo up
}

# Sends SIGTERM, waits up to 5 s, then SIGKILL, to each pid given.
kill_pids() {
  local pids=() p i
  for p in "$@"; do [[ $p =~ ^[0-9]+$ ]] && kill -0 "$p" 2>/dev/null && pids+=("$p"); done
  ((${#pids[@]})) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for i in $(seq 50); do
    local alive=()
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
    ((${#alive[@]})) || return 0
    sleep 0.1
  done
  kill -KILL "${alive[@]}" 2>/dev/null || true
}

lab_down() {
  local pids=() f ns
  if [[ -d $STATE ]]; then
    for f in "$STATE"/*.pid "$STATE"/*/*.pid; do
      [[ -f $f ]] || continue
      pids+=("$(head -n1 "$f" 2>/dev/null || true)")
    done
  fi
  for ns in "${NAMESPACES[@]}" "${EXTRA_NAMESPACES[@]}"; do
    if ns_exists "$ns"; then
      mapfile -t -O "${#pids[@]}" pids < <(ip netns pids "$ns" 2>/dev/null || true)
    fi
  done
  kill_pids "${pids[@]}"
  for ns in "${NAMESPACES[@]}" "${EXTRA_NAMESPACES[@]}"; do
    if ns_exists "$ns"; then
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
  if [[ -d $STATE ]]; then
    rm -f "$STATE"/*.pid "$STATE"/*/*.pid "$STATE"/www/big.bin
  fi
  # Deleting a namespace removes its veths; leftovers would be in the root namespace only if
  # an 'up' died between link creation and the move, which 'ip link add ... netns' avoids.
  local left=()
  for ns in "${NAMESPACES[@]}" "${EXTRA_NAMESPACES[@]}"; do ns_exists "$ns" && left+=("$ns"); done
  ((${#left[@]} == 0)) || die "namespaces still present: ${left[*]}"
}

write_nginx_conf() {
  local n=$1 dir=$2
  cat >"$dir/nginx.conf" <<EOF
# RS $n of the RVS lab (generated by scripts/lab.sh)
daemon on;
user root;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    log_format lab '\$remote_addr \$remote_port "\$request" \$status \$body_bytes_sent \$msec';
    access_log $dir/access.log lab;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    sendfile on;
    keepalive_timeout 65;
    keepalive_requests 100000;
    server {
        listen 80 default_server reuseport backlog=4096;
$( ((IPV6)) && echo "        listen [::]:80 default_server reuseport backlog=4096;")
        server_name _;
        root $STATE/www;
        location = / {
            default_type text/plain;
            return 200 "rs$n\n";
        }
        location = /big.bin {
            default_type application/octet-stream;
        }
        # PUT /up/NAME stores the body as $dir/up/NAME (uploads checked byte for byte).
        client_max_body_size 0;
        location /up/ {
            root $dir;
            dav_methods PUT;
            create_full_put_path on;
        }
        # Each server's own health-check page ("test rsN"; ldirectord's request/receive).
        location = /test.html {
            root $dir;
            default_type text/plain;
        }
    }
    # PROXY protocol (v1 or v2, nginx takes either) in front of every request: the balancer's
    # services with proxy_protocol = "v1"/"v2" point here. The log records what the header
    # said (the client) next to the TCP peer (a LIP).
    log_format pp '\$proxy_protocol_addr \$proxy_protocol_port \$remote_addr \$remote_port "\$request" \$status';
    server {
        listen 8081 proxy_protocol backlog=4096;
        server_name _;
        access_log $dir/pp.log pp;
        root $STATE/www;
        client_max_body_size 0;
        location = / {
            default_type text/plain;
            return 200 "rs$n\n";
        }
        location = /big.bin {
            default_type application/octet-stream;
        }
        # PUT /up/NAME stores the body as $dir/up/NAME (uploads checked byte for byte).
        location /up/ {
            root $dir;
            dav_methods PUT;
            create_full_put_path on;
        }
    }
}
EOF
}

lab_up() {
  lab_down
  command -v nginx >/dev/null || die "nginx not installed (run scripts/setup.sh)"
  [[ -x $PY ]] || die "$PY missing (run scripts/setup.sh)"
  rm -rf "$STATE"
  mkdir -p "$STATE/www"
  chmod 755 "$STATE" "$STATE/www"

  log "generating ${BIG_MB} MB big.bin"
  head -c "$((BIG_MB * 1024 * 1024))" /dev/urandom >"$STATE/www/big.bin"
  chmod 644 "$STATE/www/big.bin"
  sha256sum "$STATE/www/big.bin" | awk '{print $1}' >"$STATE/big.sha256"

  local ns
  for ns in "${NAMESPACES[@]}"; do ns_base "$ns"; done

  # client <-> lb
  ip link add c0 netns "$NS_CLIENT" address 02:72:76:00:00:10 type veth \
    peer name lb-c netns "$NS_LB" address 02:72:76:00:01:01
  # lb <-> switch
  ip link add lb-s netns "$NS_LB" address 02:72:76:00:01:02 type veth peer name sw-lb netns "$NS_SW"
  nsx "$NS_SW" ip link add br0 type bridge stp_state 0 forward_delay 0
  nsx "$NS_SW" ip link set br0 type bridge mcast_snooping 0 2>/dev/null || true
  no_ipv6 "$NS_SW" br0
  nsx "$NS_SW" ip link set sw-lb master br0

  # client
  if ((IPV6)); then
    v6_on "$NS_CLIENT" c0
  else
    no_ipv6 "$NS_CLIENT" c0
  fi
  offloads_off "$NS_CLIENT" c0
  nsx "$NS_CLIENT" ip addr add 198.18.0.10/24 dev c0
  local i
  for i in $(seq 11 30); do
    nsx "$NS_CLIENT" ip addr add "198.18.0.$i/24" dev c0
  done
  nsx "$NS_CLIENT" ip link set c0 up
  nsx "$NS_CLIENT" ip route add default via 198.18.0.1 dev c0 src 198.18.0.10
  if ((IPV6)); then
    nsx "$NS_CLIENT" ip -6 addr add 2001:db8:1::10/64 dev c0 nodad
    nsx "$NS_CLIENT" ip -6 route add default via 2001:db8:1::1 dev c0
  fi

  # lb: links up, no addresses; rvsd drives them through net_af_packet
  local dev
  for dev in lb-c lb-s; do
    no_ipv6 "$NS_LB" "$dev"
    offloads_off "$NS_LB" "$dev"
    nsx "$NS_LB" ip link set "$dev" up
  done
  offloads_off "$NS_SW" sw-lb

  # real servers
  for i in $(seq 1 "$RS_COUNT"); do
    ns=$LAB-rs$i
    ip link add eth0 netns "$ns" address "02:72:76:00:02:1$i" type veth peer name "sw-rs$i" netns "$NS_SW"
    nsx "$NS_SW" ip link set "sw-rs$i" master br0
    offloads_off "$NS_SW" "sw-rs$i"
    if ((IPV6)); then
      v6_on "$ns" eth0
    else
      no_ipv6 "$ns" eth0
    fi
    offloads_off "$ns" eth0
    nsx "$ns" ip addr add "198.19.0.1$i/24" dev eth0
    nsx "$ns" ip link set eth0 up
    nsx "$ns" ip route add default via 198.19.0.1 dev eth0
    if ((IPV6)); then
      nsx "$ns" ip -6 addr add "2001:db8:2::1$i/64" dev eth0 nodad
      nsx "$ns" ip -6 route add default via 2001:db8:2::1 dev eth0
    fi
  done
  local swdevs=(sw-lb br0)
  for i in $(seq 1 "$RS_COUNT"); do swdevs+=("sw-rs$i"); done
  for dev in "${swdevs[@]}"; do
    no_ipv6 "$NS_SW" "$dev"
    nsx "$NS_SW" ip link set "$dev" up
  done

  # services on the real servers
  for i in $(seq 1 "$RS_COUNT"); do
    ns=$LAB-rs$i
    local dir=$STATE/rs$i
    mkdir -p "$dir/tmp"
    write_nginx_conf "$i" "$dir"
    echo "test rs$i" >"$dir/test.html"
    nsx "$ns" nginx -q -c "$dir/nginx.conf" -t >/dev/null 2>"$dir/nginx-t.log" ||
      { cat "$dir/nginx-t.log" >&2; die "nginx config test failed for rs$i"; }
    nsx "$ns" nginx -c "$dir/nginx.conf" </dev/null >/dev/null 2>>"$dir/error.log" || die "nginx failed to start in $ns"
    nsx "$ns" setsid "$PY" "$ROOT/scripts/udp-echo.py" 5353 "$dir/echo.pid" "$( ((IPV6)) && echo dual)" \
      </dev/null >"$dir/echo.log" 2>&1 &
  done

  # wait (bounded) for every service to answer from inside its own namespace
  for i in $(seq 1 "$RS_COUNT"); do
    ns=$LAB-rs$i
    local ok=0 _
    for _ in $(seq 100); do
      if [[ -s $STATE/rs$i/nginx.pid && -s $STATE/rs$i/echo.pid ]] &&
        nsx "$ns" curl -s --max-time 1 "http://198.19.0.1$i/" 2>/dev/null | grep -qx "rs$i"; then
        ok=1
        break
      fi
      sleep 0.1
    done
    ((ok)) || die "rs$i services did not come up (see $STATE/rs$i/)"
  done
  log "up: ${NAMESPACES[*]} (state in $STATE)"
}

lab_status() {
  local ns any=0
  for ns in "${NAMESPACES[@]}"; do
    if ns_exists "$ns"; then
      any=1
      local pids
      pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
      printf '%-11s up   pids: %s\n' "$ns" "${pids:-none}"
      nsx "$ns" ip -br addr show | sed 's/^/    /'
    else
      printf '%-11s absent\n' "$ns"
    fi
  done
  ((any)) || return 3
}

((EUID == 0)) || die "must run as root"
case ${1:-} in
  up) lab_up ;;
  down) lab_down; log "down" ;;
  status) lab_status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
