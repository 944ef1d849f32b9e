#!/usr/bin/env bash
# PROXY protocol for a server-speaks-first service: a banner server on every real server
# (tests/lab/banner_server.py, port 2525) that requires the PROXY header before it sends
# "220 rsN ready" (as SMTP, FTP, IMAP servers behind a PROXY listener do), and a client that
# sends nothing before the banner (tests/lab/banner_client.py).
#
#   VIP:2525 proxy_protocol v1, proxy_protocol_send on-connect (from rvsd's TOML)
#   VIP:2526 v2 on-connect, VIP:2527 v1 on-connect + SYN proxy, VIP:2528 v2 on-connect +
#   SYN proxy (rvsadm --proxy-protocol-send on-connect)
#   VIP:2529 v1 without on-connect: the control, the header waits for client data that
#   never comes, so no banner (what every such service did before)
#
# For each on-connect service: every client gets the banner, and each connection's client
# address and port (from the header) is in the server's log with a LIP as the TCP peer.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

PORT=2525
PER_CLIENT=8
CLIENTS=(198.18.0.10 198.18.0.11)

lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
cat >>"$CFG_DIR/rvsd.toml" <<EOF

[[service]]
protocol = "tcp"
address = "$VIP:2525"
scheduler = "rr"
local_addresses = ["${LIPS[0]}"]
proxy_protocol = "v1"
proxy_protocol_send = "on-connect"
real = [
  { address = "${RS_IPS[0]}:$PORT" },
  { address = "${RS_IPS[1]}:$PORT" },
  { address = "${RS_IPS[2]}:$PORT" },
]
EOF
for n in 1 2 3; do
  in_rs "$n" setsid "$PY" "$ROOT/tests/lab/banner_server.py" "$PORT" "rs$n" "$STATE/rs$n/banner.log" \
    </dev/null >"$STATE/rs$n/banner.out" 2>&1 &
  bg_track $!
done
for n in 1 2 3; do
  wait_for 10 "banner server rs$n" grep -q listening "$STATE/rs$n/banner.out" || die "banner server rs$n did not start"
done
rvsd_start "$CFG_DIR/rvsd.toml"
warm_up

# add_service PORT OPTIONS...: rr over the three banner servers, LIP 198.19.0.201.
add_service() {
  local vport=$1 ip
  shift
  assert_ok "rvsadm -A -t $VIP:$vport -s rr $*" rvsadm -A -t "$VIP:$vport" -s rr "$@"
  for ip in "${RS_IPS[@]}"; do
    assert_ok "rvsadm -a -t $VIP:$vport -r $ip:$PORT" rvsadm -a -t "$VIP:$vport" -r "$ip:$PORT" -b -w 1
  done
  assert_ok "rvsadm -P -t $VIP:$vport -z ${LIPS[1]}" rvsadm -P -t "$VIP:$vport" -z "${LIPS[1]}"
}
add_service 2526 --proxy-protocol v2 --proxy-protocol-send on-connect
add_service 2527 --proxy-protocol v1 --proxy-protocol-send on-connect --synproxy
add_service 2528 --proxy-protocol v2 --proxy-protocol-send on-connect --synproxy
add_service 2529 --proxy-protocol v1
listing=$(rvsadm -Ln)
indent <<<"$listing"
assert_contains "rvsadm -Ln (TOML service)" "TCP  $VIP:2525 rr proxy-protocol v1 on-connect" "$listing"
assert_contains "rvsadm -Ln" "TCP  $VIP:2528 rr synproxy proxy-protocol v2 on-connect" "$listing"
assert_contains "rvsadm -S" "-A -t $VIP:2527 -s rr --synproxy --proxy-protocol v1 --proxy-protocol-send on-connect" \
  "$(rvsadm -S)"

# banner_round LABEL VPORT VERSION: the clients' connections, then their banners and the
# servers' logs (new lines since the marks).
banner_round() {
  local label=$1 vport=$2 ver=$3 n src
  for n in 1 2 3; do wc -l <"$STATE/rs$n/banner.log" >"$CFG_DIR/mark.$n"; done
  : >"$CFG_DIR/$label.conns"
  for src in "${CLIENTS[@]}"; do
    in_client timeout 60 "$PY" "$ROOT/tests/lab/banner_client.py" "$src" "$VIP" "$vport" "$PER_CLIENT" \
      >>"$CFG_DIR/$label.conns"
  done
  sleep 0.3
  : >"$CFG_DIR/$label.log"
  for n in 1 2 3; do
    tail -n +"$(($(cat "$CFG_DIR/mark.$n") + 1))" "$STATE/rs$n/banner.log" >>"$CFG_DIR/$label.log"
  done
  local verdicts
  verdicts=$("$PY" - "$CFG_DIR/$label.conns" "$CFG_DIR/$label.log" "${LIPS[*]}" "$ver" <<'PYEOF'
import re, sys
conns_f, log_f, lips, ver = sys.argv[1], sys.argv[2], set(sys.argv[3].split()), sys.argv[4]
conns = [l.split() for l in open(conns_f) if l.strip()]
bad = [c for c in conns if not re.fullmatch(r"220_rs[123]_ready", c[2])]
print(("OK" if conns and not bad else "BAD") + " clients that got the banner first: %d of %d%s"
      % (len(conns) - len(bad), len(conns), (" (e.g. %s)" % " ".join(bad[0])) if bad else ""))
logged = {}
noheader = []
for line in open(log_f):
    f = line.split()
    if f[0] == "NOHEADER":
        noheader.append(line.strip())
        continue
    logged[(f[0], int(f[1]))] = (f[2], f[4])
want = {(c[0], int(c[1])) for c in conns if c[1] != "0"}
missing = sorted(want - set(logged))
print(("OK" if not missing else "BAD") + " connections whose real address:port the server logged from the header: %d of %d%s"
      % (len(want) - len(missing), len(want), (" (missing e.g. %s)" % (missing[:2],)) if missing else ""))
peers = [k for k, (peer, v) in logged.items() if k in want and (peer not in lips or v != ver)]
print(("OK" if not peers else "BAD") + " of those, TCP peer a LIP and header %s: %d wrong%s"
      % (ver, len(peers), (" e.g. %s" % (logged[peers[0]],)) if peers else ""))
print(("OK" if not noheader else "BAD") + " connections without a header at the server: %d%s"
      % (len(noheader), (" e.g. %r" % noheader[0]) if noheader else ""))
PYEOF
  )
  while read -r verdict rest; do
    case $verdict in
      OK) pass "$label: $rest" ;;
      *) fail "$label: $rest" ;;
    esac
  done <<<"$verdicts"
}

say "on-connect services: $PER_CLIENT connections from each of ${CLIENTS[*]}"
banner_round v1-toml 2525 v1
banner_round v2 2526 v2
before=$(rvsadm --workers 2>&1)
banner_round v1-synproxy 2527 v1
banner_round v2-synproxy 2528 v2
after=$(rvsadm --workers 2>&1)
assert_ge "synproxy_ack_accepted growth behind the SYN proxy" $((4 * PER_CLIENT)) \
  $(($(event_counter "$after" synproxy_ack_accepted) - $(event_counter "$before" synproxy_ack_accepted)))
assert_ge "proxy_header_alone total" $((8 * PER_CLIENT)) "$(event_counter "$after" proxy_header_alone)"

# The control: without on-connect the header waits for the client's first byte, which a
# banner client never sends first: no banner (the server drops it after its 5 s wait).
say "without on-connect (control): 2 connections, 2 s each"
r=$(in_client timeout 20 "$PY" "$ROOT/tests/lab/banner_client.py" 198.18.0.10 "$VIP" 2529 2 2)
indent <<<"$r"
assert_eq "banners received without on-connect" 0 "$(grep -c ' 220_' <<<"$r")"

finish
