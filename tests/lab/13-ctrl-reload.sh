#!/usr/bin/env bash
# Hot reload under load. A rate-limited download of big.bin (~60 s; CTRL_DL_SECS) and a wrk
# run go through the VIP while keepalived.conf is edited and 'rvsadm --reload' is run twice:
# first adding rs3 and changing rs1's weight to 3, then changing rs2's weight to 2.
#   * rvsd's table follows each reload within a few seconds;
#   * rvs-ctrl sends only the difference: AddReal / EditReal, never a delete or a clear;
#   * rs3 takes new connections;
#   * wrk: no socket errors, no non-2xx answers; the download is byte-identical (sha256).
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ctrl-lib.sh
source "$(dirname "$0")/ctrl-lib.sh"

DL_SECS=${CTRL_DL_SECS:-60}
WRK_SECS=20
SVC="TCP  $VIP:80"

# write_conf "W1 W2 [W3]": weights of rs1, rs2 (and rs3 if given).
write_conf() {
  local -a w
  read -r -a w <<<"$1"
  {
    kconf_header
    cat <<EOF
virtual_server $VIP 80 {
  delay_loop 1
  lb_algo wrr
  lb_kind FNAT
  protocol TCP
  laddr_group_name lips
EOF
    local i
    for i in "${!w[@]}"; do
      cat <<EOF
  real_server 198.19.0.1$((i + 1)) 80 {
    weight ${w[i]}
    TCP_CHECK {
      connect_timeout 1
    }
  }
EOF
    done
    echo "}"
  } >"$KCONF.new"
  mv "$KCONF.new" "$KCONF"
}

ctrl_rvsd_start
write_conf "1 1"
ctrl_start
wait_reals 10 "$SVC" "198.19.0.11:80 1,198.19.0.12:80 1" || die "rvsd table: $REALS_SEEN"
pass "rvs-ctrl set up rs1, rs2"
http_get_many 4 >/dev/null

size=$(stat -c %s "$STATE/www/big.bin")
# curl's limiter runs a little fast over a minute: aim 10% slower.
rate=$((size * 10 / (DL_SECS * 11) + 1))
say "download of big.bin ($size bytes) at $rate B/s (~${DL_SECS} s)"
DL_OUT=$CFG_DIR/big.out
in_client curl -s --max-time $((DL_SECS + 60)) --limit-rate "$rate" -o "$DL_OUT" \
  -w '%{http_code} %{size_download}\n' "http://$VIP/big.bin" >"$CFG_DIR/dl.txt" 2>&1 &
DL_PID=$!
bg_track "$DL_PID"
DL_T0=$SECONDS
sleep 2
say "wrk -t1 -c20 -d${WRK_SECS}s"
in_client timeout $((WRK_SECS + 30)) wrk -t1 -c20 -d"${WRK_SECS}s" --timeout 5s "http://$VIP/" >"$CFG_DIR/wrk.txt" 2>&1 &
WRK_PID=$!
bg_track "$WRK_PID"
sleep 4

mark=$(log_mark)
say "reload 1: add rs3, rs1 weight 3"
write_conf "3 1 1"
assert_ok "rvsadm --reload" ctrl_reload
if wait_reals 5 "$SVC" "198.19.0.11:80 3,198.19.0.12:80 1,198.19.0.13:80 1"; then
  pass "rvsd table after reload 1: $REALS_SEEN"
else
  fail "rvsd table after reload 1: $REALS_SEEN"
fi
sleep 4
say "reload 2: rs2 weight 2"
write_conf "3 2 1"
assert_ok "rvsadm --reload" ctrl_reload
if wait_reals 5 "$SVC" "198.19.0.11:80 3,198.19.0.12:80 2,198.19.0.13:80 1"; then
  pass "rvsd table after reload 2: $REALS_SEEN"
else
  fail "rvsd table after reload 2: $REALS_SEEN"
fi
cmds=$(log_since "$mark" | sed -n 's/.*rvs_ctrl::sync: applied command=\([A-Za-z]*\).*/\1/p' | sort | uniq -c | awk '{print $2 "=" $1}' | paste -sd' ' -)
assert_eq "commands rvs-ctrl sent for the two reloads" "AddReal=1 EditReal=2" "$cmds"
out=$(http_get_many 12)
assert_eq "requests failed after the reloads" 0 "$(count_of FAIL "$out")"
assert_gt "requests answered by rs3 (added by the reload)" 0 "$(count_of rs3 "$out")"

say "waiting for wrk"
wait "$WRK_PID"
rc=$?
wrk_out=$(cat "$CFG_DIR/wrk.txt")
indent <<<"$wrk_out"
assert_eq "wrk exit status" 0 "$rc"
requests=$(sed -n 's/^ *\([0-9][0-9]*\) requests in .*/\1/p' <<<"$wrk_out" | head -n1)
assert_gt "wrk requests" 1000 "${requests:-0}"
assert_not_contains "wrk output" "Socket errors" "$wrk_out"
assert_not_contains "wrk output" "Non-2xx" "$wrk_out"

say "waiting for the download (up to $((DL_SECS + 60)) s in all)"
wait "$DL_PID"
rc=$?
say "download took $((SECONDS - DL_T0)) s"
assert_eq "download curl exit status" 0 "$rc"
assert_eq "download HTTP status and size" "200 $size" "$(cat "$CFG_DIR/dl.txt")"
assert_eq "download sha256" "$(cat "$STATE/big.sha256")" "$(sha256sum "$DL_OUT" | awk '{print $1}')"
assert_not_contains "rvs-ctrl log" "panicked" "$(cat "$CTRL_LOG")"
finish
