#!/usr/bin/env bash
# rvs-ctrl's live dashboard in a real browser (headless Chromium over the DevTools protocol,
# tests/lab/cdp.py), opened once and left polling as an operator's tab would:
#   - curl traffic through the VIP: the page's per-real-server connection counts equal
#     'rvsadm -Ln --stats --exact' within one refresh interval, its conns/s graph shows it;
#   - its Ports table shows the client port's received frames as 'rvsadm --workers' counts
#     them (the traffic has stopped: equal, give or take a stray ARP), none missed;
#   - its Neighbours table shows each real server's MAC as 'rvsadm --neigh' does;
#   - rs2's nginx stopped: its row turns red (marked down) within delay_loop +
#     retry x delay_before_retry (+ one refresh of the page);
#   - the API refuses changes without the bearer token, and a group-readable token file
#     stops rvs-ctrl at start naming the file.
# Screenshots (traffic, rs2 down) go to the test log directory.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ctrl-lib.sh
source "$(dirname "$0")/ctrl-lib.sh"

DELAY_LOOP=1
RETRY=1
DELAY_BEFORE_RETRY=1
REFRESH=2 # dashboard::SAMPLE_EVERY, also the page's poll interval
SVC="TCP  $VIP:80"
ALL="198.19.0.11:80 1,198.19.0.12:80 1,198.19.0.13:80 1"
SHOTS=${RVS_TEST_LOGS:-/tmp/rvs-test-logs}
DEVTOOLS_PORT=9322
URL="http://$CTRL_LISTEN/"
VS_ID="vs:tcp/$VIP:80"
command -v chromium >/dev/null || die "chromium not installed (scripts/setup.sh)"
"$PY" -c 'import websocket' 2>/dev/null || die "python3-websocket not installed (scripts/setup.sh)"
mkdir -p "$SHOTS"

cdp() { in_ctrl timeout 60 "$PY" "$ROOT/tests/lab/cdp.py" "$1" "$DEVTOOLS_PORT" "${@:2}"; }
# page_rows: "address state class conns" for each real-server row the page shows.
page_rows() {
  cdp eval '[...document.querySelectorAll("tr[data-rs]")].map(tr => [tr.dataset.rs, tr.dataset.state, tr.className,
    tr.querySelector("[data-k=conns]").dataset.v || "-"].join(" ")).join("\n")' | "$PY" -c 'import json,sys; print(json.load(sys.stdin))'
}
page_sampled() { cdp eval 'Number(document.body.dataset.sampled || 0)'; }
# These run through wait_for:
# shellcheck disable=SC2317
page_has_rows() { [[ $(cdp eval 'document.querySelectorAll("tr[data-rs]").length') == "$1" ]]; }
# graph_max ID I: the largest value I of series ID the page holds (its graphs' data).
# shellcheck disable=SC2317
graph_above() {
  cdp eval "Math.max(0, ...(state.series[\"$1\"] || []).filter(Boolean).map(p => p[$2]))" | awk -v m="$3" '{exit !($1 > m)}'
}
# rvsadm_conns: "address conns" per real server of the service, from rvsadm -Ln --stats --exact.
rvsadm_conns() {
  rvsadm -Ln --stats --exact | awk -v s="$VIP:80" '/^(TCP|UDP) / {cur = ($2 == s)} cur && $1 == "->" && $2 ~ /^[0-9]/ {print $2, $3}'
}

{
  kconf_header
  echo "virtual_server $VIP 80 {"
  echo "  delay_loop $DELAY_LOOP"
  echo "  lb_algo rr"
  echo "  lb_kind FNAT"
  echo "  protocol TCP"
  echo "  laddr_group_name lips"
  for rs in 1 2 3; do
    echo "  real_server 198.19.0.1$rs 80 {"
    echo "    weight 1"
    echo "    TCP_CHECK { connect_timeout 1 retry $RETRY delay_before_retry $DELAY_BEFORE_RETRY }"
    echo "  }"
  done
  echo "}"
} >"$KCONF"

# A token file others can read is refused before anything starts, naming the file.
printf 'abcdefghijklmnopqrstuvwxyz\n' >"$CFG_DIR/loose.token"
chmod 644 "$CFG_DIR/loose.token"
out=$("$RVS_CTRL" -t -f "$KCONF" --api-token-file "$CFG_DIR/loose.token" 2>&1)
assert_eq "rvs-ctrl with a group/world-readable token file: exit status" 1 "$?"
assert_contains "its message names the file" "$CFG_DIR/loose.token" "$out"

ctrl_rvsd_start
ctrl_start
if wait_reals 10 "$SVC" "$ALL"; then pass "rvs-ctrl put the 3 servers in rvsd"; else die "rvsd table: $REALS_SEEN"; fi

# Without the token, changes are refused; reads are not.
tok=$CTRL_TOKEN
CTRL_TOKEN=
api POST "/api/v1/services/tcp/$VIP:80/reals/198.19.0.11:80/drain" >/dev/null
assert_eq "drain without the bearer token: HTTP status" 401 "$API_CODE"
CTRL_TOKEN=wrong-token-wrong-token
api PUT "/api/v1/services/tcp/$VIP:80/reals/198.19.0.11:80" '{"weight": 3}' >/dev/null
assert_eq "weight change with a wrong token: HTTP status" 401 "$API_CODE"
CTRL_TOKEN=$tok
api GET /api/v1/dashboard >/dev/null
assert_eq "GET /api/v1/dashboard without a token" 200 "$API_CODE"
assert_reals 3 "$SVC" "$ALL" "table unchanged by the refused requests"

# The browser, once; it polls on its own from here on.
# Its profile in the lab's state dir, which the lab's teardown removes once Chromium is gone.
pid=$(cdp launch "$URL" "$STATE/chromium-profile") || die "cannot start chromium"
bg_track "$pid"
wait_for 20 "the page's first data" page_has_rows 3 || die "the dashboard shows no real-server rows"
pass "the dashboard shows 3 real-server rows"

# ~16 s of traffic (a history point every 12 s), then counts must settle on the page.
say "traffic: sequential curls for 16 s, then wrk -t1 -c4 -d3s"
# shellcheck disable=SC2016
in_client bash -c 'end=$((SECONDS + 16)); while ((SECONDS < end)); do curl -s --max-time 2 -o /dev/null "$1"; done' _ "http://$VIP/"
in_client timeout 20 wrk -t1 -c4 -d3s "http://$VIP/" >/dev/null 2>&1
sleep 0.5
want=$(rvsadm_conns | sort)
t_read=$(date +%s%3N)
indent <<<"$want"
total=$(awk '{s += $2} END {print s + 0}' <<<"$want")
assert_gt "connections counted by rvsadm" 50 "$total"
# Within one refresh interval of reading rvsadm, the page shows a sample taken after it.
deadline=$((t_read + REFRESH * 1000 * 2 + 1000))
seen=
while (($(date +%s%3N) < deadline)); do
  if (($(page_sampled) > t_read)); then
    seen=$(page_rows | awk '{print $1, $4}' | sort)
    [[ $seen == "$want" ]] && break
  fi
  sleep 0.3
done
t_seen=$(date +%s%3N)
if [[ $seen == "$want" ]]; then
  pass "page's per-real-server conns = rvsadm -Ln --stats, $((t_seen - t_read)) ms after reading rvsadm"
else
  fail "page's conns '$(paste -sd, <<<"$seen")' != rvsadm's '$(paste -sd, <<<"$want")'"
fi
# The conns/s graph of the service shows the traffic once a history point covers it.
if wait_for 20 "a history point with traffic" graph_above "$VS_ID" 0 1; then
  label=$(cdp eval "document.querySelector('[data-chart=\"$VS_ID\"] .title span').textContent")
  pass "the service's conns/s graph shows the traffic ($label)"
else
  fail "no history point with traffic in the page"
fi
# The Ports table: the client port's RxPkts as rvsadm reads them, from a later sample.
read -r port_rx _ port_missed _ <<<"$(port_row "$(rvsadm --workers)" client)"
t_read=$(date +%s%3N)
assert_gt "client port RxPkts by rvsadm --workers" "$total" "$port_rx"
# page_port KEY: the client port row's KEY as a number, -1 without the row.
page_port() { cdp eval "Number((document.querySelector('tr[data-port=client] [data-k=$1]') || {dataset: {v: -1}}).dataset.v)"; }
# shellcheck disable=SC2317 # run through wait_for
page_port_caught_up() { (($(page_sampled) > t_read)) && (($(page_port rx_packets) >= 0)); }
if wait_for $((REFRESH * 3)) "a page sample after rvsadm's" page_port_caught_up; then
  shown=$(page_port rx_packets)
  assert_ge "the page's client RxPkts, against rvsadm's $port_rx" "$port_rx" "$shown"
  assert_ge "rvsadm's client RxPkts + 20 stray frames, against the page's $shown" "$shown" $((port_rx + 20))
  assert_eq "the page's client RxMissed, as rvsadm's" "$port_missed" "$(page_port rx_missed)"
else
  fail "the page shows no Ports row for client"
fi
# The Neighbours table: each real server (all three served the curls) with the MAC
# 'rvsadm --neigh' prints for it. The page's listing is at most 5 samples old.
neigh=$(rvsadm --neigh)
indent <<<"$neigh"
# page_mac ADDR: the MAC the page's Neighbours table shows for ADDR (JSON: in quotes).
page_mac() { cdp eval "(document.querySelector('tr[data-neigh=\"$1\"] [data-k=lladdr]') || {textContent: 'absent'}).textContent"; }
# shellcheck disable=SC2317 # run through wait_for
page_mac_is() { [[ $(page_mac "$1") == "\"$2\"" ]]; }
for rs in "${RS_IPS[@]}"; do
  mac=$(awk -v a="$rs" '$1 == a && $4 == "lladdr" {print $5; exit}' <<<"$neigh")
  assert_contains "rvsadm --neigh: $rs resolved" ":" "$mac"
  if wait_for $((REFRESH * 5 + 5)) "the page's MAC for $rs" page_mac_is "$rs" "$mac"; then
    pass "the page's MAC for $rs, as rvsadm --neigh's ($mac)"
  else
    fail "the page's MAC for $rs: $(page_mac "$rs"), rvsadm --neigh's $mac"
  fi
done
cdp shot "$SHOTS/$TEST_NAME-traffic.png" && pass "screenshot $SHOTS/$TEST_NAME-traffic.png"

# Break rs2: its row must turn red within delay_loop + retry x delay_before_retry + one refresh.
window=$((DELAY_LOOP + RETRY * DELAY_BEFORE_RETRY))
limit_ms=$(((window + REFRESH) * 1000 + 500))
say "stopping rs2's nginx (detection window ${window} s, + ${REFRESH} s refresh)"
t0=$(date +%s%3N)
in_rs 2 nginx -c "$STATE/rs2/nginx.conf" -s stop 2>/dev/null || fail "nginx -s stop on rs2"
# The page itself watches for the red row (every 50 ms, by its own clock, the machine's):
# what is timed is when the user would see it, not how often this script can ask.
seen=$(cdp eval "new Promise(resolve => {
  const end = Date.now() + $((limit_ms + 4000));
  const tick = () => {
    const tr = document.querySelector('tr[data-rs=\"198.19.0.12:80\"]');
    const down = !!tr && tr.dataset.state == 'down' && tr.classList.contains('down');
    if (down || Date.now() > end) return resolve((down ? 'down ' : 'up ') + Date.now());
    setTimeout(tick, 50);
  };
  tick();
})" | "$PY" -c 'import json,sys; print(json.load(sys.stdin))')
t_red=${seen#* }
row=$(page_rows | awk '$1 == "198.19.0.12:80"')
[[ $seen == down* ]] || row="(not down by $((limit_ms + 4000)) ms) $row"
bg=$(cdp eval 'getComputedStyle(document.querySelector("tr[data-rs=\"198.19.0.12:80\"] td")).backgroundColor')
if [[ $row == *" down down "* ]]; then
  took=$((t_red - t0))
  if ((took <= limit_ms)); then
    pass "rs2's row marked down after $took ms (limit $limit_ms ms), background $bg"
  else
    fail "rs2's row marked down only after $took ms (limit $limit_ms ms)"
  fi
else
  fail "rs2's row not marked down: '$row'"
fi
assert_eq "rs2 row background (red)" '"rgb(251, 227, 225)"' "$bg"
assert_eq "rs1 and rs3 rows stay up" "2" "$(page_rows | awk '$2 == "up"' | wc -l)"
cdp shot "$SHOTS/$TEST_NAME-rs2-down.png" && pass "screenshot $SHOTS/$TEST_NAME-rs2-down.png"

in_rs 2 nginx -c "$STATE/rs2/nginx.conf" 2>/dev/null || fail "nginx restart on rs2"
assert_reals 8 "$SVC" "$ALL" "rs2 back in rvsd after its repair"
assert_not_contains "rvs-ctrl log" "panicked" "$(cat "$CTRL_LOG")"
finish
