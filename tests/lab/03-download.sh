#!/usr/bin/env bash
# Downloads the 50 MB /big.bin three times through the VIP; each copy must match its sha256.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
rvsd_start "$CFG_DIR/rvsd.toml"
want=$(cat "$STATE/big.sha256")

for n in 1 2 3; do
  dl=$CFG_DIR/big.$n
  t0=$(date +%s.%N)
  in_client curl -s --max-time 120 -o "$dl" -w '%{http_code} %{size_download}\n' "http://$VIP/big.bin" >"$CFG_DIR/curl.$n" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  assert_eq "download $n: curl exit status" 0 "$rc"
  assert_eq "download $n: status and size" "200 $((50 * 1024 * 1024))" "$(cat "$CFG_DIR/curl.$n")"
  got=$(sha256sum "$dl" 2>/dev/null | awk '{print $1}')
  assert_eq "download $n: sha256" "$want" "$got"
  say "download $n: $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f s", b - a}')"
  rm -f "$dl"
done

# Which RS served each download (by its access log).
served=$(grep -l '"GET /big.bin HTTP/1.1" 200' "$STATE"/rs[123]/access.log | xargs -r -n1 dirname | xargs -r -n1 basename | tr '\n' ' ')
say "big.bin served by: $served"
if ((WORKERS == 1)); then
  # One worker, rr, three new connections: three different real servers.
  assert_eq "distinct RS that served big.bin" 3 "$(wc -w <<<"$served")"
fi

finish
