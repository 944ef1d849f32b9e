#!/usr/bin/env bash
# Forged sync messages (issue 19, must-show 4), sent with scapy from the sync link to lb2:
# a valid message (right key, sync id and sequence) installs its session; one tagged with
# a wrong key, one replaying a sequence number already seen, one of a foreign sync id and
# a truncated one are refused, each counted under its reason in 'rvsadm --sync', and none
# of their sessions appears on lb2.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/ha-lib.sh
source "$(dirname "$0")/ha-lib.sh"

ha_up
ha_config 2 "$WORKERS" "$CFG_DIR/lb2.toml" backup
rvsd2_start "$CFG_DIR/lb2.toml"

forge() { in_lb1 "$PY" "$ROOT/tests/lab/sync_forge.py" --key-file "$SYNC_KEY" --dst "$SYNC_IP2" --sync-id 19 "$@"; }
session_of() { rvsadm2 -Lnc | grep -c "198.18.0.20:$1 "; }

before=$(rvsadm2 --sync)
forge --case valid --seq 1 --cport 41001 | indent
wait_for 5 "the valid record's session on lb2" bash -c "'$RVSADM' --socket '$CTRL_SOCK2' -Lnc | grep -q '198.18.0.20:41001 '"
assert_eq "session of the valid message on lb2" 1 "$(session_of 41001)"

forge --case wrong-key --seq 2 --cport 41002 | indent
forge --case replay --seq 1 --cport 41003 | indent
forge --case foreign-id --seq 3 --cport 41004 | indent
forge --case truncated --seq 4 --cport 41005 | indent
# A valid message after them: the forged ones were handled by then.
forge --case valid --seq 5 --cport 41006 | indent
wait_for 5 "the second valid record's session" bash -c "'$RVSADM' --socket '$CTRL_SOCK2' -Lnc | grep -q '198.18.0.20:41006 '"

after=$(rvsadm2 --sync)
say "lb2's sync counters:"
indent <<<"$after"
for r in bad_tag replayed foreign_sync_id truncated; do
  assert_eq "refused as $r" 1 "$(($(sync_count "$after" "$r") - $(sync_count "$before" "$r")))"
done
for p in 41002 41003 41004 41005; do
  assert_eq "no session from the refused message (client port $p)" 0 "$(session_of "$p")"
done
assert_eq "session of the second valid message" 1 "$(session_of 41006)"
assert_contains "a refusal is logged" "sync message refused" "$(cat "$RVSD2_LOG")"
finish
