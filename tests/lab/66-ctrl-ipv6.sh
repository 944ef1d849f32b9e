#!/usr/bin/env bash
# rvs-ctrl with an IPv6 keepalived.conf (RVS_LAB_IPV6=1): `virtual_server 2001:db8:1::100 80`
# with IPv6 `real_server`s, an IPv6 `local_address_group`, TCP_CHECK on rs1/rs3 and HTTP_GET
# on rs2, all checking over IPv6 from rvs-ctrl's management address 2001:db8:2::250.
# Checks: rvs-ctrl puts the three servers in rvsd ('rvsadm -Ln' in brackets); curl -6 reaches
# all three; rs2's access log shows the HTTP checks coming from 2001:db8:2::250; rs2 answering
# 500 leaves the table within the checker's window and no curl -6 fails or reaches it
# meanwhile; repaired, it comes back and serves again; rs3's nginx stopped (TCP_CHECK over
# IPv6) leaves the table too; the Prometheus metrics label the IPv6 real servers.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ctrl-lib.sh
source "$(dirname "$0")/ctrl-lib.sh"

export RVS_LAB_IPV6=1
VIP6=2001:db8:1::100
MGMT6=2001:db8:2::250
LIPS6=(2001:db8:2::200 2001:db8:2::201)
SVC6="TCP  [$VIP6]:80"
ALL6="[2001:db8:2::11]:80 1,[2001:db8:2::12]:80 1,[2001:db8:2::13]:80 1"
RS2_CONF=$STATE/rs2/nginx.conf

# reals6_of SERVICE: "addr weight" lines of one service in 'rvsadm -Ln' (IPv6 reals).
reals6_of() {
  rvsadm -Ln | awk -v s="$1" '
    /^(TCP|UDP) / {cur = ($1 "  " $2 == s)}
    cur && $1 == "->" && $2 ~ /^\[/ {print $2, $4}'
}
# wait_reals6 SECONDS EXPECTED: polls until the IPv6 service's reals (sorted, joined by ',')
# equal EXPECTED.
wait_reals6() {
  local i
  for ((i = 0; i < $1 * 10; i++)); do
    REALS_SEEN=$(reals6_of "$SVC6" | sort | paste -sd, -)
    [[ $REALS_SEEN == "$2" ]] && return 0
    sleep 0.1
  done
  return 1
}
curls6() { for _ in $(seq "$1"); do in_client curl -6 -s --max-time 3 "http://[$VIP6]/" || echo FAIL; done; }

[[ -x $RVS_CTRL ]] || die "rvs-ctrl not built: $RVS_CTRL (cargo build --release)"
lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd-full.toml"
awk '/^\[/ {skip = ($0 == "[[service]]")} !skip' "$CFG_DIR/rvsd-full.toml" >"$CFG_DIR/rvsd.toml"
sed -i -e 's|^addresses = \["198.18.0.1/24"\]|addresses = ["198.18.0.1/24", "2001:db8:1::1/64"]|' \
  -e 's|^addresses = \["198.19.0.1/24"\]|addresses = ["198.19.0.1/24", "2001:db8:2::1/64"]|' "$CFG_DIR/rvsd.toml"
grep -qF '"2001:db8:2::1/64"' "$CFG_DIR/rvsd.toml" || die "could not add the IPv6 port addresses"
# rvs-ctrl's management addresses on the server segment (its checkers' source).
ip -n "$CTRL_NS" addr add "$MGMT_IP/24" dev br0 || die "cannot add $MGMT_IP to $CTRL_NS br0"
for k in all.disable_ipv6=0 br0.disable_ipv6=0 br0.accept_ra=0 br0.autoconf=0 br0.dad_transmits=0; do
  in_ctrl sysctl -qw "net.ipv6.conf.$k" >/dev/null
done
ip -n "$CTRL_NS" -6 addr add "$MGMT6/64" dev br0 nodad || die "cannot add $MGMT6 to $CTRL_NS br0"
rvsd_start "$CFG_DIR/rvsd.toml"

cat >"$KCONF" <<EOF
global_defs {
  router_id rvs-lab6
}
local_address_group lips6 {
  ${LIPS6[0]}
  ${LIPS6[1]}
}
virtual_server $VIP6 80 {
  delay_loop 1
  lb_algo rr
  lb_kind FNAT
  protocol TCP
  laddr_group_name lips6
  real_server 2001:db8:2::11 80 {
    weight 1
    TCP_CHECK { connect_timeout 1 }
  }
  real_server 2001:db8:2::12 80 {
    weight 1
    HTTP_GET {
      url {
        path /
        status_code 200
      }
      connect_timeout 1
      retry 1
      delay_before_retry 1
    }
  }
  real_server 2001:db8:2::13 80 {
    weight 1
    TCP_CHECK {
      connect_timeout 1
      retry 1
      delay_before_retry 1
    }
  }
}
EOF
assert_ok "rvs-ctrl -t takes the IPv6 keepalived.conf" "$RVS_CTRL" -t -f "$KCONF"
: >"$STATE/rs2/access.log"
ctrl_start
if wait_reals6 10 "$ALL6"; then pass "rvs-ctrl put the three IPv6 servers in rvsd: $ALL6"; else die "rvsd table: '$REALS_SEEN'"; fi
indent <<<"$(rvsadm -Ln)"

bodies=$(curls6 15)
assert_eq "curl -6 failures" 0 "$(count_of FAIL "$bodies")"
for rs in rs1 rs2 rs3; do
  assert_ge "curl -6 answered by $rs" 3 "$(count_of "$rs" "$bodies")"
done
sleep 1.5
assert_ge "rs2's HTTP checks from rvs-ctrl's IPv6 address" 1 "$(awk -v m="$MGMT6" '$1 == m' "$STATE/rs2/access.log" | wc -l)"

say "rs2 answers 500: HTTP_GET over IPv6 takes it out"
sed -i 's|return 200 "rs2\\n";|return 500 "rs2 broken\\n";|' "$RS2_CONF"
grep -q 'return 500' "$RS2_CONF" || die "could not break rs2's nginx config"
in_rs 2 nginx -c "$RS2_CONF" -s reload 2>/dev/null || die "nginx reload on rs2"
if wait_reals6 6 "[2001:db8:2::11]:80 1,[2001:db8:2::13]:80 1"; then
  pass "rs2 left 'rvsadm -Ln'"
else
  fail "rs2 still in 'rvsadm -Ln' 6 s after it broke: '$REALS_SEEN'"
fi
sleep 0.5
bodies=$(curls6 12)
assert_eq "curl -6 failures without rs2" 0 "$(count_of FAIL "$bodies")"
assert_eq "curl -6 answered by rs2 while it is out" 0 "$(count_of rs2 "$bodies")"
assert_eq "curl -6 answered by rs1 or rs3" 12 "$(($(count_of rs1 "$bodies") + $(count_of rs3 "$bodies")))"

sed -i 's|return 500 "rs2 broken\\n";|return 200 "rs2\\n";|' "$RS2_CONF"
in_rs 2 nginx -c "$RS2_CONF" -s reload 2>/dev/null || die "nginx reload on rs2"
if wait_reals6 6 "$ALL6"; then pass "rs2 back in 'rvsadm -Ln'"; else fail "rs2 not back: '$REALS_SEEN'"; fi
sleep 0.5
bodies=$(curls6 9)
assert_ge "curl -6 answered by rs2 after the repair" 1 "$(count_of rs2 "$bodies")"
assert_eq "curl -6 failures after the repair" 0 "$(count_of FAIL "$bodies")"

say "rs3's nginx stopped: TCP_CHECK over IPv6 takes it out"
in_rs 3 nginx -c "$STATE/rs3/nginx.conf" -s stop 2>/dev/null || die "nginx stop on rs3"
if wait_reals6 6 "[2001:db8:2::11]:80 1,[2001:db8:2::12]:80 1"; then
  pass "rs3 left 'rvsadm -Ln'"
else
  fail "rs3 still in 'rvsadm -Ln' 6 s after its nginx stopped: '$REALS_SEEN'"
fi
sleep 0.5
bodies=$(curls6 8)
assert_eq "curl -6 failures without rs3" 0 "$(count_of FAIL "$bodies")"

metrics=$(in_ctrl curl -s --max-time 5 "http://$CTRL_LISTEN/metrics")
assert_contains "metrics label an IPv6 real server" 'rip="2001:db8:2::11"' "$metrics"
assert_contains "metrics label the IPv6 VIP" "vip=\"$VIP6\"" "$metrics"
assert_not_contains "rvs-ctrl log" "panicked" "$(cat "$CTRL_LOG")"
finish
