#!/usr/bin/env bash
# The real ldirectord (Debian's) manages rvsd through rvsadm installed as ipvsadm.
#  * `rvsadm --install-alias DIR` makes DIR/ipvsadm; ldirectord runs /sbin/ipvsadm (it does
#    not search PATH), so it runs in a mount namespace where that file is the alias. Invoked
#    as ipvsadm, rvsadm takes ipvsadm's defaults and prints ipvsadm 1.31's layouts, which
#    ldirectord parses.
#  * ldirectord.cf like the seed's: checktimeout=3, checkinterval=1, quiescent=no, two real
#    servers and a fallback, all `gate` (DR), negotiate check of /test.html for "test".
#  * The servers appear in `rvsadm -Ln` (Route) and answer through the VIP; breaking rs2's
#    test.html removes it within checktimeout + checkinterval; restoring brings it back.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ctrl-lib.sh
source "$(dirname "$0")/ctrl-lib.sh"
# shellcheck source=tests/lab/methods-lib.sh
source "$(dirname "$0")/methods-lib.sh"

SVC="TCP  $VIP:80"
LDIRECTORD=$(command -v ldirectord) || die "ldirectord not installed (scripts/setup.sh)"
[[ -e /usr/sbin/ipvsadm ]] || die "/usr/sbin/ipvsadm missing (Debian's ldirectord depends on ipvsadm)"

ctrl_rvsd_start
gw_up
for n in 1 2; do rs_dr "$n"; done

mkdir -p "$CFG_DIR/bin"
assert_ok "rvsadm --install-alias $CFG_DIR/bin" "$RVSADM" --install-alias "$CFG_DIR/bin"
alias_out=$("$CFG_DIR/bin/ipvsadm" -L -n 2>&1)
assert_contains "the alias lists as ipvsadm" "Prot LocalAddress:Port Scheduler Flags" "$alias_out"
assert_eq "ipvsadm first on PATH" "$CFG_DIR/bin/ipvsadm" "$(PATH="$CFG_DIR/bin:$PATH" command -v ipvsadm)"

CF=$CFG_DIR/ldirectord-$RVS_LAB.cf
cat >"$CF" <<EOF
checktimeout=3
checkinterval=1
autoreload=no
logfile="$CFG_DIR/ldirectord.log"
quiescent=no

virtual=$VIP:80
	real=198.19.0.11:80 gate
	real=198.19.0.12:80 gate
	fallback=127.0.0.1:80 gate
	service=http
	request="test.html"
	receive="test"
	scheduler=rr
	protocol=tcp
	checktype=negotiate
EOF

say "starting ldirectord in $CTRL_NS (its /sbin/ipvsadm is the alias)"
# shellcheck disable=SC2016
ip netns exec "$CTRL_NS" unshare --mount --propagation private sh -c '
  mount --bind "$1" /usr/sbin/ipvsadm || exit 97
  PATH="$2:$PATH" exec "$3" -d "$4" start' _ "$CFG_DIR/bin/ipvsadm" "$CFG_DIR/bin" "$LDIRECTORD" "$CF" \
  </dev/null >"$CFG_DIR/ldirectord.out" 2>&1 &
LD_PID=$!
bg_track "$LD_PID"

assert_reals 20 "$SVC" "198.19.0.11:80 1,198.19.0.12:80 1" "ldirectord's real servers in rvsd"
listing=$(rvsadm -Ln)
assert_contains "-Ln" "$SVC rr" "$listing"
assert_eq "Route rows in -Ln" 2 "$(grep -c ' Route ' <<<"$listing")"
out=$(curl_from 198.18.0.10 6)
assert_eq "servers answering through the VIP" "rs1 rs2" "$(sort -u <<<"$out" | paste -sd' ' -)"

say "breaking rs2's test.html"
echo "broken" >"$STATE/rs2/test.html"
t0=$(now)
if wait_reals 10 "$SVC" "198.19.0.11:80 1"; then
  took=$(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}')
  say "rs2 removed after ${took}s (checktimeout 3 + checkinterval 1 = 4 s)"
  assert_range "seconds until rs2 left (checktimeout + checkinterval, +1 s of polling)" 0 5 "${took%.*}"
else
  fail "rs2 still in rvsd 10 s after its test.html broke: '$REALS_SEEN'"
fi
out=$(curl_from 198.18.0.10 6)
assert_eq "servers answering without rs2" "rs1" "$(sort -u <<<"$out" | paste -sd' ' -)"

say "restoring rs2's test.html"
echo "test rs2" >"$STATE/rs2/test.html"
assert_reals 10 "$SVC" "198.19.0.11:80 1,198.19.0.12:80 1" "rs2 back after its test.html is restored"
out=$(curl_from 198.18.0.10 6)
assert_eq "servers answering again" "rs1 rs2" "$(sort -u <<<"$out" | paste -sd' ' -)"
assert_not_contains "ldirectord log: no ipvsadm failures" "failed" "$(cat "$CFG_DIR/ldirectord.log" 2>/dev/null)"

kill -TERM "$LD_PID" 2>/dev/null
wait "$LD_PID" 2>/dev/null
finish
