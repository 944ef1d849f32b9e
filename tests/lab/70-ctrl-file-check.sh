#!/usr/bin/env bash
# FILE_CHECK on a hung mount: rs2's tracked file is a FIFO with no writer, so reading it
# never returns (as a file on a dead NFS server does). rs1 and rs3 have TCP_CHECKs.
#   * rs2 leaves the table (its read times out) and rs1 and rs3 stay;
#   * the other checks go on meanwhile: rs1's nginx stopped, rs1 leaves; started, it is back;
#   * the "mount" comes back (the stuck read ends, the path reads 0): rs2 is back.
# Before the read moved off the checkers' loop, the first run of rs2's check stopped every
# check of rvs-ctrl: rs1 stayed in the table with its nginx down.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ctrl-lib.sh
source "$(dirname "$0")/ctrl-lib.sh"

SVC="TCP  $VIP:80"
FIFO=$CFG_DIR/rs2.state
RS1_CONF=$STATE/rs1/nginx.conf

ctrl_rvsd_start
mkfifo "$FIFO" || die "mkfifo"
{
  kconf_header
  cat <<EOF
virtual_server $VIP 80 {
  delay_loop 1
  lb_algo rr
  lb_kind FNAT
  protocol TCP
  laddr_group_name lips
  real_server 198.19.0.11 80 {
    weight 1
    TCP_CHECK { connect_timeout 1 }
  }
  real_server 198.19.0.12 80 {
    weight 1
    FILE_CHECK { file $FIFO }
  }
  real_server 198.19.0.13 80 {
    weight 1
    TCP_CHECK { connect_timeout 1 }
  }
}
EOF
} >"$KCONF"
ctrl_start

assert_reals 20 "$SVC" "198.19.0.11:80 1,198.19.0.13:80 1" "rs2 out (its file's read hangs), rs1 and rs3 in"
assert_contains "rvs-ctrl log: the read timed out" "the tracked file's read timed out" "$(cat "$CTRL_LOG")"

say "stopping rs1's nginx while rs2's read hangs"
in_rs 1 nginx -c "$RS1_CONF" -s stop 2>/dev/null
assert_reals 10 "$SVC" "198.19.0.13:80 1" "rs1 out: its TCP_CHECK still runs"
in_rs 1 nginx -c "$RS1_CONF" 2>/dev/null || fail "rs1's nginx did not start again"
assert_reals 10 "$SVC" "198.19.0.11:80 1,198.19.0.13:80 1" "rs1 back"

say "the mount comes back: the stuck read ends, the path reads 0"
# A writer lets the stuck read see EOF when it closes; by then the path is a plain file.
timeout 10 bash -c 'exec 7>"$1" && rm -f "$1" && echo 0 >"$1"' _ "$FIFO" || fail "could not release the read"
assert_reals 15 "$SVC" "198.19.0.11:80 1,198.19.0.12:80 1,198.19.0.13:80 1" "rs2 back"
out=$(http_get_many 6)
assert_eq "requests answered by rs1 rs2 rs3 FAIL" "2 2 2 0" \
  "$(count_of rs1 "$out") $(count_of rs2 "$out") $(count_of rs3 "$out") $(count_of FAIL "$out")"
assert_not_contains "rvs-ctrl log" "panicked" "$(cat "$CTRL_LOG")"
finish
