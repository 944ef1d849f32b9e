#!/usr/bin/env bash
# Persistence from keepalived.conf only: a wrr service of four equal real servers (nginx on
# rs1-rs3, a small HTTP server on rs1:8082 answering "rs4" and serving /big.bin too) with
# persistence_timeout 50.
#  * 40 requests from each of two clients each stay on one real server;
#  * SIGHUP after changing only persistence_timeout (50 -> 120): rvs-ctrl logs exactly one
#    applied command, an EditService, and a download running through the VIP meanwhile
#    completes byte for byte;
#  * persistence_granularity 255.255.255.0 (another SIGHUP): clients of the /24 share a server;
#  * no persistence_timeout any more (SIGHUP): the same client is spread over the servers;
#  * the JSON API adds a service with persistence (and real servers), shows its effective
#    options, refuses bad requests with a clear error and serves the next, edits the
#    persistence away and removes the service.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ctrl-lib.sh
source "$(dirname "$0")/ctrl-lib.sh"

SVC="TCP  $VIP:80"
RS4=198.19.0.11:8082

ctrl_rvsd_start

say "fourth real server on $RS4"
in_rs 1 "$PY" -c '
import http.server, shutil, sys
BIG = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        if self.path == "/big.bin":
            with open(BIG, "rb") as f:
                self.send_response(200)
                self.send_header("Content-Length", str(__import__("os").fstat(f.fileno()).st_size))
                self.end_headers()
                shutil.copyfileobj(f, self.wfile)
            return
        b = b"rs4\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8082), H).serve_forever()
' "$STATE/www/big.bin" </dev/null >/dev/null 2>&1 &
bg_track $!
wait_for 10 "rs4 server" in_rs 1 curl -sf --max-time 1 "http://$RS4/" >/dev/null || die "rs4 server did not start"

# write_conf EXTRA: the service with EXTRA lines (persistence settings) in its block.
write_conf() {
  {
    kconf_header
    cat <<EOF
virtual_server $VIP 80 {
  delay_loop 1
  lb_algo wrr
  lb_kind FNAT
  protocol TCP
  laddr_group_name lips
$1
EOF
    for rs in 198.19.0.11:80 198.19.0.12:80 198.19.0.13:80 $RS4; do
      cat <<EOF
  real_server ${rs%:*} ${rs#*:} {
    weight 1
    TCP_CHECK {
      connect_timeout 1
    }
  }
EOF
    done
    echo "}"
  } >"$KCONF"
}

# from_client ADDR N: N requests from the client namespace with source address ADDR.
from_client() {
  # shellcheck disable=SC2016
  in_client bash -c 'for ((i = 0; i < $2; i++)); do
      body=$(curl -s --max-time 5 --interface "$1" "http://'"$VIP"'/") && [[ -n $body ]] || body=FAIL
      printf "%s\n" "$body"
    done' _ "$1" "$2"
}

write_conf "  persistence_timeout 50"
ctrl_start
ALL="198.19.0.11:80 1,198.19.0.11:8082 1,198.19.0.12:80 1,198.19.0.13:80 1"
wait_reals 10 "$SVC" "$ALL" || die "rvsd table: $REALS_SEEN"
pass "the four real servers are in rvsd"
assert_contains "rvsadm -Ln" "$SVC wrr persistent 50" "$(rvsadm -Ln)"
assert_not_contains "rvs-ctrl log" "is not supported by the dataplane" "$(cat "$CTRL_LOG")"

for c in 198.18.0.10 198.18.0.21; do
  out=$(from_client "$c" 40)
  assert_eq "failed requests from $c (of 40)" 0 "$(count_of FAIL "$out")"
  assert_eq "real servers seen by $c over 40 connections" 1 "$(sort -u <<<"$out" | grep -c .)"
  say "$c stays on $(head -n1 <<<"$out")"
done

# SIGHUP with only persistence_timeout changed, while a download runs through the VIP.
say "download of /big.bin at 10 MB/s through the VIP, then SIGHUP with persistence_timeout 120"
DL=$CFG_DIR/dl.sha
in_client bash -c "curl -s --max-time 30 --limit-rate 10M http://$VIP/big.bin | sha256sum | cut -d' ' -f1" >"$DL" 2>&1 &
DL_PID=$!
bg_track "$DL_PID"
sleep 1.5
mark=$(log_mark)
write_conf "  persistence_timeout 120"
assert_ok "rvsadm --reload" ctrl_reload
if wait_for 5 "persistent 120" bash -c "'$RVSADM' -Ln | grep -qF '$SVC wrr persistent 120'"; then
  pass "rvsadm -Ln shows persistent 120"
else
  fail "persistence not edited: $(rvsadm -Ln | grep -F "$SVC")"
fi
sleep 1
applied=$(log_since "$mark" | grep -F ' applied' || true)
indent <<<"$applied"
assert_eq "commands applied by the reload" 1 "$(grep -c . <<<"$applied")"
assert_contains "the one command" "EditService" "$applied"
wait "$DL_PID"
assert_eq "sha256 of the download that ran across the reload" "$(cat "$STATE/big.sha256")" "$(cat "$DL")"

# persistence_granularity: the /24 is one persistence unit.
write_conf "  persistence_timeout 120
  persistence_granularity 255.255.255.0"
assert_ok "rvsadm --reload" ctrl_reload
if wait_for 5 "mask" bash -c "'$RVSADM' -Ln | grep -qF 'mask 255.255.255.0'"; then
  pass "rvsadm -Ln shows mask 255.255.255.0"
else
  fail "granularity not applied: $(rvsadm -Ln | grep -F "$SVC")"
fi
all=""
for c in 198.18.0.11 198.18.0.22 198.18.0.25 198.18.0.30; do
  o=$(from_client "$c" 10)
  assert_eq "failed requests from $c" 0 "$(count_of FAIL "$o")"
  all+="$o"$'\n'
done
assert_eq "real servers seen by four clients of 198.18.0.0/24" 1 "$(sort -u <<<"$all" | grep -c .)"

# Without persistence the same client is spread: the stickiness above came from the option.
write_conf ""
assert_ok "rvsadm --reload" ctrl_reload
if wait_for 5 "no persistence" bash -c "! '$RVSADM' -Ln | grep -F '$SVC' | grep -q persistent"; then
  pass "persistence removed from rvsd"
else
  fail "persistence still there: $(rvsadm -Ln | grep -F "$SVC")"
fi
out=$(from_client 198.18.0.10 40)
assert_eq "real servers seen by 198.18.0.10 without persistence" 4 "$(sort -u <<<"$out" | grep -c .)"

# --- the JSON API: a service of its own.
API_SVC="TCP  $VIP:8088"
body='{"address":"'"$VIP"':8088","local_addresses":["'"${LIPS[0]}"'","'"${LIPS[1]}"'"],"scheduler":"rr","persistence_timeout":30}'
api POST /api/v1/services "$body" >/dev/null
assert_eq "POST /api/v1/services" 201 "$API_CODE"
for rs in 198.19.0.11:80 198.19.0.12:80; do
  api POST "/api/v1/services/tcp/$VIP:8088/reals" '{"address":"'"$rs"'"}' >/dev/null
  assert_eq "POST .../reals $rs" 201 "$API_CODE"
done
assert_reals 10 "$API_SVC" "198.19.0.11:80 1,198.19.0.12:80 1" "the API's service in rvsd"
assert_contains "rvsadm -Ln" "$API_SVC rr persistent 30" "$(rvsadm -Ln)"
opts=$(api GET "/api/v1/services/tcp/$VIP:8088" | "$PY" -c 'import json,sys; v=json.load(sys.stdin); print(v["options"]["persistence_timeout"], v["rvsd_options"]["persistence_timeout"])')
assert_eq "API options, as sent and as rvsd has them (persistence_timeout)" "30 30" "$opts"
out=$(http_get_many 10 "http://$VIP:8088/")
assert_eq "answers on $VIP:8088" 10 "$(grep -c '^rs[12]$' <<<"$out")"
assert_eq "servers one client reaches on the persistent API service" 1 "$(sort -u <<<"$out" | grep -c .)"
# (api sets API_CODE: called in this shell, its output to a file.)
api POST /api/v1/services '{"address":"'"$VIP"':8089","persistance_timeout":5}' >"$CFG_DIR/err.json"
assert_eq "POST with a misspelt field" 400 "$API_CODE"
assert_contains "its error" '"error": "unknown field \"persistance_timeout\"' "$(cat "$CFG_DIR/err.json")"
api PUT "/api/v1/services/tcp/$VIP:8088" '{"scheduler":"fastest"}' >"$CFG_DIR/err.json"
assert_eq "PUT with an unknown scheduler" 400 "$API_CODE"
assert_contains "its error" "Scheduler not found: fastest" "$(cat "$CFG_DIR/err.json")"
api PUT "/api/v1/services/tcp/$VIP:8088" '{"persistence_timeout":null}' >/dev/null
assert_eq "PUT persistence_timeout null (the next request, served)" 200 "$API_CODE"
if wait_for 5 "no persistence on 8088" bash -c "'$RVSADM' -Ln | grep -F '$API_SVC' | grep -qvF persistent"; then
  pass "rvsd: $(rvsadm -Ln | grep -F "$API_SVC")"
else
  fail "8088 still persistent: $(rvsadm -Ln | grep -F "$API_SVC")"
fi
api DELETE "/api/v1/services/tcp/$VIP:8088" >/dev/null
assert_eq "DELETE the service" 200 "$API_CODE"
if wait_for 5 "8088 gone" bash -c "! '$RVSADM' -Ln | grep -qF '$API_SVC'"; then
  pass "the API's service left rvsd"
else
  fail "still there: $(rvsadm -Ln | grep -F "$API_SVC")"
fi
finish
