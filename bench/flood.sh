#!/usr/bin/env bash
# Flood figures (bench, not CI): rvs-flood (bench/flood, DPDK) floods the balancer's client
# port from the client namespace while a legitimate client connects in a loop, first with
# rvsd as the balancer, then with the in-kernel peer (nftables) in the same namespace.
#
#   bench/flood.sh [--seconds S] [--kinds "syn ack udp"] [--pps N] [--peers "rvsd nftables"] [OUTDIR]   (root)
#
#   rvs-client: rvs-flood on c0 (net_af_packet, CPU 0)  ──veth──  rvs-lb, CPU 1:
#               curl / udp_burst through the kernel on c0          rvsd (1 worker), or the kernel
#   Peer rvsd:     TCP VIP:80 --synproxy, UDP VIP:53 --source-rate 100:200 (FULLNAT to rs1-3)
#   Peer nftables: the lb namespace's kernel with net.ipv4.tcp_syncookies=1 and nftables'
#                  synproxy (SYN cookies answered in the kernel, conntrack only after a
#                  valid ACK), DNAT round robin to rs1-3 + SNAT to the LIP, UDP DNAT with a
#                  per-source meter on new flows (100/s, burst 200); RPS puts the lb
#                  namespace's receive work on CPU 1, the core rvsd's worker has.
# Why this peer: it is the kernel's own equivalent of rvsd's SYN proxy. Plain DNAT would
# pass every flood SYN to the real servers (their syncookies would absorb it, not the
# balancer), and a proxy behind a kernel listener (HAProxy, nginx) answers cookies the
# same way but adds a user-space hop per legitimate connection; nftables' synproxy
# answers in the kernel without state and hands only completed handshakes on, as rvsd does.
#
# Kinds: `syn` (spoofed SYNs from random sources in 198.18.64.0/18), `ack` (spoofed ACKs
# with forged cookies), `udp` (datagrams from 16 sources with random ports: a per-source
# limit's case). For each peer and kind: what rvs-flood sent (pps), what the balancer
# received (rvsd's port rx, or lb-c's rx in the kernel), what it absorbed (SYNs answered
# with a cookie: rvsd's synproxy_syn_answered, the kernel's synproxy syn_received; per
# worker, or per CPU for the kernel), its drops by reason, the legitimate client's success
# rate (curls, or UDP datagrams echoed; goal >= 99 %), flood segments that reached a real
# server (the flood's TCP window 7911 in captures there; must be 0), for UDP the datagrams
# the servers got beyond the legitimate ones, and the sessions (conntrack entries) made.
# Prints a table and the rvsd/kernel ratios and, with OUTDIR, writes OUTDIR/flood.json.
# The lab (namespaces, rvsd) is torn down on any exit (tests/lab/lib.sh's traps).
set -uo pipefail
SECS=10
KINDS="syn ack udp"
PEERS="rvsd nftables"
PPS=0
OUT=
while (($#)); do
  case $1 in
    --seconds) SECS=$2; shift 2 ;;
    --kinds) KINDS=$2; shift 2 ;;
    --peers) PEERS=$2; shift 2 ;;
    --pps) PPS=$2; shift 2 ;;
    -h | --help) sed -n '2,32p' "$0"; exit 0 ;;
    *) OUT=$1; shift ;;
  esac
done
export RVS_LAB=${RVS_LAB:-rvsfl}
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/../tests/lab/lib.sh"
FLOOD=${RVS_FLOOD:-$ROOT/target/release/rvs-flood}
[[ -x $FLOOD ]] || die "rvs-flood not built: cargo build --release -p rvs-flood"
command -v nft >/dev/null || die "nft missing (bench/setup.sh)"
# The SYN flood's spoofed sources, answered through the client's link by both peers.
FLOOD_NET=198.18.64.0/18

# ---------------------------------------------------------------- rvsd

rvsd_peer_up() {
  make_config 1 "$CFG_DIR/rvsd.toml"
  rvsd_start "$CFG_DIR/rvsd.toml"
  warm_up
  rvsadm -E -t "$VIP:80" -s rr --synproxy || die "synproxy on VIP:80"
  rvsadm -E -u "$VIP:53" -s rr --source-rate 100:200 || die "source-rate on VIP:53"
}

# rvsd_snapshot: rvsd's counters as JSON (rx and created summed, rx per worker, drops and
# events by reason, summed over workers).
# shellcheck disable=SC2317 # called as ${peer}_snapshot
rvsd_snapshot() {
  local w ticks
  w=$(rvsadm --workers)
  # The workers' CPU time (utime + stime, clock ticks): the polling loop and its syscalls.
  ticks=$(cat /proc/"$RVSD_PID"/task/*/stat 2>/dev/null | awk '$2 ~ /^\(rvs-worker/ {s += $14 + $15} END {print s + 0}')
  "$PY" - "$w" "$ticks" <<'EOF'
import json, re, sys
text = sys.argv[1].splitlines()
rows, reasons, table = [], {}, None
for line in text:
    f = line.split()
    if not f:
        continue
    if f[0] == "Worker":
        table = "w"; continue
    if f[0] in ("Drop", "Event"):
        table = "r"; continue
    if table == "w" and f[0].isdigit():
        rows.append(f)
    elif table == "r" and len(f) >= 2 and f[1].isdigit():
        reasons[f[0]] = int(f[1])
print(json.dumps({"rx": sum(int(r[2]) for r in rows), "created": sum(int(r[7]) for r in rows),
                  "rx_per_worker": [int(r[2]) for r in rows], "reasons": reasons,
                  "absorbed_syn": reasons.get("synproxy_syn_answered", 0),
                  "absorbed_per_worker": None, "worker_ticks": int(sys.argv[2])}))
EOF
}

# ---------------------------------------------------------------- the kernel (nftables)

kernel_peer_up() {
  in_lb ip addr add "$LB_CLIENT_IP/24" dev lb-c
  in_lb ip addr add "$VIP/32" dev lb-c
  in_lb ip addr add 198.19.0.1/24 dev lb-s
  in_lb ip addr add "${LIPS[0]}/32" dev lb-s
  in_lb ip route add "$FLOOD_NET" via "$CLIENT_IP"
  # Syncookies on (the issue's peer), conntrack strict (an ACK without a SYN seen is
  # invalid and goes to synproxy for its cookie check), timestamps for synproxy's options.
  in_lb sysctl -qw net.ipv4.ip_forward=1 net.ipv4.tcp_syncookies=1 net.ipv4.tcp_timestamps=1 \
    net.netfilter.nf_conntrack_tcp_loose=0 || die "sysctl in the lb namespace"
  # Receive work on CPU 1 (the core rvsd's worker has); without RPS it would run on the
  # sender's CPU, the generator's.
  in_lb sh -c 'echo 2 >/sys/class/net/lb-c/queues/rx-0/rps_cpus && echo 2 >/sys/class/net/lb-s/queues/rx-0/rps_cpus' ||
    die "RPS in the lb namespace"
  # SYNs to the VIP skip conntrack and meet synproxy in INPUT (the VIP is local); a valid
  # ACK makes synproxy send the SYN to the VIP itself, which the nat OUTPUT chain turns to
  # a real server (round robin) and POSTROUTING to the LIP; the connection's later packets
  # follow that conntrack entry.
  in_lb nft -f - <<EOF || die "nftables rules"
table ip rvsflood {
  chain raw_pre {
    type filter hook prerouting priority raw; policy accept;
    ip daddr $VIP tcp dport 80 tcp flags syn notrack
  }
  chain nat_pre {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr $VIP udp dport 53 dnat ip to numgen inc mod 3 map { 0 : ${RS_IPS[0]} . 5353, 1 : ${RS_IPS[1]} . 5353, 2 : ${RS_IPS[2]} . 5353 }
  }
  chain local_in {
    type filter hook input priority filter; policy accept;
    ip daddr $VIP tcp dport 80 ct state invalid,untracked counter synproxy mss 1460 wscale 7 timestamp sack-perm comment "synproxy"
    ip daddr $VIP tcp dport 80 ct state invalid counter drop comment "synproxy_bad_ack"
  }
  chain through {
    type filter hook forward priority filter; policy accept;
    ip daddr 198.19.0.0/24 udp dport 5353 ct state new meter udp_src { ip saddr limit rate over 100/second burst 200 packets } counter drop comment "source_rate_limited"
  }
  chain nat_out {
    type nat hook output priority -100; policy accept;
    ip daddr $VIP tcp dport 80 dnat to numgen inc mod 3 map { 0 : ${RS_IPS[0]}, 1 : ${RS_IPS[1]}, 2 : ${RS_IPS[2]} }
  }
  chain nat_post {
    type nat hook postrouting priority srcnat; policy accept;
    ip daddr 198.19.0.0/24 ip saddr != 198.19.0.0/24 snat to ${LIPS[0]}
  }
}
EOF
  warm_up
}

# nftables_snapshot: lb-c's rx, synproxy's per-CPU counters, the rules' counters by comment,
# the conntrack entries, as JSON.
# shellcheck disable=SC2317 # called as ${peer}_snapshot
nftables_snapshot() {
  local rx drop sp nftj ct
  rx=$(in_lb cat /sys/class/net/lb-c/statistics/rx_packets)
  drop=$(in_lb cat /sys/class/net/lb-c/statistics/rx_dropped)
  sp=$(in_lb cat /proc/net/stat/synproxy)
  nftj=$(in_lb nft -j list table ip rvsflood)
  ct=$(in_lb cat /proc/sys/net/netfilter/nf_conntrack_count)
  "$PY" - "$rx" "$drop" "$sp" "$nftj" "$ct" <<'EOF'
import json, sys
rx, drop = int(sys.argv[1]), int(sys.argv[2])
lines = sys.argv[3].splitlines()
head = lines[0].split()
cpus = [dict(zip(head, (int(x, 16) for x in l.split()))) for l in lines[1:] if l.strip()]
reasons = {}
for item in json.loads(sys.argv[4])["nftables"]:
    r = item.get("rule")
    if not r or "comment" not in r:
        continue
    for e in r["expr"]:
        if "counter" in e:
            reasons[r["comment"]] = e["counter"]["packets"]
for k in ("syn_received", "cookie_invalid", "cookie_valid"):
    reasons["kernel_" + k] = sum(c[k] for c in cpus)
reasons["lb_c_rx_dropped"] = drop
print(json.dumps({"rx": rx, "created": int(sys.argv[5]), "rx_per_worker": None, "reasons": reasons,
                  "absorbed_syn": reasons["kernel_syn_received"],
                  "absorbed_per_worker": [c["syn_received"] for c in cpus], "worker_ticks": 0}))
EOF
}

# ---------------------------------------------------------------- one flood

# cpu_ticks: /proc/stat's per-CPU lines (user nice system idle iowait irq softirq ...).
cpu_ticks() { grep '^cpu[0-9]' /proc/stat | tr '\n' ';'; }

# flood PEER KIND: one flood and the legitimate client beside it; its figures as a JSON
# line in $CFG_DIR/result-PEER-KIND.json.
flood() {
  local peer=$1 kind=$2 dst extra n fpid legit legit_ok legit_n legit_t0 legit_secs s0 s1 cb c0 c1 at_servers c gen
  case $kind in
    syn | ack) dst=$VIP:80 extra=() ;;
    udp) dst=$VIP:53 extra=(--sources 16) ;;
    *) die "unknown kind $kind (syn, ack, udp)" ;;
  esac
  say "== $peer: $kind flood for ${SECS}s into $dst"
  for n in 1 2 3; do
    if [[ $kind == udp ]]; then
      cap_start "rs$n-$peer-$kind" "$RVS_LAB-rs$n" eth0 "udp dst port 5353"
    else
      cap_start "rs$n-$peer-$kind" "$RVS_LAB-rs$n" eth0 "tcp and tcp[14:2] = 7911"
    fi
  done
  # Softirq on both CPUs with no flood (other tenants' traffic, the captures): the baseline
  # the flood's softirq time is counted above.
  cb=$(cpu_ticks)
  sleep 2
  s0=$("${peer}_snapshot")
  c0=$(cpu_ticks)
  in_client "$FLOOD" --eal "--no-huge -m 256 --file-prefix rvsfl-$$-gen --no-pci -l 0 --log-level *:warning \
    --vdev net_af_packet0,iface=c0,framecnt=4096" --kind "$kind" --dst "$dst" --dst-mac "$LB_MAC" \
    --seconds "$SECS" --pps "$PPS" "${extra[@]}" >"$CFG_DIR/flood-$peer-$kind.json" 2>"$CFG_DIR/flood-$peer-$kind.err" &
  fpid=$!
  bg_track "$fpid"
  sleep 1
  legit_t0=$(date +%s.%N)
  if [[ $kind == udp ]]; then
    legit=$(udp_burst --dst "$VIP" --port 53 --count 500 --sports 4 --window 8 --timeout 2)
    legit_ok=$(json_field "$legit" received)
    legit_n=500
  else
    # shellcheck disable=SC2016
    read -r legit_ok legit_n < <(in_client bash -c 'ok=0; n=0; end=$((SECONDS + $1))
      while ((SECONDS < end)); do n=$((n + 1)); curl -s -o /dev/null --max-time 2 "http://$2/" && ok=$((ok + 1)); done
      echo "$ok $n"' _ $((SECS - 2)) "$VIP")
  fi
  wait "$fpid"
  legit_secs=$(echo "$(date +%s.%N) - $legit_t0" | bc)
  c1=$(cpu_ticks)
  s1=$("${peer}_snapshot")
  sleep 0.5
  cap_stop "rs1-$peer-$kind" "rs2-$peer-$kind" "rs3-$peer-$kind"
  at_servers=0
  for n in 1 2 3; do
    c=$(tcpdump -r "$CFG_DIR/rs$n-$peer-$kind.pcap" -n 2>/dev/null | wc -l)
    at_servers=$((at_servers + c))
  done
  # UDP: what the servers got beyond the legitimate datagrams.
  [[ $kind == udp ]] && at_servers=$((at_servers > legit_ok ? at_servers - legit_ok : 0))
  gen=$(cat "$CFG_DIR/flood-$peer-$kind.json")
  [[ -n $gen ]] || { indent <"$CFG_DIR/flood-$peer-$kind.err"; die "rvs-flood produced no result"; }
  "$PY" - "$peer" "$kind" "$gen" "$s0" "$s1" "$c0" "$c1" "$legit_ok" "$legit_n" "$legit_secs" "$at_servers" \
    "$(cut -d' ' -f1 /proc/loadavg)" "$cb" "$(getconf CLK_TCK)" >"$CFG_DIR/result-$peer-$kind.json" <<'EOF'
import json, sys
peer, kind, gen = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
s0, s1 = json.loads(sys.argv[4]), json.loads(sys.argv[5])
ok, n, at_srv = int(sys.argv[8]), int(sys.argv[9]), int(sys.argv[11])
secs = gen["seconds"]
def cpus(s):
    return [[int(x) for x in l.split()[1:8]] for l in s.split(";") if l]
# CPU 1's busy share (everything but idle and iowait) over the window: the balancer's core.
a, b = cpus(sys.argv[6]), cpus(sys.argv[7])
def busy(i):
    d = [y - x for x, y in zip(a[i], b[i])]
    tot = sum(d)
    return {"busy": round((tot - d[3] - d[4]) / tot, 3) if tot else None,
            "softirq": round(d[6] / tot, 3) if tot else None}
# The balancer's CPU time over the window: rvsd's workers (user + system) plus softirq on
# both CPUs (the kernel's own work: for rvsd the veth and af_packet delivery, for the
# kernel peer everything, synproxy included) above the 2 s baseline before the flood.
hz = int(sys.argv[14])
base = cpus(sys.argv[13])
base_softirq_per_s = sum(a[i][6] - base[i][6] for i in (0, 1)) / 2.0
softirq = max(0.0, sum(b[i][6] - a[i][6] for i in (0, 1)) - base_softirq_per_s * secs)
cpu_seconds = (s1["worker_ticks"] - s0["worker_ticks"] + softirq) / hz
delta = {k: v - s0["reasons"].get(k, 0) for k, v in s1["reasons"].items() if v - s0["reasons"].get(k, 0) > 0}
absorbed = s1["absorbed_syn"] - s0["absorbed_syn"]
if s1["absorbed_per_worker"] is not None:
    per = [round((y - x) / secs) for x, y in zip(s0["absorbed_per_worker"], s1["absorbed_per_worker"])]
    per_what = "cpu"
else:
    # rvsd: one worker here; with more, rx per worker splits the absorbed total.
    rx = [y - x for x, y in zip(s0["rx_per_worker"], s1["rx_per_worker"])]
    per = [round(absorbed / secs * r / sum(rx)) if sum(rx) else 0 for r in rx]
    per_what = "worker"
print(json.dumps({
    "peer": peer, "kind": kind, "seconds": round(secs, 2),
    "flood_sent_pps": gen["sent_pps"], "flood_tx_full": gen["tx_full"],
    "rx_pps": round((s1["rx"] - s0["rx"]) / secs),
    "absorbed_syn_pps": round(absorbed / secs) if kind == "syn" else None,
    "absorbed_syn_pps_per_" + per_what: per if kind == "syn" else None,
    "legit_ok": ok, "legit_tried": n, "legit_success": round(ok / n, 4) if n else None,
    "legit_seconds": round(float(sys.argv[10]), 1),
    "flood_at_servers": at_srv,
    "sessions": s1["created"] - s0["created"] if peer == "rvsd" else s1["created"],
    "sessions_is": "created" if peer == "rvsd" else "conntrack entries at the end",
    "balancer_cpu_seconds": round(cpu_seconds, 2),
    "absorbed_syn_per_cpu_second": round(absorbed / cpu_seconds) if kind == "syn" and cpu_seconds else None,
    "rx_per_cpu_second": round((s1["rx"] - s0["rx"]) / cpu_seconds) if cpu_seconds else None,
    "counters": delta, "cpu0": busy(0), "cpu1": busy(1), "loadavg_1m": float(sys.argv[12]),
}))
EOF
}

# ---------------------------------------------------------------- the run

RESULTS=()
LOAD0=$(cut -d' ' -f1 /proc/loadavg)
first=1
for peer in $PEERS; do
  case $peer in
    rvsd | nftables) ;;
    *) die "unknown peer $peer (rvsd, nftables)" ;;
  esac
  # A fresh lab per peer: no conntrack, neighbour or session state carries over.
  ((first)) || lab_down
  first=0
  lab_up
  if [[ $peer == rvsd ]]; then rvsd_peer_up; else kernel_peer_up; fi
  LB_MAC=$(in_lb cat /sys/class/net/lb-c/address)
  for kind in $KINDS; do
    flood "$peer" "$kind"
    r=$(cat "$CFG_DIR/result-$peer-$kind.json")
    [[ -n $r ]] || die "$peer $kind: no figures"
    RESULTS+=("$r")
    say "$r"
  done
  [[ $peer == rvsd ]] && rvsd_stop
done

summary=$(printf '%s\n' "${RESULTS[@]}" | "$PY" -c '
import json, sys
rs = [json.loads(l) for l in sys.stdin]
print("%-8s %-4s %10s %9s %12s %10s %8s %6s %10s" % ("peer", "kind", "sent pps", "rx pps", "absorbed SYN", "legit",
      "at srvs", "cpu-s", "rx/cpu-s"))
for r in rs:
    print("%-8s %-4s %10d %9d %12s %5d/%-4d %8d %6.2f %10s" % (r["peer"], r["kind"], r["flood_sent_pps"], r["rx_pps"],
        r["absorbed_syn_pps"] if r["absorbed_syn_pps"] is not None else "-", r["legit_ok"], r["legit_tried"],
        r["flood_at_servers"], r["balancer_cpu_seconds"], r["rx_per_cpu_second"]))
by = {(r["peer"], r["kind"]): r for r in rs}
cmp = {}
for kind in ("syn", "ack", "udp"):
    a, b = by.get(("rvsd", kind)), by.get(("nftables", kind))
    if a and b:
        cmp[kind] = {"rx_pps_rvsd_over_kernel": round(a["rx_pps"] / b["rx_pps"], 3) if b["rx_pps"] else None,
                     "legit_success": {"rvsd": a["legit_success"], "nftables": b["legit_success"]}}
        if kind == "syn" and b["absorbed_syn_pps"]:
            cmp[kind]["absorbed_syn_rvsd_over_kernel"] = round(a["absorbed_syn_pps"] / b["absorbed_syn_pps"], 3)
        if kind == "syn" and b["absorbed_syn_per_cpu_second"] and a["absorbed_syn_per_cpu_second"]:
            cmp[kind]["absorbed_syn_per_cpu_second_rvsd_over_kernel"] = round(
                a["absorbed_syn_per_cpu_second"] / b["absorbed_syn_per_cpu_second"], 3)
print(json.dumps({"comparison": cmp}))
')
sed '$d' <<<"$summary"
say "$(tail -n1 <<<"$summary")"
if [[ -n $OUT ]]; then
  mkdir -p "$OUT"
  printf '%s\n' "${RESULTS[@]}" | "$PY" -c '
import json, subprocess, sys, time
rs = [json.loads(l) for l in sys.stdin]
git = lambda *a: subprocess.run(["git", "-C", sys.argv[2], *a], capture_output=True, text=True).stdout.strip()
cmp = json.loads(sys.argv[3].splitlines()[-1])["comparison"]
meta = {"commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--", ".", ":!bench/results")),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "quick": False,
        "seconds": float(sys.argv[4]), "loadavg_1m": [float(sys.argv[5]), float(open("/proc/loadavg").read().split()[0])]}
json.dump({"meta": meta, "runs": rs, "comparison": cmp}, open(sys.argv[1], "w"), indent=1)
' "$OUT/flood.json" "$ROOT" "$summary" "$SECS" "$LOAD0"
  say "wrote $OUT/flood.json"
fi
_FINISHED=1
exit 0
