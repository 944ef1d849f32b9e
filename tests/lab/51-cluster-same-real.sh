#!/usr/bin/env bash
# ECMP cluster, the same real server on every member (issue 11, must-show 4). Three
# directors with the same services (scheduler wlc, placed by Maglev over the client's
# address and port in a cluster) and no sync record to go by: a prober on the uplink
# segment sends the same 10,000 SYNs (hping3, source ports 20000-29999) to each member
# directly, bypassing the router; each member's session list (rvsadm -Lnc) maps every flow
# to the same real server, and the flows are spread over all three servers. Each member's
# local ports lie in its own slice of the range.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/cluster-lib.sh
source "$(dirname "$0")/cluster-lib.sh"

FLOWS=10000
NS_PR=$RVS_LAB-pr
in_pr() { ip netns exec "$NS_PR" "$@"; }
command -v hping3 >/dev/null || die "hping3 not installed"

cluster_up 3
for n in 1 2 3; do
  # PLACEMENT=scheduler shows what the test catches: the members then disagree.
  cluster_config "$n" "$CFG_DIR/d$n.toml" "${PLACEMENT:+placement = \"$PLACEMENT\"}"
  cluster_rvsd_start "$n" "$CFG_DIR/d$n.toml"
done
_cl_ns "$NS_PR"
ip link add pr0 netns "$NS_PR" type veth peer name swu-pr netns "$NS_SW" || die "veth pr0"
ip -n "$NS_SW" link set swu-pr master br1
_cl_dev "$NS_SW" swu-pr
_cl_dev "$NS_PR" pr0
in_pr ip addr add 198.18.1.200/24 dev pr0
# Nothing comes back (the servers' SYN/ACKs go to LIPs the router has no route for), and
# the prober's kernel must not reset the flows either.
in_pr nft -f - <<'EOF' || die "nft in the prober"
table inet probe {
  chain input {
    type filter hook input priority 0; policy accept;
    ip saddr 198.18.0.100 drop
  }
}
EOF

for n in 1 2 3; do
  in_pr ip route replace "$VIP/32" via "198.18.1.$n" dev pr0
  # Each member has seen a different number of other flows first (1, 2, 3): a scheduler
  # with state (rr, wlc) would now place the same flows differently on each.
  in_pr timeout 20 hping3 -q -S -p 80 -s 15000 -c "$n" -i u10000 "$VIP" >/dev/null 2>&1
  say "$FLOWS SYNs to d$n directly"
  in_pr timeout 60 hping3 -q -S -p 80 -s 20000 -c "$FLOWS" -i u200 "$VIP" >/dev/null 2>&1
  sleep 1
  # "client:port real" for every session of the prober's flows.
  rvsadm_d "$n" -Lnc | awk '$4 ~ /^198\.18\.1\.200:[2-9]/ {print $4, $7}' | sort >"$CFG_DIR/map.$n"
  assert_range "sessions of the prober's flows on d$n" $((FLOWS * 99 / 100)) "$FLOWS" "$(wc -l <"$CFG_DIR/map.$n")"
done
head -n 3 "$CFG_DIR/map.1" | indent
for n in 2 3; do
  diffs=$(join "$CFG_DIR/map.1" "$CFG_DIR/map.$n" | awk '$2 != $3' | wc -l)
  common=$(join "$CFG_DIR/map.1" "$CFG_DIR/map.$n" | wc -l)
  assert_ge "flows seen by d1 and d$n" $((FLOWS * 98 / 100)) "$common"
  assert_eq "flows d1 and d$n sent to different real servers" 0 "$diffs"
done
for rs in 198.19.0.11 198.19.0.12 198.19.0.13; do
  assert_range "flows on $rs (of $FLOWS)" $((FLOWS / 5)) $((FLOWS / 2)) "$(grep -c " $rs:80" "$CFG_DIR/map.1")"
done
for n in 1 2 3; do
  c=$(rvsadm_d "$n" --cluster)
  range=$(sed -n 's/^local ports \([0-9]*-[0-9]*\) .*/\1/p' <<<"$c")
  say "d$n: local ports $range"
  lo=${range%-*}
  hi=${range#*-}
  out=$(rvsadm_d "$n" -Lnc | awk -v lo="$lo" -v hi="$hi" '$4 ~ /^198\.18\.1\.200:/ {split($6, a, ":"); p = a[2] + 0; if (p < lo || p > hi) n++} END {print n + 0}')
  assert_eq "d$n's sessions with a local port outside its slice" 0 "$out"
done
finish
