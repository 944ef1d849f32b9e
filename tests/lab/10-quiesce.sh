#!/usr/bin/env bash
# Quiescing a real server (weight 0) during a wrk run: it takes no new connection, the
# connections it already has keep being served to the end, and no request fails.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
rvsd_start "$CFG_DIR/rvsd.toml"
warm_up

wrk_out=$CFG_DIR/wrk.out
in_client wrk -t2 -c30 -d8s "http://$VIP/" >"$wrk_out" 2>&1 &
WRK_PID=$!
bg_track "$WRK_PID"
sleep 2
log2=$STATE/rs2/access.log
assert_ok "rvsadm -e -t $VIP:80 -r 198.19.0.12:80 -w 0" rvsadm -e -t "$VIP:80" -r 198.19.0.12:80 -w 0
before=$(wc -l <"$log2")
# New connections (one per curl) never reach rs2 from now on.
out=$(http_get_many 60)
assert_eq "failed new connections" 0 "$(count_of FAIL "$out")"
assert_eq "new connections answered by the quiesced rs2" 0 "$(count_of rs2 "$out")"
sleep 1
after=$(wc -l <"$log2")
# wrk's keep-alive connections opened before the change are still served by rs2.
assert_gt "requests rs2 served on its established connections after the quiesce" 0 "$((after - before))"
wait "$WRK_PID"
sed 's/^/    | /' "$wrk_out"
reqs=$(awk '/requests in/ {print $1}' "$wrk_out")
assert_gt "wrk requests" 0 "${reqs:-0}"
assert_not_contains "wrk socket errors" "Socket errors" "$(cat "$wrk_out")"
assert_not_contains "wrk non-2xx answers" "Non-2xx" "$(cat "$wrk_out")"
assert_contains "rs2 listed with weight 0" "198.19.0.12:80               FullNat 0" "$(rvsadm -Ln)"

finish
