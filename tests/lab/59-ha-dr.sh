#!/usr/bin/env bash
# Failover of two directors with DR and TUN sessions: the HA pair of 47-ha-failover with an
# LVS/DR service (VIP 198.18.0.102:80) and an LVS/TUN one (198.18.0.103:80) over the same
# three real servers, set up as the LVS real-server scripts do (methods-lib.sh): the DR
# VIP on lo with arp_ignore=1 / arp_announce=2, the TUN VIP on tunl0 (ipip-decap.py, this
# kernel has no ipip module), and their replies to the client through the gateway, never
# through a director. Rate-limited downloads over both start through lb1; lb2 must hold
# their sessions by sync (no local address: 0.0.0.0:0) on the worker of each client
# endpoint; lb1's rvsd is killed with SIGKILL; 'rvsadm --takeover' on lb2; every download
# completes byte-identical through lb2 (which sees only the client's ACKs: the data never
# passes a director), lb2 dropping none of them for want of a session. The same for an
# IPv6 DR service ([2001:db8:1::102]:80, RVS_LAB_IPV6=1: the VIP on the real servers' lo,
# their IPv6 default route via the gateway's 2001:db8:2::254, the client's second leg
# 2001:db8:3::10). IPv6 TUN is not in this lab (64-ipv6-methods covers its forwarding).
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ha-lib.sh
source "$(dirname "$0")/ha-lib.sh"
# shellcheck source=tests/lab/methods-lib.sh
source "$(dirname "$0")/methods-lib.sh"

VIP_DR=198.18.0.102
VIP_TUN=198.18.0.103
VIP_DR6=2001:db8:1::102
GW6=2001:db8:2::254
DOWNLOADS_DR=3
DOWNLOADS_TUN=2
DOWNLOADS_DR6=2
export RVS_LAB_IPV6=1
RATE=4M # per download: 50 MB last >= 12.5 s

ha_up
ha_ipv6_client
gw_up
gw6_up "$GW6"
for n in 1 2 3; do
  VIP=$VIP_DR rs_dr "$n"
  VIP=$VIP_TUN rs_tun "$n"
  in_rs "$n" ip -6 addr add "$VIP_DR6/128" dev lo
  in_rs "$n" ip -6 route replace default via "$GW6" dev eth0
done
pass "real servers: $VIP_DR and $VIP_DR6 on lo, $VIP_TUN on tunl0 (ipip-decap), default via the gateway"

# direct_services N FILE: director N's IPv6 port addresses and the DR and TUN services.
direct_services() {
  ha_ipv6_ports "$1" "$2"
  method_service "$2" "$VIP_DR:80" dr 198.19.0.
  method_service "$2" "$VIP_TUN:80" tun 198.19.0.
  method_service "$2" "[$VIP_DR6]:80" dr "[2001:db8:2::"
}
ha_config 1 "$WORKERS" "$CFG_DIR/lb1.toml" master
ha_config 2 "$WORKERS" "$CFG_DIR/lb2.toml" backup
direct_services 1 "$CFG_DIR/lb1.toml"
direct_services 2 "$CFG_DIR/lb2.toml"
rvsd_start "$CFG_DIR/lb1.toml"
rvsd2_start "$CFG_DIR/lb2.toml"
want=$(cat "$STATE/big.sha256")

ha_wait_sync_peer
for vip in $VIP_DR $VIP_TUN; do
  in_client ping -n -c 1 -W 2 "$vip" >/dev/null 2>&1
  out=$(curl_from 198.18.0.10 6 "http://$vip/")
  assert_eq "requests through lb1 to $vip answered" 0 "$(count_of FAIL "$out")"
done
assert_eq "curl -6 through lb1 to [$VIP_DR6]" ok \
  "$(in_client curl -6 -s --max-time 5 -o /dev/null "http://[$VIP_DR6]/" && echo ok)"

dls=()
for i in $(seq "$DOWNLOADS_DR"); do dls+=("dr-$i http://$VIP_DR/big.bin"); done
for i in $(seq "$DOWNLOADS_TUN"); do dls+=("tun-$i http://$VIP_TUN/big.bin"); done
for i in $(seq "$DOWNLOADS_DR6"); do dls+=("dr6-$i http://[$VIP_DR6]/big.bin"); done
ha_start_downloads "$RATE"
sleep 4

lnc2=$(rvsadm2 -Lnc | awk 'NR > 2 && /ESTABLISHED/')
dr_before=$(awk -v v="$VIP_DR:80" 'index($0, v) && /0\.0\.0\.0:0/' <<<"$lnc2" | wc -l)
tun_before=$(awk -v v="$VIP_TUN:80" 'index($0, v) && /0\.0\.0\.0:0/' <<<"$lnc2" | wc -l)
dr6_before=$(awk -v v="[$VIP_DR6]:80" 'index($0, v) && index($0, "[::]:0")' <<<"$lnc2" | wc -l)
say "sessions lb2 had installed by sync before the failover: $dr_before DR, $tun_before TUN, $dr6_before IPv6 DR"
assert_ge "ESTABLISHED DR sessions synced to lb2 before the failover" "$DOWNLOADS_DR" "$dr_before"
assert_ge "ESTABLISHED TUN sessions synced to lb2 before the failover" "$DOWNLOADS_TUN" "$tun_before"
assert_ge "ESTABLISHED IPv6 DR sessions synced to lb2 before the failover" "$DOWNLOADS_DR6" "$dr6_before"
nosess0=$(drop_counter "$(rvsadm2 --workers)" no_session)

ha_watch_takeover
t_kill=$(date +%s%3N)
say "kill -9 lb1's rvsd"
rvsd1_kill9
left_dr=$((DOWNLOADS_DR * 50 * 1024 * 1024 - $(recv_from "$VIP_DR")))
left_tun=$((DOWNLOADS_TUN * 50 * 1024 * 1024 - $(recv_from "$VIP_TUN")))
left_dr6=$((DOWNLOADS_DR6 * 50 * 1024 * 1024 - $(recv_from "[$VIP_DR6]")))
say "left to download when lb1 died: $left_dr bytes over DR, $left_tun over TUN, $left_dr6 over IPv6 DR"
wait "$WATCH"
say "lb2 took over $(($(cat "$CFG_DIR/takeover.ms") - t_kill)) ms after the kill"
owned=$(grep owned "$CFG_DIR/takeover.out")
assert_contains "lb2 owns the DR VIP" "$VIP_DR" "$owned"
assert_contains "lb2 owns the TUN VIP" "$VIP_TUN" "$owned"
assert_contains "lb2 owns the IPv6 DR VIP" "$VIP_DR6" "$owned"

ha_check_downloads "12.5 s at --limit-rate 4M"
assert_eq "downloads that did not complete byte-identical (of ${#dls[@]}: $DOWNLOADS_DR DR, $DOWNLOADS_TUN TUN, $DOWNLOADS_DR6 IPv6 DR)" \
  0 "$DL_FAILED"

w2=$(rvsadm2 --workers)
assert_eq "client segments lb2 dropped for want of a session" "$nosess0" "$(drop_counter "$w2" no_session)"
stats2=$(rvsadm2 -Ln --stats --exact)
for s in "$VIP_DR:80 $left_dr $DOWNLOADS_DR" "$VIP_TUN:80 $left_tun $DOWNLOADS_TUN" \
  "[$VIP_DR6]:80 $left_dr6 $DOWNLOADS_DR6"; do
  read -r svc left n <<<"$s"
  read -r conns inpkts outpkts < <(awk -v s="$svc" '$1 == "TCP" && $2 == s {print $3, $4, $5; exit}' <<<"$stats2")
  say "lb2 $svc after the takeover: $conns connections scheduled, $inpkts client packets in, $outpkts out ($left bytes were left)"
  # The synced sessions carried the downloads: none was scheduled afresh on lb2, and their
  # ACKs (one per few dozen KB here: the client's window updates) went through it.
  assert_eq "connections lb2 scheduled for $svc (the synced sessions carried them)" 0 "${conns:-x}"
  assert_ge "client packets lb2 forwarded to $svc after the takeover (ACKs of $n downloads)" "$((n * 10))" "${inpkts:-0}"
  assert_eq "packets lb2 sent towards the client for $svc (replies bypass it)" 0 "${outpkts:-x}"
done
for vip in $VIP_DR $VIP_TUN; do
  out=$(curl_from 198.18.0.11 3 "http://$vip/")
  assert_eq "new requests through lb2 to $vip" 0 "$(count_of FAIL "$out")"
done
peers=$(cat "$STATE"/rs[123]/access.log | awk '{print $1}' | sort -u | tr '\n' ' ')
assert_contains "the real servers saw the client's own address" "198.18.0.10" "$peers"
assert_contains "the real servers saw the client's own IPv6 address" "2001:db8:1::10" "$peers"
assert_eq "curl -6 through lb2 to [$VIP_DR6] after the takeover" ok \
  "$(in_client curl -6 -s --max-time 5 -o /dev/null "http://[$VIP_DR6]/" && echo ok)"
sync2=$(rvsadm2 --sync)
assert_not_contains "lb2 installed every synced record" "Not installed" "$sync2"
finish
