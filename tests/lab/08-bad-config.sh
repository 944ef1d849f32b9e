#!/usr/bin/env bash
# rvsd refuses bad configurations: exits non-zero within 20 s, names the offending line
# (FILE:LINE or "line N"), and leaves no control socket and no process behind.
#
# Runs without the lab: rvsd runs in an empty namespace of its own (rvs-cfg, only lo), so the
# "device not found" case is real (no lb-c there) and a daemon that half-started could not
# touch any lab traffic.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

NS=$RVS_LAB-cfg
require_binaries
ip netns del "$NS" 2>/dev/null
ip netns add "$NS" || die "cannot create namespace $NS"
ip -n "$NS" link set lo up

# case NAME SED-SCRIPT MARKER [EXTRA-ACCEPTED-MARKERS...]
# The bad line is the only line containing MARKER after SED-SCRIPT is applied to the lab config.
# For errors the daemon can only see at run time (a missing device), the lines of the enclosing
# table are accepted as well.
CASES=(
  'unknown-key|/^idle_spin = /a bogus_option = 1|bogus_option = 1'
  'toml-syntax|s/^idle_spin = 256/idle_spin = = 256/|idle_spin = = 256'
  'bad-port-address|s#addresses = \["198.18.0.1/24"\]#addresses = ["198.18.0.300/24"]#|198.18.0.300/24'
  'bad-vip|s#address = "198.18.0.100:80"#address = "198.18.0.300:80"#|198.18.0.300:80'
  'vip-port-range|s#address = "198.18.0.100:53"#address = "198.18.0.100:70000"#|198.18.0.100:70000'
  'bad-real-address|s#{ address = "198.19.0.12:80"#{ address = "198.19.0.300:80"#|198.19.0.300:80'
  'bad-weight|s#{ address = "198.19.0.13:5353", weight = 1 }#{ address = "198.19.0.13:5353", weight = "heavy" }#|"heavy"'
  'bad-local-address|0,/"198.19.0.200"/s//"198.19.0.300"/|"198.19.0.300"'
  'unknown-scheduler|0,/scheduler = "rr"/s//scheduler = "nosuch"/|scheduler = "nosuch"'
  'unknown-protocol|0,/protocol = "udp"/s//protocol = "sctp"/|protocol = "sctp"'
  'workers-empty|s/^workers = \[1\]/workers = []/|workers = []'
  'worker-cpu-absent|s/^workers = \[1\]/workers = [1, 4095]/|workers = [1, 4095]'
  'device-not-found|s/iface=lb-c,/iface=rvs-nodev0,/|iface=rvs-nodev0|device = "net_af_packet0"|name = "client"'
)

check_case() {
  local name=$1 script=$2 marker=$3
  shift 3
  local cfg=$CFG_DIR/$name.toml sock=/run/rvsd/rvs-badcfg-$$-$name.sock prefix=rvsd-badcfg-$$-$RANDOM
  sed -e "s#^control_socket = .*#control_socket = \"$sock\"#" \
    -e "s/\"--file-prefix\", \"rvsd-lab\"/\"--file-prefix\", \"$prefix\"/" \
    -e "$script" "$ROOT/examples/lab.toml" >"$cfg"
  local hits line
  hits=$(grep -cF -- "$marker" "$cfg")
  if [[ $hits != 1 ]]; then
    fail "$name: test bug: marker '$marker' found $hits times in the mutated config"
    return
  fi
  line=$(grep -nF -- "$marker" "$cfg" | cut -d: -f1)
  local -a lines=("$line")
  local m l
  for m in "$@"; do
    l=$(grep -nF -- "$m" "$cfg" | head -n1 | cut -d: -f1)
    [[ -n $l ]] && lines+=("$l")
  done
  # The enclosing [[port]] header of a runtime-only error also counts.
  if (($# > 0)); then
    l=$(head -n "$line" "$cfg" | grep -n '^\[\[' | tail -n1 | cut -d: -f1)
    [[ -n $l ]] && lines+=("$l")
  fi

  local t0=$SECONDS rc
  timeout -k 5 20 ip netns exec "$NS" "$RVSD" --config "$cfg" </dev/null \
    >"$CFG_DIR/$name.out" 2>"$CFG_DIR/$name.err"
  rc=$?
  local took=$((SECONDS - t0)) err
  err=$(cat "$CFG_DIR/$name.err")
  local first
  first=$(grep -m1 . <<<"$err")
  if ((rc == 124 || rc == 137)); then
    fail "$name: rvsd still running after 20 s (killed by timeout)"
  elif ((rc == 0)); then
    fail "$name: rvsd exited 0 on a bad config (line $line: $(sed -n "${line}p" "$cfg"))"
  else
    pass "$name: exit status $rc after ${took}s"
  fi
  local l2 named=""
  for l2 in "${lines[@]}"; do
    if grep -qE "(:${l2}([^0-9]|$)|[Ll]ine ${l2}([^0-9]|$))" <<<"$err"; then named=$l2; break; fi
  done
  if [[ -n $named ]]; then
    pass "$name: stderr names line $named ($first)"
  else
    fail "$name: stderr does not name line ${lines[*]} ('$(sed -n "${line}p" "$cfg")'); stderr was:"
    indent <<<"$err" | head -n 15
  fi
  if [[ -e $sock ]]; then
    fail "$name: control socket $sock remains"
    rm -f "$sock"
  else
    pass "$name: no control socket"
  fi
  local left
  left=$(ip netns pids "$NS" 2>/dev/null | tr '\n' ' ')
  if [[ -n ${left// /} ]]; then
    fail "$name: processes remain in $NS: $left"
    # shellcheck disable=SC2086
    kill -KILL $left 2>/dev/null
  else
    pass "$name: no rvsd process remains"
  fi
  rm -rf "/var/run/dpdk/$prefix"
}

for c in "${CASES[@]}"; do
  IFS='|' read -r -a f <<<"$c"
  say "case ${f[0]}"
  check_case "${f[@]}"
done

finish
