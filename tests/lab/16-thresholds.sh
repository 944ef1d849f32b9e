#!/usr/bin/env bash
# Connection thresholds (ipvsadm -x/-y): with -x 10 -y 5 on rs1 and 50 concurrent long
# connections through the VIP, rs1 never holds more than 10 of them; all 50 are served.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
rvsd_start "$CFG_DIR/rvsd.toml"
warm_up

assert_ok "rvsadm -e -t $VIP:80 -r 198.19.0.11:80 -x 10 -y 5" \
  rvsadm -e -t "$VIP:80" -r 198.19.0.11:80 -w 1 -x 10 -y 5

hold_out=$CFG_DIR/hold.out
# 50 connections, each sends a request and reads the answer (so every one is established
# and served), then stays open for 6 s.
in_client "$PY" -c '
import socket, time
socks, ok = [], 0
for i in range(50):
    s = socket.create_connection(("'"$VIP"'", 80), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: vip\r\n\r\n")
    data = s.recv(4096)
    ok += b"200 OK" in data
    socks.append(s)
    time.sleep(0.02)
print("served", ok, flush=True)
time.sleep(6)
' >"$hold_out" 2>&1 &
HOLD_PID=$!
bg_track "$HOLD_PID"

# Sample rs1's connections (ActiveConn + InActConn) while the 50 are open.
max=0
for _ in $(seq 25); do
  row=$(rvsadm -Ln | awk '$2 == "198.19.0.11:80" {print $5 + $6}')
  [[ $row =~ ^[0-9]+$ ]] && ((row > max)) && max=$row
  sleep 0.25
done
wait "$HOLD_PID"
sed 's/^/    | /' "$hold_out"
assert_contains "all 50 connections served" "served 50" "$(cat "$hold_out")"
assert_range "most connections rs1 held at once" 1 10 "$max"
assert_contains "rs1 keeps its thresholds" "198.19.0.11:80" "$(rvsadm -Ln)"

finish
