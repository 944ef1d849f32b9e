#!/usr/bin/env bash
# ECMP cluster, graceful leave (issue 11, must-show 3). Three directors as operators run
# them (rvsd, BIRD, rvs-ctrl's BIRD gate); wrk through the router; `rvsadm --cluster
# --leave` on d2: it turns `leaving`, rvs-ctrl withdraws its VIP and LIP routes, the
# router moves its flows to the other members (which hold their sessions) while d2 still
# serves for drain_ms, then rvsd stops by itself. wrk sees no socket error and no non-2xx
# answer; the time from the leave to the router's withdrawal and to rvsd's exit is printed.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/cluster-lib.sh
source "$(dirname "$0")/cluster-lib.sh"

command -v bird >/dev/null || die "bird not installed (scripts/setup.sh installs bird2)"
[[ -x $RVS_CTRL ]] || die "rvs-ctrl not built: $RVS_CTRL"
cluster_up 3
router_bird_start
for n in 1 2 3; do cluster_member_start "$n" "drain_ms = 6000"; done
three() { [[ $(vip_hops | wc -w) == 3 ]]; }
wait_for 40 "the router's VIP route over three directors" three || die "VIP route: $(in_rtr ip route show "$VIP/32")"
say "router: $(in_rtr ip route show "$VIP/32" | tr '\n' ' ')"

in_rc wrk -t2 -c60 -d22s --timeout 5s "http://$VIP/" >"$CFG_DIR/wrk.out" 2>&1 &
WRK=$!
bg_track "$WRK"
sleep 6
pid2=${D_PID[2]}
t0=$(date +%s%3N)
out=$(rvsadm_d 2 --cluster --leave)
indent <<<"$out"
assert_contains "d2 says it is leaving" ": leaving for" "$out"
not2() { [[ $(vip_hops) != *2* ]]; }
wait_for 15 "the router to withdraw d2's VIP route" not2 || fail "VIP route: $(in_rtr ip route show "$VIP/32")"
t_route=$(date +%s%3N)
assert_not_contains "d2's LIP via d2 after the leave" "via 198.18.1.12" "$(in_rtr ip route show "${CL_LIPS[1]}/32")"
c1=$(rvsadm_d 1 --cluster)
assert_eq "d1 lists d2 as leaving" 1 "$(awk '$1 == 2 && $2 == "leaving"' <<<"$c1" | wc -l)"
gone() { ! kill -0 "$pid2" 2>/dev/null; }
wait_for 20 "d2's rvsd to stop by itself" gone || fail "d2's rvsd still runs"
t_exit=$(date +%s%3N)
D_PID[2]=
say "route withdrawn $((t_route - t0)) ms after the leave, rvsd exited after $((t_exit - t0)) ms"
assert_contains "d2's log: the leave" "cluster leave: draining, then stopping" "$(cat "${D_LOG[2]}")"
wait "$WRK"
indent <"$CFG_DIR/wrk.out"
wrk_out=$(cat "$CFG_DIR/wrk.out")
assert_contains "wrk finished" "requests in" "$wrk_out"
assert_not_contains "wrk socket errors" "Socket errors" "$wrk_out"
assert_not_contains "wrk non-2xx answers" "Non-2xx" "$wrk_out"
finish
