#!/usr/bin/env bash
# Static neighbours ([[neighbour]] in rvsd.toml, `ip neigh ... nud permanent`): rs1 and rs2
# answer no ARP request (nftables drops their ARP replies); rs1 is a configured neighbour,
# rs2 is not.
#   * a service on rs1 answers every request, and rvsd never asks ARP for rs1 (capture on
#     rs1's link), while a service on rs2 gets no answer (the control: without the
#     configured neighbour the same blocked ARP loses the traffic);
#   * an ARP reply from rs3 claiming rs1's address (forged: a stolen next hop) does not
#     move it: rs1 still answers every request;
#   * rvsd --check refuses a bad [[neighbour]] line, naming FILE:LINE;
#   * at run time (`rvsadm --neigh`, as `ip neigh`): the tables list rs1 PERMANENT and the
#     client learned; rs2 added there serves its service at once; bad additions are
#     refused with rvsd's reason and change nothing; rs1 deleted is asked for again by ARP
#     and its service stops, and answers again once rs1 is added back; a flush takes the
#     learned entries and keeps the pinned ones, `nud permanent` takes those.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

RS1_MAC=02:72:76:00:02:11
RS2_MAC=02:72:76:00:02:12
RS3_MAC=02:72:76:00:02:13

lab_up
# rs1 and rs2 ask ARP (they must reach the LIPs) but never answer it.
for i in 1 2; do
  ns=$RVS_LAB-rs$i
  ip netns exec "$ns" nft -f - <<'EOF' || die "nft in rs$i"
table arp no_replies {
  chain out {
    type filter hook output priority 0;
    arp operation reply drop
  }
}
EOF
done

make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
cat >>"$CFG_DIR/rvsd.toml" <<EOF

[[neighbour]]
address = "${RS_IPS[0]}"
mac = "$RS1_MAC"
EOF

# A bad neighbour line is refused with its place; the good file passes.
cp "$CFG_DIR/rvsd.toml" "$CFG_DIR/bad.toml"
printf '\n[[neighbour]]\naddress = "%s"\nmac = "02:72:76:00:02"\n' "${RS_IPS[1]}" >>"$CFG_DIR/bad.toml"
bad_line=$(grep -n '^mac = "02:72:76:00:02"$' "$CFG_DIR/bad.toml" | cut -d: -f1)
out=$("$RVSD" --check --config "$CFG_DIR/bad.toml" 2>&1)
assert_eq "rvsd --check exit status, bad MAC" 2 "$?"
assert_contains "rvsd --check names the line" "bad.toml:$bad_line: bad MAC \`02:72:76:00:02\`" "$out"
assert_ok "rvsd --check, good file" "$RVSD" --check --config "$CFG_DIR/rvsd.toml"

cap_start rs1 "$RVS_LAB-rs1" eth0 "arp"
rvsd_start "$CFG_DIR/rvsd.toml"
assert_contains "rvsd log: the static neighbour" "static neighbour address=${RS_IPS[0]} mac=$RS1_MAC" "$(cat "$RVSD_LOG")"

# VIP:80 on rs1 alone; VIP:8080 on rs2 alone.
assert_ok "rvsadm -d rs2" rvsadm -d -t "$VIP:80" -r "${RS_IPS[1]}:80"
assert_ok "rvsadm -d rs3" rvsadm -d -t "$VIP:80" -r "${RS_IPS[2]}:80"
assert_ok "rvsadm -A VIP:8080" rvsadm -A -t "$VIP:8080" -s rr
assert_ok "rvsadm -a rs2:80" rvsadm -a -t "$VIP:8080" -r "${RS_IPS[1]}:80" -b
assert_ok "rvsadm -P VIP:8080 LIP" rvsadm -P -t "$VIP:8080" -z "${LIPS[0]}"

out=$(http_get_many 20)
assert_eq "requests answered by rs1 (a configured neighbour that answers no ARP), of 20" 20 "$(count_of rs1 "$out")"
out=$(http_get_many 2 "http://$VIP:8080/")
assert_eq "requests answered through rs2 (not configured, answers no ARP), of 2" 0 "$(count_of rs2 "$out")"
wk=$(rvsadm --workers)
indent <<<"$wk"
assert_ge "neigh_timeout or neigh_queue_full drops for rs2" 1 \
  "$(($(drop_counter "$wk" neigh_timeout) + $(drop_counter "$wk" neigh_queue_full)))"

# rs3 claims rs1's address: a gratuitous ARP reply, broadcast, and one to rvsd's port.
in_rs 3 "$PY" - "${RS_IPS[0]}" "$RS3_MAC" <<'EOF' || fail "the forged ARP replies were not sent"
import sys
from scapy.all import ARP, Ether, sendp
ip, mac = sys.argv[1], sys.argv[2]
for dst, tip in (("ff:ff:ff:ff:ff:ff", ip), ("02:72:76:00:01:02", "198.19.0.1")):
    sendp(Ether(src=mac, dst=dst) / ARP(op=2, hwsrc=mac, psrc=ip, hwdst=dst, pdst=tip),
          iface="eth0", count=3, verbose=False)
EOF
sleep 0.5
out=$(http_get_many 20)
assert_eq "requests answered by rs1 after rs3 claimed its address, of 20" 20 "$(count_of rs1 "$out")"

cap_stop rs1
asked=$(tcpdump -r "$CFG_DIR/rs1.pcap" -n 2>/dev/null | grep -c "Request who-has ${RS_IPS[0]} tell")
assert_eq "ARP requests for rs1 from rvsd seen on rs1's link" 0 "$asked"

# The tables at run time, as `ip neigh` prints the kernel's: one line a neighbour that
# every worker holds alike.
neigh=$(rvsadm --neigh)
indent <<<"$neigh"
assert_contains "rvsadm --neigh: rs1, configured" "${RS_IPS[0]} dev server lladdr $RS1_MAC PERMANENT" "$neigh"
assert_contains "rvsadm --neigh: the client, learned" "$CLIENT_IP dev client lladdr" "$neigh"

# rs2 pinned at run time: its service answers at once.
out=$(rvsadm --neigh add "${RS_IPS[1]}" lladdr "$RS2_MAC" 2>&1)
assert_eq "rvsadm --neigh add rs2 exit status" 0 "$?"
assert_eq "rvsadm --neigh add rs2 prints its entry" "${RS_IPS[1]} dev server lladdr $RS2_MAC PERMANENT" "$out"
out=$(http_get_many 20 "http://$VIP:8080/")
assert_eq "requests answered through rs2 after rvsadm --neigh add, of 20" 20 "$(count_of rs2 "$out")"

# Refused with rvsd's reason (exit 1), nothing changed, and the next request is served.
for bad in "add 198.19.0.1 lladdr $RS2_MAC|an address of rvsd's own interfaces" \
  "add ${RS_IPS[2]} lladdr 02:72:76:00:02|bad MAC" \
  "add ${RS_IPS[2]} lladdr 01:00:5e:00:00:01|multicast or broadcast" \
  "add 203.0.113.9 lladdr $RS2_MAC|in no interface's connected subnet" \
  "add ${RS_IPS[2]} lladdr $RS2_MAC dev server.7|no interface named \`server.7\`" \
  "del 198.19.0.99|no neighbour 198.19.0.99"; do
  words=${bad%%|*} want=${bad#*|}
  # shellcheck disable=SC2086 # the words are the command's
  out=$(rvsadm --neigh $words 2>&1)
  assert_eq "rvsadm --neigh $words: exit status" 1 "$?"
  assert_contains "rvsadm --neigh $words: the reason" "$want" "$out"
done
assert_eq "permanent entries after the refused changes (rs1, rs2)" 2 "$(rvsadm --neigh | grep -c PERMANENT)"
assert_eq "permanent entries for rs3" 0 "$(rvsadm --neigh | grep -c "^${RS_IPS[2]} .*PERMANENT")"

# rs1 deleted: rvsd asks ARP for it again, which rs1 does not answer, so its service
# stops; added back, it answers again.
cap_start rs1 "$RVS_LAB-rs1" eth0 "arp"
assert_ok "rvsadm --neigh del rs1" rvsadm --neigh del "${RS_IPS[0]}" dev server
assert_not_contains "rvsadm --neigh: rs1 gone" "${RS_IPS[0]} dev server lladdr $RS1_MAC" "$(rvsadm --neigh)"
out=$(http_get_many 2)
assert_eq "requests answered by rs1 after it was deleted, of 2" 0 "$(count_of rs1 "$out")"
cap_stop rs1
asked=$(tcpdump -r "$CFG_DIR/rs1.pcap" -n 2>/dev/null | grep -c "Request who-has ${RS_IPS[0]} tell")
assert_ge "ARP requests for rs1 after it was deleted" 1 "$asked"
assert_ok "rvsadm --neigh replace rs1" rvsadm --neigh replace "${RS_IPS[0]}" lladdr "$RS1_MAC" nud permanent
out=$(http_get_many 20)
assert_eq "requests answered by rs1 once added back, of 20" 20 "$(count_of rs1 "$out")"

# A flush, as `ip neigh flush`: the learned entries go (the client's, asked for again by
# the next reply), the pinned ones stay; `nud permanent` takes those, and rs1's service
# stops again. A flush prints nothing.
out=$(rvsadm --neigh flush 2>&1)
assert_eq "rvsadm --neigh flush: exit status" 0 "$?"
assert_eq "rvsadm --neigh flush prints nothing" "" "$out"
neigh=$(rvsadm --neigh)
indent <<<"$neigh"
assert_not_contains "rvsadm --neigh after a flush: the client's learned entry gone" \
  "$CLIENT_IP dev client lladdr" "$neigh"
assert_eq "permanent entries after a flush (rs1, rs2)" 2 "$(grep -c PERMANENT <<<"$neigh")"
out=$(http_get_many 20)
assert_eq "requests answered by rs1 after a flush, of 20" 20 "$(count_of rs1 "$out")"
assert_contains "the client asked for again and learned" "$CLIENT_IP dev client lladdr" "$(rvsadm --neigh)"
out=$(rvsadm --neigh flush dev server.7 2>&1)
assert_eq "rvsadm --neigh flush dev server.7: exit status" 1 "$?"
assert_contains "rvsadm --neigh flush dev server.7: the reason" "no interface named \`server.7\`" "$out"
assert_ok "rvsadm --neigh flush dev server nud permanent" rvsadm --neigh flush dev server nud permanent
assert_eq "permanent entries after flushing them" 0 "$(rvsadm --neigh | grep -c PERMANENT)"
out=$(http_get_many 2)
assert_eq "requests answered by rs1 after its pinned entry was flushed, of 2" 0 "$(count_of rs1 "$out")"
finish
