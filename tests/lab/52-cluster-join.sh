#!/usr/bin/env bash
# ECMP cluster, member join (issue 11, must-show 2). Three directors as operators run
# them (rvsd, BIRD, rvs-ctrl with a keepalived.conf `cluster` block whose BIRD gate
# announces the VIP only while rvsd is an active member) serve 30 rate-limited 50 MB
# downloads; a fourth member starts during them. Checked: the router never has a VIP
# route via d4 while d4 says it is joining (polled every 0.1 s) — first for 6 s with its
# sync link cut, when it must not go active alone — d4 becomes active after
# a bulk sync that brought the downloads' sessions, the router then spreads flows to d4
# (some downloads move to it), its table digest agrees with the others', and every
# download completes byte-identical.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/cluster-lib.sh
source "$(dirname "$0")/cluster-lib.sh"

DOWNLOADS=30
RATE=2M

command -v bird >/dev/null || die "bird not installed (scripts/setup.sh installs bird2)"
[[ -x $RVS_CTRL ]] || die "rvs-ctrl not built: $RVS_CTRL"
cluster_up 4
router_bird_start
for n in 1 2 3; do cluster_member_start "$n"; done
three() { [[ $(vip_hops | wc -w) == 3 ]]; }
wait_for 40 "the router's VIP route over three directors" three || die "VIP route: $(in_rtr ip route show "$VIP/32")"
say "router: $(in_rtr ip route show "$VIP/32" | tr '\n' ' ')"

want=$(cat "$STATE/big.sha256")
pids=()
for i in $(seq "$DOWNLOADS"); do
  in_rc curl -s --max-time 100 --limit-rate "$RATE" -o "$CFG_DIR/dl.$i" -w '%{http_code} %{size_download}\n' \
    "http://$VIP/big.bin" >"$CFG_DIR/dl.$i.status" 2>&1 &
  pids+=($!)
  bg_track "$!"
done
sleep 4
mapfile -t sports < <(in_rc ss -Htn state established dst "$VIP" | awk '{split($3, a, ":"); print a[2]}' | sort -n)
assert_eq "downloads established" "$DOWNLOADS" "${#sports[@]}"

# Watch d4's state and the router's VIP route together from before d4 starts.
bash -c 'while :; do
    s=$(timeout 2 "$1" --socket "$2" --cluster 2>/dev/null | sed -n "s/^cluster member [0-9]* (epoch [0-9]*): \([a-z]*\) .*/\1/p")
    r=$(ip netns exec "$3" ip route show "$4/32" | grep -c "via 198.18.1.14")
    echo "$(date +%s%3N) ${s:-down} $r"
    sleep 0.1
  done' _ "$RVSADM" "$(d_sock 4)" "$NS_RTR" "$VIP" >"$CFG_DIR/watch.log" 2>/dev/null &
WATCH=$!
bg_track "$WATCH"
# d4 starts with its sync link cut (at the switch): it hears no member, so it must stay
# joining and unannounced well past its hold time (1.2 s) — alone_after_ms (10 s by
# default) is for the first member of a new cluster, not for a member cut off from it.
ip -n "$NS_SW" link set sys-d4 down
say "d4 starts with its sync link down"
cluster_member_start 4
sleep 6
assert_eq "d4's state 6 s after its start with no sync link" joining "$(cluster_state 4)"
assert_eq "VIP routes via d4 meanwhile" 0 "$(in_rtr ip route show "$VIP/32" | grep -c 'via 198.18.1.14')"
indent < <(rvsadm_d 4 --cluster | head -n 3)
say "d4's sync link up: d4 joins"
ip -n "$NS_SW" link set sys-d4 up
four() { [[ $(vip_hops | wc -w) == 4 ]]; }
wait_for 40 "the router's VIP route over four directors" four || fail "VIP route: $(in_rtr ip route show "$VIP/32")"
sleep 1
kill "$WATCH" 2>/dev/null
t_active=$(awk '$2 == "active" {print $1; exit}' "$CFG_DIR/watch.log")
t_route=$(awk '$3 > 0 {print $1; exit}' "$CFG_DIR/watch.log")
say "d4 active at +$((t_active - $(head -n1 "$CFG_DIR/watch.log" | cut -d' ' -f1))) ms, VIP route via d4 $((t_route - t_active)) ms later"
assert_eq "samples with a VIP route via d4 while d4 was not active" 0 \
  "$(awk '$3 > 0 && $2 != "active"' "$CFG_DIR/watch.log" | wc -l)"
assert_gt "samples of d4 joining or down before it was announced" 0 "$(awk '$2 != "active"' "$CFG_DIR/watch.log" | wc -l)"
c4=$(rvsadm_d 4 --cluster)
indent <<<"$c4"
bulk=$(sed -n 's/^bulk sync: \([0-9]*\) records from member .*/\1/p' <<<"$c4")
assert_ge "sessions d4's bulk sync brought" "$DOWNLOADS" "${bulk:-0}"
# No new flows meanwhile: d4's table digest (its synced sessions) is the others'.
digests_agree() {
  local c
  c=$(rvsadm_d 4 --cluster)
  [[ $(awk '$1 ~ /^[0-9]+$/ && $8 == "yes"' <<<"$c" | wc -l) == 3 ]]
}
wait_for 10 "d4's table digest agreeing with the three others'" digests_agree ||
  fail "digests: $(rvsadm_d 4 --cluster | tr '\n' '|')"
c4=$(rvsadm_d 4 --cluster)
say "$(grep '^table digest' <<<"$c4")"
synced=$(sed -n 's/^table digest 0x[0-9a-f]* (\([0-9]*\) synced sessions)/\1/p' <<<"$c4")
assert_ge "synced sessions in d4's digest" "$DOWNLOADS" "${synced:-0}"
moved=0
for p in "${sports[@]}"; do [[ $(route_of "$p") == 4 ]] && moved=$((moved + 1)); done
say "downloads the router moved to d4: $moved (of $DOWNLOADS)"
assert_gt "downloads moved to the new member" 0 "$moved"

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
assert_contains "rvs-ctrl on d4 reconfigured BIRD" "BIRD reconfigured: announcing" \
  "$(cat "$STATE/rvs-ctrl-d4-$TEST_NAME.log")"
finish
