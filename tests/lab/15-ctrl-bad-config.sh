#!/usr/bin/env bash
# rvs-ctrl refuses bad keepalived.conf files and keeps running the good one. For each case of
# the table (syntax errors, bad IP, unknown scheduler, duplicate real server, missing group):
#   * 'rvs-ctrl -t' exits 1 and names FILE:LINE of the bad line;
#   * the file, installed in place and reloaded ('rvsadm --reload'), is refused: rvs-ctrl's
#     log names FILE:LINE, rvsd's table ('rvsadm -S -n') and rvs-ctrl's own view (its JSON
#     API) are unchanged.
# At the end the good file is reloaded again and traffic still reaches all three servers.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ctrl-lib.sh
source "$(dirname "$0")/ctrl-lib.sh"

GOOD=$CFG_DIR/good.conf
{
  kconf_header
  cat <<EOF
virtual_server $VIP 80 {
  delay_loop 1
  lb_algo wrr
  lb_kind FNAT
  protocol TCP
  laddr_group_name lips
  real_server 198.19.0.11 80 {
    weight 1
    TCP_CHECK { connect_timeout 1 }
  }
  real_server 198.19.0.12 80 {
    weight 2
    TCP_CHECK { connect_timeout 1 }
  }
  real_server 198.19.0.13 80 {
    weight 3
    TCP_CHECK { connect_timeout 1 }
  }
}
virtual_server $VIP 53 {
  delay_loop 1
  lb_algo rr
  lb_kind FNAT
  protocol UDP
  laddr_group_name lips
  real_server 198.19.0.11 5353 {
    weight 1
  }
}
EOF
} >"$GOOD"

# NAME|SED-SCRIPT|MARKER: the bad line is the only line containing MARKER after SED-SCRIPT.
CASES=(
  'syntax-unclosed-brace|/^virtual_server .* 53 {/i virtual_server 198.18.0.100 81 {|virtual_server 198.18.0.100 81 {'
  'syntax-stray-brace|/^virtual_server .* 53 {/i } # stray|} # stray'
  'bad-ip|s/real_server 198.19.0.13 80/real_server 198.19.0.300 80/|198.19.0.300'
  'bad-vip|s/virtual_server 198.18.0.100 53/virtual_server 198.18.0.1000 53/|198.18.0.1000'
  'unknown-scheduler|0,/lb_algo wrr/s//lb_algo nosuch/|lb_algo nosuch'
  'duplicate-real-server|s/real_server 198.19.0.13 80/real_server 198.19.0.11  80/|198.19.0.11  80'
  'missing-group|0,/laddr_group_name lips/s//laddr_group_name nosuch/|laddr_group_name nosuch'
)

ctrl_rvsd_start
cp "$GOOD" "$KCONF"
ctrl_start
wait_reals 10 "TCP  $VIP:80" "198.19.0.11:80 1,198.19.0.12:80 2,198.19.0.13:80 3" || die "rvsd table: $REALS_SEEN"
pass "good configuration running"

# rvs-ctrl's view: services, reals, configured weights and schedulers.
ctrl_view() {
  api GET /api/v1/services | "$PY" -c '
import json, sys
for s in json.load(sys.stdin)["services"]:
    print(s["protocol"], s["vip"], s["port"], s["scheduler"],
          " ".join("%s/%s" % (r["address"], r.get("config_weight")) for r in s["reals"]))'
}
# assert_same WHAT EXPECTED SEEN: multi-line values; a diff on failure.
assert_same() {
  if [[ $2 == "$3" ]]; then
    pass "$1"
  else
    fail "$1: differs (- expected, + seen):"
    diff <(printf '%s\n' "$2") <(printf '%s\n' "$3") | indent
  fi
}

SAVE0=$(rvsadm -S -n)
VIEW0=$(ctrl_view)
indent <<<"$SAVE0"
[[ -n $VIEW0 ]] || die "empty API view"

for c in "${CASES[@]}"; do
  IFS='|' read -r name script marker <<<"$c"
  bad=$CFG_DIR/$name.conf
  sed -e "$script" "$GOOD" >"$bad"
  hits=$(grep -cF -- "$marker" "$bad")
  if [[ $hits != 1 ]]; then
    fail "$name: test bug: marker '$marker' found $hits times"
    continue
  fi
  line=$(grep -nF -- "$marker" "$bad" | cut -d: -f1)

  out=$("$RVS_CTRL" -t -f "$bad" 2>&1)
  rc=$?
  assert_eq "$name: rvs-ctrl -t exit status" 1 "$rc"
  assert_contains "$name: rvs-ctrl -t names the line" "$bad:$line:" "$out"

  mark=$(log_mark)
  cp "$bad" "$KCONF.new" && mv "$KCONF.new" "$KCONF"
  ctrl_reload || fail "$name: rvsadm --reload failed"
  if wait_for 5 "reload refused" bash -c "tail -n +$((mark + 1)) '$CTRL_LOG' | grep -q 'reload failed'"; then
    logged=$(log_since "$mark")
    assert_contains "$name: rvs-ctrl log names the line" "$KCONF:$line:" "$logged"
    say "$name: $(grep -F "$KCONF:$line:" <<<"$logged" | head -n1 | sed 's/.*daemon: //')"
  else
    fail "$name: no 'reload failed' in the rvs-ctrl log"
    log_since "$mark" | indent
  fi
  assert_same "$name: rvsd table unchanged" "$SAVE0" "$(rvsadm -S -n)"
  assert_same "$name: rvs-ctrl's view unchanged" "$VIEW0" "$(ctrl_view)"
done

say "good configuration again"
mark=$(log_mark)
cp "$GOOD" "$KCONF.new" && mv "$KCONF.new" "$KCONF"
ctrl_reload || fail "rvsadm --reload failed"
wait_for 5 "reloaded" bash -c "tail -n +$((mark + 1)) '$CTRL_LOG' | grep -q 'configuration reloaded'" ||
  fail "good configuration not reloaded"
assert_same "rvsd table" "$SAVE0" "$(rvsadm -S -n)"
out=$(http_get_many 30)
assert_eq "failed requests" 0 "$(count_of FAIL "$out")"
assert_eq "answers from rs1/rs2/rs3 (wrr 1:2:3)" "5 10 15" \
  "$(count_of rs1 "$out") $(count_of rs2 "$out") $(count_of rs3 "$out")"
assert_not_contains "rvs-ctrl log" "panicked" "$(cat "$CTRL_LOG")"
finish
