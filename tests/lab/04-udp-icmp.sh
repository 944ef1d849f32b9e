#!/usr/bin/env bash
# 1000 UDP datagrams through the VIP's echo service come back unchanged; ping to the VIP and to
# rvsd's own client-side address are answered.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

lab_up
make_config "$WORKERS" "$CFG_DIR/rvsd.toml"
rvsd_start "$CFG_DIR/rvsd.toml"

warm_up
say "1000 UDP datagrams from 16 source ports to $VIP:53"
res=$(udp_burst --dst "$VIP" --port 53 --count 1000 --sports 16 --window 64 --timeout 5)
rc=$?
say "udp_burst: $res"
assert_eq "udp_burst exit status" 0 "$rc"
assert_eq "datagrams echoed intact" 1000 "$(json_field "$res" received)"
assert_eq "datagrams lost" 0 "$(json_field "$res" lost)"
assert_eq "datagrams corrupted" 0 "$(json_field "$res" corrupted)"
assert_eq "replies from another address than the VIP" 0 "$(json_field "$res" wrong_peer)"

# ping_check DST COUNT
ping_check() {
  local out rcv
  out=$(in_client ping -n -c "$2" -i 0.2 -W 2 "$1" 2>&1)
  rcv=$(sed -n 's/.* \([0-9][0-9]*\) received.*/\1/p' <<<"$out")
  assert_eq "ping $1: replies" "$2" "${rcv:-none}"
  [[ ${rcv:-0} == "$2" ]] || indent <<<"$out"
}
ping_check "$VIP" 5
ping_check "$LB_CLIENT_IP" 3

finish
