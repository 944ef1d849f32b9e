#!/usr/bin/env bash
# Control socket access and robustness, as an operator would meet them: the socket is 0600;
# a non-root user is refused with a clear message; 200 connections that sent half a request
# and one that streams a 50 MB line leave 'rvsadm -Ln' answering, traffic flowing, and rvsd
# serving; the endless line is refused, not read whole.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
rvsd_start "$CFG_DIR/rvsd.toml"
warm_up

assert_eq "control socket mode" 600 "$(stat -c %a "$CTRL_SOCK")"
assert_eq "control socket owner" root "$(stat -c %U "$CTRL_SOCK")"

# --- a non-root user: refused at connect, with the reason
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups -- "$RVSADM" --socket "$CTRL_SOCK" -Ln 2>&1)
rc=$?
assert_eq "rvsadm as nobody exits 3 (cannot reach rvsd)" 3 "$rc"
assert_contains "rvsadm as nobody says why" "Permission denied" "$out"

# --- 200 half-sent requests plus a 50 MB request line, held open while we work
hold=$CFG_DIR/hold.py
cat >"$hold" <<'PY'
import socket, sys, time, threading
path, secs = sys.argv[1], float(sys.argv[2])
socks = []
for _ in range(200):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(b'{"version":1,"command":')
    socks.append(s)
big = {"sent": 0, "err": ""}
def flood():
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    chunk = b"x" * 65536
    try:
        while big["sent"] < 50 << 20:
            s.sendall(chunk)
            big["sent"] += len(chunk)
    except OSError as e:
        big["err"] = e.strerror or str(e)
t = threading.Thread(target=flood); t.start(); t.join(timeout=secs)
print(f"held=200 big_sent={big['sent']} big_error={big['err'] or 'none'}", flush=True)
time.sleep(max(0.0, secs - 1))
PY
"$PY" "$hold" "$CTRL_SOCK" 12 >"$CFG_DIR/hold.out" 2>&1 &
bg_track $!
sleep 2
t0=$(date +%s%N)
ok=0
for _ in 1 2 3 4 5; do
  if rvsadm -Ln | grep -q "$VIP:80"; then ok=$((ok + 1)); fi
done
ms=$((($(date +%s%N) - t0) / 1000000))
say "5 x 'rvsadm -Ln' with 201 stuck connections open: $ms ms"
assert_eq "rvsadm -Ln answered while 201 connections are stuck" 5 "$ok"
out=$(http_get_many 20)
assert_eq "failed requests while the control socket is flooded" 0 "$(count_of FAIL "$out")"
wait_for 15 "the holder to report" grep -q held= "$CFG_DIR/hold.out" || true
held=$(cat "$CFG_DIR/hold.out")
say "holder: $held"
big=$(sed -n 's/.*big_sent=\([0-9]*\).*/\1/p' <<<"$held")
if ((${big:-0} > 0 && big < 50 << 20)); then
  pass "the 50 MB line was cut off after $big bytes"
else
  fail "the 50 MB line was not cut off (sent ${big:-?} bytes)"
fi
assert_contains "rvsd refused the endless line" "big_error=" "$held"
assert_not_contains "the endless line was not read whole" "big_error=none" "$held"
assert_ok "rvsadm -Ln after the flood" rvsadm -Ln
if rvsd_running; then pass "rvsd still running"; else fail "rvsd died"; fi
finish
