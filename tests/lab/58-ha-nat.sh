#!/usr/bin/env bash
# Failover of two directors with NAT (masquerade) sessions, IPv4 and IPv6: the HA pair of
# 47-ha-failover (RVS_LAB_IPV6=1) with NAT services, VIP 198.18.0.101:80 and
# [2001:db8:1::101]:80, to the real servers' nginx with 'method = "nat"'. NAT real servers
# route their replies through the director: here their default routes point at the LIPs
# 198.19.0.200 and 2001:db8:2::200, addresses that move with the master (a gratuitous ARP,
# an unsolicited Neighbor Advertisement on takeover), not at a director's own port
# address. Rate-limited downloads over both families start through lb1; lb2 must hold
# their NAT sessions by sync (no local address: 0.0.0.0:0 / [::]:0); lb1's rvsd is killed
# with SIGKILL; 'rvsadm --takeover' on lb2; every download completes byte-identical
# through lb2 and the real servers keep seeing the client's own addresses.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ha-lib.sh
source "$(dirname "$0")/ha-lib.sh"

export RVS_LAB_IPV6=1
VIP_NAT=198.18.0.101
VIP_NAT6=2001:db8:1::101
DOWNLOADS=4
DOWNLOADS6=2
RATE=4M # per download: 50 MB last >= 12.5 s

ha_up
ha_ipv6_client
# nat_service N FILE: director N's IPv6 port addresses and the NAT services (the IPv6
# FULLNAT one is there for its LIP, the real servers' IPv6 gateway).
nat_service() {
  ha_ipv6_ports "$1" "$2"
  method_service "$2" "$VIP_NAT:80" nat 198.19.0.
  method_service "$2" "[$VIP_NAT6]:80" nat "[2001:db8:2::"
  cat >>"$2" <<EOF

[[service]]
protocol = "tcp"
address = "[2001:db8:1::100]:80"
scheduler = "rr"
local_addresses = ["2001:db8:2::200"]
real = [ { address = "[2001:db8:2::11]:80" } ]
EOF
}
ha_config 1 "$WORKERS" "$CFG_DIR/lb1.toml" master
ha_config 2 "$WORKERS" "$CFG_DIR/lb2.toml" backup
nat_service 1 "$CFG_DIR/lb1.toml"
nat_service 2 "$CFG_DIR/lb2.toml"
rvsd_start "$CFG_DIR/lb1.toml"
rvsd2_start "$CFG_DIR/lb2.toml"
for n in 1 2 3; do
  in_rs "$n" ip route replace default via 198.19.0.200 dev eth0 || die "cannot route rs$n via the LIP"
  in_rs "$n" ip -6 route replace default via 2001:db8:2::200 dev eth0 || die "cannot route rs$n via the IPv6 LIP"
done
want=$(cat "$STATE/big.sha256")

ha_wait_sync_peer
warm_up
assert_eq "curl through lb1 (NAT)" ok "$(in_client curl -s --max-time 5 -o /dev/null "http://$VIP_NAT/" && echo ok)"
assert_eq "curl -6 through lb1 (NAT)" ok \
  "$(in_client curl -6 -s --max-time 5 -o /dev/null "http://[$VIP_NAT6]/" && echo ok)"

dls=()
for i in $(seq "$DOWNLOADS"); do dls+=("v4-$i http://$VIP_NAT/big.bin"); done
for i in $(seq "$DOWNLOADS6"); do dls+=("v6-$i http://[$VIP_NAT6]/big.bin"); done
ha_start_downloads "$RATE"
sleep 4

lnc2=$(rvsadm2 -Lnc | awk 'NR > 2 && /ESTABLISHED/')
nat_before=$(awk -v v="$VIP_NAT:80" 'index($0, v) && /0\.0\.0\.0:0/' <<<"$lnc2" | wc -l)
nat6_before=$(awk -v v="[$VIP_NAT6]:80" 'index($0, v) && index($0, "[::]:0")' <<<"$lnc2" | wc -l)
say "NAT sessions lb2 had installed before the failover: $nat_before IPv4, $nat6_before IPv6"
assert_ge "ESTABLISHED IPv4 NAT sessions synced to lb2 before the failover" "$DOWNLOADS" "$nat_before"
assert_ge "ESTABLISHED IPv6 NAT sessions synced to lb2 before the failover" "$DOWNLOADS6" "$nat6_before"

ha_watch_takeover
t_kill=$(date +%s%3N)
say "kill -9 lb1's rvsd"
rvsd1_kill9
# What lb2 must carry: what the clients had still to receive when lb1 died. Frames lb1 had
# already handed to the kernel (its af_packet TX ring holds up to 4096) can still reach them
# after the kill, so count 200 ms later: what arrives after that came through lb2. (lb2 may
# have started meanwhile, which only lowers what it is asked to have carried.)
sleep 0.2
left4=$((DOWNLOADS * 50 * 1024 * 1024 - $(recv_from "$VIP_NAT")))
left6=$((DOWNLOADS6 * 50 * 1024 * 1024 - $(recv_from "[$VIP_NAT6]")))
held4=$(held_by_clients "$VIP_NAT") held6=$(held_by_clients "[$VIP_NAT6]")
say "left to download when lb1 died (200 ms after the kill): $left4 bytes over IPv4, $left6 over IPv6"
say "of which the clients may hold out of order (rcv_ooopack x rcvmss): $held4 and $held6 bytes"
wait "$WATCH"
say "lb2 took over $(($(cat "$CFG_DIR/takeover.ms") - t_kill)) ms after the kill"
assert_contains "lb2 owns the NAT VIP" "$VIP_NAT" "$(grep owned "$CFG_DIR/takeover.out")"

ha_check_downloads "12.5 s at --limit-rate 4M"
failed=$DL_FAILED
assert_eq "NAT downloads that did not complete byte-identical (of ${#dls[@]}: $DOWNLOADS IPv4, $DOWNLOADS6 IPv6)" 0 "$failed"

stats2=$(rvsadm2 -Ln --stats --exact)
out=$(awk -v s="$VIP_NAT:80" '$1 == "TCP" && $2 == s {print $7}' <<<"$stats2")
ha_assert_carried "bytes lb2 forwarded to NAT clients after the takeover" "$left4" "$held4" "$out"
out6=$(awk -v s="[$VIP_NAT6]:80" '$1 == "TCP" && $2 == s {print $7}' <<<"$stats2")
ha_assert_carried "bytes lb2 forwarded to IPv6 NAT clients after the takeover" "$left6" "$held6" "$out6"
assert_eq "curl through lb2 after the takeover (NAT)" ok \
  "$(in_client curl -s --max-time 5 -o /dev/null "http://$VIP_NAT/" && echo ok)"
peers=$(cat "$STATE"/rs[123]/access.log | awk '{print $1}' | sort -u | tr '\n' ' ')
assert_contains "the real servers saw the client's own address" "198.18.0.10" "$peers"
assert_contains "the real servers saw the client's own IPv6 address" "2001:db8:1::10" "$peers"
assert_eq "curl -6 through lb2 after the takeover (NAT)" ok \
  "$(in_client curl -6 -s --max-time 5 -o /dev/null "http://[$VIP_NAT6]/" && echo ok)"
sync2=$(rvsadm2 --sync)
assert_not_contains "lb2 installed every synced record" "Not installed" "$sync2"
finish
