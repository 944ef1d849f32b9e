#!/usr/bin/env bash
# 300 sequential HTTP requests through the VIP: all answered, spread rr (then wrr 1:2:3) over
# the three real servers, and the real servers only ever see the LIPs as client address.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

N=300

# Per-RS line count of the nginx access logs, to look only at what this test caused.
declare -a MARK
mark_logs() { local i; for i in 1 2 3; do MARK[i]=$(wc -l <"$STATE/rs$i/access.log"); done; }
new_log_lines() { local i; for i in 1 2 3; do tail -n +"$((MARK[i] + 1))" "$STATE/rs$i/access.log"; done; }

# check_spread LABEL OUTPUT EXP1 EXP2 EXP3 TOL1 TOL2 TOL3
check_spread() {
  local label=$1 out=$2 i
  local -a exp=("$3" "$4" "$5") tol=("$6" "$7" "$8")
  assert_eq "$label: failed requests" 0 "$(count_of FAIL "$out")"
  local answered=$(($(count_of rs1 "$out") + $(count_of rs2 "$out") + $(count_of rs3 "$out")))
  assert_eq "$label: requests answered by rs1..rs3" "$N" "$answered"
  for i in 0 1 2; do
    assert_range "$label: answers from rs$((i + 1))" "$((exp[i] - tol[i]))" "$((exp[i] + tol[i]))" \
      "$(count_of "rs$((i + 1))" "$out")"
  done
}

lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
rvsd_start "$CFG_DIR/rvsd.toml"
mark_logs

# --- round robin
say "$N requests, rr"
out=$(http_get_many "$N")
if ((WORKERS == 1)); then
  # One worker schedules every flow: rr over 3 servers is exact for 300 new connections.
  check_spread rr "$out" 100 100 100 0 0 0
else
  # Each worker round-robins its own share of the flows; the shares depend on the RSS hash.
  check_spread rr "$out" 100 100 100 40 40 40
fi

# --- weighted round robin 1:2:3
assert_ok "rvsadm -E -s wrr" rvsadm -E -t "$VIP:80" -s wrr
assert_ok "rvsadm -e rs1 -w 1" rvsadm -e -t "$VIP:80" -r 198.19.0.11:80 -w 1
assert_ok "rvsadm -e rs2 -w 2" rvsadm -e -t "$VIP:80" -r 198.19.0.12:80 -w 2
assert_ok "rvsadm -e rs3 -w 3" rvsadm -e -t "$VIP:80" -r 198.19.0.13:80 -w 3
ln=$(rvsadm -Ln 2>&1)
indent <<<"$ln"
assert_contains "rvsadm -Ln" "wrr" "$ln"
for i in 1 2 3; do
  w=$(awk -v a="198.19.0.1$i:80" '$1 == "->" && $2 == a {print $4}' <<<"$ln")
  assert_eq "rvsadm -Ln weight of 198.19.0.1$i:80" "$i" "$w"
done

say "$N requests, wrr 1:2:3"
out=$(http_get_many "$N")
# Expected 50/100/150. wrr over weights 1,2,3 repeats with period 6 and 300 is 50 periods, so
# one worker is exact; +-2 leaves room for a wrr that is not strictly periodic (tie-breaking).
# With two workers each worker runs its own wrr over the share of flows RSS gives it: a partial
# period per worker costs at most w_i each, plus the uneven split; 6 + 20% of the expectation
# still separates wrr (50/100/150) from rr (100/100/100).
if ((WORKERS == 1)); then
  check_spread wrr "$out" 50 100 150 2 2 2
else
  check_spread wrr "$out" 50 100 150 16 26 36
fi

# --- FULLNAT: the real servers see LIPs, never the client
logs=$(new_log_lines)
assert_eq "access log lines for this test" "$((2 * N))" "$(grep -c . <<<"$logs")"
srcs=$(awk 'NF {print $1}' <<<"$logs" | sort | uniq -c | sed 's/^ *//')
say "remote_addr in RS access logs: $(tr '\n' ' ' <<<"$srcs")"
others=$(awk -v a="${LIPS[0]}" -v b="${LIPS[1]}" 'NF && $1 != a && $1 != b {print $1}' <<<"$logs" | sort -u | tr '\n' ' ')
assert_eq "remote_addr other than the LIPs" "" "$others"
assert_not_contains "RS access logs" "$CLIENT_IP " "$logs"

finish
