#!/usr/bin/env bash
# Two workers: both schedule flows (Created > 0 each) and packets cross between them
# (RedirIn + RedirOut > 0), with no failed request. Meaningful only with WORKERS=2.
# shellcheck source=tests/lab/lib.sh
WORKERS=${WORKERS:-2}
source "$(dirname "$0")/lib.sh"

if ((WORKERS != 2)); then
  say "SKIP: needs WORKERS=2"
  _FINISHED=1
  exit 0
fi

lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
rvsd_start "$CFG_DIR/rvsd.toml"

out=$(http_get_many 200)
assert_eq "failed requests of 200" 0 "$(count_of FAIL "$out")"

wout=$(in_client timeout 30 wrk -t2 -c50 -d5s --timeout 5s "http://$VIP/" 2>&1)
rc=$?
indent <<<"$wout"
assert_eq "wrk exit status" 0 "$rc"
assert_gt "wrk requests" 0 "$(sed -n 's/^ *\([0-9][0-9]*\) requests in .*/\1/p' <<<"$wout" | head -n1)"
sockerr=$(grep -E '^ *Socket errors:' <<<"$wout" | grep -oE '[a-z]+ [0-9]+' | awk '$2 != 0' | tr '\n' ' ')
assert_eq "wrk non-zero socket errors" "" "$sockerr"
assert_not_contains "wrk output" "Non-2xx" "$wout"

stats=$(rvsadm --workers 2>&1)
indent <<<"$stats"
rows=$(worker_rows "$stats")
assert_eq "worker rows in 'rvsadm --workers'" 2 "$(grep -c . <<<"$rows")"
for w in 0 1; do
  created=$(awk -v w="$w" '$1 == w {print $8}' <<<"$rows")
  assert_gt "worker $w sessions created" 0 "${created:-none}"
done
redir=$(awk '{s += $5 + $6} END {print s + 0}' <<<"$rows")
assert_gt "RedirIn + RedirOut over both workers" 0 "$redir"

finish
