#!/usr/bin/env bash
# LVS/DR as operators run it, moved over to rvsd unchanged (see methods-lib.sh for the
# topology: the real servers answer the client through a gateway, not through rvsd).
#  * Real servers set up as the LVS/DR real-server scripts do: the VIP on lo, arp_ignore=1,
#    arp_announce=2.
#  * A keepalived.conf as operators write it (wrr, lb_kind DR, persistence_timeout 50,
#    three real_servers weight 3 with TCP_CHECK) under rvs-ctrl: `-Ln` shows Route; each of
#    two clients sticks to one server, twelve client addresses reach all three; the access
#    logs show the clients' own addresses; a 50 MB download is intact while rvsd transmits
#    no more packets than it receives from the client (the replies bypass it: service
#    OutPkts 0).
#  * rvs-ctrl's JSON API adds servers with the service's method (DR) or their own (tun):
#    `-Ln`, the API's GET and /metrics show each one's.
#  * The ipvsadm lines `-A -t VIP:80 -s rr` / `-a -t VIP:80 -r RIP:80 -g` through rvsadm: two
#    clients answered by all three servers, `-Lnc` shows their sessions; then rvsadm as
#    `ipvsadm` (--install-alias): `-S -n` as ipvsadm 1.31 prints it, `-L` with service
#    names, and `-C` + `-R` restoring the same table.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ctrl-lib.sh
source "$(dirname "$0")/ctrl-lib.sh"
# shellcheck source=tests/lab/methods-lib.sh
source "$(dirname "$0")/methods-lib.sh"

SVC="TCP  $VIP:80"
C1=198.18.0.10
C2=198.18.0.11

ctrl_rvsd_start
gw_up
for n in 1 2 3; do rs_dr "$n"; done
pass "real servers: VIP on lo, arp_ignore=1, arp_announce=2, default via the gateway"

{
  kconf_header
  cat <<EOF
virtual_server $VIP 80 {
    delay_loop 6
    lb_algo wrr
    lb_kind DR
    persistence_timeout 50
    protocol TCP
EOF
  for ip in "${RS_IPS[@]}"; do
    cat <<EOF
    real_server $ip 80 {
        weight 3
        TCP_CHECK {
            connect_timeout 10
            nb_get_retry 3
            delay_before_retry 3
            connect_port 80
        }
    }
EOF
  done
  echo "}"
} >"$KCONF"
ctrl_start
assert_reals 15 "$SVC" "198.19.0.11:80 3,198.19.0.12:80 3,198.19.0.13:80 3" "keepalived.conf's real servers in rvsd"
listing=$(rvsadm -Ln)
assert_contains "-Ln" "$SVC wrr persistent 50" "$listing"
assert_eq "Route rows in -Ln" 3 "$(grep -c ' Route ' <<<"$listing")"

say "two clients, 20 requests each (persistence 50)"
for c in $C1 $C2; do
  out=$(curl_from "$c" 20)
  assert_eq "failed requests from $c" 0 "$(count_of FAIL "$out")"
  assert_eq "servers answering $c (persistent)" 1 "$(sort -u <<<"$out" | wc -l)"
done
say "twelve client addresses, 3 requests each"
seen=
for i in $(seq 10 21); do seen+=$(curl_from "198.18.0.$i" 3)$'\n'; done
assert_eq "servers answering twelve clients" "rs1 rs2 rs3" "$(grep -v '^$' <<<"$seen" | sort -u | paste -sd' ' -)"
all=$(for n in 1 2 3; do access_clients "$n"; done | tr ' ' '\n' | sort -u | paste -sd' ' -)
assert_contains "access logs: client addresses" "$C1" "$all"
assert_contains "access logs: client addresses" "$C2" "$all"
assert_not_contains "access logs: no address of rvsd's" "198.19.0.2" "$all"

say "50 MB download from $C1"
read -r rx0 tx0 < <(rvsd_rx_tx)
read -r in0 out0 < <(svc_in_out "$SVC")
sha=$(download_sha "$C1")
assert_eq "download sha256" "$(cat "$STATE/big.sha256")" "$sha"
read -r rx1 tx1 < <(rvsd_rx_tx)
read -r in1 out1 < <(svc_in_out "$SVC")
din=$((in1 - in0))
say "during the download: rvsd rx $((rx1 - rx0)) tx $((tx1 - tx0)) packets, service in $din out $((out1 - out0))"
assert_eq "service OutPkts (replies never reach rvsd)" "$out0" "$out1"
assert_range "rvsd tx packets vs the client's inbound packets" "$din" "$((din + 20))" "$((tx1 - tx0))"
assert_range "rvsd rx packets (client side only; 50 MB would be > 34000 frames)" 1 "$((din + 200))" "$((rx1 - rx0))"

say "JSON API: a server added without a method takes lb_kind DR, one with \"tun\" tunnels"
api POST "/api/v1/services/tcp/$VIP:80/reals" '{"address":"198.19.0.13:8080","weight":1}' >/dev/null
assert_eq "POST without a method" 201 "$API_CODE"
api POST "/api/v1/services/tcp/$VIP:80/reals" '{"address":"198.19.0.12:8080","weight":1,"method":"tun"}' >/dev/null
assert_eq "POST with method tun" 201 "$API_CODE"
api POST "/api/v1/services/tcp/$VIP:80/reals" '{"address":"198.19.0.12:8081","method":"gre"}' >/dev/null
assert_eq "POST with an unknown method" 400 "$API_CODE"
assert_reals 15 "$SVC" "198.19.0.11:80 3,198.19.0.12:80 3,198.19.0.12:8080 1,198.19.0.13:80 3,198.19.0.13:8080 1" \
  "API-added servers in rvsd"
listing=$(rvsadm -Ln)
assert_contains "-Ln: the added server forwarded by DR" "  -> 198.19.0.13:8080             Route   1 " "$listing"
assert_contains "-Ln: the added server tunnelled" "  -> 198.19.0.12:8080             Tunnel  1 " "$listing"
methods=$(api GET "/api/v1/services/tcp/$VIP:80" | "$PY" -c '
import json, sys
v = json.load(sys.stdin)
print(" ".join("%s=%s/%s" % (r["address"], r["method"], (r.get("rvsd") or {}).get("method")) for r in v["reals"]))')
assert_eq "GET: each server's method (configured/in rvsd)" \
  "198.19.0.11:80=dr/dr 198.19.0.12:80=dr/dr 198.19.0.13:80=dr/dr 198.19.0.12:8080=tun/tun 198.19.0.13:8080=dr/dr" "$methods"
assert_contains "/metrics: rvs_rs_info with the method" 'rip="198.19.0.12",rport="8080",method="tun"} 1' \
  "$(in_ctrl curl -s --max-time 10 "http://$CTRL_LISTEN/metrics")"

say "ipvsadm lines through rvsadm (rvs-ctrl stopped: the table is the operator's)"
ctrl_stop
assert_ok "rvsadm -C" rvsadm -C
assert_ok "rvsadm -A -t $VIP:80 -s rr" rvsadm -A -t "$VIP:80" -s rr
for ip in "${RS_IPS[@]}"; do
  assert_ok "rvsadm -a -t $VIP:80 -r $ip:80 -g" rvsadm -a -t "$VIP:80" -r "$ip:80" -g
done
listing=$(rvsadm -Ln)
assert_contains "-Ln" "  -> 198.19.0.12:80               Route   1      0          0" "$listing"
for c in $C1 $C2; do
  out=$(curl_from "$c" 9)
  assert_eq "failed requests from $c" 0 "$(count_of FAIL "$out")"
  assert_eq "servers answering $c (rr)" "rs1 rs2 rs3" "$(sort -u <<<"$out" | paste -sd' ' -)"
done
conns=$(rvsadm -Lnc)
assert_contains "-Lnc: sessions of $C2 to the VIP" "$C2:" "$conns"
assert_contains "-Lnc: DR sessions have no local address" "0.0.0.0:0" "$conns"
assert_contains "-Lnc: input-only state after the client's FIN" "FIN_WAIT" "$conns"
stats=$(rvsadm -Ln --stats --exact)
assert_eq "OutPkts of the service" 0 "$(awk -v s="$SVC" '$1 "  " $2 == s {print $5}' <<<"$stats")"

say "the same table through rvsadm installed as ipvsadm: -S -n, -L -n, -L (names), -R"
alias_dir=$STATE/alias-bin
mkdir -p "$alias_dir"
assert_ok "rvsadm --install-alias" rvsadm --install-alias "$alias_dir"
ipvsadm_() { timeout 15 "$alias_dir/ipvsadm" "$@"; }
saved=$(ipvsadm_ -S -n)
assert_eq "ipvsadm -S -n (ipvsadm 1.31's FMT_RULE)" "-A -t $VIP:80 -s rr
-a -t $VIP:80 -r 198.19.0.11:80 -g -w 1
-a -t $VIP:80 -r 198.19.0.12:80 -g -w 1
-a -t $VIP:80 -r 198.19.0.13:80 -g -w 1" "$saved"
assert_contains "ipvsadm -L -n" "TCP  $VIP:80 rr" "$(ipvsadm_ -L -n)"
assert_contains "ipvsadm -L: the port's /etc/services name" "TCP  $VIP:http rr" "$(ipvsadm_ -L)"
assert_ok "ipvsadm -C" ipvsadm_ -C
ipvsadm_ -R <<<"$saved" || fail "ipvsadm -R refused its own -S"
assert_eq "ipvsadm -S -n after -C and -R" "$saved" "$(ipvsadm_ -S -n)"
finish
