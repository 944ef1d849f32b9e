#!/usr/bin/env bash
# Quorum and sorry server, under a steady curl loop: stopping nginx on all three real servers
# makes rvs-ctrl replace them with the sorry_server (rs3:8080, a small HTTP server answering
# "sorry") within delay_loop + retry x delay_before_retry; every request after that is
# answered by it. Starting nginx on rs2 again regains quorum: rs2 alone takes the traffic,
# the sorry server leaves the table. quorum_down/quorum_up scripts run; the JSON API shows
# the service's quorum state.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ctrl-lib.sh
source "$(dirname "$0")/ctrl-lib.sh"

WINDOW=2 # delay_loop 1 + retry 1 x delay_before_retry 1
MARGIN=0.5
SVC="TCP  $VIP:80"
SORRY=198.19.0.13:8080
NOTIFY=$CFG_DIR/notify.log

ctrl_rvsd_start

say "sorry server on $SORRY"
in_rs 3 "$PY" -c '
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = b"sorry\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), H).serve_forever()
' </dev/null >/dev/null 2>&1 &
bg_track $!
wait_for 10 "sorry server" in_rs 3 curl -sf --max-time 1 "http://$SORRY/" >/dev/null || die "sorry server did not start"

{
  kconf_header
  cat <<EOF
virtual_server $VIP 80 {
  delay_loop 1
  lb_algo rr
  lb_kind FNAT
  protocol TCP
  laddr_group_name lips
  quorum 1
  sorry_server ${SORRY%:*} ${SORRY#*:}
  quorum_down "/bin/sh -c 'echo quorum_down >> $NOTIFY'"
  quorum_up "/bin/sh -c 'echo quorum_up >> $NOTIFY'"
EOF
  for rs in 1 2 3; do
    cat <<EOF
  real_server 198.19.0.1$rs 80 {
    weight 1
    TCP_CHECK {
      connect_timeout 1
      retry 1
      delay_before_retry 1
    }
  }
EOF
  done
  echo "}"
} >"$KCONF"
ctrl_start
ALL="198.19.0.11:80 1,198.19.0.12:80 1,198.19.0.13:80 1"
wait_reals 10 "$SVC" "$ALL" || die "rvsd table: $REALS_SEEN"
pass "the three real servers are in rvsd"
http_get_many 6 >/dev/null

quorum_field() {
  api GET "/api/v1/services/tcp/$VIP:80" | "$PY" -c "import json,sys; v=json.load(sys.stdin); print(v['quorum_up'], v['sorry_server_active'])"
}
assert_eq "API quorum_up, sorry_server_active" "True False" "$(quorum_field)"

LOAD=$CFG_DIR/load.txt
load_start "$LOAD"
sleep 1.5
t0=$(now)
say "stopping nginx on rs1, rs2, rs3"
for i in 1 2 3; do in_rs "$i" nginx -c "$STATE/rs$i/nginx.conf" -s stop 2>/dev/null; done
if wait_reals $((WINDOW + 4)) "$SVC" "$SORRY 1"; then
  pass "only the sorry server in 'rvsadm -Ln' after $(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}') s"
else
  fail "sorry server not alone in 'rvsadm -Ln': $REALS_SEEN"
fi
assert_eq "API quorum_up, sorry_server_active" "False True" "$(quorum_field)"
sleep 3
t1=$(now)
out=$(load_between "$LOAD" "$(fadd "$(fadd "$t0" "$WINDOW")" "$MARGIN")" "$t1")
assert_ge "requests after the window, before rs2 returns" 10 "$(grep -c . <<<"$out")"
assert_eq "of those, not answered 'sorry'" 0 "$(awk '$2 != "sorry"' <<<"$out" | wc -l)"

say "starting nginx on rs2"
in_rs 2 nginx -c "$STATE/rs2/nginx.conf" 2>/dev/null || fail "nginx did not start on rs2"
if wait_reals $((WINDOW + 4)) "$SVC" "198.19.0.12:80 1"; then
  t_back=$(now)
  pass "rs2 alone in 'rvsadm -Ln' after $(awk -v a="$t1" -v b="$t_back" 'BEGIN {printf "%.2f", b - a}') s"
else
  t_back=$(now)
  fail "rs2 not alone in 'rvsadm -Ln': $REALS_SEEN"
fi
sleep 2.5
load_stop
out=$(load_between "$LOAD" "$(fadd "$t_back" 0.3)" 9999999999)
assert_ge "requests after rs2 returned" 10 "$(grep -c . <<<"$out")"
assert_eq "of those, not answered by rs2" 0 "$(awk '$2 != "rs2"' <<<"$out" | wc -l)"
assert_eq "API quorum_up, sorry_server_active" "True False" "$(quorum_field)"
assert_eq "quorum scripts" "quorum_down quorum_up" "$(paste -sd' ' "$NOTIFY" 2>/dev/null)"

say "starting nginx on rs1 and rs3"
for i in 1 3; do in_rs "$i" nginx -c "$STATE/rs$i/nginx.conf" 2>/dev/null; done
if wait_reals $((WINDOW + 4)) "$SVC" "$ALL"; then pass "all three back"; else fail "table: $REALS_SEEN"; fi
finish
