#!/usr/bin/env bash
# TOA: with --toa, the first segment after the handshake of every server-side connection (the
# ACK or the first data, from a LIP) carries TCP option 254, length 8: the client's port and
# IPv4 address. Captured on the real servers and decoded from the raw bytes (tcpcap.py).
# Then the same with the SYN proxy on: there the first server-side segment after rvsd's
# handshake with the server must carry it.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
rvsd_start "$CFG_DIR/rvsd.toml"
warm_up

# toa_round LABEL COUNT_10 COUNT_11: captures on the servers, COUNT_10 connections from
# 198.18.0.10 and COUNT_11 from 198.18.0.11 (source ports from curl -w), then checks.
toa_round() {
  local label=$1 n10=$2 n11=$3 n
  for n in 1 2 3; do cap_start "$label-rs$n" "$RVS_LAB-rs$n" eth0 "tcp port 80"; done
  : >"$CFG_DIR/$label.conns"
  local src count
  for src in 198.18.0.10 198.18.0.11; do
    count=$n10
    [[ $src == 198.18.0.11 ]] && count=$n11
    # shellcheck disable=SC2016
    in_client bash -c 'for ((i = 0; i < $1; i++)); do
        r=$(curl -s --max-time 5 --interface "$2" -w " %{local_port}" "$3")
        if [[ $r =~ ^(rs[0-9])[[:space:]]+([0-9]+)$ ]]; then
          printf "%s %s %s\n" "$2" "${BASH_REMATCH[2]}" "${BASH_REMATCH[1]}"
        else
          printf "%s 0 FAIL\n" "$2"
        fi
      done' _ "$count" "$src" "http://$VIP/" >>"$CFG_DIR/$label.conns"
  done
  sleep 0.5
  cap_stop "$label-rs1" "$label-rs2" "$label-rs3"
  local total
  total=$(wc -l <"$CFG_DIR/$label.conns")
  assert_eq "$label: connections made" $((n10 + n11)) "$total"
  assert_eq "$label: failed curls (of $total)" 0 "$(grep -c ' FAIL$' "$CFG_DIR/$label.conns")"
  local verdicts
  verdicts=$(PYTHONPATH="$ROOT/tests/lab" "$PY" - "$CFG_DIR/$label.conns" "$CFG_DIR/$label" "${LIPS[*]}" <<'PYEOF'
import collections, sys
import tcpcap
conns_f, prefix, lips = sys.argv[1], sys.argv[2], set(sys.argv[3].split())
conns = [l.split() for l in open(conns_f) if l.strip()]
want = collections.Counter((a, int(p)) for a, p, body in conns if body != "FAIL")
got = collections.Counter()
problems = []
server_conns = 0
repeated = 0
for n in (1, 2, 3):
    segs = tcpcap.read("%s-rs%d.pcap" % (prefix, n))
    for flow, first in tcpcap.first_segments(segs, dport=80).items():
        server_conns += 1
        where = "rs%d %s:%d" % (n, flow[0], flow[1])
        if flow[0] not in lips:
            problems.append("%s: not from a LIP" % where)
        if first is None:
            problems.append("%s: no segment after the SYN" % where)
            continue
        try:
            t = tcpcap.toa(first)
        except ValueError as e:
            problems.append("%s: %s" % (where, e))
            continue
        if t is None:
            problems.append("%s: first segment after the handshake (%s, %d bytes, options %s) has no TOA"
                            % (where, first.flag_str(), first.payload_len, [k for k, _ in first.options]))
            continue
        got[t] += 1
    # Later segments carrying it too (LVS and DPVS put it in the first only): reported, not judged.
    for flow, ss in tcpcap.connections(segs, dport=80).items():
        later = [s for s in ss if s.flow == flow and not s.has(tcpcap.SYN)][1:]
        repeated += sum(1 for s in later if any(k == tcpcap.TOA_KIND for k, _ in s.options))
missing = sorted(set(want) - set(got))
extra = sorted(set(got) - set(want))
print(("OK" if server_conns == sum(want.values()) else "BAD")
      + " server-side connections captured: %d for %d client connections" % (server_conns, sum(want.values())))
print(("OK" if not problems else "BAD") + " first segments after the handshake carrying a TOA option: %d of %d%s"
      % (server_conns - len(problems), server_conns, (": " + "; ".join(problems[:3])) if problems else ""))
print(("OK" if not missing else "BAD") + " client connections whose address:port a TOA carried: %d of %d%s"
      % (len(want) - len(missing), len(want), (" (missing e.g. %s)" % missing[:3]) if missing else ""))
print("INFO later client-to-server segments also carrying TOA: %d" % repeated)
print(("OK" if not extra else "BAD") + " TOA values naming no client connection: %d%s"
      % (len(extra), (" e.g. %s" % extra[:3]) if extra else ""))
PYEOF
  )
  while read -r verdict rest; do
    case $verdict in
      OK) pass "$label: $rest" ;;
      INFO) say "$label: $rest" ;;
      *) fail "$label: $rest" ;;
    esac
  done <<<"$verdicts"
}

assert_ok "rvsadm -E -t $VIP:80 -s rr --toa" rvsadm -E -t "$VIP:80" -s rr --toa
assert_contains "rvsadm -Ln" "TCP  $VIP:80 rr toa" "$(rvsadm -Ln)"
before=$(rvsadm --workers 2>&1)
toa_round toa 20 5
mid=$(rvsadm --workers 2>&1)
assert_ge "toa_inserted growth" 25 $(($(event_counter "$mid" toa_inserted) - $(event_counter "$before" toa_inserted)))
assert_eq "toa_no_room growth" 0 $(($(event_counter "$mid" toa_no_room) - $(event_counter "$before" toa_no_room)))

assert_ok "rvsadm -E -t $VIP:80 -s rr --synproxy --toa" rvsadm -E -t "$VIP:80" -s rr --synproxy --toa
assert_contains "rvsadm -Ln" "TCP  $VIP:80 rr synproxy toa" "$(rvsadm -Ln)"
toa_round toa-synproxy 10 5
after=$(rvsadm --workers 2>&1)
indent <<<"$after"
assert_ge "toa_inserted growth with synproxy" 15 $(($(event_counter "$after" toa_inserted) - $(event_counter "$mid" toa_inserted)))
assert_ge "synproxy_ack_accepted growth" 15 \
  $(($(event_counter "$after" synproxy_ack_accepted) - $(event_counter "$mid" synproxy_ack_accepted)))

# Still plain HTTP for the servers (they ignore the unknown option), bulk too.
out=$(http_get_many 6)
assert_eq "curls after the TOA rounds that failed" 0 "$(count_of FAIL "$out")"
sum=$(in_client timeout 70 curl -s --max-time 60 "http://$VIP/big.bin" | sha256sum | awk '{print $1}')
assert_eq "sha256 of the 50 MB /big.bin with synproxy + toa" "$(cat "$STATE/big.sha256")" "$sum"

finish
