#!/usr/bin/env bash
# Flood figures (bench, not CI): rvs-flood (bench/flood, DPDK) floods rvsd's client port
# from the client namespace while a legitimate client connects in a loop.
#
#   bench/flood.sh [--seconds S] [--kinds "syn ack udp"] [--pps N] [OUTDIR]    (root)
#
#   rvs-client: rvs-flood on c0 (net_af_packet, CPU 0)  ──veth──  rvsd (1 worker, CPU 1)
#               curl / udp_burst through the kernel on c0           TCP VIP:80 --synproxy
#                                                                   UDP VIP:53 --source-rate 100:200
# Kinds: `syn` (spoofed SYNs from random sources in 198.18.64.0/18), `ack` (spoofed ACKs
# with forged cookies), `udp` (datagrams from 16 sources with random ports: a per-source
# limit's case). For each: what rvs-flood sent (pps), what rvsd received and absorbed (its
# port's rx over the window), its drops and events by reason, the legitimate client's
# success rate (curls, or UDP datagrams echoed; goal >= 99 %), and flood segments that
# reached a real server (the flood's TCP window 7911 in captures there; must be 0), for
# UDP the datagrams the servers got beyond the legitimate ones (a per-source limit admits
# each source's rate: up to 16 x (200 + 100/s) new flows, whose later datagrams are
# established traffic), and the sessions rvsd created.
# Prints a table and, with OUTDIR, writes OUTDIR/flood.json. The lab (namespaces, rvsd)
# is torn down on any exit (tests/lab/lib.sh's traps).
set -uo pipefail
SECS=10
KINDS="syn ack udp"
PPS=0
OUT=
while (($#)); do
  case $1 in
    --seconds) SECS=$2; shift 2 ;;
    --kinds) KINDS=$2; shift 2 ;;
    --pps) PPS=$2; shift 2 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) OUT=$1; shift ;;
  esac
done
export RVS_LAB=${RVS_LAB:-rvsfl}
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/../tests/lab/lib.sh"
FLOOD=${RVS_FLOOD:-$ROOT/target/release/rvs-flood}
[[ -x $FLOOD ]] || die "rvs-flood not built: cargo build --release -p rvs-flood"

lab_up
make_config 1 "$CFG_DIR/rvsd.toml"
rvsd_start "$CFG_DIR/rvsd.toml"
warm_up
rvsadm -E -t "$VIP:80" -s rr --synproxy || die "synproxy on VIP:80"
rvsadm -E -u "$VIP:53" -s rr --source-rate 100:200 || die "source-rate on VIP:53"
LB_MAC=$(in_lb cat /sys/class/net/lb-c/address)

# rx_total, created_total: rvsd's received packets and created sessions (all workers).
rx_total() { worker_rows "$(rvsadm --workers)" | awk '{s += $3} END {print s + 0}'; }
created_total() { worker_rows "$(rvsadm --workers)" | awk '{s += $8} END {print s + 0}'; }
# reasons OUTPUT: "name=count ..." of the drop and event tables of rvsadm --workers.
reasons() {
  awk '/^(Drop reason|Event)/ {t = 1; next} /^Worker/ {t = 0} t && NF >= 2 && $2 ~ /^[0-9]+$/ {printf "%s=%s ", $1, $2}' <<<"$1"
}

RESULTS=()
for kind in $KINDS; do
  case $kind in
    syn | ack) dst=$VIP:80 extra=() ;;
    udp) dst=$VIP:53 extra=(--sources 16) ;;
    *) die "unknown kind $kind (syn, ack, udp)" ;;
  esac
  say "== $kind flood for ${SECS}s into $dst"
  for n in 1 2 3; do
    if [[ $kind == udp ]]; then
      cap_start "rs$n-$kind" "$RVS_LAB-rs$n" eth0 "udp dst port 5353"
    else
      cap_start "rs$n-$kind" "$RVS_LAB-rs$n" eth0 "tcp and tcp[14:2] = 7911"
    fi
  done
  w_before=$(rvsadm --workers)
  rx_before=$(rx_total)
  cr_before=$(created_total)
  in_client "$FLOOD" --eal "--no-huge -m 256 --file-prefix rvsfl-$$ --no-pci -l 0 --log-level *:warning \
    --vdev net_af_packet0,iface=c0,framecnt=4096" --kind "$kind" --dst "$dst" --dst-mac "$LB_MAC" \
    --seconds "$SECS" --pps "$PPS" "${extra[@]}" >"$CFG_DIR/flood-$kind.json" 2>"$CFG_DIR/flood-$kind.err" &
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
  rx_after=$(rx_total)
  cr_after=$(created_total)
  w_after=$(rvsadm --workers)
  sleep 0.5
  cap_stop "rs1-$kind" "rs2-$kind" "rs3-$kind"
  at_servers=0
  for n in 1 2 3; do
    c=$(tcpdump -r "$CFG_DIR/rs$n-$kind.pcap" -n 2>/dev/null | wc -l)
    at_servers=$((at_servers + c))
  done
  # UDP: what the servers got beyond the legitimate datagrams.
  [[ $kind == udp ]] && at_servers=$((at_servers > legit_ok ? at_servers - legit_ok : 0))
  gen=$(cat "$CFG_DIR/flood-$kind.json")
  [[ -n $gen ]] || { indent <"$CFG_DIR/flood-$kind.err"; die "rvs-flood produced no result"; }
  r=$("$PY" - "$gen" "$rx_before" "$rx_after" "$legit_ok" "$legit_n" "$at_servers" "$kind" "$(reasons "$w_before")" "$(reasons "$w_after")" "$legit_secs" $((cr_after - cr_before)) <<'EOF'
import json, sys
gen = json.loads(sys.argv[1])
rx0, rx1, ok, n, at_srv = (int(x) for x in sys.argv[2:7])
kind = sys.argv[7]
def kv(s):
    return {k: int(v) for k, v in (p.split("=") for p in s.split())}
b, a = kv(sys.argv[8]), kv(sys.argv[9])
delta = {k: a[k] - b.get(k, 0) for k in a if a[k] - b.get(k, 0) > 0}
secs = gen["seconds"]
print(json.dumps({
    "kind": kind, "seconds": round(secs, 2),
    "flood_sent_pps": gen["sent_pps"], "flood_tx_full": gen["tx_full"],
    "rvsd_rx_pps": round((rx1 - rx0) / secs),
    "legit_ok": ok, "legit_tried": n, "legit_success": round(ok / n, 4) if n else None,
    "legit_seconds": round(float(sys.argv[10]), 1),
    "flood_at_servers": at_srv, "rvsd_sessions_created": int(sys.argv[11]), "rvsd_counters": delta,
}))
EOF
)
  RESULTS+=("$r")
  say "$r"
done

say "kind  flood sent pps  rvsd rx pps  legit ok/tried  flood at servers"
for r in "${RESULTS[@]}"; do
  "$PY" -c 'import json,sys; r=json.loads(sys.argv[1]); print("%-5s %14d %12d %8d/%-6d %8d" % (r["kind"], r["flood_sent_pps"], r["rvsd_rx_pps"], r["legit_ok"], r["legit_tried"], r["flood_at_servers"]))' "$r"
done
if [[ -n $OUT ]]; then
  mkdir -p "$OUT"
  printf '%s\n' "${RESULTS[@]}" | "$PY" -c 'import json,sys; json.dump([json.loads(l) for l in sys.stdin], open(sys.argv[1], "w"), indent=1)' "$OUT/flood.json"
  say "wrote $OUT/flood.json"
fi
_FINISHED=1
exit 0
