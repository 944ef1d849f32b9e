#!/usr/bin/env bash
# LVS/TUN: rvsd wraps the client's packets in IPIP (outer source 198.19.0.1, its address
# towards the servers) and the real servers answer the client directly through the
# gateway (methods-lib.sh). The lab's kernel has no ipip module, so each real server's
# tunl0 is tests/tools/ipip-decap.py (AF_PACKET in, TUN device with the VIP out); on real
# hosts the kernel's tunl0 does this.
#  * two clients answered by all three servers, the access logs show their addresses;
#  * a 50 MB download is intact, rvsd transmitting only the client's packets;
#  * a 20 MB upload (full-size segments that no longer fit once wrapped) completes byte for
#    byte: rvsd answers ICMP fragmentation needed (MTU 1480), the client's PMTU discovery
#    adapts, no black hole.
#  * the same servers over GUE (`--tun-type gue --tun-port 6080`; the decapsulator takes GUE
#    too, as this kernel has no fou): a capture on rs1's wire holds only well-formed GUE
#    (outer from rvsd, UDP to 6080 without checksum, the client's own packet inside); curls
#    answered; a 20 MB upload adapts to MTU 1472.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ctrl-lib.sh
source "$(dirname "$0")/ctrl-lib.sh"
# shellcheck source=tests/lab/methods-lib.sh
source "$(dirname "$0")/methods-lib.sh"

SVC="TCP  $VIP:80"
ctrl_rvsd_start
gw_up
for n in 1 2 3; do rs_tun "$n"; done
pass "real servers: VIP on tunl0 (ipip-decap), default via the gateway"
assert_ok "rvsadm -A -t $VIP:80 -s rr" rvsadm -A -t "$VIP:80" -s rr
for ip in "${RS_IPS[@]}"; do
  assert_ok "rvsadm -a -t $VIP:80 -r $ip:80 -i" rvsadm -a -t "$VIP:80" -r "$ip:80" -i
done
assert_eq "Tunnel rows in -Ln" 3 "$(rvsadm -Ln | grep -c ' Tunnel ')"
for c in 198.18.0.10 198.18.0.11; do
  out=$(curl_from "$c" 9)
  assert_eq "failed requests from $c" 0 "$(count_of FAIL "$out")"
  assert_eq "servers answering $c" "rs1 rs2 rs3" "$(sort -u <<<"$out" | paste -sd' ' -)"
done
for n in 1 2 3; do
  assert_eq "rs$n access log: the clients' own addresses" "198.18.0.10 198.18.0.11" "$(access_clients "$n")"
done

read -r rx0 tx0 < <(rvsd_rx_tx)
read -r in0 out0 < <(svc_in_out "$SVC")
sha=$(download_sha 198.18.0.10)
assert_eq "download sha256" "$(cat "$STATE/big.sha256")" "$sha"
read -r rx1 tx1 < <(rvsd_rx_tx)
read -r in1 out1 < <(svc_in_out "$SVC")
din=$((in1 - in0))
say "during the download: rvsd rx $((rx1 - rx0)) tx $((tx1 - tx0)) packets, service in $din"
assert_eq "service OutPkts (replies never reach rvsd)" "$out0" "$out1"
assert_range "rvsd tx packets vs the client's inbound packets" "$din" "$((din + 20))" "$((tx1 - tx0))"

say "20 MB upload: full-size segments meet the tunnel's MTU"
head -c $((20 * 1024 * 1024)) /dev/urandom >"$CFG_DIR/up.bin"
want=$(sha256sum <"$CFG_DIR/up.bin" | awk '{print $1}')
assert_ok "PUT through the VIP" in_client curl -sf --max-time 120 --interface 198.18.0.10 -T "$CFG_DIR/up.bin" "http://$VIP/up/tun.bin"
got=$(cat "$STATE"/rs*/up/tun.bin 2>/dev/null | sha256sum | awk '{print $1}')
assert_eq "uploaded file on the real server" "$want" "$got"
w=$(rvsadm --workers)
assert_gt "ICMP fragmentation needed sent (tun_frag_needed)" 0 "$(event_counter "$w" tun_frag_needed)"
assert_eq "too-big drops (tun_too_big), each answered (all had DF)" \
  "$(event_counter "$w" tun_frag_needed)" "$(drop_counter "$w" tun_too_big)"
route=$(in_client ip route get "$VIP" from 198.18.0.10)
assert_contains "client's route cache learned the tunnel's MTU" "mtu 1480" "$route"

say "GUE (--tun-type gue --tun-port $GUE_PORT): frames checked on rs1's wire, then traffic"
for ip in "${RS_IPS[@]}"; do
  assert_ok "rvsadm -e -r $ip:80 -i --tun-type gue" \
    rvsadm -e -t "$VIP:80" -r "$ip:80" -i --tun-type gue --tun-port "$GUE_PORT"
done
assert_contains "-S: the tunnel type" "-r 198.19.0.11:80 -i -w 1 --tun-type gue --tun-port $GUE_PORT" "$(rvsadm -S)"
cap_start gue "$RVS_LAB-rs1" eth0 "udp dst port $GUE_PORT"
out=$(curl_from 198.18.0.12 9)
cap_stop gue
assert_eq "failed requests over GUE" 0 "$(count_of FAIL "$out")"
assert_eq "servers answering over GUE" "rs1 rs2 rs3" "$(sort -u <<<"$out" | paste -sd' ' -)"
frames=$("$PY" - "$CFG_DIR/gue.pcap" "$VIP" "$GUE_PORT" <<'PY'
import sys
from scapy.all import IP, TCP, UDP, rdpcap
vip, port = sys.argv[2], int(sys.argv[3])
good = bad = 0
for p in rdpcap(sys.argv[1]):
    o = p[IP]
    inner = IP(bytes(o[UDP].payload))
    ok = (o.src == "198.19.0.1" and o.dst == "198.19.0.11" and o[UDP].dport == port
          and o[UDP].sport >= 49152 and o[UDP].chksum == 0 and o[UDP].len == 8 + inner.len
          and inner.src == "198.18.0.12" and inner.dst == vip and TCP in inner and inner[TCP].dport == 80)
    good, bad = good + ok, bad + (not ok)
print(good, bad)
PY
)
say "GUE frames on rs1's eth0 (good, bad): $frames"
read -r good bad <<<"$frames"
assert_gt "GUE frames: outer 198.19.0.1 -> rs1, UDP to $GUE_PORT, no checksum, the client's packet inside" 0 "$good"
assert_eq "GUE frames that are not" 0 "$bad"
say "20 MB upload over GUE: 28 bytes of room taken"
assert_ok "PUT through the VIP (GUE)" in_client curl -sf --max-time 120 --interface 198.18.0.13 -T "$CFG_DIR/up.bin" "http://$VIP/up/gue.bin"
got=$(cat "$STATE"/rs*/up/gue.bin 2>/dev/null | sha256sum | awk '{print $1}')
assert_eq "uploaded file on the real server (GUE)" "$want" "$got"
assert_contains "client's route cache learned GUE's MTU" "mtu 1472" "$(in_client ip route get "$VIP" from 198.18.0.13)"
finish
