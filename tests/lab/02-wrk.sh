#!/usr/bin/env bash
# wrk -t2 -c100 -d10s through the VIP: requests served, no socket errors, no non-2xx answers.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
rvsd_start "$CFG_DIR/rvsd.toml"

say "wrk -t2 -c100 -d10s http://$VIP/"
out=$(in_client timeout 40 wrk -t2 -c100 -d10s --timeout 5s "http://$VIP/" 2>&1)
rc=$?
indent <<<"$out"
assert_eq "wrk exit status" 0 "$rc"

requests=$(sed -n 's/^ *\([0-9][0-9]*\) requests in .*/\1/p' <<<"$out" | head -n1)
assert_gt "requests completed" 0 "${requests:-none}"

sockerr=$(grep -E '^ *Socket errors:' <<<"$out")
if [[ -z $sockerr ]]; then
  pass "no 'Socket errors' line"
else
  nonzero=$(grep -oE '[a-z]+ [0-9]+' <<<"$sockerr" | awk '$2 != 0' | tr '\n' ' ')
  assert_eq "non-zero socket errors ($sockerr)" "" "$nonzero"
fi
assert_not_contains "wrk output" "Non-2xx" "$out"

# The whole load went through rvsd: nginx logged at least the completed requests.
logged=$(awk '/ "GET \/ HTTP\/1.1" 200 / {n++} END {print n + 0}' "$STATE"/rs[123]/access.log)
assert_ge "requests in RS access logs" "${requests:-1}" "$logged"

finish
