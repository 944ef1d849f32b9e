#!/usr/bin/env bash
# Routing daemon through the exception path (issue 10, must-show 2). BIRD in the lb
# namespace's kernel speaks OSPF, over the tap rvsd makes for its uplink port, to BIRD in a
# router namespace; rvs-ctrl (--bird-include) announces the VIP while its service has quorum
# on a live rvsd. Checks: the router learns 198.18.0.100/32 over OSPF (birdc show route, ip
# route) via the director's kernel address; curls from the clients behind the router reach
# the real servers; stopping every real server's nginx (quorum lost) withdraws the route
# within the health-check window + OSPF timers, restarting brings it back; kill -STOP of
# rvsd withdraws it (dead interval 4 s), kill -CONT brings it back; stopping rvs-ctrl
# withdraws it, starting it again brings it back; rvsd's shutdown withdraws it.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ctrl-lib.sh
source "$(dirname "$0")/ctrl-lib.sh"
# shellcheck source=tests/lab/exc-lib.sh
source "$(dirname "$0")/exc-lib.sh"
export RVS_LAB_BIG_MB=${RVS_LAB_BIG_MB:-1}

command -v bird >/dev/null || die "bird not installed (scripts/setup.sh installs bird2)"
[[ -x $RVS_CTRL ]] || die "rvs-ctrl not built: $RVS_CTRL"
CHECK_WINDOW=2 # delay_loop 1 + retry 1 x delay_before_retry 1
OSPF_DEAD=4
# A dead director is noticed within hello (1 s) + dead (4 s) + BIRD's SPF tick (1 s); +1 s for a
# loaded 2-core machine. Used as OSPF_DEAD + 3.

lab_up
lb_kernel_guard
ospf_topology_up
exc_config "$WORKERS" "$CFG_DIR/rvsd-full.toml"
awk '/^\[/ {skip = ($0 == "[[service]]")} !skip' "$CFG_DIR/rvsd-full.toml" >"$CFG_DIR/rvsd.toml"
exc_uplink_config "$CFG_DIR/rvsd.toml"
ip -n "$CTRL_NS" addr add "$MGMT_IP/24" dev br0 || die "cannot add $MGMT_IP"
rvsd_start "$CFG_DIR/rvsd.toml"
kif_wait "$KIF_U" || die "no kernel interface $KIF_U"
in_lb ip addr add "$KERNEL_U_IP/24" dev "$KIF_U" || die "ip addr add on $KIF_U"

: >"$BIRD_INCLUDE"
bird_start lb "$NS_LB" bird-director.conf "$BIRD_LB_SOCK"
bird_start rtr "$NS_RTR" bird-router.conf "$BIRD_RTR_SOCK"

{
  kconf_header
  printf 'virtual_server %s 80 {\n  delay_loop 1\n  lb_algo rr\n  lb_kind FNAT\n  protocol TCP\n' "$VIP"
  printf '  laddr_group_name lips\n  quorum 1\n'
  for rs in 1 2 3; do
    printf '  real_server 198.19.0.1%s 80 {\n    weight 1\n' "$rs"
    printf '    TCP_CHECK {\n      connect_timeout 1\n      retry 1\n      delay_before_retry 1\n    }\n  }\n'
  done
  echo "}"
} >"$KCONF"
CTRL_LOG=$STATE/rvs-ctrl-$TEST_NAME.log
bird_ctrl_start() {
  say "starting rvs-ctrl with --bird-include (log $CTRL_LOG)"
  ip netns exec "$CTRL_NS" "$RVS_CTRL" -f "$KCONF" --socket "$CTRL_SOCK" --pidfile "$CTRL_PIDFILE" --listen none \
    -l info --bird-include "$BIRD_INCLUDE" --birdc-socket "$BIRD_LB_SOCK" --bird-watchdog 500 \
    </dev/null >>"$CTRL_LOG" 2>&1 &
  CTRL_PID=$!
  bg_track "$CTRL_PID"
}
bird_ctrl_start

t=$(secs_until 40 rtr_has_vip)
assert_secs_le "router learns $VIP/32 over OSPF" 40 "$t"
nb=$(birdc -s "$BIRD_RTR_SOCK" show ospf neighbors 2>&1)
indent <<<"$nb"
assert_contains "router's OSPF neighbour" "Full" "$nb"
br=$(birdc -s "$BIRD_RTR_SOCK" show route "$VIP/32" all 2>&1)
indent <<<"$br"
assert_contains "birdc show route on the router" "$VIP/32" "$br"
assert_contains "its next hop" "via $KERNEL_U_IP on r-lb" "$br"
assert_contains "its origin" "OSPF-E2" "$br"
ipr=$(in_rtr ip route show "$VIP/32")
say "router: ip route: $ipr"
assert_contains "router's kernel route" "via $KERNEL_U_IP dev r-lb proto bird" "$ipr"

# curl_rc N: N curls from the clients behind the router, bodies (FAIL for a failure).
curl_rc() {
  # shellcheck disable=SC2016
  in_rc bash -c 'for ((i = 0; i < $1; i++)); do
      b=$(curl -s --max-time 3 "http://$2/") && [[ -n $b ]] || b=FAIL
      echo "$b"
    done' _ "$1" "$VIP"
}
bodies=$(curl_rc 30)
assert_eq "curls through the router that failed" 0 "$(count_of FAIL "$bodies")"
for rs in rs1 rs2 rs3; do assert_ge "answers from $rs" 5 "$(count_of "$rs" "$bodies")"; done
assert_contains "the VIP in BIRD's include file" "route $VIP/32 blackhole;" "$(cat "$BIRD_INCLUDE")"

say "quorum lost: stopping nginx on rs1..rs3"
for i in 1 2 3; do in_rs "$i" nginx -c "$STATE/rs$i/nginx.conf" -s stop 2>/dev/null; done
t=$(secs_until 20 rtr_lacks_vip)
assert_secs_le "route withdrawn after quorum loss" "$((CHECK_WINDOW + 3))" "$t"
assert_eq "curls through the router while withdrawn that got an answer" 0 \
  "$(curl_rc 3 | grep -c '^rs')"

say "quorum back: starting nginx on rs1..rs3"
for i in 1 2 3; do in_rs "$i" nginx -c "$STATE/rs$i/nginx.conf" 2>/dev/null; done
t=$(secs_until 20 rtr_has_vip)
assert_secs_le "route back after quorum regained" "$((CHECK_WINDOW + 3))" "$t"
sleep 1
assert_eq "curls through the router that failed after the return" 0 "$(count_of FAIL "$(curl_rc 10)")"

say "kill -STOP rvsd"
kill -STOP "$RVSD_PID"
t=$(secs_until 20 rtr_lacks_vip)
assert_secs_le "route withdrawn with rvsd stopped" "$((OSPF_DEAD + 3))" "$t"
sleep 1.5
assert_contains "rvs-ctrl noticed" "rvsd does not answer" "$(cat "$CTRL_LOG")"
assert_not_contains "BIRD's include file while rvsd is stopped" "route $VIP" "$(cat "$BIRD_INCLUDE")"
say "kill -CONT rvsd"
kill -CONT "$RVSD_PID"
t=$(secs_until 40 rtr_has_vip)
assert_secs_le "route back with rvsd running again" 40 "$t"
sleep 1
assert_eq "curls through the router that failed at the end" 0 "$(count_of FAIL "$(curl_rc 10)")"

w=$(rvsadm --workers)
assert_gt "frames the dataplane handed to the kernel" 50 "$(event_counter "$w" kernel_delivered)"
assert_gt "frames the kernel sent through rvsd" 50 "$(event_counter "$w" from_kernel)"

say "stopping rvs-ctrl"
ctrl_stop
assert_not_contains "BIRD's include file after rvs-ctrl stopped" "route $VIP" "$(cat "$BIRD_INCLUDE")"
t=$(secs_until 10 rtr_lacks_vip)
assert_secs_le "route withdrawn with rvs-ctrl stopped" 3 "$t"
bird_ctrl_start
t=$(secs_until 20 rtr_has_vip)
assert_secs_le "route back with rvs-ctrl running again" 10 "$t"

say "stopping rvsd (SIGTERM)"
rvsd_stop
t=$(secs_until 20 rtr_lacks_vip)
assert_secs_le "route withdrawn after rvsd's shutdown" "$((OSPF_DEAD + 3))" "$t"
sleep 1
assert_not_contains "BIRD's include file after rvsd's shutdown" "route $VIP" "$(cat "$BIRD_INCLUDE")"
ctrl_stop
finish
