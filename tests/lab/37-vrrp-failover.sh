#!/usr/bin/env bash
# VRRP failover (issue 19): two directors, each rvsd + rvs-ctrl + the keepalived rvs-ctrl
# runs, configured by keepalived.conf files written as the seed LVS setups write them
# (virtual_router_id 51, auth_type PASS, lb1 MASTER priority 100, lb2 BACKUP 90, a
# vrrp_script tracking rvsd). With a curl through the VIP every 50 ms:
#  1. kill -9 lb1's rvsd: lb2 becomes MASTER within 3 x advert_int + skew (+ slack for this
#     loaded machine), its rvsd owns the VIP and LIPs, the client's ARP entry for the VIP is
#     lb2's MAC, new connections work; the gap is printed;
#  2. lb1's rvsd comes back: lb1 preempts (failback), lb2 releases;
#  3. lb1's rvs-ctrl stops (keepalived with it): lb2 MASTER at once (priority-0 advert);
#     lb1's rvs-ctrl comes back with `state BACKUP` + `nopreempt`: it stays BACKUP.
# The operator's notify scripts run after the ownership change (they see the VIP owned).
# Sessions are not synced here: connections open across a failover may fail; new ones work.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/exc-lib.sh
source "$(dirname "$0")/exc-lib.sh"
# shellcheck source=tests/lab/vrrp-lib.sh
source "$(dirname "$0")/vrrp-lib.sh"
export RVS_LAB_BIG_MB=${RVS_LAB_BIG_MB:-1}
trap 'rc=$?; vrrp_cleanup; (exit $rc); _cleanup' EXIT
command -v keepalived >/dev/null || die "keepalived not installed (scripts/setup.sh)"

ADVERT=1
SKEW_MS=$(((256 - 90) * 1000 / 256)) # lb2's skew time (RFC 3768: (256 - priority) / 256 s)
# 3 x advert_int + skew, plus 1.5 s: rvs-ctrl's poll of the API here and this 2-core machine.
LIMIT_MS=$((3 * ADVERT * 1000 + SKEW_MS + 1500))

vrrp_topology_up
notify_script
for n in 1 2; do
  director_rvsd "$n"
  keepalived_conf "$n" "$CFG_DIR/keepalived$n.conf"
done
out=$("$ROOT/target/release/rvs-ctrl" -t -f "$CFG_DIR/keepalived1.conf" --vrrp-interface eth0=rvs-client 2>&1)
assert_contains "rvs-ctrl -t of lb1's keepalived.conf" "configuration OK" "$out"
for n in 1 2; do director_ctrl "$n" "$CFG_DIR/keepalived$n.conf"; done

wait_for 15 "lb1 MASTER" is_state 1 MASTER ||
  die "lb1 never became MASTER"
wait_for 10 "lb2 BACKUP" is_state 2 BACKUP
assert_eq "lb1 state" MASTER "$(vrrp_state 1)"
assert_eq "lb2 state" BACKUP "$(vrrp_state 2)"
wait_for 5 "lb1 owns the VIP" owns 1 "$VIP"
assert_ok "lb1's rvsd owns $VIP and the LIPs" owns_all 1
assert_ok "lb2's rvsd owns none of them" owns_none 2
in_ns "${LB_NS[1]}" cat "$STATE/lb1/rvs-ctrl-keepalived.conf" | indent | head -n 40
# The kernel holds the VIP only behind keepalived's nftables drop (no_accept).
assert_contains "lb1 kernel: VIP dropped by the nftables table" "198.18.0.100" \
  "$(in_ns "${LB_NS[1]}" nft list set ip rvs_keepalived vips 2>&1)"

warm_up >/dev/null 2>&1
curls=$(http_get_many 30)
assert_eq "curls through lb1" 30 "$(grep -c '^rs[123]$' <<<"$curls")"
assert_eq "client's ARP entry for the VIP" "${LB_MAC[1]}" \
  "$(vip_mac)"

# 1. kill -9 lb1's rvsd.
LOOP=$CFG_DIR/loop1
curl_loop "$LOOP"
sleep 2
say "kill -9 lb1's rvsd"
read -r t0 took_ms < <(failover_kill)
LB_RVSD_PID[1]=
say "lb2 MASTER ${took_ms} ms after the kill (limit ${LIMIT_MS} ms = 3 x ${ADVERT} s + skew ${SKEW_MS} ms + 1.5 s)"
assert_range "lb2 became MASTER (ms after kill -9)" 0 "$LIMIT_MS" "$took_ms"
wait_for 5 "lb2 owns the VIP" owns 2 "$VIP"
assert_ok "lb2's rvsd owns the VIP and the LIPs" owns_all 2
assert_eq "lb1's VRRP after its rvsd died" FAULT "$(vrrp_state 1)"
sleep 3
touch "$LOOP.stop"
sleep 1.2
read -r gap fails < <(loop_gap "$LOOP" "$t0")
say "failover gap: ${gap} ms, ${fails} curls failed (each waits up to 1 s)"
after=$(awk -v t="$((t0 + took_ms + 1500))" '$1 > t' "$LOOP")
assert_gt "curls answered after the failover" 10 "$(grep -c ' rs[123]$' <<<"$after")"
assert_eq "curls failed after the failover" 0 "$(grep -c ' FAIL$' <<<"$after")"
assert_eq "client's ARP entry for the VIP" "${LB_MAC[2]}" \
  "$(vip_mac)"
curls=$(http_get_many 30)
assert_eq "new connections through lb2" 30 "$(grep -c '^rs[123]$' <<<"$curls")"
if grep -q "lb2 MASTER owned" "$STATE/notify.log"; then
  pass "lb2's notify_master ran with the VIP already owned"
else
  fail "lb2's notify_master did not run after the takeover"
  indent <"$STATE/notify.log"
fi

# 2. lb1's rvsd returns: its keepalived leaves FAULT, preempts (priority 100 > 90).
say "lb1's rvsd restarts"
director_rvsd 1
t=$(secs_until 20 is_state 1 MASTER)
assert_secs_le "failback: lb1 MASTER again" 15 "$t"
wait_for 5 "lb1 owns the VIP" owns 1 "$VIP"
wait_for 5 "lb2 released the VIP" owns_none 2
assert_eq "lb2 after the failback" BACKUP "$(vrrp_state 2)"
sleep 1
curls=$(http_get_many 30)
assert_eq "curls through lb1 after the failback" 30 "$(grep -c '^rs[123]$' <<<"$curls")"

# 3. lb1's rvs-ctrl stops: keepalived says priority 0, lb2 takes over at once.
LOOP=$CFG_DIR/loop3
curl_loop "$LOOP"
sleep 1
t0=$(date +%s%3N)
say "SIGTERM lb1's rvs-ctrl"
ctrl_stop 1
t=$(secs_until 10 is_state 2 MASTER)
say "lb2 MASTER ${t} s after lb1's rvs-ctrl stopped"
assert_secs_le "lb2 MASTER after lb1's keepalived sent priority 0" 3 "$t"
assert_ok "lb1's rvsd released the VIP when rvs-ctrl stopped" owns_none 1
sleep 2
touch "$LOOP.stop"
sleep 1.2
read -r gap fails < <(loop_gap "$LOOP" "$t0")
say "handover gap: ${gap} ms, ${fails} curls failed"

# lb1 returns with nopreempt (state BACKUP): it stays BACKUP under lb2 at priority 90.
keepalived_conf 1 "$CFG_DIR/keepalived1.conf" $'state BACKUP\nnopreempt'
director_ctrl 1 "$CFG_DIR/keepalived1.conf"
wait_for 10 "lb1 BACKUP" is_state 1 BACKUP
sleep 4
assert_eq "lb1 with nopreempt, 4 s later" BACKUP "$(vrrp_state 1)"
assert_eq "lb2 stays" MASTER "$(vrrp_state 2)"
curls=$(http_get_many 20)
assert_eq "curls through lb2" 20 "$(grep -c '^rs[123]$' <<<"$curls")"

m=$(api 2 /metrics)
assert_contains "lb2 /metrics" 'rvs_vrrp_state{instance="VI_1"} 2' "$m"
assert_contains "lb2 /metrics" 'rvs_address_owned{addr="198.18.0.100",kind="vip"} 1' "$m"
assert_contains "lb1 /metrics" 'rvs_vrrp_state{instance="VI_1"} 1' "$(api 1 /metrics)"
# Ownership through the JSON API: an address VRRP moves is refused, another one is moved.
# post N PATH BODY: with the bearer token director_ctrl gave rvs-ctrl ($CTRL_TOKEN; empty: none).
post() {
  in_ns "${LB_NS[$1]}" curl -s --max-time 3 -o /dev/null -w '%{http_code}' -X POST \
    ${CTRL_TOKEN:+-H "Authorization: Bearer $CTRL_TOKEN"} -d "$3" "http://127.0.0.1:9595$2"
}
assert_eq "POST /api/v1/ownership without the token" 401 "$(CTRL_TOKEN='' post 1 /api/v1/ownership '{"take": ["198.18.0.150"]}')"
assert_eq "POST /api/v1/ownership release of the VIP VRRP moves" 409 "$(post 2 /api/v1/ownership '{"release": ["198.18.0.100"]}')"
assert_eq "POST /api/v1/ownership take of 198.18.0.150" 200 "$(post 1 /api/v1/ownership '{"take": ["198.18.0.150"]}')"
assert_contains "GET /api/v1/ownership" '"address": "198.18.0.150"' "$(api 1 /api/v1/ownership)"
assert_ok "lb1's rvsd owns 198.18.0.150" owns 1 198.18.0.150
assert_eq "POST /api/v1/ownership release of 198.18.0.150" 200 "$(post 1 /api/v1/ownership '{"release": ["198.18.0.150"]}')"
assert_ok "lb1's rvsd released 198.18.0.150" bash -c "! $RVSADM --socket ${LB_SOCK[1]} --owned | grep -q '^198.18.0.150 .*owned$'"
say "notify log:"
indent <"$STATE/notify.log"
assert_not_contains "notify_master runs" "MASTER released" "$(cat "$STATE/notify.log")"
finish
