#!/usr/bin/env bash
# Soak (bench, not CI): mixed traffic through the lab for a bounded time while the table is
# edited under it, sampling rvsd's memory and counters.
#
#   bench/soak.sh [--minutes M] [OUTDIR]          (root; default 30 minutes)
#
# Traffic, all the time: wrk (2 threads, 50 connections, rolling 60 s runs), a UDP echo
# stream (udp_burst, 2,000 datagrams at a time), a slow spoofed SYN flood (200/s,
# random sources in 198.18.64.0/18, rvs-flood) against a SYN-proxied service on port 8080 of the VIP. Under it:
# every 20 s rs2 flaps (weight 0, then back: quiesced, its connections finish), every
# 10 s a weight edit of rs3 (1 <-> 2), every 2 minutes `rvsadm -Z`, every minute a
# `--source-rate` edit of the UDP service on and off. Every 10 s a sample: rvsd's RSS,
# its live sessions, wrk/UDP errors so far, drops.
#
# Fails on any wrk socket error or non-2xx, any UDP datagram lost or corrupted, rvsd
# exiting or logging a panic, or memory growth: RSS over the last half of the run may not
# rise by more than 8 MiB beyond what the live sessions explain (128 bytes each). Writes
# OUTDIR/soak.json (a summary and the samples) and, with python3-matplotlib, OUTDIR/soak.png
# (RSS, sessions, errors over time).
set -uo pipefail
MINUTES=30
OUT=
while (($#)); do
  case $1 in
    --minutes) MINUTES=$2; shift 2 ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    *) OUT=$1; shift ;;
  esac
done
export RVS_LAB=${RVS_LAB:-rvsso}
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/../tests/lab/lib.sh"

lab_up
make_config 1 "$CFG_DIR/rvsd.toml"
cat >>"$CFG_DIR/rvsd.toml" <<'EOF'

[[service]]
protocol = "tcp"
address = "198.18.0.100:8080"
scheduler = "rr"
syn_proxy = true
local_addresses = ["198.19.0.200", "198.19.0.201"]
real = [ { address = "198.19.0.11:80" }, { address = "198.19.0.12:80" } ]
EOF
rvsd_start "$CFG_DIR/rvsd.toml"
warm_up
SAMPLES=$CFG_DIR/samples.jsonl
ERRS=$CFG_DIR/errors.log
: >"$ERRS"
END=$((SECONDS + MINUTES * 60))

# Traffic loops, each until END; errors appended to $ERRS as one line each.
wrk_loop() {
  local out d
  while ((SECONDS < END - 5)); do
    d=$((END - SECONDS < 60 ? END - SECONDS : 60))
    out=$(in_client timeout $((d + 30)) wrk -t2 -c50 -d"${d}s" --timeout 5s "http://$VIP/" 2>&1)
    if grep -qE 'Socket errors|Non-2xx' <<<"$out"; then
      echo "wrk $(date +%T): $(grep -E 'Socket errors|Non-2xx' <<<"$out" | tr '\n' ' ')" >>"$ERRS"
    fi
    sed -n 's/^ *\([0-9][0-9]*\) requests in .*/\1/p' <<<"$out" >>"$CFG_DIR/wrk.requests"
  done
}
udp_loop() {
  local res
  while ((SECONDS < END - 5)); do
    res=$(udp_burst --dst "$VIP" --port 53 --count 2000 --sports 8 --window 32 --timeout 3)
    if [[ $(json_field "$res" ok) != True ]]; then echo "udp $(date +%T): $res" >>"$ERRS"; fi
    json_field "$res" received >>"$CFG_DIR/udp.received"
  done
}
wrk_loop &
LOOPS=($!)
udp_loop &
LOOPS+=($!)
bg_track "${LOOPS[0]}"
bg_track "${LOOPS[1]}"
FLOOD=${RVS_FLOOD:-$ROOT/target/release/rvs-flood}
[[ -x $FLOOD ]] || die "rvs-flood not built: cargo build --release -p rvs-flood"
in_client "$FLOOD" --eal "--no-huge -m 256 --file-prefix rvsso-$$-gen --no-pci -l 0 --log-level *:warning \
  --vdev net_af_packet0,iface=c0" --kind syn --dst "$VIP:8080" --pps 200 --seconds $((MINUTES * 60)) \
  --dst-mac "$(in_lb cat /sys/class/net/lb-c/address)" >"$CFG_DIR/flood.json" 2>&1 &
FLOOD_PID=$!
bg_track "$FLOOD_PID"

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$RVSD_PID/status" 2>/dev/null || echo 0; }
sessions() { worker_rows "$(rvsadm --workers)" | awk '{s += $7} END {print s + 0}'; }
say "soak for $MINUTES minutes"
t0=$SECONDS
tick=0
while ((SECONDS < END)); do
  sleep 10
  tick=$((tick + 1))
  rvsd_running || { echo "rvsd $(date +%T): exited" >>"$ERRS"; break; }
  if ((tick % 2 == 1)); then rvsadm -e -t "$VIP:80" -r 198.19.0.12:80 -w 0 >/dev/null || echo "rvsadm -e rs2 failed" >>"$ERRS"; fi
  if ((tick % 2 == 0)); then rvsadm -e -t "$VIP:80" -r 198.19.0.12:80 -w 1 >/dev/null || echo "rvsadm -e rs2 failed" >>"$ERRS"; fi
  rvsadm -e -t "$VIP:80" -r 198.19.0.13:80 -w $((1 + tick % 2)) >/dev/null || echo "rvsadm -e rs3 failed" >>"$ERRS"
  if ((tick % 12 == 0)); then rvsadm -Z >/dev/null || echo "rvsadm -Z failed" >>"$ERRS"; fi
  if ((tick % 6 == 0)); then
    if ((tick % 12 == 0)); then rate=(--source-rate 5000); else rate=(); fi
    rvsadm -E -u "$VIP:53" -s rr "${rate[@]}" >/dev/null || echo "rvsadm -E udp failed" >>"$ERRS"
  fi
  printf '{"t": %d, "rss_kb": %d, "sessions": %d, "errors": %d}\n' \
    $((SECONDS - t0)) "$(rss_kb)" "$(sessions)" "$(wc -l <"$ERRS")" >>"$SAMPLES"
done
wait "${LOOPS[@]}"
# The slow flood started a moment after END was set: its summary line follows shortly.
wait_for 30 "rvs-flood's end" bash -c "! kill -0 $FLOOD_PID 2>/dev/null"
grep -qi panic "$RVSD_LOG" && echo "rvsd log: panic" >>"$ERRS"

WRK_REQS=$(awk '{s += $1} END {print s + 0}' "$CFG_DIR/wrk.requests" 2>/dev/null)
UDP_ECHOED=$(awk '{s += $1} END {print s + 0}' "$CFG_DIR/udp.received" 2>/dev/null)
say "samples: $(wc -l <"$SAMPLES"), wrk requests: $WRK_REQS, UDP datagrams echoed: $UDP_ECHOED"
[[ -n $OUT ]] && mkdir -p "$OUT"
verdict=$("$PY" - "$SAMPLES" "${OUT:-}" "$MINUTES" "$WRK_REQS" "$UDP_ECHOED" "$(wc -l <"$ERRS")" \
  "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)" "$(tail -n1 "$CFG_DIR/flood.json" 2>/dev/null)" <<'EOF'
import json, sys, time
s = [json.loads(l) for l in open(sys.argv[1])]
half = s[len(s) // 2:] or s
growth_kb = half[-1]["rss_kb"] - half[0]["rss_kb"]
explained_kb = (half[-1]["sessions"] - half[0]["sessions"]) * 128 / 1024
excess = growth_kb - max(0, explained_kb)
out = sys.argv[2]
if out:
    try:
        flood = json.loads(sys.argv[8])
    except ValueError:
        flood = None
    summary = {
        "minutes": float(sys.argv[3]), "samples": len(s), "seconds_sampled": s[-1]["t"],
        "rss_kb_first": s[0]["rss_kb"], "rss_kb_last": s[-1]["rss_kb"],
        "rss_kb_min": min(x["rss_kb"] for x in s), "rss_kb_max": max(x["rss_kb"] for x in s),
        "rss_growth_last_half_kb": growth_kb, "rss_growth_explained_by_sessions_kb": round(explained_kb),
        "sessions_max": max(x["sessions"] for x in s), "sessions_last": s[-1]["sessions"],
        "errors": int(sys.argv[6]), "wrk_requests": int(sys.argv[4]), "udp_datagrams_echoed": int(sys.argv[5]),
        "slow_syn_flood": flood,
    }
    meta = {"commit": sys.argv[7], "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "loadavg_1m": float(open("/proc/loadavg").read().split()[0])}
    json.dump({"meta": meta, "summary": summary, "samples": s}, open(out + "/soak.json", "w"), indent=1)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        t = [x["t"] / 60 for x in s]
        fig, ax = plt.subplots(3, 1, sharex=True, figsize=(8, 7))
        ax[0].plot(t, [x["rss_kb"] / 1024 for x in s]); ax[0].set_ylabel("rvsd RSS (MiB)")
        ax[0].set_ylim(0, 1.25 * max(x["rss_kb"] for x in s) / 1024)
        ax[1].plot(t, [x["sessions"] for x in s]); ax[1].set_ylabel("live sessions")
        ax[2].plot(t, [x["errors"] for x in s]); ax[2].set_ylabel("errors (cumulative)")
        ax[2].set_ylim(bottom=-0.5, top=max(1, max(x["errors"] for x in s)) + 0.5)
        ax[2].set_xlabel("minutes")
        fig.suptitle(f"bench/soak.sh at {sys.argv[7]}: wrk + UDP stream + 200 SYN/s flood, edits every 10 s")
        fig.tight_layout(); fig.savefig(out + "/soak.png")
    except ImportError:
        print("no matplotlib (python3-matplotlib): no soak.png", file=sys.stderr)
print(f"{excess:.0f} {growth_kb} {explained_kb:.0f} {s[0]['rss_kb']} {s[-1]['rss_kb']}")
EOF
)
read -r excess growth explained rss0 rss1 <<<"$verdict"
say "RSS $rss0 -> $rss1 KiB; last half: +$growth KiB, sessions explain $explained KiB"
assert_range "RSS growth over the last half beyond the sessions (KiB)" -1000000 8192 "$excess"
assert_eq "errors" 0 "$(wc -l <"$ERRS")"
[[ -s $ERRS ]] && indent <"$ERRS" | head -20
finish
