#!/usr/bin/env bash
# Session expiry: with 'rvsadm --set 10 3 3', sessions appear after traffic and are all gone
# within 30 s; an idle established TCP connection outlives 5 s but not the 10 s tcp timeout.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
rvsd_start "$CFG_DIR/rvsd.toml"

# Set the short timeouts first: sessions created before keep the old (long) ones.
assert_ok "rvsadm --set 10 3 3" rvsadm --set 10 3 3
warm_up

# --- traffic, then the table fills, then it drains
out=$(http_get_many 20)
assert_eq "failed requests" 0 "$(count_of FAIL "$out")"
# One datagram from each of 20 source ports: 20 UDP sessions, queried right away (< 3 s).
res=$(udp_burst --dst "$VIP" --port 53 --count 20 --sports 20 --window 20 --timeout 3)
assert_eq "UDP datagrams echoed" 20 "$(json_field "$res" received)"
conns=$(conn_lines)
total=$(grep -c . <<<"$conns")
udp=$(grep -ciE '^udp ' <<<"$conns")
say "right after traffic: $total connection entries ($udp UDP)"
head -n 5 <<<"$conns" | sed 's/^/    | /'
assert_gt "connection entries right after traffic" 0 "$total"
assert_ge "UDP entries right after 20 datagrams from 20 ports" 10 "$udp"

# shellcheck disable=SC2317 # called through wait_for
empty() { [[ -z $(conn_lines) ]]; }
t0=$SECONDS
if wait_for 30 "rvsadm -Lnc to list no connection" empty; then
  pass "connection table empty after $((SECONDS - t0)) s"
else
  fail "connection table not empty after 30 s:"
  conn_lines | head -n 10 | sed 's/^/    | /'
fi

# --- an idle established TCP connection: listed at 5 s, gone by ~12 s (tcp timeout 10 s)
hold_out=$CFG_DIR/hold.out
# shellcheck disable=SC2016
in_client "$PY" -c '
import socket, sys, time
s = socket.create_connection(("198.18.0.100", 80), timeout=5)
print(s.getsockname()[1], flush=True)
time.sleep(40)
' >"$hold_out" 2>&1 &
HOLD_PID=$!
bg_track "$HOLD_PID"
# shellcheck disable=SC2317 # called through wait_for
port_known() { [[ -s $hold_out ]] && grep -qE '^[0-9]+$' "$hold_out"; }
if ! wait_for 10 "idle connection to open" port_known; then
  sed 's/^/    | /' "$hold_out"
  die "could not open an idle TCP connection through the VIP"
fi
t_open=$SECONDS
port=$(head -n1 "$hold_out")
say "idle connection from $CLIENT_IP:$port"
# shellcheck disable=SC2317 # called through wait_for
listed() { conn_lines | grep -qE "(^|[[:space:]])$CLIENT_IP:$port([[:space:]]|$)"; }

sleep 5
if listed; then
  pass "idle connection listed after 5 s"
else
  fail "idle connection $CLIENT_IP:$port not listed after 5 s:"
  conn_lines | head -n 10 | sed 's/^/    | /'
fi
# shellcheck disable=SC2317 # called through wait_for
gone() { ! listed; }
# Expected to vanish at 10 s after its last packet; poll until 20 s after opening, and insist
# it was still there at 5 s (checked above) and gone by then.
if wait_for $((20 - (SECONDS - t_open))) "idle connection to expire" gone; then
  age=$((SECONDS - t_open))
  pass "idle connection gone after ~${age} s"
  assert_range "idle connection lifetime (s)" 8 16 "$age"
else
  fail "idle connection still listed $((SECONDS - t_open)) s after it went idle (tcp timeout 10 s)"
fi
kill "$HOLD_PID" 2>/dev/null
wait "$HOLD_PID" 2>/dev/null

finish
