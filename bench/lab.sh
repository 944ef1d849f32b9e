#!/usr/bin/env bash
# Lab benchmark: the same client load through four load balancers in the lb namespace of
# the netns lab (scripts/lab.sh): rvsd FULLNAT (DPDK af_packet), nftables DNAT+SNAT with
# numgen round robin (in-kernel FULLNAT), HAProxy mode tcp, nginx stream.
#
#   bench/lab.sh OUTDIR        (root; RVS_LAB defaults to "bnc" here)
#
# Per peer: UDP pps (iperf3 -u, 64-byte datagrams, to VIP:5201 -> rs1), TCP connections
# per second (wrk, HTTP/1.0-style "Connection: close", VIP:80 -> rs1..3), bulk TCP
# throughput (iperf3, VIP:5201 -> rs1) and request latency with one connection
# (wrk -c1 keep-alive; p50/p99 minus the same from rs2 straight to rs1 = added latency).
# The balancer runs on CPU 1 (rvsd's worker, haproxy nbthread 1, nginx 1 worker, all
# pinned with taskset; nftables runs in softirq wherever the packet is), the load
# generators on CPU 0. Raw outputs go to OUTDIR/lab/; bench/report.py reads them.
# Everything started here runs inside the lab's namespaces and dies with them: the EXIT
# trap stops rvsd and runs `scripts/lab.sh down` whatever happens.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:?usage: bench/lab.sh OUTDIR}
export RVS_LAB=${RVS_LAB:-bnc}
export RVS_LAB_STATE=/tmp/$RVS_LAB-lab
export RVS_LAB_BIG_MB=1
DUR=${BENCH_LAB_SECONDS:-5}
PEERS=${BENCH_LAB_PEERS:-"rvs nftables haproxy nginx"}
SOCK=/run/rvsd/$RVS_LAB.sock
LAB_OUT=$OUT/lab
mkdir -p "$LAB_OUT"
CLIENT=$RVS_LAB-client
LB=$RVS_LAB-lb
VIP=198.18.0.100
RVSD_PID=

log() { echo "bench-lab: $*" >&2; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

cleanup() {
  set +e
  if [[ -n $RVSD_PID ]] && kill -0 "$RVSD_PID" 2>/dev/null; then
    kill "$RVSD_PID"
    for _ in $(seq 40); do kill -0 "$RVSD_PID" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$RVSD_PID" 2>/dev/null
  fi
  "$ROOT/scripts/lab.sh" down >/dev/null 2>&1 || "$ROOT/scripts/lab.sh" down
  # rvsd's DPDK runtime directory.
  rm -rf "/var/run/dpdk/$RVS_LAB-bench-$$"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for t in wrk iperf3 nft haproxy nginx; do
  command -v "$t" >/dev/null || { log "missing $t (run bench/setup.sh)"; exit 2; }
done
[[ -x $ROOT/target/release/rvsd ]] || { log "target/release/rvsd missing (cargo build --release)"; exit 2; }

# A fresh lab per peer: no TIME_WAIT, conntrack or stuck iperf3 server carries over from
# one balancer to the next.
lab_up() {
  log "lab up ($RVS_LAB)"
  "$ROOT/scripts/lab.sh" up >>"$LAB_OUT/lab-up.log" 2>&1
  # iperf3 servers on every real server (the 5201 services use rs1 only, so the control
  # and data connections of one test meet the same server).
  for i in 1 2 3; do
    nsx "$RVS_LAB-rs$i" iperf3 -s -D -p 5201 --pidfile "$RVS_LAB_STATE/rs$i/iperf3.pid"
  done
}

# --- load generators (CPU 0) -------------------------------------------------------------

# measure PEER: every figure for the balancer currently in place.
measure() {
  local peer=$1
  log "$peer: warm-up"
  nsx "$CLIENT" curl -s --max-time 2 "http://$VIP/" >/dev/null || true
  if [[ $peer != haproxy ]]; then
    log "$peer: UDP pps"
    nsx "$CLIENT" taskset -c 0 timeout $((DUR + 15)) iperf3 -c "$VIP" -p 5201 -u -b 0 -l 64 -t "$DUR" -J \
      >"$LAB_OUT/$peer-udp.json" 2>&1 || log "$peer: iperf3 -u failed"
  fi
  log "$peer: TCP connections/s"
  nsx "$CLIENT" taskset -c 0 timeout $((DUR + 15)) wrk -t1 -c32 -d"${DUR}s" --latency -H "Connection: close" \
    "http://$VIP/" >"$LAB_OUT/$peer-cps.txt" 2>&1 || log "$peer: wrk cps failed"
  log "$peer: bulk TCP"
  nsx "$CLIENT" taskset -c 0 timeout $((DUR + 15)) iperf3 -c "$VIP" -p 5201 -t "$DUR" -J \
    >"$LAB_OUT/$peer-bulk.json" 2>&1 || log "$peer: iperf3 failed"
  log "$peer: latency (1 connection)"
  nsx "$CLIENT" taskset -c 0 timeout 20 wrk -t1 -c1 -d3s --latency "http://$VIP/" \
    >"$LAB_OUT/$peer-lat.txt" 2>&1 || log "$peer: wrk latency failed"
}


forget_neighbours() {
  local ns
  for ns in "$CLIENT" "$RVS_LAB-rs1" "$RVS_LAB-rs2" "$RVS_LAB-rs3"; do nsx "$ns" ip neigh flush all 2>/dev/null || true; done
}

# Kernel addresses in the lb namespace, for the in-kernel peers (rvsd uses none).
kernel_lb_up() {
  nsx "$LB" ip addr add 198.18.0.1/24 dev lb-c
  nsx "$LB" ip addr add $VIP/32 dev lb-c
  nsx "$LB" ip addr add 198.19.0.1/24 dev lb-s
  nsx "$LB" ip addr add 198.19.0.200/32 dev lb-s
  nsx "$LB" sysctl -qw net.ipv4.ip_forward=1
  nsx "$LB" sysctl -qw net.ipv4.ip_local_port_range="1025 65000"
  nsx "$LB" sysctl -qw net.ipv4.tcp_tw_reuse=1
  forget_neighbours
}

run_rvs() {
  local cfg=$RVS_LAB_STATE/bench-rvsd.toml
  sed -e "s/\"--file-prefix\", \"rvsd-lab\"/\"--file-prefix\", \"$RVS_LAB-bench-$$\"/" \
    -e "s|^control_socket = .*|control_socket = \"$SOCK\"|" \
    -e "s/^idle_sleep_us = .*/idle_sleep_us = 0/" \
    "$ROOT/examples/lab.toml" >"$cfg"
  cat >>"$cfg" <<'EOF'

[[service]]
protocol = "tcp"
address = "198.18.0.100:5201"
scheduler = "rr"
local_addresses = ["198.19.0.200", "198.19.0.201"]
real = [{ address = "198.19.0.11:5201", weight = 1 }]

[[service]]
protocol = "udp"
address = "198.18.0.100:5201"
scheduler = "rr"
local_addresses = ["198.19.0.200", "198.19.0.201"]
real = [{ address = "198.19.0.11:5201", weight = 1 }]
EOF
  nsx "$LB" "$ROOT/target/release/rvsd" --config "$cfg" </dev/null >"$LAB_OUT/rvsd.log" 2>&1 &
  RVSD_PID=$!
  local ok=0
  for _ in $(seq 80); do
    kill -0 "$RVSD_PID" 2>/dev/null || break
    if "$ROOT/target/release/rvsadm" --socket "$SOCK" -Ln >/dev/null 2>&1 ||
      RVSADM_SOCKET=$SOCK "$ROOT/target/release/rvsadm" -Ln >/dev/null 2>&1; then
      ok=1
      break
    fi
    sleep 0.25
  done
  if ((ok == 0)); then
    # Fall back to the data plane itself answering.
    for _ in $(seq 40); do
      nsx "$CLIENT" ping -n -c1 -W1 198.18.0.1 >/dev/null 2>&1 && { ok=1; break; }
      sleep 0.25
    done
  fi
  ((ok)) || { log "rvsd did not come up"; tail -20 "$LAB_OUT/rvsd.log" >&2; return 1; }
  for _ in $(seq 40); do
    nsx "$CLIENT" ping -n -c1 -W1 198.18.0.1 >/dev/null 2>&1 && break
    sleep 0.25
  done
  measure rvs
  kill "$RVSD_PID"
  for _ in $(seq 40); do kill -0 "$RVSD_PID" 2>/dev/null || break; sleep 0.25; done
  kill -9 "$RVSD_PID" 2>/dev/null || true
  wait "$RVSD_PID" 2>/dev/null || true
  RVSD_PID=
}

run_nftables() {
  nsx "$LB" nft -f - <<'EOF'
table ip bench {
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr 198.18.0.100 tcp dport 80 dnat to numgen inc mod 3 map { 0 : 198.19.0.11, 1 : 198.19.0.12, 2 : 198.19.0.13 }
    ip daddr 198.18.0.100 tcp dport 5201 dnat to 198.19.0.11
    ip daddr 198.18.0.100 udp dport 5201 dnat to 198.19.0.11
  }
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    ip daddr 198.19.0.0/24 ip saddr 198.18.0.0/24 snat to 198.19.0.200
  }
}
EOF
  measure nftables
  nsx "$LB" nft delete table ip bench
}

run_haproxy() {
  local cfg=$RVS_LAB_STATE/haproxy.cfg
  cat >"$cfg" <<EOF
global
    nbthread 1
    maxconn 5000
    pidfile $RVS_LAB_STATE/haproxy.pid
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
listen http
    bind $VIP:80
    balance roundrobin
    source 198.19.0.200
    server rs1 198.19.0.11:80
    server rs2 198.19.0.12:80
    server rs3 198.19.0.13:80
listen iperf
    bind $VIP:5201
    source 198.19.0.200
    server rs1 198.19.0.11:5201
EOF
  nsx "$LB" taskset -c 1 haproxy -D -f "$cfg"
  sleep 0.5
  measure haproxy
  kill "$(cat "$RVS_LAB_STATE/haproxy.pid")" 2>/dev/null || true
  sleep 0.5
}

run_nginx() {
  local dir=$RVS_LAB_STATE/lbnginx
  mkdir -p "$dir"
  cat >"$dir/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon on;
user root;
worker_processes 1;
worker_cpu_affinity 10;
worker_rlimit_nofile 100000;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 50000; }
stream {
    upstream web { server 198.19.0.11:80; server 198.19.0.12:80; server 198.19.0.13:80; }
    server { listen $VIP:80 reuseport backlog=4096; proxy_pass web; proxy_bind 198.19.0.200; }
    server { listen $VIP:5201; proxy_pass 198.19.0.11:5201; proxy_bind 198.19.0.200; }
    server { listen $VIP:5201 udp; proxy_pass 198.19.0.11:5201; proxy_bind 198.19.0.200; }
}
EOF
  nsx "$LB" nginx -c "$dir/nginx.conf"
  sleep 0.5
  measure nginx
  kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
  sleep 0.5
}

lab_up
# Baseline for added latency: rs2 asks rs1 directly (one bridge hop, no balancer).
log "baseline latency rs2 -> rs1"
nsx "$RVS_LAB-rs2" taskset -c 0 timeout 20 wrk -t1 -c1 -d3s --latency "http://198.19.0.11/" \
  >"$LAB_OUT/direct-lat.txt" 2>&1 || true
first=1
for peer in $PEERS; do
  ((first)) || lab_up
  first=0
  case $peer in
    rvs) run_rvs || log "rvs: failed" ;;
    nftables | haproxy | nginx)
      kernel_lb_up
      "run_$peer" || log "$peer: failed"
      ;;
    *) log "unknown peer $peer" ;;
  esac
done
log "done; raw results in $LAB_OUT"
