# shellcheck shell=bash
# Its variables are used by the tests that source it:
# shellcheck disable=SC2034
# Helpers for the rvs-ctrl lab tests (tests/lab/1N-ctrl-*.sh). Source it after lib.sh.
#
# rvs-ctrl owns rvsd's whole table, so rvsd starts from examples/lab.toml with every
# [[service]] stripped (ctrl_rvsd_start). rvs-ctrl runs in the lab's switch namespace
# ($RVS_LAB-sw) with a management address on its bridge (198.19.0.250): the lb namespace's
# kernel has no addresses (DPDK owns lb-c/lb-s), and the checkers need a path to the real
# servers, as keepalived has on a real LB. Its HTTP API listens on 127.0.0.1:9595 there,
# so labs with another RVS_LAB do not collide.

RVS_CTRL=${RVS_CTRL:-$ROOT/target/release/rvs-ctrl}
CTRL_NS=$RVS_LAB-sw
MGMT_IP=198.19.0.250
CTRL_LISTEN=127.0.0.1:9595
CTRL_PIDFILE=$STATE/rvs-ctrl.pid
CTRL_PID=
CTRL_LOG=
KCONF=$CFG_DIR/keepalived.conf
# The API's bearer token (rvs-ctrl --api-token-file): without one its write endpoints refuse.
CTRL_TOKEN_FILE=$STATE/rvs-ctrl.token
CTRL_TOKEN=

in_ctrl() { ip netns exec "$CTRL_NS" "$@"; }

# ctrl_rvsd_start: lab up, rvsd from examples/lab.toml without its [[service]] tables.
ctrl_rvsd_start() {
  [[ -x $RVS_CTRL ]] || die "rvs-ctrl not built: $RVS_CTRL (cargo build --release)"
  lab_up
  make_config "$WORKERS" "$CFG_DIR/rvsd-full.toml"
  awk '/^\[/ {skip = ($0 == "[[service]]")} !skip' "$CFG_DIR/rvsd-full.toml" >"$CFG_DIR/rvsd.toml"
  grep -q '^\[\[service\]\]' "$CFG_DIR/rvsd.toml" && die "could not strip [[service]] from the rvsd config"
  ip -n "$CTRL_NS" addr add "$MGMT_IP/24" dev br0 || die "cannot add $MGMT_IP to $CTRL_NS br0"
  rvsd_start "$CFG_DIR/rvsd.toml"
  local n
  n=$(rvsadm -Ln | grep -cE '^(TCP|UDP) ')
  assert_eq "services in rvsd before rvs-ctrl" 0 "$n"
}

# kconf_header: global_defs and the LIP group, for the tests' keepalived.conf files.
kconf_header() {
  cat <<EOF
global_defs {
  router_id rvs-lab
}
local_address_group lips {
  ${LIPS[0]}
  ${LIPS[1]}
}
EOF
}

# ctrl_start: rvs-ctrl on $KCONF in $CTRL_NS; waits up to 10 s for its HTTP API.
ctrl_start() {
  local i
  CTRL_LOG=$STATE/rvs-ctrl-$TEST_NAME.log
  say "starting rvs-ctrl (log $CTRL_LOG)"
  if [[ -z $CTRL_TOKEN ]]; then
    CTRL_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    (umask 077 && printf '%s\n' "$CTRL_TOKEN" >"$CTRL_TOKEN_FILE")
  fi
  # ip netns exec itself (not the in_ctrl function, which would put a subshell in between)
  # so that $! is rvs-ctrl's pid.
  ip netns exec "$CTRL_NS" "$RVS_CTRL" -f "$KCONF" --socket "$CTRL_SOCK" --pidfile "$CTRL_PIDFILE" \
    --listen "$CTRL_LISTEN" --api-token-file "$CTRL_TOKEN_FILE" -l info </dev/null >>"$CTRL_LOG" 2>&1 &
  CTRL_PID=$!
  bg_track "$CTRL_PID"
  for i in $(seq 40); do
    kill -0 "$CTRL_PID" 2>/dev/null || {
      tail -n 20 "$CTRL_LOG" | indent
      CTRL_PID=
      die "rvs-ctrl exited during startup"
    }
    if [[ $(api_status GET /api/v1/services) == 200 ]]; then
      pass "rvs-ctrl answers its API after $((i / 4)).$(((i % 4) * 25))s"
      return 0
    fi
    sleep 0.25
  done
  tail -n 20 "$CTRL_LOG" | indent
  die "rvs-ctrl API did not answer within 10 s"
}

# ctrl_stop: SIGTERM, wait up to 5 s.
ctrl_stop() {
  local i
  [[ -n $CTRL_PID ]] || return 0
  kill -TERM "$CTRL_PID" 2>/dev/null
  for i in $(seq 50); do
    kill -0 "$CTRL_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$CTRL_PID" 2>/dev/null
  wait "$CTRL_PID" 2>/dev/null
  CTRL_PID=
}

# ctrl_reload: what an operator runs after editing the file.
ctrl_reload() { rvsadm --reload --pidfile "$CTRL_PIDFILE"; }

# api METHOD PATH [BODY]: the response body; API_CODE holds the HTTP status. Sends the
# bearer token ctrl_start made ($CTRL_TOKEN; empty it to send none).
API_CODE=
api() {
  local out
  out=$(in_ctrl curl -s --max-time 10 -X "$1" -H 'Content-Type: application/json' \
    ${CTRL_TOKEN:+-H "Authorization: Bearer $CTRL_TOKEN"} \
    ${3:+--data "$3"} -w '\n%{http_code}' "http://$CTRL_LISTEN$2")
  API_CODE=${out##*$'\n'}
  printf '%s\n' "${out%$'\n'*}"
}

# api_status METHOD PATH [BODY]: the HTTP status only.
api_status() {
  in_ctrl curl -s --max-time 10 -o /dev/null -X "$1" ${3:+--data "$3"} -w '%{http_code}' \
    "http://$CTRL_LISTEN$2" 2>/dev/null
}

# reals_of SERVICE: "addr weight" lines of one service in 'rvsadm -Ln', e.g. reals_of "TCP  $VIP:80".
reals_of() {
  rvsadm -Ln | awk -v s="$1" '
    /^(TCP|UDP) / {cur = ($1 "  " $2 == s)}
    cur && $1 == "->" && $2 ~ /^[0-9]/ {print $2, $4}'
}

# wait_reals SECONDS SERVICE EXPECTED: polls until reals_of SERVICE (sorted, one line per
# real, joined with ',') equals EXPECTED; prints the last value seen.
REALS_SEEN=
wait_reals() {
  local secs=$1 svc=$2 want=$3 i
  for ((i = 0; i < secs * 10; i++)); do
    REALS_SEEN=$(reals_of "$svc" | sort | paste -sd, -)
    [[ $REALS_SEEN == "$want" ]] && return 0
    sleep 0.1
  done
  return 1
}

# assert_reals SECONDS SERVICE EXPECTED WHAT: wait_reals, then pass or fail.
assert_reals() {
  if wait_reals "$1" "$2" "$3"; then
    pass "$4: $3"
  else
    fail "$4: expected '$3', saw '$REALS_SEEN' after $1 s"
  fi
}

# log_mark: lines of the rvs-ctrl log so far; log_since MARK: the lines after it.
log_mark() { wc -l <"$CTRL_LOG"; }
log_since() { tail -n +"$(($1 + 1))" "$CTRL_LOG"; }

# Steady client load: one new connection every ~0.1 s, each line "START_EPOCH BODY" with BODY
# "FAIL" for a failed request. load_start FILE; ...; load_stop.
LOAD_PID=
LOAD_STOP=
load_start() {
  LOAD_STOP=$CFG_DIR/load.stop
  rm -f "$LOAD_STOP"
  # shellcheck disable=SC2016
  in_client bash -c 'while [[ ! -e $3 ]]; do
      t=$(date +%s.%N)
      body=$(curl -s --max-time 2 "$1") && [[ -n $body ]] || body=FAIL
      printf "%s %s\n" "$t" "$body"
      sleep 0.1
    done >"$2"' _ "http://$VIP/" "$1" "$LOAD_STOP" &
  LOAD_PID=$!
  bg_track "$LOAD_PID"
}

load_stop() {
  [[ -n $LOAD_PID ]] || return 0
  touch "$LOAD_STOP"
  wait "$LOAD_PID" 2>/dev/null
  LOAD_PID=
}

# load_between FILE FROM TO: the load lines whose start time is in [FROM, TO).
load_between() { awk -v a="$2" -v b="$3" '$1 >= a && $1 < b' "$1"; }

now() { date +%s.%N; }

# fadd A B: A + B (floats).
fadd() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a + b}'; }
