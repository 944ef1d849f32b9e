#!/usr/bin/env bash
# VRRP failover and failback with session sync (issue 19, must-shows 1 and 2): two
# directors, each rvsd + rvs-ctrl + the keepalived rvs-ctrl runs, configured by
# keepalived.conf files written as the seed LVS setups write them (virtual_router_id 51,
# auth_type PASS, lb1 MASTER priority 100, lb2 BACKUP 90, lvs_sync_daemon, the FULLNAT
# service), their rvsd syncing sessions over a sync link. A curl every 50 ms and 20
# rate-limited 50 MB downloads run through the VIP:
#  1. kill -9 of lb1's rvsd: lb2 is MASTER within 3 x advert_int + skew (+ slack for this
#     loaded machine), the VIP answers from lb2; the gap and the curl failures are printed;
#  2. lb1's rvsd comes back: rvs-ctrl holds VI_1 back (priority 1) until rvsd's start-up
#     bulk sync from lb2 is complete, and only then does lb1 preempt;
#  3. every download completes byte-identical (sha256), no reset, no restart.
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

RATE=1500K # per download: 50 MB last >= 35 s, so they are in flight through both moves
ADVERT=1
SKEW_MS=$(((256 - 90) * 1000 / 256))
LIMIT_MS=$((3 * ADVERT * 1000 + SKEW_MS + 1500))

vrrp_sync_up
notify_script
for n in 1 2; do
  director_rvsd "$n"
  sync_keepalived_conf "$n" "$CFG_DIR/keepalived$n.conf"
done
for n in 1 2; do director_ctrl "$n" "$CFG_DIR/keepalived$n.conf"; done
wait_for 20 "lb1 MASTER" is_state 1 MASTER || die "lb1 never became MASTER"
wait_for 10 "lb2 BACKUP" is_state 2 BACKUP
wait_for 5 "lb1 owns the VIP" owns_all 1
assert_ok "lb2's rvsd owns none of the addresses" owns_none 2
for n in 1 2; do
  assert_eq "lb$n: rvs-ctrl's VRRP hold after the start-up sync" false "$(hold_of "$n")"
  say "lb$n $(startup_sync "$n")"
done
assert_contains "lb1's generated keepalived.conf tracks the hold file" "rvs_sync_hold weight -253" \
  "$(cat "$STATE/lb1/rvs-ctrl-keepalived.conf")"
assert_not_contains "rvs-ctrl finds lvs_sync_daemon and rvsd's [sync] agree" "lvs_sync_daemon:" \
  "$(cat "$STATE/rvs-ctrl-lb1.log")"
wait_for 10 "lb2 hears lb1 on the sync link" bash -c "'$RVSADM' --socket '${LB_SOCK[2]}' --sync | grep -qE '^1 +198.18.9.1:'" ||
  fail "lb2 does not list lb1 as a sync peer"

warm_up >/dev/null 2>&1
if [[ -n ${RVS_DEBUG_RST:-} ]]; then
  for dev in br0 br1; do
    in_ns "$NS_SW" timeout 200 tcpdump -i "$dev" -n -l -tt 'tcp[tcpflags] & tcp-rst != 0' >"$CFG_DIR/rst.$dev" 2>/dev/null &
    bg_track $!
  done
fi
LOOP=$CFG_DIR/loop
sync_curl_loop "$LOOP"
downloads_start "$RATE"
sleep 5
n2=$(established 2)
assert_ge "ESTABLISHED sessions synced to lb2 before the failover" "$DOWNLOADS" "$n2"

# 1. kill -9 lb1's rvsd.
say "kill -9 lb1's rvsd ($(downloads_in_flight) downloads in flight)"
read -r t_kill took_ms < <(failover_kill)
say "lb2 MASTER ${took_ms} ms after the kill (limit ${LIMIT_MS} ms = 3 x ${ADVERT} s + skew ${SKEW_MS} ms + 1.5 s)"
assert_range "lb2 became MASTER (ms after kill -9)" 0 "$LIMIT_MS" "$took_ms"
wait_for 5 "lb2 owns the VIP" owns_all 2
assert_eq "lb1's VRRP after its rvsd died" FAULT "$(vrrp_state 1)"
sleep 4
read -r gap fails late < <(move_gap "$LOOP" "$t_kill")
say "failover gap: ${gap} ms without an answer; ${fails} curls failed (at ms after the kill: $(fail_times "$LOOP" "$t_kill"))"
assert_range "failover gap (ms)" 0 $((LIMIT_MS + 3000)) "$gap"
assert_eq "curls failed once lb2 answered" 0 "$late"
assert_eq "client's ARP entry for the VIP" "${LB_MAC[2]}" "$(vip_mac)"

# 2. lb1's rvsd returns: held back until its bulk sync from lb2 is complete, then preempts.
in_flight=$(downloads_in_flight)
say "lb1's rvsd restarts ($in_flight downloads in flight)"
assert_gt "downloads still in flight for the failback" 0 "$in_flight"
t_back=$(date +%s%3N)
director_rvsd 1
if watch_failback 1 40 "$CFG_DIR/failback"; then pass "lb1 preempted (MASTER again)"; else fail "lb1 did not become MASTER again"; fi
t_master=$(awk '$2 == "MASTER" {print $1; exit}' "$CFG_DIR/failback")
say "failback samples (ms after the restart, state, hold, start-up sync):"
awk -v t="$t_back" '{printf "%6d %s %s %s\n", $1 - t, $2, $3, $4}' "$CFG_DIR/failback" | uniq -f1 | indent
assert_ge "samples with lb1 held back (priority 1) while it synced" 1 "$(awk '$3 == "true"' "$CFG_DIR/failback" | wc -l)"
assert_eq "samples with lb1 MASTER before its start-up sync was complete" 0 \
  "$(awk '$2 == "MASTER" && $4 != "complete"' "$CFG_DIR/failback" | wc -l)"
line=$(startup_sync 1)
say "lb1 $line"
assert_contains "lb1's start-up sync" "complete from member 2" "$line"
synced=$(sed -E 's/.*\(([0-9]+) records.*/\1/' <<<"$line")
assert_ge "records lb1's bulk sync brought (the downloads at least)" "$DOWNLOADS" "$synced"
wait_for 5 "lb1 owns the VIP again" owns_all 1
wait_for 5 "lb2 released the VIP" owns_none 2
assert_eq "lb2 after the failback" BACKUP "$(vrrp_state 2)"
say "$(downloads_in_flight) downloads in flight after the failback"

say "lb1's sync after the failback:"
adm 1 --sync | sed -n '/^start-up/,$p' | indent
say "lb1's drops: $(adm 1 --workers | awk '/^Drop reason/ {t = 1; next} t && $2 > 0 {printf "%s=%s ", $1, $2}')"

# 3. Every download completes.
downloads_check
say "lb1's drops: $(adm 1 --workers | awk '/^Drop reason/ {t = 1; next} t && $2 > 0 {printf "%s=%s ", $1, $2}')"
say "lb2's drops: $(adm 2 --workers | awk '/^Drop reason/ {t = 1; next} t && $2 > 0 {printf "%s=%s ", $1, $2}')"
if [[ -n ${RVS_DEBUG_RST:-} ]]; then
  for dev in br0 br1; do
    say "RST on $dev:"
    head -20 "$CFG_DIR/rst.$dev" | indent
  done
fi
touch "$LOOP.stop"
sleep 3.2
t_master=${t_master:-$t_back}
read -r gap2 fails2 late2 < <(move_gap "$LOOP" "$t_master")
say "failback gap: ${gap2} ms; ${fails2} curls failed (at ms after lb1 became MASTER: $(fail_times "$LOOP" "$t_master"))"
say "curls failed in all: $(grep -c ' FAIL$' "$LOOP") of $(wc -l <"$LOOP")"
assert_range "failback gap (ms)" 0 5000 "$gap2"
assert_eq "curls failed once lb1 answered again" 0 "$late2"
assert_contains "lb1's rvs-ctrl logs the hold" "VRRP hold released" "$(cat "$STATE/rvs-ctrl-lb1.log")"
finish
