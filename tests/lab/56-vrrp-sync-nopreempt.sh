#!/usr/bin/env bash
# VRRP with session sync, `nopreempt` (issue 19, must-show 2's variant): lb1 (priority 100)
# runs `state BACKUP` + `nopreempt`, lb2 BACKUP 90, both rvsd syncing sessions. A curl
# every 50 ms and 20 rate-limited 50 MB downloads run through the VIP:
#  1. kill -9 of lb1's rvsd: lb2 becomes MASTER and carries the downloads;
#  2. lb1's rvsd comes back, bulk-syncs lb2's table (rvs-ctrl holds VI_1 back meanwhile)
#     and, with nopreempt, stays BACKUP although its priority is higher;
#  3. lb2's rvs-ctrl stops (keepalived's priority-0 advert): lb1 takes over at once with
#     the table it synced, and every download completes byte-identical (sha256).
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/exc-lib.sh
source "$(dirname "$0")/exc-lib.sh"
# shellcheck source=tests/lab/vrrp-lib.sh
source "$(dirname "$0")/vrrp-lib.sh"
# shellcheck source=tests/lab/vrrp-sync-lib.sh
source "$(dirname "$0")/vrrp-sync-lib.sh"
trap 'rc=$?; vrrp_cleanup; (exit $rc); _cleanup' EXIT
command -v keepalived >/dev/null || die "keepalived not installed (scripts/setup.sh)"

RATE=1200K # per download: 50 MB last >= 43 s, in flight through both moves

vrrp_sync_up
notify_script
for n in 1 2; do director_rvsd "$n"; done
sync_keepalived_conf 1 "$CFG_DIR/keepalived1.conf" $'state BACKUP\nnopreempt'
sync_keepalived_conf 2 "$CFG_DIR/keepalived2.conf"
assert_contains "lb1's keepalived.conf" "nopreempt" "$(cat "$CFG_DIR/keepalived1.conf")"
for n in 1 2; do director_ctrl "$n" "$CFG_DIR/keepalived$n.conf"; done
# Both start BACKUP; the higher priority wins the first election.
wait_for 20 "lb1 MASTER" is_state 1 MASTER || die "lb1 never became MASTER"
wait_for 10 "lb2 BACKUP" is_state 2 BACKUP
wait_for 5 "lb1 owns the VIP" owns_all 1
wait_for 10 "lb2 hears lb1 on the sync link" bash -c "'$RVSADM' --socket '${LB_SOCK[2]}' --sync | grep -qE '^1 +198.18.9.1:'" ||
  fail "lb2 does not list lb1 as a sync peer"

warm_up >/dev/null 2>&1
LOOP=$CFG_DIR/loop
sync_curl_loop "$LOOP"
downloads_start "$RATE"
sleep 5
assert_ge "ESTABLISHED sessions synced to lb2" "$DOWNLOADS" "$(established 2)"

# 1. kill -9 lb1's rvsd: lb2 takes over.
say "kill -9 lb1's rvsd ($(downloads_in_flight) downloads in flight)"
read -r t_kill took_ms < <(failover_kill)
say "lb2 MASTER ${took_ms} ms after the kill"
assert_range "lb2 became MASTER (ms after kill -9)" 0 8000 "$took_ms"
wait_for 5 "lb2 owns the VIP" owns_all 2
sleep 3

# 2. lb1's rvsd returns: bulk sync, and with nopreempt it stays BACKUP.
say "lb1's rvsd restarts ($(downloads_in_flight) downloads in flight)"
director_rvsd 1
wait_for 20 "lb1's start-up sync" bash -c "'$RVSADM' --socket '${LB_SOCK[1]}' --sync | grep -q '^start-up sync: complete'" ||
  fail "lb1's start-up sync did not complete"
say "lb1 $(startup_sync 1)"
hold1() { [[ $(hold_of 1) == false ]]; }
wait_for 10 "lb1's hold released" hold1
wait_for 10 "lb1 BACKUP" is_state 1 BACKUP
sleep 6 # longer than the master-down interval (3 x advert_int + skew)
assert_eq "lb1 with nopreempt, 6 s after its hold was released" BACKUP "$(vrrp_state 1)"
assert_eq "lb2 stays" MASTER "$(vrrp_state 2)"
assert_ok "lb1's rvsd owns none of the addresses" owns_none 1
n1=$(established 1)
assert_ge "ESTABLISHED sessions lb1 holds (bulk sync + incremental)" "$DOWNLOADS" "$n1"

# 3. lb2's rvs-ctrl stops: lb1 takes over with the table it synced.
in_flight=$(downloads_in_flight)
assert_gt "downloads still in flight for the handover" 0 "$in_flight"
say "SIGTERM lb2's rvs-ctrl ($in_flight downloads in flight)"
t_stop=$(date +%s%3N)
ctrl_stop 2
t=$(secs_until 10 is_state 1 MASTER)
say "lb1 MASTER ${t} s after lb2's rvs-ctrl stopped"
assert_secs_le "lb1 MASTER after lb2's keepalived sent priority 0" 4 "$t"
wait_for 5 "lb1 owns the VIP" owns_all 1
downloads_check
touch "$LOOP.stop"
sleep 3.2
for ev in "kill:$t_kill" "handover:$t_stop"; do
  read -r gap fails late < <(move_gap "$LOOP" "${ev#*:}")
  say "${ev%%:*}: gap ${gap} ms; ${fails} curls failed (at ms: $(fail_times "$LOOP" "${ev#*:}"))"
  assert_eq "curls failed once the new master answered (${ev%%:*})" 0 "$late"
done
say "curls failed in all: $(grep -c ' FAIL$' "$LOOP") of $(wc -l <"$LOOP")"
finish
