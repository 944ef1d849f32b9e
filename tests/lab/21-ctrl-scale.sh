#!/usr/bin/env bash
# rvs-ctrl at scale: 5,000 real servers checked every second (delay_loop 1) from one core.
#   * 20 virtual services x 250 real servers; 16 services use TCP_CHECK, 4 use HTTP_GET
#     (4,000 + 1,000 checkers). Real server j is 198.19.0.1{1,2,3}:(20000 + j), the three
#     RS namespaces' addresses on 5,000 distinct ports, served by tests/lab/many_listen.py
#     (one epoll loop per process: TCP ports accept and close, HTTP ports answer 200);
#   * rvsd (max_reals 8192) gets all 5,000 from rvs-ctrl; rvs-ctrl's API and /metrics say
#     every server is alive and every checker up;
#   * over a 10 s window every checker ran about once a second (rvs_checks_total), and
#     rvs-ctrl (all its threads: utime + stime from /proc/PID/stat) used < 0.5 CPU-s/s;
#   * 500 listeners stop (every 10th server, in every service, both checker types): all 500
#     leave 'rvsadm -Ln' within delay_loop + retry x delay_before_retry (+ margin), the other
#     4,500 stay, and rvs-ctrl's view agrees.
# All checkers start together (no warmup, keepalived's default), so every second brings one
# burst of 5,000 checks; WARMUP=1 spreads them over the second instead (keepalived's warmup).
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ctrl-lib.sh
source "$(dirname "$0")/ctrl-lib.sh"

N_VS=20
PER_VS=250
N_HTTP_VS=4
N=$((N_VS * PER_VS))
BASE_PORT=20000
VS_PORT=9000
DELAY_LOOP=1
RETRY=1
DELAY_BEFORE_RETRY=1
WINDOW=$((DELAY_LOOP + RETRY * DELAY_BEFORE_RETRY))
# rvs-ctrl hands the new table to its sync thread, rvsd applies it; the poll of
# 'rvsadm -Ln' (5,000 lines) itself takes a moment.
MARGIN=1.0
MAX_CPU=0.5
CPU_WINDOW=10
# Real server j is a "victim" (its listener is stopped) when j % 10 == 9.
is_victim() { (($1 % 10 == 9)); }
rs_ip() { echo "198.19.0.1$(($1 % 3 + 1))"; }

LISTEN_PIDS=()

# scale_rvsd_start: ctrl_rvsd_start with max_reals/max_services set for 5,000 servers.
scale_rvsd_start() {
  [[ -x $RVS_CTRL ]] || die "rvs-ctrl not built: $RVS_CTRL (cargo build --release)"
  lab_up
  make_config "$WORKERS" "$CFG_DIR/rvsd-full.toml"
  awk '/^\[/ {skip = ($0 == "[[service]]")} !skip' "$CFG_DIR/rvsd-full.toml" |
    sed '/^\[dataplane\]/a max_reals = 8192\nmax_services = 1024' >"$CFG_DIR/rvsd.toml"
  grep -q '^\[\[service\]\]' "$CFG_DIR/rvsd.toml" && die "could not strip [[service]] from the rvsd config"
  grep -q '^max_reals = 8192' "$CFG_DIR/rvsd.toml" || die "could not set max_reals in the rvsd config"
  ip -n "$CTRL_NS" addr add "$MGMT_IP/24" dev br0 || die "cannot add $MGMT_IP to $CTRL_NS br0"
  rvsd_start "$CFG_DIR/rvsd.toml"
  assert_eq "services in rvsd before rvs-ctrl" 0 "$(rvsadm -Ln | grep -cE '^(TCP|UDP) ')"
}

# Port files: $CFG_DIR/ports-rsR-{keep,victim} with "PORT tcp|http" lines; the expected
# table ($CFG_DIR/all.txt, $CFG_DIR/kept.txt: "ip:port" lines, sorted).
write_ports() {
  local j vs kind ip port set
  rm -f "$CFG_DIR"/ports-rs* "$CFG_DIR/all.txt" "$CFG_DIR/kept.txt"
  for ((j = 0; j < N; j++)); do
    vs=$((j / PER_VS))
    kind=tcp
    ((vs >= N_VS - N_HTTP_VS)) && kind=http
    ip=$(rs_ip "$j")
    port=$((BASE_PORT + j))
    set=keep
    is_victim "$j" && set=victim
    echo "$port $kind" >>"$CFG_DIR/ports-rs$((j % 3 + 1))-$set"
    echo "$ip:$port" >>"$CFG_DIR/all.txt"
    [[ $set == keep ]] && echo "$ip:$port" >>"$CFG_DIR/kept.txt"
  done
  sort -o "$CFG_DIR/all.txt" "$CFG_DIR/all.txt"
  sort -o "$CFG_DIR/kept.txt" "$CFG_DIR/kept.txt"
}

write_conf() {
  local v j port
  {
    kconf_header
    for ((v = 0; v < N_VS; v++)); do
      port=$((VS_PORT + v))
      cat <<EOF
virtual_server $VIP $port {
  delay_loop $DELAY_LOOP
  warmup ${WARMUP:-0}
  lb_algo rr
  lb_kind FNAT
  protocol TCP
  laddr_group_name lips
EOF
      for ((j = v * PER_VS; j < (v + 1) * PER_VS; j++)); do
        echo "  real_server $(rs_ip "$j") $((BASE_PORT + j)) {"
        echo "    weight 1"
        if ((v >= N_VS - N_HTTP_VS)); then
          echo "    HTTP_GET { url { path / status_code 200 } connect_timeout 1 retry $RETRY delay_before_retry $DELAY_BEFORE_RETRY }"
        else
          echo "    TCP_CHECK { connect_timeout 1 retry $RETRY delay_before_retry $DELAY_BEFORE_RETRY }"
        fi
        echo "  }"
      done
      echo "}"
    done
  } >"$KCONF"
}

# listen_start R SET: many_listen.py on rsR's address for $CFG_DIR/ports-rsR-SET.
listen_start() {
  local r=$1 set=$2 pidfile=$CFG_DIR/listen-rs$1-$2.pid i
  ip netns exec "$RVS_LAB-rs$r" "$PY" "$ROOT/tests/lab/many_listen.py" --addr "198.19.0.1$r" \
    --portfile "$CFG_DIR/ports-rs$r-$set" --pidfile "$pidfile" \
    </dev/null >"$CFG_DIR/listen-rs$r-$set.log" 2>&1 &
  LISTEN_PIDS+=("$!")
  bg_track "$!"
  for i in $(seq 100); do
    [[ -s $pidfile ]] && return 0
    kill -0 "$!" 2>/dev/null || break
    sleep 0.1
  done
  indent <"$CFG_DIR/listen-rs$r-$set.log"
  die "many_listen.py rs$r $set did not start"
}

# listen_stop R SET
listen_stop() {
  local pid
  pid=$(cat "$CFG_DIR/listen-rs$1-$2.pid")
  kill -TERM "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}

# table_reals: every "ip:port" real of the scale services in 'rvsadm -Ln', sorted.
table_reals() {
  rvsadm -Ln | awk -v vip="$VIP" -v lo="$VS_PORT" -v hi="$((VS_PORT + N_VS - 1))" '
    /^(TCP|UDP) / {split($2, a, ":"); cur = (a[1] == vip && a[2] >= lo && a[2] <= hi)}
    cur && $1 == "->" && $2 ~ /^[0-9]/ {print $2}' | sort
}

# removal_timeline MARK T0: when, after T0 (epoch s), rvs-ctrl's log since MARK saw the
# checks fail and rvsd accept the removals: which of the two took the time.
removal_timeline() {
  log_since "$1" | "$PY" -c '
import datetime, re, sys
t0 = float(sys.argv[1])
down, applied = [], []
for line in sys.stdin:
    m = re.match(r"(\S+)Z ", line)
    if not m:
        continue
    t = datetime.datetime.fromisoformat(m.group(1) + "+00:00").timestamp() - t0
    if "real server down" in line:
        down.append(t)
    elif "applied" in line and "DelReal" in line:
        applied.append(t)
span = lambda v: f"{len(v)} between +{min(v):.2f} and +{max(v):.2f} s" if v else "none"
print(f"checks failed: {span(down)}; removals applied: {span(applied)}")' "$2"
}

# cpu_ticks PID: utime + stime (clock ticks) of the whole process.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# metric_values FILE NAME: "labels value" lines of one family in a /metrics page.
metric_values() { awk -v n="$2" 'index($0, n "{") == 1 {print}' "$1"; }

scale_rvsd_start
write_ports
for r in 1 2 3; do
  listen_start "$r" keep
  listen_start "$r" victim
done
pass "listeners up on $N ports"
write_conf
say "keepalived.conf: $N_VS services, $N real servers ($(wc -l <"$KCONF") lines)"

T_START=$(now)
ctrl_start
CLK_TCK=$(getconf CLK_TCK)

# 1. All 5,000 in rvsd.
seen=0
for ((i = 0; i < 300; i++)); do
  seen=$(table_reals | wc -l)
  ((seen == N)) && break
  sleep 0.1
done
if [[ $(table_reals) == "$(cat "$CFG_DIR/all.txt")" ]]; then
  pass "all $N real servers in 'rvsadm -Ln' $(awk -v a="$T_START" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}') s after rvs-ctrl started"
else
  fail "'rvsadm -Ln' has $seen of the $N real servers"
fi
# Let it run ~15 s in all.
rest=$(awk -v a="$T_START" -v b="$(now)" 'BEGIN {r = 15 - (b - a); print (r > 0 ? r : 0)}')
sleep "$rest"

# 2. rvs-ctrl's own view: API and /metrics.
api GET /api/v1/services >"$CFG_DIR/services.json"
assert_eq "GET /api/v1/services" 200 "$API_CODE"
view=$("$PY" - "$CFG_DIR/services.json" <<'EOF'
import json, sys
svcs = json.load(open(sys.argv[1]))["services"]
reals = [r for s in svcs for r in s["reals"]]
alive = sum(1 for r in reals if r.get("alive"))
checks = [c for r in reals for c in r.get("checks", [])]
up = sum(1 for c in checks if c["up"])
kinds = {}
for c in checks:
    kinds[c["type"]] = kinds.get(c["type"], 0) + 1
print(len(svcs), len(reals), alive, len(checks), up, kinds.get("TCP_CHECK", 0), kinds.get("HTTP_GET", 0))
EOF
)
read -r v_svcs v_reals v_alive v_checks v_up v_tcp v_http <<<"$view"
assert_eq "API: services" "$N_VS" "$v_svcs"
assert_eq "API: real servers" "$N" "$v_reals"
assert_eq "API: alive real servers" "$N" "$v_alive"
assert_eq "API: checkers" "$N" "$v_checks"
assert_eq "API: checkers up" "$N" "$v_up"
assert_eq "API: TCP_CHECK / HTTP_GET checkers" "$(((N_VS - N_HTTP_VS) * PER_VS)) $((N_HTTP_VS * PER_VS))" "$v_tcp $v_http"

# 3. Check rate and CPU. A checker runs again delay_loop after its last run ended (as
# keepalived's), so its rate is 1 / (1 s + check time): a loaded machine slows it a little.
# Order: /metrics (A), CPU (B) .. 10 s .. CPU (C), /metrics (D); the scrapes are outside
# the CPU window (a 5,000-checker page costs the HTTP thread a little).
# The counters on a page are as of rvs-ctrl's last status, up to STATUS_LAG old (it
# publishes results every 250 ms; the rest is its loop's own latency under the burst). So
# the runs between A and D happened in at most (after D) - (before A) + STATUS_LAG, and at
# least (before D) - (after A) - STATUS_LAG. Runs are at least delay_loop apart, so in a
# span L a checker completes at most floor(L / delay_loop) + 1 of them: with every checker
# in step (no warmup) a 10.8 s span holds 11 or 12 runs of each, whatever the phase; the
# fencepost is in the bound, not left to the luck of the phase.
STATUS_LAG=0.5
ta0=$(now)
api GET /metrics >"$CFG_DIR/metrics-a.txt"
ta=$(now)
assert_eq "GET /metrics" 200 "$API_CODE"
assert_eq "rvs_check_up = 1 series" "$N" "$(metric_values "$CFG_DIR/metrics-a.txt" rvs_check_up | awk '$NF == 1' | wc -l)"
assert_eq "rvs_check_duration_seconds series" "$N" \
  "$(metric_values "$CFG_DIR/metrics-a.txt" rvs_check_duration_seconds | wc -l)"
c0=$(cpu_ticks "$CTRL_PID")
t0=$(now)
sleep "$CPU_WINDOW"
c1=$(cpu_ticks "$CTRL_PID")
t1=$(now)
td0=$(now)
api GET /metrics >"$CFG_DIR/metrics-d.txt"
td=$(now)
cpu=$(awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" \
  'BEGIN {printf "%.3f", (c1 - c0) / hz / (t1 - t0)}')
say "rvs-ctrl CPU: $((c1 - c0)) ticks in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') s = $cpu CPU-s/s"
if awk -v c="$cpu" -v m="$MAX_CPU" 'BEGIN {exit !(c < m)}'; then
  pass "rvs-ctrl used $cpu CPU-seconds per second (< $MAX_CPU) checking $N servers"
else
  fail "rvs-ctrl used $cpu CPU-seconds per second (limit $MAX_CPU)"
fi
rates=$("$PY" - "$CFG_DIR/metrics-a.txt" "$CFG_DIR/metrics-d.txt" "$ta0" "$ta" "$td0" "$td" "$STATUS_LAG" "$DELAY_LOOP" <<'EOF'
import math, sys
def runs(path):
    out = {}
    for line in open(path):
        if line.startswith("rvs_checks_total{"):
            labels, value = line.rsplit(" ", 1)
            out[labels] = float(value)
    return out
a, d = runs(sys.argv[1]), runs(sys.argv[2])
ta0, ta, td0, td, lag, loop = map(float, sys.argv[3:9])
span_max = td - ta0 + lag
span_min = td0 - ta - lag
k = sorted(d[key] - a.get(key, 0) for key in d)
most = math.floor(span_max / loop) + 1
print(len(k), f"{span_min:.2f}", f"{span_max:.2f}", int(k[0]), int(k[len(k) // 2]), int(k[-1]), most,
      sum(1 for x in k if x / span_min < 0.7), sum(1 for x in k if x > most),
      f"{sum(k) / span_min:.0f}")
EOF
)
read -r n_series span_min span_max kmin kmed kmax most n_slow n_fast total <<<"$rates"
say "runs per checker between the scrapes (span $span_min..$span_max s): min $kmin, median $kmed, max $kmax"
assert_eq "rvs_checks_total series" "$N" "$n_series"
assert_eq "checkers that ran < 0.7 times per second" 0 "$n_slow"
assert_eq "checkers that ran more than once per delay_loop (> $most runs in $span_max s)" 0 "$n_fast"
assert_ge "checks per second, all checkers" $((N * 70 / 100)) "$total"
durs=$(metric_values "$CFG_DIR/metrics-d.txt" rvs_check_duration_seconds |
  awk '{s += $NF; if ($NF > m) m = $NF} END {printf "mean %.2f ms, max %.2f ms", s / NR * 1000, m * 1000}')
say "last check durations: $durs"

# 4. 500 listeners stop: they leave rvsd within the window, the rest stay.
n_victims=$(($(wc -l <"$CFG_DIR/all.txt") - $(wc -l <"$CFG_DIR/kept.txt")))
mark=$(log_mark)
tk=$(now)
for r in 1 2 3; do listen_stop "$r" victim; done
t_first=
t_all=
for ((i = 0; i < (WINDOW + 8) * 10; i++)); do
  cur=$(table_reals | wc -l)
  [[ -z $t_first ]] && ((cur < N)) && t_first=$(now)
  if ((cur == N - n_victims)); then
    t_all=$(now)
    break
  fi
  sleep 0.1
done
limit=$(fadd "$WINDOW" "$MARGIN")
if [[ -n $t_all ]]; then
  took=$(awk -v a="$tk" -v b="$t_all" 'BEGIN {printf "%.2f", b - a}')
  first=$(awk -v a="$tk" -v b="$t_first" 'BEGIN {printf "%.2f", b - a}')
  say "the $n_victims stopped servers: first left rvsd after $first s, the last after $took s"
  if awk -v t="$took" -v l="$limit" 'BEGIN {exit !(t <= l)}'; then
    pass "$n_victims stopped servers removed within $took s (limit delay_loop + retry x delay_before_retry + $MARGIN = $limit s)"
  else
    fail "$n_victims stopped servers removed only after $took s (limit $limit s)"
    say "rvs-ctrl's timeline after the stop: $(removal_timeline "$mark" "$tk")"
  fi
else
  fail "'rvsadm -Ln' still has $cur real servers $((WINDOW + 8)) s after $n_victims listeners stopped (want $((N - n_victims)))"
fi
sleep 2
if [[ $(table_reals) == "$(cat "$CFG_DIR/kept.txt")" ]]; then
  pass "the other $((N - n_victims)) real servers stayed in 'rvsadm -Ln'"
else
  fail "'rvsadm -Ln' differs from the $((N - n_victims)) servers kept: $(diff <(table_reals) "$CFG_DIR/kept.txt" | grep -c '^[<>]') lines"
fi
assert_eq "'real server down' lines in rvs-ctrl's log" "$n_victims" "$(log_since "$mark" | grep -c 'real server down')"
api GET /api/v1/services >"$CFG_DIR/services.json"
alive=$("$PY" -c 'import json, sys; print(sum(1 for s in json.load(open(sys.argv[1]))["services"] for r in s["reals"] if r["alive"]))' \
  "$CFG_DIR/services.json")
assert_eq "API: alive real servers after the stop" "$((N - n_victims))" "$alive"
assert_not_contains "rvs-ctrl log" "panicked" "$(cat "$CTRL_LOG")"
ctrl_stop
finish
