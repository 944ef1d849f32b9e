#!/usr/bin/env bash
# Failover of two directors with IPv6 sessions (issues 13 and 19): the HA pair of
# 47-ha-failover (lb1 MASTER, lb2 BACKUP, session sync over their sync link) with an IPv6
# VIP next to the IPv4 one: [2001:db8:1::100]:80 is IPv6 FULLNAT to the real servers' IPv6
# addresses (LIPs 2001:db8:2::200-201), [2001:db8:1::100]:8080 is NAT64 to their IPv4 nginx.
# Rate-limited downloads run through lb1: curl -6 over FULLNAT v6, curl -6 over NAT64 and
# plain IPv4 ones. lb2, a backup, answers no Neighbor Solicitation for the IPv6 VIP, so the
# client resolves it to lb1. lb2's rvsd restarts meanwhile and gets lb1's table by a bulk
# sync; lb2's synced IPv6 sessions are counted; lb1's rvsd is killed
# with SIGKILL; a watcher runs 'rvsadm --takeover' on lb2, which sends gratuitous ARPs and
# unsolicited Neighbor Advertisements; the client's neighbour entry for the IPv6 VIP moves
# to lb2, and every download completes byte-identical through lb2.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ha-lib.sh
source "$(dirname "$0")/ha-lib.sh"

export RVS_LAB_IPV6=1
VIP6=2001:db8:1::100
V6_DOWNLOADS=4
NAT64_DOWNLOADS=2
V4_DOWNLOADS=2
RATE=3M # per download: 50 MB last >= 16.7 s (lb2 restarts meanwhile)
LB1_MAC=02:72:76:00:01:01
LB2_MAC=02:72:76:00:03:01

ha_up
ha_ipv6_client

# v6_services N FILE: director N's IPv6 port addresses and the IPv6 services.
v6_services() {
  local n=$1 f=$2
  ha_ipv6_ports "$n" "$f"
  cat >>"$f" <<EOF

[[service]]
protocol = "tcp"
address = "[$VIP6]:80"
scheduler = "rr"
local_addresses = ["2001:db8:2::200", "2001:db8:2::201"]
real = [ { address = "[2001:db8:2::11]:80" }, { address = "[2001:db8:2::12]:80" }, { address = "[2001:db8:2::13]:80" } ]

[[service]]
protocol = "tcp"
address = "[$VIP6]:8080"
scheduler = "rr"
local_addresses = ["198.19.0.200", "198.19.0.201"]
real = [ { address = "198.19.0.11:80" }, { address = "198.19.0.12:80" }, { address = "198.19.0.13:80" } ]
EOF
}

ha_config 1 "$WORKERS" "$CFG_DIR/lb1.toml" master
ha_config 2 "$WORKERS" "$CFG_DIR/lb2.toml" backup
v6_services 1 "$CFG_DIR/lb1.toml"
v6_services 2 "$CFG_DIR/lb2.toml"
rvsd_start "$CFG_DIR/lb1.toml"
rvsd2_start "$CFG_DIR/lb2.toml"
want=$(cat "$STATE/big.sha256")

ha_wait_sync_peer
warm_up
wait_for 10 "ping -6 $VIP6" in_client ping -6 -n -c 1 -W 1 "$VIP6" >/dev/null 2>&1 || true
assert_not_contains "lb2, a backup, owns no IPv6 address" "2001:db8" "$(rvsadm2 --owned | grep ' owned')"
assert_contains "the client resolves the IPv6 VIP to lb1 (lb2, a backup, does not answer)" \
  "lladdr $LB1_MAC" "$(in_client ip -6 neigh show "$VIP6")"
assert_eq "curl -6 through lb1 (FULLNAT v6)" ok \
  "$(in_client curl -6 -s --max-time 5 -o /dev/null "http://[$VIP6]/" && echo ok)"
assert_eq "curl -6 through lb1 (NAT64)" ok \
  "$(in_client curl -6 -s --max-time 5 -o /dev/null "http://[$VIP6]:8080/" && echo ok)"

# The downloads: name, URL.
dls=()
for i in $(seq "$V6_DOWNLOADS"); do dls+=("v6-$i http://[$VIP6]/big.bin"); done
for i in $(seq "$NAT64_DOWNLOADS"); do dls+=("nat64-$i http://[$VIP6]:8080/big.bin"); done
for i in $(seq "$V4_DOWNLOADS"); do dls+=("v4-$i http://$VIP/big.bin"); done
ha_start_downloads "$RATE"
sleep 1

# lb2 restarts while the downloads run: it gets lb1's table, IPv6 sessions included, by a
# bulk sync when it rejoins (counted apart from the incremental records that follow).
# What lb1 would send apart from the IPv6 sessions: its IPv4 ones (warm-up, downloads).
v4_lb1=$(rvsadm1 -Lnc | awk 'NR > 2 && NF > 0 && !/SYN_RECV/ && !/\[/' | wc -l)
say "lb2's rvsd restarts: bulk sync from lb1 (which holds $v4_lb1 IPv4 sessions)"
rvsd2_stop
rvsd2_start "$CFG_DIR/lb2.toml"
startup=
for _ in $(seq 40); do
  startup=$(rvsadm2 --sync | grep '^start-up sync:')
  [[ $startup == *"complete from member 1"* ]] && break
  sleep 0.25
done
say "lb2: $startup"
bulk=$(sed -n 's/.*complete from member 1 (\([0-9]*\) records.*/\1/p' <<<"$startup")
assert_ge "sessions lb2 received in its start-up bulk sync (lb1's IPv4 ones + the IPv6 downloads)" \
  $((v4_lb1 + V6_DOWNLOADS + NAT64_DOWNLOADS)) "${bulk:-0}"
sleep 1

lb2_conns=$(rvsadm2 -Lnc | awk 'NR > 2 && /ESTABLISHED/')
v6_before=$(grep -cF "[2001:db8:1::10]:" <<<"$lb2_conns")
nat64_before=$(grep -F "[2001:db8:1::10]:" <<<"$lb2_conns" | grep -cF "[$VIP6]:8080")
say "IPv6 sessions lb2 had installed before the failover: $v6_before ($nat64_before of them NAT64)"
assert_ge "ESTABLISHED IPv6 sessions synced to lb2 before the failover" $((V6_DOWNLOADS + NAT64_DOWNLOADS)) "$v6_before"
assert_ge "ESTABLISHED NAT64 sessions synced to lb2 before the failover" "$NAT64_DOWNLOADS" "$nat64_before"
sync2=$(rvsadm2 --sync)
say "lb2's sync state before the failover:"
indent <<<"$sync2"

ha_watch_takeover

t_kill=$(date +%s%3N)
say "kill -9 lb1's rvsd"
rvsd1_kill9
# What lb2 must carry: what the clients had still to receive when lb1 died. Frames lb1 had
# already handed to the kernel (its af_packet TX ring holds up to 4096) can still reach them
# after the kill, so count 200 ms later: what arrives after that came through lb2. (lb2 may
# have started meanwhile, which only lowers what it is asked to have carried.)
at_kill=$(($(recv_from "[$VIP6]:80") + $(recv_from "[$VIP6]:8080")))
sleep 0.2
left6=$((V6_DOWNLOADS * 50 * 1024 * 1024 - $(recv_from "[$VIP6]:80")))
left64=$((NAT64_DOWNLOADS * 50 * 1024 * 1024 - $(recv_from "[$VIP6]:8080")))
held6=$(held_by_clients "[$VIP6]:80") held64=$(held_by_clients "[$VIP6]:8080")
say "left to download when lb1 died (200 ms after the kill): $left6 bytes over IPv6 FULLNAT, $left64 over NAT64"
say "of which the clients may hold out of order (rcv_ooopack x rcvmss): $held6 and $held64 bytes"
say "IPv6 bytes the clients received in the 200 ms after the kill: $((V6_DOWNLOADS * 50 * 1024 * 1024 + NAT64_DOWNLOADS * 50 * 1024 * 1024 - left6 - left64 - at_kill))"
wait "$WATCH"
say "lb2 took over $(($(cat "$CFG_DIR/takeover.ms") - t_kill)) ms after the kill"
assert_contains "lb2 owns the IPv4 VIP" "198.18.0.100" "$(grep owned "$CFG_DIR/takeover.out")"
assert_contains "lb2 owns the IPv6 VIP" "$VIP6" "$(grep owned "$CFG_DIR/takeover.out")"
assert_contains "lb2 owns the IPv6 LIP" "2001:db8:2::200" "$(grep owned "$CFG_DIR/takeover.out")"
if wait_for 10 "the client's neighbour entry for $VIP6 moves to lb2" \
  bash -c "ip netns exec '$RVS_LAB-client' ip -6 neigh show '$VIP6' | grep -q 'lladdr $LB2_MAC'"; then
  pass "the client's neighbour entry for $VIP6 moved to lb2 (unsolicited advertisement)"
else
  fail "the client still resolves $VIP6 to $(in_client ip -6 neigh show "$VIP6")"
fi

ha_check_downloads "16.7 s at --limit-rate 3M"
failed=$DL_FAILED
assert_eq "downloads that did not complete byte-identical (of ${#dls[@]}: $V6_DOWNLOADS IPv6, $NAT64_DOWNLOADS NAT64, $V4_DOWNLOADS IPv4)" 0 "$failed"

# What lb2 forwarded of the IPv6 services after the takeover (server -> client bytes).
stats2=$(rvsadm2 -Ln --stats --exact)
indent <<<"$stats2"
out6=$(awk -v s="[$VIP6]:80" '$1 == "TCP" && $2 == s {print $7}' <<<"$stats2")
out64=$(awk -v s="[$VIP6]:8080" '$1 == "TCP" && $2 == s {print $7}' <<<"$stats2")
ha_assert_carried "bytes lb2 forwarded to IPv6 FULLNAT clients" "$left6" "$held6" "$out6"
ha_assert_carried "bytes lb2 forwarded to NAT64 clients" "$left64" "$held64" "$out64"

# lb2 now serves new IPv6 connections itself, both kinds.
assert_eq "curl -6 through lb2 after the takeover (FULLNAT v6)" ok \
  "$(in_client curl -6 -s --max-time 5 -o /dev/null "http://[$VIP6]/" && echo ok)"
assert_eq "curl -6 through lb2 after the takeover (NAT64)" ok \
  "$(in_client curl -6 -s --max-time 5 -o /dev/null "http://[$VIP6]:8080/" && echo ok)"
sync2=$(rvsadm2 --sync)
assert_eq "lb2 refused no sync message" 0 "$(awk '/^Refused/ {t = 1; next} /^Not installed/ {t = 0} t {s += $2} END {print s + 0}' <<<"$sync2")"
assert_not_contains "lb2 installed every synced record" "Not installed" "$sync2"
finish
