# shellcheck shell=bash
# Its variables are used by the tests that source it:
# shellcheck disable=SC2034
# Shared helpers for the lab tests (tests/lab/NN-*.sh). Source it, then:
#   lab_up; make_config "$WORKERS" "$CFG"; rvsd_start "$CFG"; ...asserts...; finish
# An EXIT trap always stops rvsd and tears the lab down, whatever happens.

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# RVS_LAB prefixes the lab's namespaces (default "rvs"); another value gives a separate lab
# with its own state dir and control socket, so two labs can run side by side.
export RVS_LAB=${RVS_LAB:-rvs}
export RVS_LAB_STATE=${RVS_LAB_STATE:-/tmp/$RVS_LAB-lab}
STATE=$RVS_LAB_STATE
RVSD=${RVSD:-$ROOT/target/release/rvsd}
RVSADM=${RVSADM:-$ROOT/target/release/rvsadm}
PY=/usr/bin/python3
# Helpers imported from tests/lab (tcpcap.py) leave no __pycache__ behind.
export PYTHONDONTWRITEBYTECODE=1
WORKERS=${WORKERS:-1}
TEST_NAME=$(basename "${0%.sh}")
VIP=198.18.0.100
LB_CLIENT_IP=198.18.0.1
CLIENT_IP=198.18.0.10
RS_IPS=(198.19.0.11 198.19.0.12 198.19.0.13)
LIPS=(198.19.0.200 198.19.0.201)
if [[ $RVS_LAB == rvs ]]; then CTRL_SOCK=/run/rvsd/rvsd.sock; else CTRL_SOCK=/run/rvsd/$RVS_LAB.sock; fi
export RVSD_SOCKET=$CTRL_SOCK

RVSD_PID=
RVSD_LOG=
RVSD_PREFIX=
CFG_DIR=
_FAILS=0
_CHECKS=0
_FINISHED=0
_CLEANED=0
BG_PIDS=()

# ---------------------------------------------------------------- output and assertions

# indent: prefixes stdin lines so quoted output stands out from the test's own lines.
indent() { sed 's/^/    | /'; }

say() { printf '[%s w%s] %s\n' "$TEST_NAME" "$WORKERS" "$*"; }

pass() { _CHECKS=$((_CHECKS + 1)); say "ok: $*"; }

fail() {
  _CHECKS=$((_CHECKS + 1))
  _FAILS=$((_FAILS + 1))
  say "FAIL: $*"
}

# Fatal: records a failure and exits (the trap cleans up).
die() {
  fail "$*"
  exit 1
}

# assert_eq WHAT EXPECTED SEEN
assert_eq() {
  if [[ $2 == "$3" ]]; then pass "$1 = $3"; else fail "$1: expected '$2', saw '$3'"; fi
}

# assert_range WHAT LOW HIGH SEEN   (integers, inclusive)
assert_range() {
  if [[ $4 =~ ^-?[0-9]+$ ]] && (($4 >= $2 && $4 <= $3)); then
    pass "$1 = $4 (expected $2..$3)"
  else
    fail "$1: expected $2..$3, saw '$4'"
  fi
}

# assert_ge WHAT MIN SEEN
assert_ge() {
  if [[ $3 =~ ^-?[0-9]+$ ]] && (($3 >= $2)); then
    pass "$1 = $3 (expected >= $2)"
  else
    fail "$1: expected >= $2, saw '$3'"
  fi
}

# assert_gt WHAT MIN SEEN
assert_gt() {
  if [[ $3 =~ ^-?[0-9]+$ ]] && (($3 > $2)); then
    pass "$1 = $3 (expected > $2)"
  else
    fail "$1: expected > $2, saw '$3'"
  fi
}

# assert_contains WHAT NEEDLE HAYSTACK   (fixed string)
assert_contains() {
  if grep -qF -- "$2" <<<"$3"; then
    pass "$1 contains '$2'"
  else
    fail "$1: expected to contain '$2', saw:"
    indent <<<"$3" | head -n 40
  fi
}

# assert_not_contains WHAT NEEDLE HAYSTACK   (fixed string)
assert_not_contains() {
  if grep -qF -- "$2" <<<"$3"; then
    fail "$1: expected no '$2', saw:"
    grep -F -- "$2" <<<"$3" | head -n 10 | sed 's/^/    | /'
  else
    pass "$1 has no '$2'"
  fi
}

# assert_ok WHAT CMD...   (command must exit 0; its output is shown on failure)
assert_ok() {
  local what=$1 out rc
  shift
  out=$("$@" 2>&1)
  rc=$?
  if ((rc == 0)); then
    pass "$what"
  else
    fail "$what: '$*' exited $rc:"
    indent <<<"$out" | tail -n 20
  fi
}

# Prints the summary line and exits 0/1. Call it last.
finish() {
  _FINISHED=1
  if [[ -n $RVSD_PID ]] && ! rvsd_running; then
    fail "rvsd is no longer running"
  fi
  if [[ -n $RVSD_LOG && -f $RVSD_LOG ]] && grep -q "panicked" "$RVSD_LOG"; then
    fail "rvsd log mentions 'panicked'"
  fi
  if ((_FAILS)); then
    say "RESULT: FAIL ($_FAILS of $_CHECKS checks failed)"
    exit 1
  fi
  say "RESULT: PASS ($_CHECKS checks)"
  exit 0
}

# ---------------------------------------------------------------- namespaces

in_client() { ip netns exec "$RVS_LAB-client" "$@"; }

# in_rs N CMD...
in_rs() {
  local n=$1
  shift
  ip netns exec "$RVS_LAB-rs$n" "$@"
}

in_lb() { ip netns exec "$RVS_LAB-lb" "$@"; }

lab_up() {
  say "lab up"
  "$ROOT/scripts/lab.sh" up >"$STATE.up.log" 2>&1 || {
    cat "$STATE.up.log"
    die "scripts/lab.sh up failed"
  }
}

lab_down() { "$ROOT/scripts/lab.sh" down >/dev/null 2>&1 || "$ROOT/scripts/lab.sh" down; }

# ---------------------------------------------------------------- rvsd

require_binaries() {
  [[ -x $RVSD ]] || die "rvsd not built: $RVSD (cargo build --release)"
  [[ -x $RVSADM ]] || die "rvsadm not built: $RVSADM (cargo build --release)"
}

rvsadm() { timeout 15 "$RVSADM" "$@"; }

rvsd_running() { [[ -n $RVSD_PID ]] && kill -0 "$RVSD_PID" 2>/dev/null; }

# make_config WORKERS OUT: examples/lab.toml with workers [1] or [0, 1] and a unique file prefix.
make_config() {
  local workers=$1 out=$2 list
  case $workers in
    1) list='[1]' ;;
    2) list='[0, 1]' ;;
    *) die "make_config: WORKERS must be 1 or 2, got '$workers'" ;;
  esac
  RVSD_PREFIX="rvsd-lab-$$-$RANDOM"
  sed -e "s/^workers = \[1\]/workers = $list/" \
    -e "s/\"--file-prefix\", \"rvsd-lab\"/\"--file-prefix\", \"$RVSD_PREFIX\"/" \
    -e "s|^control_socket = .*|control_socket = \"$CTRL_SOCK\"|" \
    "$ROOT/examples/lab.toml" >"$out"
  grep -qF "workers = $list" "$out" || die "make_config: could not set workers in $out"
  grep -qF "\"$RVSD_PREFIX\"" "$out" || die "make_config: could not set --file-prefix in $out"
}

# rvsd_start CONFIG: starts rvsd in rvs-lb, waits up to 20 s for 'rvsadm -Ln' to succeed.
rvsd_start() {
  local cfg=$1 i
  require_binaries
  if "$RVSADM" -Ln >/dev/null 2>&1; then
    die "another rvsd already answers on $CTRL_SOCK; refusing to test against it"
  fi
  RVSD_LOG=$STATE/rvsd-$TEST_NAME-w$WORKERS.log
  say "starting rvsd (workers=$WORKERS, log $RVSD_LOG)"
  ip netns exec "$RVS_LAB-lb" "$RVSD" --config "$cfg" </dev/null >"$RVSD_LOG" 2>&1 &
  RVSD_PID=$!
  echo "$RVSD_PID" >"$STATE/rvsd.pid"
  for i in $(seq 80); do
    if ! rvsd_running; then
      tail -n 30 "$RVSD_LOG" | sed 's/^/    | /'
      RVSD_PID=
      die "rvsd exited during startup"
    fi
    if "$RVSADM" -Ln >/dev/null 2>&1; then
      pass "rvsd answers rvsadm after $((i / 4)).$(((i % 4) * 25))s"
      # Data plane readiness: rvsd's own client-side address answers ping (up to 10 s more).
      # Not fatal here; the test's own checks report a data plane that does not work.
      if wait_for 10 "ping $LB_CLIENT_IP" in_client ping -n -c 1 -W 1 "$LB_CLIENT_IP" >/dev/null 2>&1; then
        say "data plane answers ping $LB_CLIENT_IP"
      else
        say "note: $LB_CLIENT_IP does not answer ping 10 s after start; going on"
      fi
      return 0
    fi
    sleep 0.25
  done
  tail -n 30 "$RVSD_LOG" | sed 's/^/    | /'
  die "rvsd did not answer 'rvsadm -Ln' within 20 s"
}

# rvsd_stop: SIGTERM, wait up to 10 s, then SIGKILL.
rvsd_stop() {
  local i killed=0
  if rvsd_running; then
    kill -TERM "$RVSD_PID" 2>/dev/null
    for i in $(seq 100); do
      kill -0 "$RVSD_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$RVSD_PID" 2>/dev/null; then
      say "rvsd ignored SIGTERM for 10 s: SIGKILL"
      kill -KILL "$RVSD_PID" 2>/dev/null
      killed=1
    fi
    wait "$RVSD_PID" 2>/dev/null
  fi
  RVSD_PID=
  rm -f "$STATE/rvsd.pid"
  ((killed)) && rm -f "$CTRL_SOCK"
  [[ -n $RVSD_PREFIX ]] && rm -rf "/var/run/dpdk/$RVSD_PREFIX"
  return 0
}

# ---------------------------------------------------------------- traffic and parsing

# http_get_many N [URL]: N sequential curls from the client, one body line per request
# ("FAIL" for a failed request).
http_get_many() {
  local n=$1 url=${2:-http://$VIP/}
  # shellcheck disable=SC2016
  in_client bash -c 'for ((i = 0; i < $1; i++)); do
      body=$(curl -s --max-time 5 "$2") && [[ -n $body ]] || body=FAIL
      printf "%s\n" "$body"
    done' _ "$n" "$url"
}

# count_of WORD TEXT: number of lines equal to WORD.
count_of() { grep -cxF -- "$1" <<<"$2"; }

# udp_burst ARGS...: tests/lab/udp_burst.py in the client (prints a JSON line).
udp_burst() { in_client timeout 60 "$PY" "$ROOT/tests/lab/udp_burst.py" "$@"; }

# warm_up: a ping, a few HTTP requests and single UDP datagrams through the VIP, results
# ignored, so neighbour resolution (client -> rvsd -> every RS) is done before a test counts
# losses: a burst into an unresolved next hop may be dropped by design.
warm_up() {
  local i
  in_client ping -n -c 1 -W 2 "$VIP" >/dev/null 2>&1
  http_get_many 6 >/dev/null
  for i in $(seq 9); do
    udp_burst --dst "$VIP" --port 53 --count 1 --sports 1 --timeout 0.5 >/dev/null 2>&1
  done
  return 0
}

# json_field JSON KEY
json_field() { "$PY" -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2" 2>/dev/null; }

# conn_lines: connection lines of 'rvsadm -Lnc' (those after the two header lines).
conn_lines() {
  rvsadm -Lnc 2>&1 | awk 'NR > 2 && NF > 0'
}

# drop_counter OUTPUT REASON: Total of REASON in the drop table of 'rvsadm --workers' (0 if absent).
drop_counter() {
  awk -v r="$2" '/^Drop reason/ {t = 1; next} t && $1 == r {print $2; f = 1; exit} END {if (!f) print 0}' <<<"$1"
}

# worker_rows OUTPUT: the worker table rows of 'rvsadm --workers'
# (Worker Lcore RxPkts TxPkts RedirIn RedirOut Sessions Created Expired).
worker_rows() {
  awk '/^Worker/ {t = 1; next} /^Drop reason/ {t = 0} t && $1 ~ /^[0-9]+$/' <<<"$1"
}

# port_row OUTPUT PORT: the NIC counters of PORT in 'rvsadm --workers'
# (RxPkts TxPkts RxMissed RxErrors RxNoMbuf TxErrors).
port_row() {
  awk -v p="$2" '/^Port +Device/ {t = 1; next} t && $1 == p {print $3, $4, $5, $6, $7, $8; exit}' <<<"$1"
}

# event_counter OUTPUT EVENT: Total of EVENT in the event table of 'rvsadm --workers' (0 if absent).
event_counter() {
  awk -v r="$2" '/^Event/ {t = 1; next} /^(Worker|Drop reason)/ {t = 0} t && $1 == r {print $2; f = 1; exit} END {if (!f) print 0}' <<<"$1"
}

# cap_start NAME NS IFACE FILTER: tcpdump (immediate mode, packet-buffered) in namespace NS
# on IFACE into $CFG_DIR/NAME.pcap, bounded to 120 s; waits (up to 5 s) until it listens.
# The pid is in CAP_PIDS[NAME]; cap_stop NAME ends it and leaves the file complete.
declare -A CAP_PIDS=()
cap_start() {
  local name=$1 ns=$2 dev=$3 filter=$4 i
  ip netns exec "$ns" timeout 120 tcpdump -i "$dev" -n -U --immediate-mode -s 512 -Z root -w "$CFG_DIR/$name.pcap" "$filter" \
    </dev/null >/dev/null 2>"$CFG_DIR/$name.tcpdump.err" &
  CAP_PIDS[$name]=$!
  bg_track "${CAP_PIDS[$name]}"
  for i in $(seq 50); do
    grep -q "listening on" "$CFG_DIR/$name.tcpdump.err" 2>/dev/null && return 0
    kill -0 "${CAP_PIDS[$name]}" 2>/dev/null || break
    sleep 0.1
  done
  indent <"$CFG_DIR/$name.tcpdump.err"
  die "tcpdump $name ($ns $dev) did not start"
}

# cap_stop NAME...: SIGTERM to each capture (tcpdump flushes and exits), waits up to 5 s each.
cap_stop() {
  local name pid i
  for name in "$@"; do
    pid=${CAP_PIDS[$name]:-}
    [[ -n $pid ]] || continue
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    unset "CAP_PIDS[$name]"
    # tcpdump's own account: packets the filter matched that it never wrote are lost to the test.
    local got matched
    got=$(awk '/packets captured/ {print $1}' "$CFG_DIR/$name.tcpdump.err")
    matched=$(awk '/packets received by filter/ {print $1}' "$CFG_DIR/$name.tcpdump.err")
    if [[ -n $got && -n $matched && $got != "$matched" ]]; then
      say "note: capture $name wrote $got of the $matched packets its filter matched"
    fi
  done
  return 0
}

# wait_for SECONDS DESCRIPTION CMD...: polls CMD every 0.5 s until it succeeds; 1 on timeout.
wait_for() {
  local secs=$1 what=$2 i
  shift 2
  for ((i = 0; i < secs * 2; i++)); do
    "$@" && return 0
    sleep 0.5
  done
  say "timed out after ${secs}s waiting for: $what"
  return 1
}

# ---------------------------------------------------------------- cleanup

# bg_track PID: a background helper the trap kills if the test ends early.
bg_track() { BG_PIDS+=("$1"); }

_cleanup() {
  local rc=$?
  ((_CLEANED)) && return
  _CLEANED=1
  trap - EXIT INT TERM
  if ((!_FINISHED)) && ((rc == 0)); then rc=1; fi
  if ((rc != 0)) && [[ -n $RVSD_LOG && -f $RVSD_LOG ]]; then
    say "rvsd log tail ($RVSD_LOG):"
    tail -n 25 "$RVSD_LOG" | sed 's/^/    | /'
  fi
  local p
  for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  if [[ -n ${CFG_DIR:-} && -d $CFG_DIR ]]; then rm -rf "$CFG_DIR"; fi
  rvsd_stop
  lab_down
  # DPDK's runtime directories of every DPDK process this test started (rvsd, a flood
  # generator), whichever helper named it: their file prefixes all carry this shell's pid
  # between dashes, followed by a random number or a role.
  rm -rf /var/run/dpdk/rvs*-"$$"-* 2>/dev/null
  if ((rc != 0 && !_FINISHED)); then say "RESULT: FAIL (aborted, $_FAILS of $_CHECKS checks failed)"; fi
  exit "$rc"
}
trap _cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

((EUID == 0)) || die "lab tests must run as root"
[[ $WORKERS == 1 || $WORKERS == 2 ]] || die "WORKERS must be 1 or 2, got '$WORKERS'"
CFG_DIR=$(mktemp -d /tmp/rvs-test.XXXXXX)
mkdir -p /run/rvsd
