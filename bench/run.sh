#!/usr/bin/env bash
# Runs every benchmark and writes bench/results/: raw JSON/text, summary.json, results.md,
# PNG charts; then refreshes the results section of docs/performance.md.
#
#   bench/run.sh [--skip micro,callgrind,l3fwd,sched,maglev,dpdk,testpmd,lab] [--quick]
#
# Parts: micro (sans-IO pipeline timings, and memprobe: what a random line of a 1 GiB table
# costs this host, the yardstick for the 10M figure), callgrind (instructions per packet), l3fwd
# (DPDK's l3fwd counted the same way on the same frames, the reference for those; bench/l3fwd.sh), sched
# (scheduler decision cost: ns and instructions per decision), maglev (a worker's longest
# gap between bursts at a Maglev change with 1,000 real servers, table built per worker
# inline vs shared from the snapshot, and the control thread's build time), dpdk (rvsd's worker loop
# vs an io forwarder in one process on net_ring), testpmd (dpdk-testpmd txonly -> rvsd or
# testpmd io -> testpmd rxonly over net_memif, bench/testpmd.sh), lab (netns lab against
# nftables, HAProxy, nginx, bench/lab.sh). Every raw result records the commit (short
# hash, dirty flag) and the UTC time it was measured at ("meta"); a skipped part keeps
# its previous raw results, which the report marks as reused, with their commit.
#
# --quick: sizes 1k and 100k only, shorter DPDK, testpmd and lab runs (a smoke test of
# the harness, not figures to quote). Needs root (DPDK, namespaces); bench/setup.sh
# installs what the lab compares against. Never part of scripts/test.sh.
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
    *) echo "usage: bench/run.sh [--skip micro,callgrind,l3fwd,sched,maglev,dpdk,testpmd,lab] [--quick]" >&2; exit 2 ;;
  esac
done
PARTS="micro callgrind l3fwd sched maglev dpdk testpmd lab"
for p in ${SKIP//,/ }; do
  [[ " $PARTS " == *" $p "* ]] || { echo "bench/run.sh: unknown part '$p' (parts: $PARTS)" >&2; exit 2; }
done
skip() { [[ ,$SKIP, == *,$1,* ]]; }
log() { echo "bench: $*" >&2; }
export RVS_LAB=${RVS_LAB:-bnc}
cd "$ROOT"
mkdir -p "$RES"
START=$(date +%s)

# --- provenance: what is measured (the code's commit; what this script writes itself, the
# results and the results section of docs/performance.md, does not count as dirty) --------
RUN_STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD)
DIRTY=false
[[ -z $(git -C "$ROOT" status --porcelain -- . ':!bench/results' ':!docs/performance.md') ]] || DIRTY=true
export COMMIT DIRTY RUN_STARTED QUICK
ran=()
skipped=()
for p in $PARTS; do if skip "$p"; then skipped+=("$p"); else ran+=("$p"); fi; done
"$PY" - "$RES/run.json" "${ran[*]}" "${skipped[*]}" <<'EOF'
import json, os, sys
json.dump({"run_started": os.environ["RUN_STARTED"], "commit": os.environ["COMMIT"],
           "dirty": os.environ["DIRTY"] == "true", "quick": os.environ["QUICK"] == "1",
           "parts_run": sys.argv[2].split(), "parts_reused": sys.argv[3].split()},
          open(sys.argv[1], "w"), indent=2)
EOF
log "commit $COMMIT$([[ $DIRTY == true ]] && echo ' (dirty)'), parts: ${ran[*]:-none}; reused: ${skipped[*]:-none}"

# begin: a part starts (UTC time and 1-minute load average, for stamp).
begin() {
  t=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  l0=$(cut -d' ' -f1 /proc/loadavg)
}
# stamp FILE: records in the JSON FILE (key "meta") which commit it measured, when (UTC;
# the part's start and end), in which run, on which CPU model, and the machine's load
# average at both ends (the machine is shared: a high load means disturbed timings). A FILE that is not JSON
# (or does not exist) gets a sidecar FILE.meta.json instead.
stamp() {
  "$PY" - "$1" "$t" "$l0" <<'EOF'
import datetime, json, os, sys
path, started, load0 = sys.argv[1], sys.argv[2], float(sys.argv[3])
meta = {"commit": os.environ["COMMIT"], "dirty": os.environ["DIRTY"] == "true",
        "measured_at": started,
        "finished_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "run_started": os.environ["RUN_STARTED"], "quick": os.environ["QUICK"] == "1",
        "loadavg_1m": [load0, float(open("/proc/loadavg").read().split()[0])],
        "cpu_model": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), None)}
try:
    d = json.load(open(path))
    if not isinstance(d, dict):
        raise ValueError
except (OSError, ValueError):
    json.dump(meta, open(path + ".meta.json", "w"), indent=2)
    sys.exit(0)
d["meta"] = meta
json.dump(d, open(path, "w"), indent=2)
EOF
}

# Anything we start is stopped on the way out (the lab script cleans up its own lab).
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  # The DPDK harness's runtime directory (every run of it uses this prefix).
  rm -rf "/var/run/dpdk/$RVS_LAB-dfwd-$$"
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
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
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
BINS=$(cargo bench -p rvs-core --bench fullnat --bench sched --bench maglev_stall --bench memprobe -p rvs-dataplane --bench dpdk_fwd --no-run \
  --message-format=json 2>/dev/null |
  "$PY" -c 'import json,sys
for l in sys.stdin:
    try: m=json.loads(l)
    except ValueError: continue
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["target"]["name"] in ("fullnat","dpdk_fwd","sched","maglev_stall","memprobe"):
        print(m["target"]["name"], m["executable"])')
FULLNAT=$(awk '$1=="fullnat"{print $2}' <<<"$BINS")
DPDK_FWD=$(awk '$1=="dpdk_fwd"{print $2}' <<<"$BINS")
SCHED=$(awk '$1=="sched"{print $2}' <<<"$BINS")
MAGLEV=$(awk '$1=="maglev_stall"{print $2}' <<<"$BINS")
MEMPROBE=$(awk '$1=="memprobe"{print $2}' <<<"$BINS")
[[ -x $FULLNAT && -x $DPDK_FWD && -x $SCHED && -x $MAGLEV && -x $MEMPROBE ]] || { log "bench binaries not found"; exit 1; }

# --- micro (sans-IO) -----------------------------------------------------------------------
if ! skip micro; then
  SIZES=1000,100000,1000000,10000000
  ((QUICK)) && SIZES=1000,100000
  log "micro-benchmarks: sessions $SIZES"
  begin
  "$FULLNAT" --sizes "$SIZES" --scaling-sessions 1000,10000,100000 --json "$RES/micro.json"
  stamp "$RES/micro.json"
  # The host's yardstick for the 10M figure: what a random line of a 1 GiB table costs.
  begin
  "$MEMPROBE" --json "$RES/memprobe.json"
  stamp "$RES/memprobe.json"
fi

# --- callgrind: instructions per packet, twice to show they repeat --------------------------
if ! skip callgrind; then
  log "callgrind (2 runs)"
  begin
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
        # Data-path scenarios go through handle_burst in bursts of 32, as rvsd's workers
        # do; whole handshakes frame by frame.
        toggle=rvs_bench_burst
        [[ $scen == *_conn && $scen != new_conn ]] && toggle=rvs_bench_handle
        valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no \
          --toggle-collect=$toggle "$FULLNAT" --callgrind "$scen" --sessions "$n" --packets "$packets" \
          >"$CG/$scen-$n-run$run.log" 2>&1
        echo "$run $scen $n $packets $(awk '/^summary:|^totals:/{print $2; exit}' "$out")"
      done
    done
    # The packet path as operators configure it beyond plain FULLNAT (1,000 sessions):
    # session sync on (an HA master), TOA, LVS/DR, NAT, SYN proxy, frames of a VLAN, RSS-steered
    # local ports. "scenario+flag": the bench's --callgrind scenario with --flag.
    for variant in established+sync established+toa reply+toa established+dr established+nat reply+nat \
                   established+synproxy reply+synproxy established+vlan reply+rss new_conn+rss; do
      scen=${variant%%+*} flag=${variant#*+}
      packets=200000
      [[ $scen == new_conn ]] && packets=50000
      out=$CG/$variant-1000-run$run.out
      valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no \
        --toggle-collect=rvs_bench_burst "$FULLNAT" --callgrind "$scen" --sessions 1000 --packets "$packets" \
        "--$flag" >"$CG/$variant-1000-run$run.log" 2>&1
      echo "$run $variant 1000 $packets $(awk '/^summary:|^totals:/{print $2; exit}' "$out")"
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
json.dump({"method": "valgrind --tool=callgrind; Ir / packets of rvs_bench_burst (Pipeline::handle_burst, bursts of 32) for established, reply, new_conn, synflood; of rvs_bench_handle (Pipeline::handle) for whole handshakes",
           "runs": [runs[k] for k in sorted(runs)]}, open(sys.argv[2], "w"), indent=2)
EOF
  rm -f "$CG"/*.out.* 2>/dev/null || true
  stamp "$RES/callgrind.json"
fi

# --- l3fwd: DPDK's own forwarder, instructions per packet on the same frames ----------------
if ! skip l3fwd; then
  log "l3fwd under callgrind (exact match, longest prefix match)"
  begin
  L3SECS=40
  ((QUICK)) && L3SECS=15
  BENCH_L3FWD_SECONDS=$L3SECS "$ROOT/bench/l3fwd.sh" "$RES" >/dev/null
  stamp "$RES/l3fwd.json"
fi

# --- scheduler decisions: ns (timed) and instructions (callgrind) per decision ---------------
if ! skip sched; then
  log "scheduler benchmark"
  begin
  S=$RES/sched
  rm -rf "$S"
  mkdir -p "$S"
  sched_args=()
  ((QUICK)) && sched_args=(--quick)
  "$SCHED" "${sched_args[@]}" >"$S/timing.txt"
  # Instructions: the bench's --quick mode (fixed decision counts) under callgrind, one
  # profile dump per case (a dump before each Scheduler::with_params, which starts a
  # case); in each dump, the inclusive cost of the calls to Scheduler::pick / their count.
  valgrind --tool=callgrind --callgrind-out-file="$S/cg.out" \
    --dump-before='rvs_core::sched::Scheduler::with_params' "$SCHED" --quick >"$S/callgrind-run.txt" 2>"$S/callgrind.log"
  "$PY" - "$S" "$RES/sched.json" <<'EOF'
import glob, json, os, re, sys
d, out = sys.argv[1], sys.argv[2]

def table(path):
    """Rows of the bench's table: (name, ns at 10 RSs, ns at 1000 RSs); maglev build ms."""
    rows, maglev, head = [], {}, True
    for line in open(path):
        line = line.rstrip()
        if head:
            head = not line.startswith("scheduler ")
            continue
        m = re.match(r"^(\d+) RSs\s+([\d.]+) ms$", line)
        if m:
            maglev[m.group(1)] = float(m.group(2))
            continue
        m = re.match(r"^(.*\S)\s+([\d.]+)\s+([\d.]+)$", line)
        if m:
            rows.append((m.group(1), float(m.group(2)), float(m.group(3))))
    return rows, maglev

def picks(path, pat=re.compile(r"rvs_core::sched::Scheduler::pick\b")):
    """Calls to Scheduler::pick in one callgrind dump and their inclusive Ir."""
    names, calls, incl, callee = {}, 0, 0, None
    fn = re.compile(r"^c?fn=\((\d+)\)(?: (.*))?$")
    with open(path) as f:
        for line in f:
            m = fn.match(line)
            if m:
                if m.group(2):
                    names[m.group(1)] = m.group(2).strip()
                callee = names.get(m.group(1), "") if line.startswith("cfn=") else None
                continue
            if line.startswith("calls=") and callee is not None:
                n = int(line[6:].split()[0])
                cost = next(f).split()
                if pat.search(callee):
                    calls += n
                    incl += int(cost[1])
                callee = None
    return calls, incl

rows, maglev = table(os.path.join(d, "timing.txt"))
cg_rows, _ = table(os.path.join(d, "callgrind-run.txt"))
base = os.path.join(d, "cg.out")
dumps = sorted(glob.glob(base + ".*"), key=lambda p: int(p.rsplit(".", 1)[1])) + [base]
cases = [c for c in (picks(p) for p in dumps) if c[0] > 0]
# One dump per case, cases in the order of the printed rows (10 RSs, then 1000 RSs).
instr = {}
for i, (calls, ir) in enumerate(cases):
    if i // 2 < len(cg_rows):
        instr.setdefault(cg_rows[i // 2][0], {})[("10", "1000")[i % 2]] = {"instr": ir / calls, "decisions": calls}
out_rows = []
for name, ns10, ns1000 in rows:
    c = instr.get(name, {})
    out_rows.append({"scheduler": name, "ns_10": ns10, "ns_1000": ns1000,
                     "instr_10": (c.get("10") or {}).get("instr"), "instr_1000": (c.get("1000") or {}).get("instr")})
json.dump({"method": "cargo bench -p rvs-core --bench sched (ns per decision, std timing); instructions per "
                     "decision: valgrind --tool=callgrind on the bench's --quick mode, a dump per case, "
                     "inclusive Ir of Scheduler::pick / calls (rows without instructions: no Scheduler::pick "
                     "call to count, the path is inlined into the bench)",
           "rows": out_rows, "maglev_build_ms": maglev,
           "callgrind_cases": [{"decisions": c, "ir": i} for c, i in cases]},
          open(out, "w"), indent=2)
EOF
  rm -f "$S"/cg.out*
  stamp "$RES/sched.json"
fi

# --- a worker's stall at a Maglev change (1,000 real servers), before/after the shared table ---
if ! skip maglev; then
  log "maglev change benchmark"
  begin
  maglev_args=(--json "$RES/maglev_stall.json")
  ((QUICK)) && maglev_args+=(--quick)
  "$MAGLEV" "${maglev_args[@]}" >"$RES/maglev_stall.txt"
  stamp "$RES/maglev_stall.json"
fi

# --- DPDK: rvsd's worker vs io (and macswap) forwarding on net_ring ----------------------------
if ! skip dpdk; then
  SECS=3
  # Seven alternating pairs: on a shared VM single runs of either side spread 2x.
  REPS=${BENCH_DPDK_REPS:-7}
  ((QUICK)) && { SECS=1; REPS=1; }
  begin
  D=$RES/dpdk
  rm -rf "$D"
  mkdir -p "$D"
  # The recycling generator (a NIC's part: frames go round, the DUT is the bottleneck when
  # it is slower), then three rounds of the mempool one, which stops at about half of io
  # under any DUT that reads its mbufs (dpdk_fwd.rs says why), kept for comparison.
  for rep in $(seq "$REPS"); do
    for dut in io rvs macswap; do
      log "dpdk: $dut run $rep"
      timeout $((SECS + 30)) "$DPDK_FWD" --dut "$dut" --seconds "$SECS" --file-prefix "$RVS_LAB-dfwd-$$" \
        --json "$D/$dut-$rep.json" 2>"$D/$dut-$rep.log" || log "dpdk $dut run $rep failed"
    done
  done
  for rep in $(seq "$(( REPS < 3 ? REPS : 3 ))"); do
    for dut in io rvs macswap; do
      log "dpdk: $dut run $rep, mempool generator"
      timeout $((SECS + 30)) "$DPDK_FWD" --dut "$dut" --generator mempool --seconds "$SECS" \
        --file-prefix "$RVS_LAB-dfwd-$$" --json "$D/mempool-$dut-$rep.json" 2>"$D/mempool-$dut-$rep.log" ||
        log "dpdk $dut run $rep (mempool generator) failed"
    done
  done
  "$PY" - "$D" "$RES/dpdk.json" <<'EOF'
import glob, json, os, re, statistics, sys
d = sys.argv[1]
def runs(name, key="forwarded_mpps"):
    out = []
    for f in sorted(glob.glob(os.path.join(d, f"{name}-[0-9]*.json"))):
        try: out.append(json.load(open(f))[key])
        except Exception: pass
    return out
def med(v):
    return statistics.median(v) if v else None
io, rvs, swap = runs("io"), runs("rvs"), runs("macswap")
mio, mrvs, mswap = runs("mempool-io"), runs("mempool-rvs"), runs("mempool-macswap")
json.dump({
    "generator": "recycle",
    "harness_io_mpps": med(io), "harness_io_runs": io,
    "harness_macswap_mpps": med(swap), "harness_macswap_runs": swap,
    "rvs_mpps": med(rvs), "rvs_runs": rvs,
    # How full the DUT's input ring was (0..1; the recycling generator keeps 2048 of 4096
    # slots' worth in flight, so 0.5 is a DUT that holds every frame).
    "input_ring_fill": {n: med(runs(n, "dut_input_ring_fill")) for n in
                        ("io", "rvs", "macswap", "mempool-io", "mempool-rvs", "mempool-macswap")},
    "mempool_generator": {
        "harness_io_mpps": med(mio), "harness_io_runs": mio,
        "harness_macswap_mpps": med(mswap), "harness_macswap_runs": mswap,
        "rvs_mpps": med(mrvs), "rvs_runs": mrvs,
    },
    "rvs_detail": [json.load(open(f)) for f in sorted(glob.glob(os.path.join(d, "rvs-[0-9]*.json")))],
}, open(sys.argv[2], "w"), indent=2)
EOF
  stamp "$RES/dpdk.json"
fi

# --- testpmd: the bench as users run it (testpmd generator and sink, rvsd or testpmd io) ----
if ! skip testpmd; then
  log "testpmd bench (net_memif)"
  begin
  TPSECS=5
  TPREPS=3
  ((QUICK)) && { TPSECS=2; TPREPS=1; }
  rm -f "$RES/testpmd.json"
  BENCH_TPMD_SECONDS=$TPSECS BENCH_TPMD_REPS=$TPREPS "$ROOT/bench/testpmd.sh" "$RES" >/dev/null ||
    log "testpmd bench failed (partial results kept)"
  stamp "$RES/testpmd.json"
fi

# --- lab ---------------------------------------------------------------------------------------
if ! skip lab; then
  log "lab benchmark"
  rm -rf "$RES/lab"
  LABSECS=5
  ((QUICK)) && LABSECS=2
  begin
  BENCH_LAB_SECONDS=$LABSECS "$ROOT/bench/lab.sh" "$RES" || log "lab benchmark failed (partial results kept)"
  echo '{}' >"$RES/lab/meta.json"
  stamp "$RES/lab/meta.json"
fi

log "report"
"$PY" "$ROOT/bench/report.py" "$RES" "$ROOT/docs/performance.md" >/dev/null
log "done in $(($(date +%s) - START)) s: $RES/summary.json, $RES/results.md"
cat "$RES/summary.json"
