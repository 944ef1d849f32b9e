#!/usr/bin/env bash
# Ordinary traffic through a SYN-proxied service: curls, wrk and the 50 MB download work as
# without it, and the real server is only contacted once the client has completed its
# handshake with rvsd (the server-side SYN from a LIP follows the client's ACK).
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

# Connections whose timing is checked.
PINNED=3

lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
rvsd_start "$CFG_DIR/rvsd.toml"
warm_up

assert_ok "rvsadm -E -t $VIP:80 -s rr --synproxy" rvsadm -E -t "$VIP:80" -s rr --synproxy
assert_contains "rvsadm -Ln" "TCP  $VIP:80 rr synproxy" "$(rvsadm -Ln)"
before=$(rvsadm --workers 2>&1)

# 50 curls, one connection each: all answered, spread over the three servers.
out=$(http_get_many 50)
assert_eq "curls that failed (of 50)" 0 "$(count_of FAIL "$out")"
for n in 1 2 3; do
  assert_range "curls answered by rs$n" 10 24 "$(count_of "rs$n" "$out")"
done

# wrk: 50 connections for 5 s.
wrk_out=$CFG_DIR/wrk.out
in_client timeout 30 wrk -t2 -c50 -d5s "http://$VIP/" >"$wrk_out" 2>&1
indent <"$wrk_out"
reqs=$(awk '/requests in/ {print $1}' "$wrk_out")
assert_gt "wrk requests" 0 "${reqs:-0}"
assert_not_contains "wrk socket errors" "Socket errors" "$(cat "$wrk_out")"
assert_not_contains "wrk non-2xx answers" "Non-2xx" "$(cat "$wrk_out")"

# The 50 MB download, byte for byte.
sum=$(in_client timeout 60 curl -s --max-time 50 "http://$VIP/big.bin" | sha256sum | awk '{print $1}')
assert_eq "sha256 of /big.bin through the SYN proxy" "$(cat "$STATE/big.sha256")" "$sum"

# Timing: capture on the client's c0 and on every server's eth0 at once, then PINNED
# sequential connections (nothing else runs meanwhile). For connection k the k-th server-side
# connection (by its first SYN, in time, over all servers) must start after the client's
# handshake-completing ACK.
cap_start client "$RVS_LAB-client" c0 "tcp port 80"
for n in 1 2 3; do cap_start "rs$n" "$RVS_LAB-rs$n" eth0 "tcp port 80"; done
ports=()
for ((k = 0; k < PINNED; k++)); do
  r=$(in_client curl -s --max-time 5 -w ' %{local_port}' "http://$VIP/")
  say "pinned connection $k: $(tr '\n' ' ' <<<"$r")"
  [[ $r =~ ^rs[123][[:space:]]+([0-9]+)$ ]] || { fail "pinned curl $k failed: '$r'"; continue; }
  ports+=("${BASH_REMATCH[1]}")
  sleep 0.2
done
sleep 0.5
cap_stop client rs1 rs2 rs3

verdicts=$(PYTHONPATH="$ROOT/tests/lab" "$PY" - "$CFG_DIR" "$CLIENT_IP" "$VIP" "${LIPS[*]}" "${ports[@]}" <<'PYEOF'
import sys
import tcpcap
d, client, vip, lips = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
ports = [int(p) for p in sys.argv[5:]]
cs = tcpcap.read(d + "/client.pcap")
# Server-side connections: the first SYN of each LIP:port -> RS:80 flow (rvsd may resend its
# SYN when more client segments arrive before the server answered: reported, not judged).
first = {}
all_syns = []
for n in (1, 2, 3):
    for s in tcpcap.read("%s/rs%d.pcap" % (d, n)):
        if s.has(tcpcap.SYN) and not s.has(tcpcap.ACK) and s.dport == 80:
            all_syns.append((s.ts, n, s))
            if s.flow not in first:
                first[s.flow] = (s.ts, n, s)
rs_syns = sorted(first.values(), key=lambda x: x[0])
print("INFO server-side SYNs: %s" % ", ".join("rs%d %s:%d@%.6f" % (n, s.src, s.sport, t) for t, n, s in sorted(all_syns, key=lambda x: x[0])))
if len(rs_syns) != len(ports):
    print("BAD server-side connections: %d for %d client connections" % (len(rs_syns), len(ports)))
for k, port in enumerate(ports):
    flow = (client, port, vip, 80)
    mine = [s for s in cs if s.flow == flow]
    syn = next((s for s in mine if s.has(tcpcap.SYN)), None)
    synack = next((s for s in cs if s.flow == (vip, 80, client, port) and s.has(tcpcap.SYN) and s.has(tcpcap.ACK)), None)
    ack = next((s for s in mine if not s.has(tcpcap.SYN) and s.has(tcpcap.ACK) and synack and s.ts >= synack.ts), None)
    if syn is None or synack is None or ack is None:
        print("BAD conn %d (port %d): client capture lacks SYN/SYN-ACK/ACK (%s %s %s)" % (k, port, syn is not None, synack is not None, ack is not None))
        continue
    # The client completed its handshake with rvsd's cookie SYN/ACK; nothing of the server's
    # own handshake (its SYN/ACK, whatever rvsd sent it) may reach the client.
    synacks = [x for x in cs if x.flow == (vip, 80, client, port) and x.has(tcpcap.SYN)]
    if len({x.seq for x in synacks}) != 1:
        print("BAD conn %d (port %d): the client received %d SYN/ACKs with sequence numbers %s (only rvsd's cookie SYN/ACK expected)"
              % (k, port, len(synacks), sorted({x.seq for x in synacks})))
    if k >= len(rs_syns):
        print("BAD conn %d (port %d): no server-side SYN" % (k, port))
        continue
    t, n, s = rs_syns[k]
    what = "conn %d (client port %d): client SYN %.6f, SYN/ACK %.6f, ACK %.6f; rs%d SYN from %s:%d %.6f (%+.6f s after the ACK)" % (
        k, port, syn.ts, synack.ts, ack.ts, n, s.src, s.sport, t, t - ack.ts)
    if s.src not in lips:
        print("BAD %s: server-side SYN not from a LIP" % what)
    elif t > ack.ts:
        print("OK %s" % what)
    else:
        print("BAD %s: server-side SYN before the client's handshake-completing ACK" % what)
PYEOF
)
while read -r verdict rest; do
  case $verdict in
    INFO) say "$rest" ;;
    OK) pass "$rest" ;;
    *) fail "$rest" ;;
  esac
done <<<"$verdicts"
assert_eq "pinned connections whose server side started after the client's ACK" "$PINNED" "$(grep -c '^OK' <<<"$verdicts")"

after=$(rvsadm --workers 2>&1)
indent <<<"$after"
accepted=$(($(event_counter "$after" synproxy_ack_accepted) - $(event_counter "$before" synproxy_ack_accepted)))
# 50 curls + 50 wrk connections + the download + the pinned ones, at least.
assert_ge "synproxy_ack_accepted growth" $((50 + 50 + 1 + PINNED)) "$accepted"
assert_eq "synproxy_ack_invalid growth" 0 \
  $(($(event_counter "$after" synproxy_ack_invalid) - $(event_counter "$before" synproxy_ack_invalid)))

finish
