#!/usr/bin/env bash
# VRRP on the wire (issue 19, must-show 3 and the VRRP half of 4): the two rvs directors of
# test 37 (lb1 MASTER 100, lb2 BACKUP 90) and, in a third namespace, a plain keepalived
# 2.2.7 with the same virtual_router_id and password at priority 150:
#  1. it takes MASTER from rvs: lb1 goes BACKUP and its rvsd releases the VIP and LIPs, the
#     client's ARP entry for the VIP is the third node's MAC;
#  2. stopped, it gives MASTER back (its priority-0 advert): lb1 MASTER, curls work again;
#  3. VRRP adverts with a wrong auth_pass at priority 254 (scapy, vrrp_advert.py) are ignored
#     as keepalived ignores them (lb1 stays MASTER, keepalived logs "invalid passwd"); sent
#     faster than advert_int they silence keepalived's master, lb2 is master for a moment and
#     lb1's rvsd announces again, so curls keep working; the same adverts with the right
#     password make lb1 BACKUP, so it is the password that counts.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/exc-lib.sh
source "$(dirname "$0")/exc-lib.sh"
# shellcheck source=tests/lab/vrrp-lib.sh
source "$(dirname "$0")/vrrp-lib.sh"
export RVS_LAB_BIG_MB=${RVS_LAB_BIG_MB:-1}
trap 'rc=$?; vrrp_cleanup; (exit $rc); _cleanup' EXIT
command -v keepalived >/dev/null || die "keepalived not installed (scripts/setup.sh)"

vrrp_topology_up
notify_script
for n in 1 2; do
  director_rvsd "$n"
  keepalived_conf "$n" "$CFG_DIR/keepalived$n.conf"
  director_ctrl "$n" "$CFG_DIR/keepalived$n.conf"
done
wait_for 15 "lb1 MASTER" is_state 1 MASTER || die "lb1 never became MASTER"
wait_for 10 "lb2 BACKUP" is_state 2 BACKUP
wait_for 5 "lb1 owns the VIP" owns_all 1
warm_up >/dev/null 2>&1
assert_eq "curls through lb1" 20 "$(grep -c '^rs[123]$' <<<"$(http_get_many 20)")"

# 1. A plain keepalived, as any peer on the segment would run it.
KA_CONF=$CFG_DIR/ka.conf
cat >"$KA_CONF" <<EOF
global_defs {
    router_id KA3
}
vrrp_instance VI_1 {
    state BACKUP
    interface k0
    virtual_router_id 51
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass $VRRP_PASS
    }
    virtual_ipaddress {
        $VIP
    }
}
EOF
say "plain keepalived (priority 150) starts in $NS_KA"
ip netns exec "$NS_KA" keepalived --vrrp --dont-fork --log-console --log-detail --no-syslog -f "$KA_CONF" \
  -p "$STATE/ka.pid" -r "$STATE/ka-vrrp.pid" </dev/null >"$STATE/ka.log" 2>&1 &
KA_PID=$!
bg_track "$KA_PID"
t=$(secs_until 15 is_state 1 BACKUP)
assert_secs_le "lb1 BACKUP under the plain keepalived" 10 "$t"
wait_for 10 "keepalived MASTER" grep -q "(VI_1) Entering MASTER STATE" "$STATE/ka.log"
assert_contains "the plain keepalived's log" "Entering MASTER STATE" "$(cat "$STATE/ka.log")"
wait_for 5 "lb1 released" owns_none 1
assert_ok "lb1's rvsd released the VIP and the LIPs" owns_none 1
assert_ok "lb2's rvsd owns none of them" owns_none 2
assert_eq "lb2 state" BACKUP "$(vrrp_state 2)"
assert_contains "the third node holds the VIP" "$VIP/32" "$(in_ns "$NS_KA" ip -br addr show k0)"
in_client ping -n -c 1 -W 1 "$VIP" >/dev/null 2>&1
assert_eq "client's ARP entry for the VIP" "$KA_MAC" "$(vip_mac)"

# 2. Stopped, it hands MASTER back at once.
say "plain keepalived stops"
kill -TERM "$KA_PID"
wait "$KA_PID" 2>/dev/null
assert_contains "its log" "sent 0 priority" "$(cat "$STATE/ka.log")"
t=$(secs_until 10 is_state 1 MASTER)
assert_secs_le "lb1 MASTER again" 5 "$t"
wait_for 5 "lb1 owns the VIP" owns_all 1
assert_ok "lb1's rvsd owns the VIP and the LIPs" owns_all 1
sleep 1
assert_eq "curls through lb1 again" 20 "$(grep -c '^rs[123]$' <<<"$(http_get_many 20)")"
assert_eq "client's ARP entry for the VIP" "${LB_MAC[1]}" "$(vip_mac)"

# 3. Adverts with a wrong password, at a priority that would win: ignored.
transitions() { api "$1" /api/v1/vrrp | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["instances"][0]["transitions"])'; }
before="$(transitions 1) $(transitions 2)"
# One every 2 s: keepalived's master restarts its advert timer at every packet it reads, even
# one it refuses, so refused adverts coming faster than advert_int would silence it (as they
# would a keepalived-only pair) and lb2 would take over after its master-down interval.
in_ns "$NS_KA" timeout 30 "$PY" "$ROOT/tests/lab/vrrp_advert.py" k0 51 254 wrongpw "$VIP" 4 2 | indent
sleep 1
assert_eq "lb1 after 4 adverts with auth_pass 'wrongpw' at priority 254" MASTER "$(vrrp_state 1)"
assert_eq "lb1's and lb2's state changes during them" "$before" "$(transitions 1) $(transitions 2)"
assert_ok "lb1 still owns the VIP" owns_all 1
assert_contains "lb1's keepalived log" "(VI_1) received an invalid passwd!" "$(cat "$STATE/rvs-ctrl-lb1.log")"
assert_eq "curls through lb1" 20 "$(grep -c '^rs[123]$' <<<"$(http_get_many 20)")"
# Refused adverts every 0.5 s do silence lb1's keepalived (as they would a keepalived-only
# pair): lb2 times out and is MASTER for a moment until lb1 answers its advert. lb1's rvs-ctrl
# then has rvsd announce the VIP and LIPs again, so the gratuitous ARPs lb2's rvsd sent in
# that moment do not leave clients or real servers pointing at lb2.
in_ns "$NS_KA" timeout 30 "$PY" "$ROOT/tests/lab/vrrp_advert.py" k0 51 254 wrongpw "$VIP" 12 0.5 | indent
sleep 1
assert_eq "lb1 after refused adverts every 0.5 s" MASTER "$(vrrp_state 1)"
assert_contains "lb1's rvs-ctrl log" "a lower-priority router advertised: rvsd announces again" "$(cat "$STATE/rvs-ctrl-lb1.log")"
assert_eq "curls through lb1 right after" 20 "$(grep -c '^rs[123]$' <<<"$(http_get_many 20)")"
# The same adverts with the right password do win: lb1 steps down while they come.
in_ns "$NS_KA" timeout 30 "$PY" "$ROOT/tests/lab/vrrp_advert.py" k0 51 254 "$VRRP_PASS" "$VIP" 4 0.5 | indent &
ADV=$!
bg_track "$ADV"
t=$(secs_until 5 is_state 1 BACKUP)
assert_secs_le "lb1 BACKUP under adverts with the right password" 3 "$t"
wait "$ADV"
# Nobody advertises any more: lb1 (priority 100) is master again after the master-down interval.
t=$(secs_until 15 is_state 1 MASTER)
assert_secs_le "lb1 MASTER again once they stop" 10 "$t"
wait_for 5 "lb1 owns the VIP" owns_all 1
assert_eq "curls through lb1" 20 "$(grep -c '^rs[123]$' <<<"$(http_get_many 20)")"
finish
