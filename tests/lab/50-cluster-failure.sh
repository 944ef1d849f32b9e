#!/usr/bin/env bash
# ECMP cluster, member failure (issue 11, must-show 1). Three directors, each rvsd + BIRD
# through the exception path, announce the VIP to a router that spreads client flows by
# the L4 hash (fib_multipath_hash_policy=1); sessions are synced between all of them.
# 30 rate-limited 50 MB downloads from the clients behind the router; kill -9 of the rvsd
# of the director listed first in the router's VIP route (so that the hash moves flows
# between the survivors too); every download completes byte-identical. Printed: the flows
# the router sent to the dead member and the flows it moved between the survivors (both
# must be > 0: `ip route get` on the router, per flow, before and after).
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/cluster-lib.sh
source "$(dirname "$0")/cluster-lib.sh"

DOWNLOADS=30
RATE=2M # per download: 50 MB last ~25 s

command -v bird >/dev/null || die "bird not installed (scripts/setup.sh installs bird2)"
cluster_up 3
for n in 1 2 3; do
  cluster_config "$n" "$CFG_DIR/d$n.toml"
  cluster_rvsd_start "$n" "$CFG_DIR/d$n.toml"
done
router_bird_start
for n in 1 2 3; do cluster_bird_start "$n"; done

three() { [[ $(vip_hops | wc -w) == 3 ]]; }
wait_for 40 "the router's VIP route over three directors" three || fail "VIP route: $(in_rtr ip route show "$VIP/32")"
say "router: $(in_rtr ip route show "$VIP/32" | tr '\n' ' ')"
assert_contains "LIP 198.18.8.1 via its own member" "via 198.18.1.11" "$(in_rtr ip route show 198.18.8.1/32)"
all_active() { for n in 1 2 3; do [[ $(cluster_state "$n") == active ]] || return 1; done; }
wait_for 20 "every member active" all_active || fail "cluster states: $(for n in 1 2 3; do cluster_state "$n"; done)"
c1=$(rvsadm_d 1 --cluster)
indent <<<"$c1"
assert_eq "members d1 hears as active" 2 "$(grep -cE '^[23] +active' <<<"$c1")"
assert_contains "d1's port slice" "local ports 1025-" "$c1"

# Warm up: curls through the router reach every real server.
bodies=$(in_rc bash -c 'for i in $(seq 30); do curl -s --max-time 3 "http://$1/" || echo FAIL; echo; done' _ "$VIP")
assert_eq "curls through the router that failed" 0 "$(grep -c FAIL <<<"$bodies")"
for rs in rs1 rs2 rs3; do assert_ge "answers from $rs" 3 "$(grep -c "^$rs" <<<"$bodies")"; done

want=$(cat "$STATE/big.sha256")
pids=()
for i in $(seq "$DOWNLOADS"); do
  in_rc curl -s --max-time 100 --limit-rate "$RATE" -o "$CFG_DIR/dl.$i" -w '%{http_code} %{size_download}\n' \
    "http://$VIP/big.bin" >"$CFG_DIR/dl.$i.status" 2>&1 &
  pids+=($!)
  bg_track "$!"
done
sleep 5
mapfile -t sports < <(in_rc ss -Htn state established dst "$VIP" | awk '{split($3, a, ":"); print a[2]}' | sort -n)
assert_eq "downloads established" "$DOWNLOADS" "${#sports[@]}"
declare -A before
for p in "${sports[@]}"; do before[$p]=$(route_of "$p"); done
for n in 1 2 3; do
  e=$(rvsadm_d "$n" -Lnc | grep -c ESTABLISHED)
  assert_ge "ESTABLISHED sessions on d$n (its own and synced)" "$DOWNLOADS" "$e"
done

victim=$(vip_hops | awk '{print $1}')
[[ $victim =~ ^[123]$ ]] || die "no first next hop in the VIP route"
on_dead=0
for p in "${sports[@]}"; do [[ ${before[$p]} == "$victim" ]] && on_dead=$((on_dead + 1)); done
t0=$(date +%s%3N)
say "kill -9 of d$victim's rvsd (first next hop of the VIP route)"
d_kill9 "$victim"
# The victim gone and the two others there (under load a survivor's route may flap
# meanwhile: a count of two alone is not enough).
two() {
  local h
  h=$(vip_hops)
  [[ $(wc -w <<<"$h") == 2 && " $h " != *" $victim "* ]]
}
wait_for 15 "the router to drop d$victim" two || fail "VIP route still: $(in_rtr ip route show "$VIP/32")"
say "router dropped d$victim $(($(date +%s%3N) - t0)) ms after the kill: $(in_rtr ip route show "$VIP/32" | tr '\n' ' ')"
assert_not_contains "LIP of d$victim no longer via d$victim" "via 198.18.1.1$victim " \
  "$(in_rtr ip route show "${CL_LIPS[$((victim - 1))]}/32") "
moved=0
for p in "${sports[@]}"; do
  now=$(route_of "$p")
  if [[ ${before[$p]} != "$victim" && $now != "${before[$p]}" ]]; then moved=$((moved + 1)); fi
done
say "flows on the dead member: $on_dead; flows moved between the survivors: $moved (of $DOWNLOADS)"
assert_gt "flows the router sent to the dead member" 0 "$on_dead"
assert_gt "flows the router moved between the survivors" 0 "$moved"

failed=0
for i in $(seq "$DOWNLOADS"); do
  wait "${pids[$((i - 1))]}"
  got=$(sha256sum "$CFG_DIR/dl.$i" 2>/dev/null | awk '{print $1}')
  if [[ $got == "$want" && $(cat "$CFG_DIR/dl.$i.status") == "200 $((50 * 1024 * 1024))" ]]; then
    rm -f "$CFG_DIR/dl.$i"
  else
    failed=$((failed + 1))
    say "download $i: $(cat "$CFG_DIR/dl.$i.status") sha256 $got"
  fi
done
assert_eq "downloads that did not complete byte-identical (of $DOWNLOADS)" 0 "$failed"
for n in 1 2 3; do
  ((n == victim)) && continue
  c=$(rvsadm_d "$n" --cluster)
  assert_eq "rows for d$victim in d$n's rvsadm --cluster" 0 "$(awk -v v="$victim" 'NR > 3 && $1 == v' <<<"$c" | wc -l)"
  s=$(rvsadm_d "$n" --sync)
  assert_eq "d$n: records not installed" 0 "$(awk '/^Not installed/ {t = 1; next} t {s += $2} END {print s + 0}' <<<"$s")"
done
finish
