#!/usr/bin/env bash
# rvs-ctrl health checks against real failures, under a steady curl loop (a new connection
# every ~0.1 s). rs2 is broken three ways, one checker type each (the checker is switched by
# a reload, `rvsadm --reload`):
#   TCP_CHECK   nginx -s stop on rs2
#   HTTP_GET    rs2 answers 500 (nginx config edited and reloaded)
#   MISC_CHECK  the script exits 1 (a flag file), nginx untouched
#   PING_CHECK  rs2 drops ICMP echo requests (nftables), nginx untouched
# Each time: within delay_loop + retry x delay_before_retry (+ a margin for the client's
# clock and rvsd's snapshot) rs2 leaves 'rvsadm -Ln', no request after that fails or reaches
# rs2 (client answers and rs2's access log), and repairing rs2 brings it back into the table
# and into the traffic. notify_down/notify_up scripts run on each transition.
# Some functions only run through 'eval' in phase():
# shellcheck disable=SC2317
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ctrl-lib.sh
source "$(dirname "$0")/ctrl-lib.sh"

DELAY_LOOP=1
RETRY=1
DELAY_BEFORE_RETRY=1
WINDOW=$((DELAY_LOOP + RETRY * DELAY_BEFORE_RETRY))
# Curl start times are taken just before the connect, rvsd applies a table change at its
# next burst: allow this much past the window.
MARGIN=0.5
SVC="TCP  $VIP:80"
ALL="198.19.0.11:80 1,198.19.0.12:80 1,198.19.0.13:80 1"
NO_RS2="198.19.0.11:80 1,198.19.0.13:80 1"
NOTIFY=$CFG_DIR/notify.log
FLAG=$CFG_DIR/rs2.down
RS2_CONF=$STATE/rs2/nginx.conf

# write_conf RS2_CHECKER_BLOCK
write_conf() {
  local rs
  {
    kconf_header
    cat <<EOF
virtual_server $VIP 80 {
  delay_loop $DELAY_LOOP
  lb_algo rr
  lb_kind FNAT
  protocol TCP
  laddr_group_name lips
EOF
    for rs in 1 2 3; do
      echo "  real_server 198.19.0.1$rs 80 {"
      echo "    weight 1"
      if ((rs == 2)); then
        echo "    notify_down \"/bin/sh -c 'echo down >> $NOTIFY'\""
        echo "    notify_up \"/bin/sh -c 'echo up >> $NOTIFY'\""
        printf '%s\n' "$1"
      else
        echo "    TCP_CHECK { connect_timeout 1 }"
      fi
      echo "  }"
    done
    echo "}"
  } >"$KCONF"
}

TCP="    TCP_CHECK {
      connect_timeout 1
      retry $RETRY
      delay_before_retry $DELAY_BEFORE_RETRY
    }"
HTTP="    HTTP_GET {
      url {
        path /
        status_code 200
      }
      connect_timeout 1
      retry $RETRY
      delay_before_retry $DELAY_BEFORE_RETRY
    }"
PING="    PING_CHECK {
      connect_timeout 1
      retry $RETRY
      delay_before_retry $DELAY_BEFORE_RETRY
    }"
MISC="    MISC_CHECK {
      misc_path \"/bin/sh -c 'test ! -e $FLAG'\"
      misc_timeout 2
      retry $RETRY
      delay_before_retry $DELAY_BEFORE_RETRY
    }"

rs2_nginx() { in_rs 2 nginx -c "$RS2_CONF" "$@" 2>/dev/null; }

# rs2 stops answering pings (and only pings), or answers again.
rs2_drop_pings() {
  in_rs 2 nft -f - <<'EOF'
table inet rvs_ping {
  chain input {
    type filter hook input priority 0;
    icmp type echo-request drop
  }
}
EOF
}
rs2_answer_pings() { in_rs 2 nft delete table inet rvs_ping; }

# rs2's "location = /" answers 500 (or 200 again); nginx reloads its config gracefully.
rs2_answer_500() {
  sed -i 's|return 200 "rs2\\n";|return 500 "rs2 broken\\n";|' "$RS2_CONF" &&
    grep -q 'return 500' "$RS2_CONF" && rs2_nginx -s reload
}
rs2_answer_200() {
  sed -i 's|return 500 "rs2 broken\\n";|return 200 "rs2\\n";|' "$RS2_CONF" &&
    grep -q 'return 200 "rs2' "$RS2_CONF" && rs2_nginx -s reload
}

# rs2 requests from the LIPs (client traffic, not the checks) logged in [FROM, TO).
rs2_hits_between() {
  awk -v a="$1" -v b="$2" -v l1="${LIPS[0]}" -v l2="${LIPS[1]}" \
    '($1 == l1 || $1 == l2) && $NF >= a && $NF < b' "$STATE/rs2/access.log" | wc -l
}

# phase NAME BREAK FIX [WINDOW]: runs the load, breaks rs2, checks, repairs, checks. WINDOW:
# the detection window, when a failed check waits out its connect_timeout.
phase() {
  local name=$1 break_cmd=$2 fix_cmd=$3 load=$CFG_DIR/load-$1.txt WINDOW=${4:-$WINDOW}
  local t0 t_gone t1 t_back limit out n
  say "--- $name: steady load, then: $break_cmd"
  load_start "$load"
  sleep 2
  t0=$(now)
  eval "$break_cmd" || fail "$name: '$break_cmd' failed"
  if wait_reals $((WINDOW + 4)) "$SVC" "$NO_RS2"; then
    t_gone=$(now)
    pass "$name: rs2 left 'rvsadm -Ln' after $(awk -v a="$t0" -v b="$t_gone" 'BEGIN {printf "%.2f", b - a}') s"
  else
    t_gone=$(now)
    fail "$name: rs2 still in 'rvsadm -Ln' $((WINDOW + 4)) s after the failure: $REALS_SEEN"
  fi
  limit=$(fadd "$t0" "$WINDOW")
  limit=$(fadd "$limit" "$MARGIN")
  # Load after the detection window and before the repair.
  sleep 4
  t1=$(now)
  out=$(load_between "$load" "$limit" "$t1")
  n=$(grep -c . <<<"$out")
  assert_ge "$name: requests between t0+${WINDOW}s+${MARGIN}s and the repair" 10 "$n"
  assert_eq "$name: of those, failed" 0 "$(awk '$2 == "FAIL"' <<<"$out" | wc -l)"
  assert_eq "$name: of those, not answered by rs1/rs3" 0 "$(awk '$2 != "rs1" && $2 != "rs3"' <<<"$out" | wc -l)"
  assert_eq "$name: rs2 access-log hits from the LIPs in that time" 0 "$(rs2_hits_between "$limit" "$t1")"

  eval "$fix_cmd" || fail "$name: '$fix_cmd' failed"
  if wait_reals $((WINDOW + 4)) "$SVC" "$ALL"; then
    t_back=$(now)
    pass "$name: rs2 back in 'rvsadm -Ln' after $(awk -v a="$t1" -v b="$t_back" 'BEGIN {printf "%.2f", b - a}') s"
  else
    t_back=$(now)
    fail "$name: rs2 not back in 'rvsadm -Ln': $REALS_SEEN"
  fi
  sleep 2
  load_stop
  out=$(load_between "$load" "$(fadd "$t_back" 0.3)" 9999999999)
  assert_gt "$name: answers from rs2 after it came back" 0 "$(awk '$2 == "rs2"' <<<"$out" | wc -l)"
  assert_eq "$name: failed requests after it came back" 0 "$(awk '$2 == "FAIL"' <<<"$out" | wc -l)"
  assert_gt "$name: answers from rs2 before the failure" 0 \
    "$(load_between "$load" 0 "$t0" | awk '$2 == "rs2"' | wc -l)"
}

ctrl_rvsd_start
write_conf "$TCP"
ctrl_start
if wait_reals 10 "$SVC" "$ALL"; then pass "rvs-ctrl put the 3 servers in rvsd"; else die "rvsd table: $REALS_SEEN"; fi
http_get_many 6 >/dev/null

phase TCP_CHECK "rs2_nginx -s stop" "rs2_nginx"
assert_eq "notify_down then notify_up ran" "down up" "$(paste -sd' ' "$NOTIFY" 2>/dev/null)"

write_conf "$HTTP"
ctrl_reload || fail "rvsadm --reload"
sleep 1.5
assert_eq "after the reload to HTTP_GET" "$ALL" "$(reals_of "$SVC" | sort | paste -sd, -)"
phase HTTP_GET rs2_answer_500 rs2_answer_200

write_conf "$MISC"
ctrl_reload || fail "rvsadm --reload"
sleep 1.5
assert_eq "after the reload to MISC_CHECK" "$ALL" "$(reals_of "$SVC" | sort | paste -sd, -)"
phase MISC_CHECK "touch $FLAG" "rm -f $FLAG"

write_conf "$PING"
ctrl_reload || fail "rvsadm --reload"
sleep 1.5
assert_eq "after the reload to PING_CHECK" "$ALL" "$(reals_of "$SVC" | sort | paste -sd, -)"
# A dropped echo fails only at its connect_timeout (1 s), each attempt.
phase PING_CHECK rs2_drop_pings rs2_answer_pings $((WINDOW + (RETRY + 1) * 1))

assert_eq "notify log after four failures and repairs" "down up down up down up down up" \
  "$(paste -sd' ' "$NOTIFY" 2>/dev/null)"
assert_not_contains "rvs-ctrl log" "panicked" "$(cat "$CTRL_LOG")"
finish
