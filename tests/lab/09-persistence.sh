#!/usr/bin/env bash
# Persistence (ipvsadm -p / -M): with -p 60, 100 requests from one client all reach one real
# server, whatever worker or connection they use; other clients may go elsewhere but each
# sticks; with -M 255.255.255.0 the whole client /24 sticks to one server.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
rvsd_start "$CFG_DIR/rvsd.toml"
warm_up

svc="-t $VIP:80"
# shellcheck disable=SC2086
assert_ok "rvsadm -E $svc -s wlc -p 60" rvsadm -E $svc -s wlc -p 60
listing=$(rvsadm -Ln)
assert_contains "rvsadm -Ln shows the persistence" "persistent 60" "$listing"

# from_client ADDR N: N requests from the client namespace with source address ADDR.
from_client() {
  # shellcheck disable=SC2016
  in_client bash -c 'for ((i = 0; i < $2; i++)); do
      body=$(curl -s --max-time 5 --interface "$1" "http://'"$VIP"'/") && [[ -n $body ]] || body=FAIL
      printf "%s\n" "$body"
    done' _ "$1" "$2"
}

out=$(from_client 198.18.0.10 100)
assert_eq "failed requests from .10" 0 "$(count_of FAIL "$out")"
distinct=$(sort -u <<<"$out" | grep -c .)
assert_eq "real servers seen by one persistent client over 100 connections" 1 "$distinct"
first=$(head -n1 <<<"$out")

# Other clients: each one sticks to its own server.
servers=()
for c in 198.18.0.21 198.18.0.22 198.18.0.23 198.18.0.24; do
  o=$(from_client "$c" 10)
  assert_eq "failed requests from $c" 0 "$(count_of FAIL "$o")"
  assert_eq "real servers seen by $c" 1 "$(sort -u <<<"$o" | grep -c .)"
  servers+=("$(head -n1 <<<"$o")")
done
say "clients .10 .21-.24 went to: $first ${servers[*]}"

# Back to the first client: still pinned.
out=$(from_client 198.18.0.10 10)
assert_eq "client .10 still on $first" 10 "$(count_of "$first" "$out")"

# -M 255.255.255.0: the /24 is one persistence unit.
# shellcheck disable=SC2086
assert_ok "rvsadm -E $svc -s wlc -p 60 -M 255.255.255.0" rvsadm -E $svc -s wlc -p 60 -M 255.255.255.0
assert_contains "rvsadm -Ln shows the mask" "mask 255.255.255.0" "$(rvsadm -Ln)"
all=""
for c in 198.18.0.10 198.18.0.11 198.18.0.25 198.18.0.30; do
  o=$(from_client "$c" 5)
  assert_eq "failed requests from $c" 0 "$(count_of FAIL "$o")"
  all+="$o"$'\n'
done
assert_eq "real servers seen by the whole /24" 1 "$(sort -u <<<"$all" | grep -c .)"

finish
