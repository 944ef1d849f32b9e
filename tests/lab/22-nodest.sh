#!/usr/bin/env bash
# expire_nodest_conn: with it on, removing a real server ends its sessions at their next
# packet: the client's next request on an open connection is answered with a RST at once
# (not a hang), the real server's side is reset too, and new connections go elsewhere.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
sed -i 's/^\[dataplane\]$/[dataplane]\nexpire_nodest_conn = true/' "$CFG_DIR/rvsd.toml"
grep -q '^expire_nodest_conn = true' "$CFG_DIR/rvsd.toml" || die "could not enable expire_nodest_conn"
rvsd_start "$CFG_DIR/rvsd.toml"
warm_up

out=$CFG_DIR/client.out
# Keep-alive connections: one request each now, another after the server is removed. Twelve,
# so that with per-worker rr over three servers some surely land on rs2.
in_client "$PY" -c '
import socket, sys, time
conns = []
for i in range(12):
    s = socket.create_connection(("'"$VIP"'", 80), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: vip\r\n\r\n")
    body = s.recv(4096).split(b"\r\n\r\n", 1)[-1].strip().decode()
    conns.append((s, body))
print("first", " ".join(b for _, b in conns), flush=True)
time.sleep(3)  # the test removes rs2 meanwhile
for s, body in conns:
    t0 = time.time()
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: vip\r\n\r\n")
        data = s.recv(4096)
        result = "answered" if data else "closed"
    except ConnectionResetError:
        result = "reset"
    except socket.timeout:
        result = "timeout"
    print(body, result, round(time.time() - t0, 2), flush=True)
' >"$out" 2>&1 &
CPID=$!
bg_track "$CPID"
sleep 1.5
assert_ok "rvsadm -d -t $VIP:80 -r 198.19.0.12:80" rvsadm -d -t "$VIP:80" -r 198.19.0.12:80
wait "$CPID"
sed 's/^/    | /' "$out"
on_rs2=$(grep -c '^rs2 ' "$out")
assert_gt "connections that were on rs2" 0 "$on_rs2"
assert_eq "rs2 connections reset at their next request" "$on_rs2" "$(grep -c '^rs2 reset' "$out")"
others=$(grep -cE '^rs[13] ' "$out")
assert_eq "connections on rs1/rs3 still answered" "$others" "$(grep -cE '^rs[13] answered' "$out")"
slow=$(awk '$1 == "rs2" && $3 > 1 {n++} END {print n + 0}' "$out")
assert_eq "rs2 resets that took more than 1 s" 0 "$slow"
# rs2's side was reset too: no established connection from a LIP is left there.
left=$(in_rs 2 ss -Htn state established '( sport = :80 )' | grep -c '198.19.0.20[01]')
assert_eq "established connections left on rs2" 0 "$left"
out2=$(http_get_many 12)
assert_eq "new requests answered by the removed rs2" 0 "$(count_of rs2 "$out2")"
assert_eq "failed new requests" 0 "$(count_of FAIL "$out2")"
assert_gt "nodest_expired events" 0 "$(event_counter "$(rvsadm --workers)" nodest_expired)"

finish
