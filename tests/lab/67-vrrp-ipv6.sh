#!/usr/bin/env bash
# An IPv6 VIP failing over with its VRRP instance: the two directors of 37-vrrp-failover
# (rvsd + rvs-ctrl + the keepalived rvs-ctrl runs), whose keepalived.conf has the IPv4 VIP in
# virtual_ipaddress and the IPv6 VIP 2001:db8:1::100 in virtual_ipaddress_excluded of the
# same vrrp_instance (keepalived advertises one family per instance), and an IPv6 FULLNAT
# virtual_server on it (LIPs 2001:db8:2::200-201) next to the IPv4 one.
#  0. rvs-ctrl -t on lb1 (keepalived --config-test of the generated file on the real tap)
#     is clean; lb1 MASTER owns both VIPs and all four LIPs, lb2 none; curl -4 and curl -6
#     through lb1; the client's neighbour entry for the IPv6 VIP is lb1's MAC;
#  1. kill -9 lb1's rvsd: lb2 MASTER within 3 x advert_int + skew (+1.5 s), owns both VIPs
#     and the LIPs, curl -4 and curl -6 (one each every 50 ms) answer again through lb2 and
#     none fails from 1.5 s after it is MASTER; the client's IPv6 neighbour entry moves to lb2's MAC
#     (rvsd's unsolicited Neighbor Advertisement on takeover);
#  2. lb1 back (rvsd, rvs-ctrl with state BACKUP + nopreempt): BACKUP, owns nothing, and
#     answers no Neighbor Solicitation for the IPv6 VIP (only lb2's MAC answers one);
#  3. lb2's rvs-ctrl stops (priority-0 advert): lb1 MASTER at once, the IPv6 neighbour entry
#     is lb1's again, lb2 released everything, curl -4 and -6 through lb1.
# With VRRP6_INSTANCE=1 (lab 68-vrrp-ipv6-instance) the instance is IPv6 instead: the IPv6 VIP
# in virtual_ipaddress (keepalived speaks VRRPv3 over IPv6 through rvsd's taps, which get
# IPv6), the IPv4 VIP in virtual_ipaddress_excluded; the adverts on the wire are IPv6 only.
# shellcheck disable=SC2317 # the owns_*/vip6_is helpers run through wait_for and assert_ok
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/exc-lib.sh
source "$(dirname "$0")/exc-lib.sh"
# shellcheck source=tests/lab/vrrp-lib.sh
source "$(dirname "$0")/vrrp-lib.sh"
export RVS_LAB_IPV6=1
export RVS_LAB_BIG_MB=${RVS_LAB_BIG_MB:-1}
trap 'rc=$?; vrrp_cleanup; (exit $rc); _cleanup' EXIT
command -v keepalived >/dev/null || die "keepalived not installed (scripts/setup.sh)"

VIP6=2001:db8:1::100
LIPS6=(2001:db8:2::200 2001:db8:2::201)
LB_PORT_C6=(unused 2001:db8:1::1 2001:db8:1::3)
LB_PORT_S6=(unused 2001:db8:2::1 2001:db8:2::3)
ADVERT=1
SKEW_MS=$(((256 - 90) * 1000 / 256))
LIMIT_MS=$((3 * ADVERT * 1000 + SKEW_MS + 1500))
V6I=${VRRP6_INSTANCE:-0}

# ka6_conf N OUT [EXTRA]: vrrp-lib's keepalived.conf plus script security, the IPv6 VIP
# (excluded from the adverts, as keepalived wants it in an IPv4 instance) and its FULLNAT
# service.
ka6_conf() {
  local n=$1 out=$2
  keepalived_conf "$n" "$out" "${3:-}"
  # keepalived's config test also wants its script security on (chk_rvsd runs rvsadm).
  sed -i "s|^    router_id LB$n\$|&\n    enable_script_security\n    script_user root|" "$out"
  if ((V6I)); then
    # An IPv6 instance: the IPv6 VIP advertised, the IPv4 one excluded.
    perl -0pi -e "s|    virtual_ipaddress \{\n        \Q$VIP\E\n    \}\n|    virtual_ipaddress {\n        $VIP6/64 dev eth0\n    }\n    virtual_ipaddress_excluded {\n        $VIP/24 dev eth0\n    }\n|" "$out"
  else
    sed -i "/^    track_script {/i\\    virtual_ipaddress_excluded {\\n        $VIP6/64 dev eth0\\n    }" "$out"
  fi
  cat >>"$out" <<EOF

local_address_group laddr_g6 {
    ${LIPS6[0]}
    ${LIPS6[1]}
}

virtual_server $VIP6 80 {
    delay_loop 3
    lb_algo rr
    lb_kind FNAT
    protocol TCP
    laddr_group_name laddr_g6
    real_server 2001:db8:2::11 80 {
        weight 1
    }
    real_server 2001:db8:2::12 80 {
        weight 1
    }
    real_server 2001:db8:2::13 80 {
        weight 1
    }
}
EOF
  grep -qF "virtual_ipaddress_excluded" "$out" || die "ka6_conf: no virtual_ipaddress_excluded in $out"
  grep -qF "script_user root" "$out" || die "ka6_conf: no script_user in $out"
}

owns_all6() { owns_all "$1" && owns "$1" "$VIP6" && owns "$1" "${LIPS6[0]}" && owns "$1" "${LIPS6[1]}"; }
owns_none6() { owns_none "$1" && ! owns "$1" "$VIP6" && ! owns "$1" "${LIPS6[0]}" && ! owns "$1" "${LIPS6[1]}"; }
vip6_mac() { in_client ip -6 neigh show "$VIP6" | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}'; }
vip6_is() { [[ $(vip6_mac) == "$1" ]]; }
# both N: N curls over each family; prints "v4 v6" counts of answers from a real server.
both() {
  local v4 v6
  v4=$(http_get_many "$1" | grep -c '^rs[123]$')
  v6=$(http_get_many "$1" "http://[$VIP6]/" | grep -c '^rs[123]$')
  echo "$v4 $v6"
}
# na_macs: the MACs that answer a Neighbor Solicitation for the IPv6 VIP (the client's entry
# flushed, then ping -6), one per line.
na_macs() {
  local cap=$CFG_DIR/na.$RANDOM
  in_client timeout 4 tcpdump -i c0 -n -e -l 'icmp6 and ip6[40] == 136' >"$cap" 2>/dev/null &
  local pid=$!
  sleep 1
  in_client ip -6 neigh flush to "$VIP6" dev c0
  in_client ping -6 -n -c 2 -W 1 "$VIP6" >/dev/null 2>&1
  wait "$pid" 2>/dev/null
  grep -F "tgt is $VIP6" "$cap" | awk '{print $2}' | sort -u
}

vrrp_topology_up
# vrrp_topology_up made the client's port anew: IPv6 on it, no autoconfiguration.
for k in c0.disable_ipv6=0 c0.accept_ra=0 c0.autoconf=0 c0.router_solicitations=0 c0.dad_transmits=0; do
  in_client sysctl -qw "net.ipv6.conf.$k" >/dev/null
done
in_client ip -6 addr add 2001:db8:1::10/64 dev c0 nodad || die "cannot give the client its IPv6 address"
notify_script
# VRRPv3 over IPv6 needs IPv6 (a link-local address) on the taps rvsd makes.
for n in 1 2; do
  ((V6I)) || break
  for k in all.disable_ipv6=0 default.disable_ipv6=0 default.accept_ra=0 default.autoconf=0 \
    default.router_solicitations=0; do
    in_ns "${LB_NS[$n]}" sysctl -qw "net.ipv6.conf.$k" >/dev/null
  done
done
for n in 1 2; do
  director_config "$n" "$CFG_DIR/rvsd$n.toml"
  sed -i -e "s|\"${LB_PORT_C[$n]}/24\"|\"${LB_PORT_C[$n]}/24\", \"${LB_PORT_C6[$n]}/64\"|" \
    -e "s|\"${LB_PORT_S[$n]}/24\"|\"${LB_PORT_S[$n]}/24\", \"${LB_PORT_S6[$n]}/64\"|" "$CFG_DIR/rvsd$n.toml"
  grep -qF "\"${LB_PORT_S6[$n]}/64\"" "$CFG_DIR/rvsd$n.toml" || die "no IPv6 port addresses in rvsd$n.toml"
  director_rvsd "$n"
  ka6_conf "$n" "$CFG_DIR/keepalived$n.conf"
done
out=$(in_ns "${LB_NS[1]}" "$ROOT/target/release/rvs-ctrl" -t -f "$CFG_DIR/keepalived1.conf" \
  --vrrp-interface eth0=rvs-client 2>&1)
assert_contains "rvs-ctrl -t of lb1's keepalived.conf" "configuration OK" "$out"
assert_not_contains "keepalived --config-test of the generated file, on lb1's tap" "keepalived:" "$out"
for n in 1 2; do director_ctrl "$n" "$CFG_DIR/keepalived$n.conf"; done

wait_for 15 "lb1 MASTER" is_state 1 MASTER || die "lb1 never became MASTER"
wait_for 10 "lb2 BACKUP" is_state 2 BACKUP
wait_for 5 "lb1 owns the IPv6 VIP" owns 1 "$VIP6"
assert_ok "lb1's rvsd owns both VIPs and the four LIPs" owns_all6 1
assert_ok "lb2's rvsd owns none of them" owns_none6 2
gen=$(cat "$STATE/lb1/rvs-ctrl-keepalived.conf")
if ((V6I)); then
  assert_contains "keepalived advertises the IPv6 VIP" "$VIP6/128 dev rvs-client" "$gen"
  assert_not_contains "the excluded IPv4 VIP is rvsd's alone" "$VIP/" "$gen"
  assert_contains "lb1 kernel: the IPv6 VIP behind keepalived's nftables drop" "$VIP6" \
    "$(in_ns "${LB_NS[1]}" nft list table ip6 rvs_keepalived 2>&1)"
  wire=$(in_ns "$NS_SW" timeout 3 tcpdump -i br1 -n -l 'ip6 proto 112 or ip proto 112' 2>/dev/null)
  assert_gt "VRRP adverts over IPv6 on the client segment (3 s)" 1 "$(grep -c ' > ff02::12: ' <<<"$wire")"
  assert_eq "VRRP adverts over IPv4" 0 "$(grep -c ' > 224.0.0.18: ' <<<"$wire")"
else
  assert_contains "keepalived advertises the IPv4 VIP" "198.18.0.100/32 dev rvs-client" "$gen"
  assert_not_contains "the excluded IPv6 VIP is rvsd's alone" "$VIP6" "$gen"
fi
assert_contains "GET /api/v1/vrrp lists the IPv6 VIP in VI_1" "\"$VIP6\"" "$(api 1 /api/v1/vrrp)"

warm_up >/dev/null 2>&1
in_client ping -6 -n -c 1 -W 2 "$VIP6" >/dev/null 2>&1
assert_eq "curl -4 / curl -6 through lb1" "30 30" "$(both 30)"
assert_eq "client's IPv6 neighbour entry for $VIP6" "${LB_MAC[1]}" "$(vip6_mac)"
assert_eq "client's ARP entry for $VIP" "${LB_MAC[1]}" "$(vip_mac)"

# 1. kill -9 lb1's rvsd, curls over both families running.
LOOP4=$CFG_DIR/loop4
LOOP6=$CFG_DIR/loop6
curl_loop "$LOOP4"
VIP="[$VIP6]" curl_loop "$LOOP6"
sleep 2
say "kill -9 lb1's rvsd"
read -r t0 took_ms < <(failover_kill)
LB_RVSD_PID[1]=
say "lb2 MASTER ${took_ms} ms after the kill (limit ${LIMIT_MS} ms)"
assert_range "lb2 became MASTER (ms after kill -9)" 0 "$LIMIT_MS" "$took_ms"
wait_for 5 "lb2 owns the IPv6 VIP" owns 2 "$VIP6"
assert_ok "lb2's rvsd owns both VIPs and the four LIPs" owns_all6 2
if wait_for 10 "the client's IPv6 neighbour entry moves to lb2" vip6_is "${LB_MAC[2]}"; then
  pass "the client's neighbour entry for $VIP6 moved to lb2 (${LB_MAC[2]})"
else
  fail "the client resolves $VIP6 to '$(vip6_mac)', not lb2's ${LB_MAC[2]}"
fi
sleep 3
touch "$LOOP4.stop" "$LOOP6.stop"
sleep 1.2
for f in 4 6; do
  loop=$CFG_DIR/loop$f
  read -r gap fails < <(loop_gap "$loop" "$t0")
  say "IPv$f failover gap: ${gap} ms, ${fails} curls failed (each waits up to 1 s)"
  # From 1.5 s after lb2 became MASTER (as 37 counts), nothing fails.
  after=$(awk -v t="$((t0 + took_ms + 1500))" '$1 > t' "$loop")
  assert_gt "IPv$f curls answered after the failover" 10 "$(grep -c ' rs[123]$' <<<"$after")"
  assert_eq "IPv$f curls failed from 1.5 s after lb2 became MASTER" 0 "$(grep -c ' FAIL$' <<<"$after")"
done
assert_eq "client's ARP entry for $VIP" "${LB_MAC[2]}" "$(vip_mac)"
assert_eq "curl -4 / curl -6 through lb2" "20 20" "$(both 20)"

# 2. lb1 comes back as BACKUP (nopreempt): it owns nothing and answers no solicitation.
say "lb1 back with state BACKUP + nopreempt"
ctrl_stop 1
director_rvsd 1
ka6_conf 1 "$CFG_DIR/keepalived1.conf" $'state BACKUP\nnopreempt'
director_ctrl 1 "$CFG_DIR/keepalived1.conf"
wait_for 20 "lb1 BACKUP" is_state 1 BACKUP
sleep 4
assert_eq "lb1 with nopreempt, 4 s later" BACKUP "$(vrrp_state 1)"
assert_eq "lb2 stays" MASTER "$(vrrp_state 2)"
assert_ok "lb1's rvsd owns none of the addresses" owns_none6 1
assert_ok "lb2's rvsd still owns them all" owns_all6 2
macs=$(na_macs | paste -sd' ' -)
assert_eq "MACs answering a Neighbor Solicitation for $VIP6" "${LB_MAC[2]}" "$macs"
assert_eq "curl -4 / curl -6 through lb2 with lb1 back" "20 20" "$(both 20)"

# 3. lb2's rvs-ctrl stops: priority 0, lb1 takes both VIPs at once.
say "SIGTERM lb2's rvs-ctrl"
ctrl_stop 2
t=$(secs_until 10 is_state 1 MASTER)
assert_secs_le "lb1 MASTER after lb2's keepalived sent priority 0" 3 "$t"
wait_for 5 "lb1 owns the IPv6 VIP" owns 1 "$VIP6"
assert_ok "lb1's rvsd owns both VIPs and the four LIPs" owns_all6 1
assert_ok "lb2's rvsd released them all when rvs-ctrl stopped" owns_none6 2
if wait_for 10 "the client's IPv6 neighbour entry moves back to lb1" vip6_is "${LB_MAC[1]}"; then
  pass "the client's neighbour entry for $VIP6 moved back to lb1 (${LB_MAC[1]})"
else
  fail "the client resolves $VIP6 to '$(vip6_mac)', not lb1's ${LB_MAC[1]}"
fi
assert_eq "curl -4 / curl -6 through lb1 again" "20 20" "$(both 20)"
say "notify log:"
indent <"$STATE/notify.log"
finish
