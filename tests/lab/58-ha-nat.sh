#!/usr/bin/env bash
# Failover of two directors with NAT (masquerade) sessions: the HA pair of 47-ha-failover
# with a NAT service, VIP 198.18.0.101:80 to the real servers' nginx with 'method = "nat"'.
# NAT real servers route their replies through the director: here their default route
# points at the LIP 198.19.0.200, an address that moves with the master (a gratuitous ARP
# on takeover), not at a director's own port address. Rate-limited downloads start through
# lb1; lb2 must hold their NAT sessions by sync (their local address shows 0.0.0.0:0); lb1's
# rvsd is killed with SIGKILL; 'rvsadm --takeover' on lb2; every download completes
# byte-identical through lb2 and the real servers keep seeing the client's own address.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ha-lib.sh
source "$(dirname "$0")/ha-lib.sh"

VIP_NAT=198.18.0.101
DOWNLOADS=4
RATE=4M # per download: 50 MB last >= 12.5 s

ha_up
nat_service() {
  cat >>"$1" <<EOF

[[service]]
protocol = "tcp"
address = "$VIP_NAT:80"
scheduler = "rr"
real = [
  { address = "198.19.0.11:80", method = "nat" },
  { address = "198.19.0.12:80", method = "nat" },
  { address = "198.19.0.13:80", method = "nat" },
]
EOF
}
ha_config 1 "$WORKERS" "$CFG_DIR/lb1.toml" master
ha_config 2 "$WORKERS" "$CFG_DIR/lb2.toml" backup
nat_service "$CFG_DIR/lb1.toml"
nat_service "$CFG_DIR/lb2.toml"
rvsd_start "$CFG_DIR/lb1.toml"
rvsd2_start "$CFG_DIR/lb2.toml"
for n in 1 2 3; do
  in_rs "$n" ip route replace default via 198.19.0.200 dev eth0 || die "cannot route rs$n via the LIP"
done
want=$(cat "$STATE/big.sha256")

wait_for 10 "lb2 sees lb1 in the sync group" bash -c "'$RVSADM' --socket '$CTRL_SOCK2' --sync | grep -qE '^1 +198.18.9.1:'" ||
  fail "lb2 does not list lb1 as a sync peer"
warm_up
assert_eq "curl through lb1 (NAT)" ok "$(in_client curl -s --max-time 5 -o /dev/null "http://$VIP_NAT/" && echo ok)"

pids=()
for i in $(seq "$DOWNLOADS"); do
  in_client curl -s --max-time 90 --limit-rate "$RATE" -o "$CFG_DIR/dl.$i" \
    -w '%{http_code} %{size_download} %{time_total}\n' "http://$VIP_NAT/big.bin" >"$CFG_DIR/dl.$i.status" 2>&1 &
  pids+=($!)
  bg_track "$!"
done
sleep 4

nat_before=$(rvsadm2 -Lnc | awk -v v="$VIP_NAT:80" 'NR > 2 && /ESTABLISHED/ && index($0, v) && /0\.0\.0\.0:0/' | wc -l)
say "NAT sessions lb2 had installed before the failover: $nat_before"
assert_ge "ESTABLISHED NAT sessions synced to lb2 before the failover" "$DOWNLOADS" "$nat_before"

# shellcheck disable=SC2016
bash -c 'while timeout 1 "$1" --socket "$2" --owned >/dev/null 2>&1; do sleep 0.1; done
  date +%s%3N >"$4"
  timeout 15 "$1" --socket "$3" --takeover >"$5" 2>&1' _ "$RVSADM" "$CTRL_SOCK" "$CTRL_SOCK2" \
  "$CFG_DIR/takeover.ms" "$CFG_DIR/takeover.out" &
WATCH=$!
bg_track "$WATCH"
t_kill=$(date +%s%3N)
say "kill -9 lb1's rvsd"
rvsd1_kill9
wait "$WATCH"
say "lb2 took over $(($(cat "$CFG_DIR/takeover.ms") - t_kill)) ms after the kill"
assert_contains "lb2 owns the NAT VIP" "$VIP_NAT" "$(grep owned "$CFG_DIR/takeover.out")"

failed=0
for i in $(seq "$DOWNLOADS"); do
  wait "${pids[$((i - 1))]}"
  got=$(sha256sum "$CFG_DIR/dl.$i" 2>/dev/null | awk '{print $1}')
  read -r code size secs <"$CFG_DIR/dl.$i.status"
  if [[ $got == "$want" && "$code $size" == "200 $((50 * 1024 * 1024))" ]]; then
    say "download $i: intact in $secs s (nominal: 12.5 s at --limit-rate 4M)"
    rm -f "$CFG_DIR/dl.$i"
  else
    failed=$((failed + 1))
    say "download $i: $(cat "$CFG_DIR/dl.$i.status") sha256 $got"
  fi
done
assert_eq "NAT downloads that did not complete byte-identical (of $DOWNLOADS)" 0 "$failed"

stats2=$(rvsadm2 -Ln --stats --exact)
out=$(awk -v s="$VIP_NAT:80" '$1 == "TCP" && $2 == s {print $7}' <<<"$stats2")
assert_ge "bytes lb2 forwarded to NAT clients after the takeover" $((DOWNLOADS * 10 * 1024 * 1024)) "${out:-0}"
assert_eq "curl through lb2 after the takeover (NAT)" ok \
  "$(in_client curl -s --max-time 5 -o /dev/null "http://$VIP_NAT/" && echo ok)"
peers=$(cat "$STATE"/rs[123]/access.log | awk '{print $1}' | sort -u | tr '\n' ' ')
assert_contains "the real servers saw the client's own address" "198.18.0.10" "$peers"
sync2=$(rvsadm2 --sync)
assert_not_contains "lb2 installed every synced record" "Not installed" "$sync2"
finish
