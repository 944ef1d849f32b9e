#!/usr/bin/env bash
# The OCF resource agent ocf:rvs:vip (scripts/ocf/rvs-vip), for pacemaker (heartbeat's heir):
# rvsd starts owning nothing ([ha] initial = "backup"); `ocf-tester` (Debian resource-agents)
# runs the agent's actions as pacemaker does and checks its meta-data against ra-api-1.dtd;
# then start/monitor/stop called as pacemaker calls them move the VIP and LIPs: the client's
# curls fail before start, work after it (its ARP entry is rvsd's MAC), fail after stop.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
export RVS_LAB_BIG_MB=${RVS_LAB_BIG_MB:-1}
command -v ocf-tester >/dev/null || die "ocf-tester not installed (scripts/setup.sh: resource-agents)"
AGENT=$ROOT/scripts/ocf/rvs-vip
ADDRS=$VIP,${LIPS[0]},${LIPS[1]}

lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
printf '\n[ha]\ninitial = "backup"\n' >>"$CFG_DIR/rvsd.toml"
rvsd_start "$CFG_DIR/rvsd.toml"

# ra ACTION [NAME=VALUE...]: the agent as pacemaker runs it (OCF_* environment), exit code.
ra() {
  local action=$1
  shift
  env OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE=lb-vip OCF_RESKEY_addresses="$ADDRS" \
    OCF_RESKEY_rvsadm="$RVSADM" OCF_RESKEY_socket="$CTRL_SOCK" "$@" "$AGENT" "$action" >/dev/null 2>&1
  echo $?
}
curl_ok() { in_client curl -s --max-time 2 "http://$VIP/" | grep -q '^rs[123]$'; }

assert_eq "probe (monitor) before start: not running" 7 "$(ra monitor)"
if curl_ok; then fail "the VIP answers before start"; else pass "the VIP does not answer before start"; fi

out=$(cd /tmp && ocf-tester -n lb-vip -o addresses="$ADDRS" -o rvsadm="$RVSADM" -o socket="$CTRL_SOCK" "$AGENT" 2>&1)
rc=$?
indent <<<"$out" | tail -n 15
assert_eq "ocf-tester exit status" 0 "$rc"
assert_contains "ocf-tester" "passed all tests" "$out"
assert_eq "after ocf-tester (it ends stopped): monitor" 7 "$(ra monitor)"

assert_eq "start" 0 "$(ra start)"
assert_eq "monitor after start" 0 "$(ra monitor)"
o=$(rvsadm --owned)
indent <<<"$o"
for a in "$VIP" "${LIPS[@]}"; do
  assert_eq "rvsadm --owned: $a" owned "$(awk -v a="$a" '$1 == a {print $3}' <<<"$o")"
done
wait_for 5 "curl through the VIP" curl_ok
curls=$(http_get_many 30)
assert_eq "curls after start" 30 "$(grep -c '^rs[123]$' <<<"$curls")"
assert_eq "client's ARP entry for the VIP is rvsd's port" "$(in_lb cat /sys/class/net/lb-c/address)" \
  "$(in_client ip neigh show "$VIP" | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}')"
assert_eq "start again (idempotent)" 0 "$(ra start)"

assert_eq "stop" 0 "$(ra stop)"
assert_eq "monitor after stop" 7 "$(ra monitor)"
in_client ip neigh flush "$VIP" 2>/dev/null
if curl_ok; then fail "the VIP answers after stop"; else pass "the VIP does not answer after stop"; fi
assert_eq "stop again (idempotent)" 0 "$(ra stop)"

assert_eq "validate-all" 0 "$(ra validate-all)"
assert_eq "validate-all with a bad address" 6 "$(ra validate-all OCF_RESKEY_addresses=198.18.0.300)"
assert_eq "validate-all without addresses" 6 "$(ra validate-all OCF_RESKEY_addresses=)"
assert_eq "monitor without rvsadm installed" 7 "$(ra monitor OCF_RESKEY_rvsadm=/nonexistent/rvsadm)"
assert_eq "start, then rvsd dies: monitor" 0 "$(ra start)"
rvsd_stop
assert_eq "monitor with rvsd gone" 7 "$(ra monitor)"
assert_eq "stop with rvsd gone" 0 "$(ra stop)"
finish
