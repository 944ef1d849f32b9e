#!/usr/bin/env bash
# The bench as users of a kernel-bypass balancer run it: dpdk-testpmd generates the
# traffic and counts what comes out, the device under test sits in the middle.
#
#   bench/testpmd.sh OUTDIR        (root; writes OUTDIR/testpmd.json and OUTDIR/testpmd/)
#
#   gen: testpmd txonly ──memif── DUT ──memif── sink: testpmd rxonly
#        256 UDP flows                port 0 "client"   port 1 "server"
#        198.18.x.101:1024 -> VIP 198.18.0.100:9
#
# DUT is either rvsd (FULLNAT, one worker; UDP service VIP:9 -> 198.19.0.11:9, LIP
# 198.19.0.200) or dpdk-testpmd --forward-mode=io (the baseline), alternating, on the same
# links and cores. Links are net_memif (shared memory, no kernel; sockets in a private
# directory), every process EAL --no-huge -m 512 with its own --file-prefix.
#
# testpmd rxonly answers nothing, ARP included: rvsd is given the sink's MAC as a static
# neighbour ([[neighbour]]), as a site pins a gateway, so the sink is rxonly throughout.
# Generator and sink are interactive (driven over FIFOs), so both are read at the same
# moments: "show port stats" at the start and at the end of the window.
#
# Cores (2 CPUs): the DUT forwards on CPU 1 (rvsd's worker / testpmd's forwarding lcore),
# its main thread on CPU 0; generator and sink both on CPU 0 (main and forwarding lcore
# each). Two busy pollers on one CPU take turns in scheduler slices of several ms, far
# longer than a memif ring lasts, so the sink would miss most of what the DUT sends. The
# generator therefore runs in a CPU cgroup with a quota of 1 ms per 2 ms
# (BENCH_TPMD_GEN_SHARE=50 %): the sink never waits more than a few ms, and the memif
# rings are the largest memif allows, 16,384 slots (rsize=14) of 128-byte buffers
# (bsize=128; the frames are 60 bytes). Even so, generator and sink on one CPU bound what
# the harness can carry: a third variant, "direct" (generator straight into the sink over
# one memif link, no DUT), measures that ceiling in the same invocation, so a reader sees
# whether the io baseline is DUT-bound or harness-bound. The generator offers as much as its share allows; memif
# back-pressure (the DUT's rx ring full) shows up as the generator's TX-dropped, not as
# loss. Loss is what the DUT took from the generator and did not deliver to the sink
# within the window.
#
# Environment: BENCH_TPMD_SECONDS (window, default 5), BENCH_TPMD_REPS (3),
# BENCH_TPMD_WARMUP (seconds before the window, default 2), BENCH_TPMD_GEN_SHARE (50-100).
# Everything started here is stopped, and the temporary directory removed, on any exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:?usage: bench/testpmd.sh OUTDIR}
SECS=${BENCH_TPMD_SECONDS:-5}
REPS=${BENCH_TPMD_REPS:-3}
WARMUP=${BENCH_TPMD_WARMUP:-2}
GEN_SHARE=${BENCH_TPMD_GEN_SHARE:-50}
DUTS=${BENCH_TPMD_DUTS:-direct io rvs}
D=$OUT/testpmd
PY=/usr/bin/python3
RVSD=$ROOT/target/release/rvsd
RVSADM=$ROOT/target/release/rvsadm
TMP=$(mktemp -d /tmp/bnc-tpmd.XXXXXX)
PREFIX=bnc-tpmd-$$
VIP=198.18.0.100
RIP=198.19.0.11
MAC_GEN=02:00:c6:12:00:0a
MAC_CLIENT=02:00:c6:12:00:01
MAC_SERVER=02:00:c6:13:00:01
MAC_SINK=02:00:c6:13:00:0b
CSOCK=$TMP/client.sock
SSOCK=$TMP/server.sock
FRAME=60
EAL=(--no-huge -m 512 --no-pci --no-telemetry)
CG=/sys/fs/cgroup/cpu/bnc-tpmd-gen-$$
CG_OK=0

log() { echo "bench-testpmd: $*" >&2; }

PIDS=()
# Stops every process this script started and still runs (INT, then KILL after 5 s).
stop_all() {
  exec 8>&- 9>&-
  local p
  for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  PIDS=()
}
cleanup() {
  set +e
  stop_all
  if [[ -d $CG ]]; then
    for _ in $(seq 20); do rmdir "$CG" 2>/dev/null && break; sleep 0.25; done
  fi
  rm -rf "$TMP"
  # The DPDK runtime directories of the four processes.
  rm -rf "/var/run/dpdk/$PREFIX"-*
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A peer that died makes writing its FIFO fail (the run fails) instead of killing us.
trap '' PIPE

command -v dpdk-testpmd >/dev/null || { log "dpdk-testpmd missing (apt-get install dpdk)"; exit 2; }
[[ -x $RVSD && -x $RVSADM ]] || { log "target/release/rvsd missing (cargo build --release)"; exit 2; }
rm -rf "$D"
mkdir -p "$D"
# The generator's CPU quota (cgroup v1 cpu controller, as mounted here).
# The quota cannot be under 1 ms, so the share sets the period.
if mkdir "$CG" 2>/dev/null && echo $((100000 / GEN_SHARE)) >"$CG/cpu.cfs_period_us" &&
  echo 1000 >"$CG/cpu.cfs_quota_us"; then
  CG_OK=1
else
  log "no cgroup cpu quota available: generator and sink time-share CPU 0 unpaced"
fi

# Waits until FILE contains PATTERN (extended regexp), for at most SECS seconds.
wait_for() {
  local file=$1 pat=$2 secs=$3
  for _ in $(seq $((secs * 10))); do
    grep -qE "$pat" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

memif() { # memif vdev spec: INDEX ROLE SOCKET MAC
  echo "net_memif$1,role=$2,socket=$3,socket-abstract=no,mac=$4,rsize=14,bsize=128"
}

start_dut_io() {
  local log=$1
  dpdk-testpmd "${EAL[@]}" --file-prefix "$PREFIX-dut" --lcores '0@0,1@1' \
    --vdev "$(memif 0 server "$CSOCK" "$MAC_CLIENT")" --vdev "$(memif 1 server "$SSOCK" "$MAC_SERVER")" \
    -- --forward-mode=io --nb-cores=1 --stats-period 1 --total-num-mbufs=16384 </dev/null >"$log" 2>&1 &
  DUT_PID=$!
  PIDS+=("$DUT_PID")
  # Ready once forwarding runs: a memif server refuses ("ID not found") clients that
  # connect between the probe (socket created) and the port's start.
  for _ in $(seq 80); do
    [[ -S $CSOCK && -S $SSOCK ]] && grep -q "packet forwarding - ports=" "$log" && return 0
    kill -0 "$DUT_PID" 2>/dev/null || break
    sleep 0.25
  done
  log "testpmd io did not start"
  tail -20 "$log" >&2
  return 1
}

start_dut_rvs() {
  local log=$1 cfg=$TMP/rvsd.toml
  cat >"$cfg" <<EOF
[dataplane]
eal_args = ["--no-huge", "-m", "512", "--file-prefix", "$PREFIX-rvsd", "--no-pci", "--no-telemetry"]
workers = [1]
main_cpu = 0
idle_spin = 256
idle_sleep_us = 0
control_socket = "$TMP/rvsd.sock"
max_sessions = 65536

[[port]]
name = "client"
device = "net_memif0"
devargs = "role=server,socket=$CSOCK,socket-abstract=no,mac=$MAC_CLIENT,rsize=14,bsize=128"
addresses = ["198.18.0.1/24"]

[[port]]
name = "server"
device = "net_memif1"
devargs = "role=server,socket=$SSOCK,socket-abstract=no,mac=$MAC_SERVER,rsize=14,bsize=128"
addresses = ["198.19.0.1/24"]

# txonly's multi-flow sources are 198.18.0-255.101: replies (none here) would go back
# through the client port.
[[route]]
prefix = "198.18.0.0/16"
via = "198.18.0.254"

[[service]]
protocol = "udp"
address = "$VIP:9"
scheduler = "rr"
local_addresses = ["198.19.0.200"]
real = [{ address = "$RIP:9", weight = 1 }]

# rxonly answers no ARP.
[[neighbour]]
address = "$RIP"
mac = "$MAC_SINK"
EOF
  cp "$cfg" "$D/rvsd.toml"
  "$RVSD" --config "$cfg" </dev/null >"$log" 2>&1 &
  DUT_PID=$!
  PIDS+=("$DUT_PID")
  for _ in $(seq 80); do
    kill -0 "$DUT_PID" 2>/dev/null || break
    "$RVSADM" --socket "$TMP/rvsd.sock" -Ln >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  log "rvsd did not come up"
  tail -20 "$log" >&2
  return 1
}

# An interactive testpmd on one memif port, fed commands through a FIFO on fd FD.
start_peer() { # NAME FD ROLE SOCKET MAC EXTRA...
  local name=$1 fd=$2 role=$3 sock=$4 mac=$5
  shift 5
  local fifo=$TMP/$name.in
  rm -f "$fifo"
  mkfifo "$fifo"
  # Line-buffered, so that what it printed survives a crash at exit.
  stdbuf -oL dpdk-testpmd "${EAL[@]}" --file-prefix "$PREFIX-$name" --lcores '0@0,1@0' \
    --vdev "$(memif 0 "$role" "$sock" "$mac")" -- -i --nb-cores=1 --total-num-mbufs=16384 "$@" \
    <"$fifo" >"$D/$name.log.tmp" 2>&1 &
  PEER_PID=$!
  PIDS+=("$PEER_PID")
  eval "exec $fd>\"$fifo\""
}

count_done() { # LOG: how many times testpmd has said its forwarding lcores stopped
  local n
  n=$(grep -c '^Done\.$' "$1" 2>/dev/null) || true
  echo "${n:-0}"
}

stopped() { # LOG BEFORE: wait (up to 5 s) until testpmd has said so once more than BEFORE
  local _
  for _ in $(seq 50); do
    (($(count_done "$1") > $2)) && return 0
    sleep 0.1
  done
  return 1
}

stop_pid() { # PID SIGNAL
  local p=$1 sig=$2
  kill -"$sig" "$p" 2>/dev/null || return 0
  for _ in $(seq 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.25; done
  kill -9 "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}

one_run() { # DUT REP
  local dut=$1 rep=$2 tag=$1-$2
  local dlog=$D/$tag-dut.log
  log "$tag: DUT up"
  rm -f "$CSOCK" "$SSOCK"
  local srole=client ssock=$SSOCK
  case $dut in
    io) start_dut_io "$dlog" || return 1 ;;
    rvs) start_dut_rvs "$dlog" || return 1 ;;
    direct) srole=server ssock=$CSOCK ;; # the generator's link ends at the sink
  esac
  # The sink: counts what arrives (rvsd has its MAC as a static neighbour).
  start_peer sink 9 "$srole" "$ssock" "$MAC_SINK"
  local sink_pid=$PEER_PID
  if [[ $dut == direct ]]; then
    wait_for "$D/sink.log.tmp" "testpmd> " 20 || { log "$tag: sink did not start"; return 1; }
  fi
  echo "set fwd rxonly" >&9
  echo "start" >&9
  start_peer gen 8 client "$CSOCK" "$MAC_GEN" --txonly-multi-flow --tx-ip="198.18.0.10,$VIP" --tx-udp=1024,9 \
    --txpkts=$FRAME --eth-peer="0,$MAC_CLIENT"
  local gen_pid=$PEER_PID
  if ((CG_OK)); then echo "$gen_pid" >"$CG/cgroup.procs"; fi
  echo "set fwd txonly" >&8
  wait_for "$D/gen.log.tmp" "testpmd> " 20 || { log "$tag: generator did not start"; return 1; }
  wait_for "$D/sink.log.tmp" "testpmd> " 20 || { log "$tag: sink did not start"; return 1; }
  echo "start" >&8
  sleep "$WARMUP"
  local t0 t1
  t0=$(date +%s.%N)
  echo "show port stats all" >&8
  echo "show port stats all" >&9
  sleep "$SECS"
  t1=$(date +%s.%N)
  echo "show port stats all" >&8
  echo "show port stats all" >&9
  sleep 0.5
  if [[ $dut == rvs ]]; then
    "$RVSADM" --socket "$TMP/rvsd.sock" --workers >"$D/$tag-rvsadm-workers.txt" 2>&1 || true
    "$RVSADM" --socket "$TMP/rvsd.sock" -Ln --stats --exact >"$D/$tag-rvsadm-stats.txt" 2>&1 || true
    "$RVSADM" --socket "$TMP/rvsd.sock" -Lnc >"$D/$tag-rvsadm-conns.txt" 2>&1 || true
  fi
  # No process may poll a memif link while its peer leaves: DPDK 22.11's memif PMD
  # unmaps a link's shared memory when the peer disconnects, without waiting for a thread
  # inside its rx/tx burst, which then faults (rvsd did, in 2 of 3 rounds of one run,
  # when the sink and generator quit before it). So both testpmds stop forwarding first
  # (they stay connected, no lcore of theirs polling), then the DUT leaves, then they quit;
  # in "direct" the sink, the memif server there, quits first.
  local gen_done sink_done
  gen_done=$(count_done "$D/gen.log.tmp")
  sink_done=$(count_done "$D/sink.log.tmp")
  echo "stop" >&8
  echo "stop" >&9
  stopped "$D/gen.log.tmp" "$gen_done" || log "$tag: the generator did not stop forwarding"
  stopped "$D/sink.log.tmp" "$sink_done" || log "$tag: the sink did not stop forwarding"
  case $dut in
    io) stop_pid "$DUT_PID" INT ;;
    rvs) stop_pid "$DUT_PID" TERM ;;
  esac
  echo "quit" >&9
  exec 9>&-
  stop_pid "$sink_pid" INT
  echo "quit" >&8
  exec 8>&-
  stop_pid "$gen_pid" INT
  mv "$D/gen.log.tmp" "$D/$tag-gen.log"
  mv "$D/sink.log.tmp" "$D/$tag-sink.log"
  echo "$t0 $t1" >"$D/$tag-window.txt"
  PIDS=()
}

for rep in $(seq "$REPS"); do
  for dut in $DUTS; do
    if ! one_run "$dut" "$rep"; then
      log "$dut run $rep failed"
      stop_all
      for f in gen sink; do
        if [[ -f $D/$f.log.tmp ]]; then mv "$D/$f.log.tmp" "$D/$dut-$rep-$f.failed.log"; fi
      done
    fi
  done
done

GEN_PACED=$GEN_SHARE
((CG_OK)) || GEN_PACED=
"$PY" - "$D" "$OUT/testpmd.json" "$SECS" "$FRAME" "$GEN_PACED" <<'EOF'
import glob, json, os, re, statistics, sys
d, out, secs, frame = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
gen_share = int(sys.argv[5]) if sys.argv[5] else None

def blocks(path):
    """The "show port stats" blocks of an interactive testpmd log, in order."""
    try:
        text = open(path).read()
    except OSError:
        return []
    res = []
    for b in re.findall(r"NIC statistics for port 0\s+#+\n(.*?)\n\s*#{20,}", text, re.S):
        g = lambda k: int(re.search(k + r":\s+(\d+)", b).group(1))
        res.append({"rx": g("RX-packets"), "tx": g("TX-packets"), "rx_missed": g("RX-missed"),
                    "rx_pps": g("Rx-pps"), "tx_pps": g("Tx-pps")})
    return res

def tx_dropped(path):
    try:
        m = re.findall(r"TX-dropped:\s+(\d+)", open(path).read())
    except OSError:
        return None
    return int(m[-1]) if m else None

runs = []
for w in sorted(glob.glob(os.path.join(d, "*-window.txt"))):
    tag = os.path.basename(w)[: -len("-window.txt")]
    dut, rep = tag.rsplit("-", 1)
    t0, t1 = map(float, open(w).read().split())
    g, s = blocks(os.path.join(d, f"{tag}-gen.log")), blocks(os.path.join(d, f"{tag}-sink.log"))
    if len(g) < 2 or len(s) < 2:
        runs.append({"dut": dut, "rep": int(rep), "error": "stats missing"})
        continue
    sent = g[-1]["tx"] - g[-2]["tx"]
    got = s[-1]["rx"] - s[-2]["rx"]
    secs_ = t1 - t0
    runs.append({
        "dut": dut, "rep": int(rep), "window_s": round(secs_, 3),
        "gen_tx_packets": sent, "sink_rx_packets": got,
        "gen_tx_pps": sent / secs_, "sink_rx_pps": got / secs_,
        # testpmd's own "since last show" rates (its TSC clock), as a cross-check.
        "gen_tx_pps_testpmd": g[-1]["tx_pps"], "sink_rx_pps_testpmd": s[-1]["rx_pps"],
        "loss": (1 - got / sent) if sent else None,
        "gen_tx_dropped_total": tx_dropped(os.path.join(d, f"{tag}-gen.log")),
    })

def med(dut, key):
    v = [r[key] for r in runs if r["dut"] == dut and r.get(key) is not None]
    return statistics.median(v) if v else None

io, rvs, direct = med("io", "sink_rx_pps"), med("rvs", "sink_rx_pps"), med("direct", "sink_rx_pps")
json.dump({
    "method": "dpdk-testpmd txonly (256 UDP flows, --txonly-multi-flow) -> DUT -> testpmd rxonly; "
              "net_memif links, --no-huge; DUT forwarding on CPU 1, generator and sink on CPU 0; "
              "pps = what the sink received per second of the window; median over runs",
    "link": "net_memif", "frame_bytes": frame, "flows": 256, "window_s": secs,
    "generator_cpu_share_percent": gen_share,
    "testpmd_io_pps": io, "rvs_pps": rvs,
    # The harness's own ceiling: generator straight into the sink, no DUT.
    "direct_pps": direct, "io_over_direct": (io / direct) if io and direct else None,
    "ratio_rvs_over_io": (rvs / io) if io and rvs is not None else None,
    "testpmd_io_loss": med("io", "loss"), "rvs_loss": med("rvs", "loss"),
    "testpmd_io_offered_pps": med("io", "gen_tx_pps"), "rvs_offered_pps": med("rvs", "gen_tx_pps"),
    "runs": runs,
}, open(out, "w"), indent=2)
print(json.dumps({k: v for k, v in json.load(open(out)).items() if k != "runs"}, indent=2))
EOF
