#!/usr/bin/env bash
# Runs every benchmark and writes bench/results/: raw JSON/text, summary.json, results.md,
# PNG charts; then refreshes the results section of docs/performance.md.
#
#   bench/run.sh [--skip micro,callgrind,dpdk,lab] [--quick]
#
# --quick: sizes 1k and 100k only, shorter DPDK and lab runs (a smoke test of the
# harness, not figures to quote). Needs root (DPDK, namespaces); bench/setup.sh installs
# what the lab compares against. Never part of scripts/test.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RES=$ROOT/bench/results
PY=/usr/bin/python3
SKIP=""
QUICK=0
while (($#)); do
  case $1 in
    --skip) SKIP=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    *) echo "usage: bench/run.sh [--skip micro,callgrind,dpdk,lab] [--quick]" >&2; exit 2 ;;
  esac
done
skip() { [[ ,$SKIP, == *,$1,* ]]; }
log() { echo "bench: $*" >&2; }
export RVS_LAB=${RVS_LAB:-bnc}
cd "$ROOT"
mkdir -p "$RES"
START=$(date +%s)

# Anything we start is stopped on the way out (the lab script cleans up its own lab).
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- machine -------------------------------------------------------------------------------
"$PY" - "$RES/machine.json" <<'EOF'
import json, os, platform, subprocess, sys, datetime
def sh(*a):
    try:
        return subprocess.run(a, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return None
cpu = None
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip(); break
mem = None
for line in open("/proc/meminfo"):
    if line.startswith("MemTotal"):
        mem = round(int(line.split()[1]) / 1024 / 1024, 1); break
hv = sh("systemd-detect-virt")
json.dump({
    "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
    "cpu_model": cpu,
    "cpus": os.cpu_count(),
    "mem_gib": mem,
    "kernel": platform.release(),
    "dpdk": "DPDK " + (sh("pkg-config", "--modversion", "libdpdk") or "?"),
    "rustc": sh("rustc", "--version"),
    "valgrind": sh("valgrind", "--version"),
    "virtualization": hv or None,
    "hugepages": "none (--no-huge)",
}, open(sys.argv[1], "w"), indent=2)
EOF

# --- build ---------------------------------------------------------------------------------
log "building (release, benches)"
cargo build --release -q
BINS=$(cargo bench -p rvs-core --bench fullnat -p rvs-dataplane --bench dpdk_fwd --no-run --message-format=json 2>/dev/null |
  "$PY" -c 'import json,sys
for l in sys.stdin:
    try: m=json.loads(l)
    except ValueError: continue
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["target"]["name"] in ("fullnat","dpdk_fwd"):
        print(m["target"]["name"], m["executable"])')
FULLNAT=$(awk '$1=="fullnat"{print $2}' <<<"$BINS")
DPDK_FWD=$(awk '$1=="dpdk_fwd"{print $2}' <<<"$BINS")
[[ -x $FULLNAT && -x $DPDK_FWD ]] || { log "bench binaries not found"; exit 1; }

# --- micro (sans-IO) -----------------------------------------------------------------------
if ! skip micro; then
  SIZES=1000,100000,1000000,10000000
  ((QUICK)) && SIZES=1000,100000
  log "micro-benchmarks: sessions $SIZES"
  "$FULLNAT" --sizes "$SIZES" --json "$RES/micro.json"
fi

# --- callgrind: instructions per packet, twice to show they repeat --------------------------
if ! skip callgrind; then
  log "callgrind (2 runs)"
  CG=$RES/callgrind
  mkdir -p "$CG"
  for run in 1 2; do
    for n in 1000 100000; do
      for scen in established reply new_conn plain_conn synproxy_conn synflood; do
        packets=200000
        [[ $scen == new_conn || $scen == synflood ]] && packets=50000
        # Whole handshakes (3 packets each): "packets" counts connections here.
        [[ $scen == *_conn && $scen != new_conn ]] && packets=20000
        out=$CG/$scen-$n-run$run.out
        valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no \
          --toggle-collect=rvs_bench_handle "$FULLNAT" --callgrind "$scen" --sessions "$n" --packets "$packets" \
          >"$CG/$scen-$n-run$run.log" 2>&1
        echo "$run $scen $n $packets $(awk '/^summary:|^totals:/{print $2; exit}' "$out")"
      done
    done
  done >"$CG/counts.txt"
  # The profile behind the figures: inclusive cost per function, established and new_conn.
  for scen in established new_conn; do
    callgrind_annotate --inclusive=yes "$CG/$scen-1000-run1.out" 2>/dev/null | head -60 >"$CG/profile-$scen-1000.txt" || true
  done
  "$PY" - "$CG/counts.txt" "$RES/callgrind.json" <<'EOF'
import json, sys
runs = {}
for line in open(sys.argv[1]):
    run, scen, n, packets, total = line.split()
    runs.setdefault(int(run), {})[f"{scen}@{n}"] = int(total) / int(packets)
json.dump({"method": "valgrind --tool=callgrind --toggle-collect=rvs_bench_handle; Ir / packets",
           "runs": [runs[k] for k in sorted(runs)]}, open(sys.argv[2], "w"), indent=2)
EOF
  rm -f "$CG"/*.out.* 2>/dev/null || true
fi

# --- DPDK: rvsd's worker vs io forwarding on net_ring ----------------------------------------
if ! skip dpdk; then
  SECS=3
  REPS=3
  ((QUICK)) && { SECS=1; REPS=1; }
  D=$RES/dpdk
  mkdir -p "$D"
  for rep in $(seq "$REPS"); do
    for dut in io rvs; do
      log "dpdk: $dut run $rep"
      timeout $((SECS + 30)) "$DPDK_FWD" --dut "$dut" --seconds "$SECS" --file-prefix "$RVS_LAB-dfwd-$$" \
        --json "$D/$dut-$rep.json" 2>"$D/$dut-$rep.log" || log "dpdk $dut run $rep failed"
    done
  done
  # dpdk-testpmd itself on the same vdev type and core (lcore 1 forwards; packets loop
  # through each net_ring port's own ring after --tx-first). SIGINT ends it.
  for mode in io macswap; do
    log "dpdk: testpmd $mode"
    timeout -s INT $((SECS + 4)) dpdk-testpmd --no-huge -m 512 --file-prefix "$RVS_LAB-tpmd-$$" -l 0,1 --no-pci \
      --no-telemetry --vdev net_ring0 --vdev net_ring1 -- --forward-mode="$mode" --tx-first --nb-cores=1 \
      --stats-period 1 --total-num-mbufs=16384 </dev/null >"$D/testpmd-$mode.log" 2>&1 || true
  done
  "$PY" - "$D" "$RES/dpdk.json" <<'EOF'
import glob, json, os, re, statistics, sys
d = sys.argv[1]
def runs(dut):
    out = []
    for f in sorted(glob.glob(os.path.join(d, f"{dut}-*.json"))):
        try: out.append(json.load(open(f))["forwarded_mpps"])
        except Exception: pass
    return out
def testpmd(mode):
    try: text = open(os.path.join(d, f"testpmd-{mode}.log")).read()
    except OSError: return None, []
    # Per stats period, one Rx-pps line per port: forwarded pps = sum over ports.
    vals = [int(x) for x in re.findall(r"Rx-pps:\s+(\d+)", text)]
    per = [vals[i] + vals[i + 1] for i in range(0, len(vals) - 1, 2)]
    per = [p / 1e6 for p in per[1:] if p > 0]  # drop the first (partial) period
    return (statistics.median(per) if per else None), per
io, rvs = runs("io"), runs("rvs")
tio, tio_runs = testpmd("io")
tms, tms_runs = testpmd("macswap")
json.dump({
    "harness_io_mpps": statistics.median(io) if io else None, "harness_io_runs": io,
    "rvs_mpps": statistics.median(rvs) if rvs else None, "rvs_runs": rvs,
    "testpmd_io_mpps": tio, "testpmd_io_runs": tio_runs,
    "testpmd_macswap_mpps": tms, "testpmd_macswap_runs": tms_runs,
    "rvs_detail": [json.load(open(f)) for f in sorted(glob.glob(os.path.join(d, "rvs-*.json")))],
}, open(sys.argv[2], "w"), indent=2)
EOF
fi

# --- lab ---------------------------------------------------------------------------------------
if ! skip lab; then
  log "lab benchmark"
  rm -rf "$RES/lab"
  LABSECS=5
  ((QUICK)) && LABSECS=2
  BENCH_LAB_SECONDS=$LABSECS "$ROOT/bench/lab.sh" "$RES" || log "lab benchmark failed (partial results kept)"
fi

log "report"
"$PY" "$ROOT/bench/report.py" "$RES" "$ROOT/docs/performance.md" >/dev/null
log "done in $(($(date +%s) - START)) s: $RES/summary.json, $RES/results.md"
cat "$RES/summary.json"
