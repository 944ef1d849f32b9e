#!/usr/bin/env bash
# Exception flood (issue 10, must-show 4): 300,000 broadcast frames from the client
# (bcast_flood.py over AF_PACKET) while a curl loop runs through the VIP. With the exception
# path limited to 1000 frames/s (burst 100): every curl succeeds; the kernel gets at most the
# rate; the excess is dropped and counted (kernel_rate_limited, kernel_ring_full), and the
# counters add up: every frame handed to the kernel path was delivered or dropped under a
# reason. The tap's own rx counter matches what rvsd says it delivered; the kernel address
# answers ping again after the flood.
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lab/exc-lib.sh
source "$(dirname "$0")/exc-lib.sh"
export RVS_LAB_BIG_MB=${RVS_LAB_BIG_MB:-1}

RATE=1000
BURST=100
FLOOD=${FLOOD:-300000} # three times the 100k of the issue, so the flood outlasts several curls

lab_up
lb_kernel_guard
exc_config "$WORKERS" "$CFG_DIR/rvsd.toml" "$RATE" "$BURST" 1024
rvsd_start "$CFG_DIR/rvsd.toml"
kif_wait "$KIF_C" || die "no kernel interface $KIF_C"
in_lb ip addr add "$KERNEL_C_IP/24" dev "$KIF_C" || die "ip addr add on $KIF_C"
warm_up
out=$(in_client ping -n -c 3 -i 0.2 -W 2 "$KERNEL_C_IP" 2>&1)
assert_contains "ping $KERNEL_C_IP before the flood" "3 received" "$out"

# total NAME OUTPUT: an event or drop total from 'rvsadm --workers'.
total() {
  local e
  e=$(event_counter "$2" "$1")
  [[ $e != 0 ]] && { echo "$e"; return; }
  drop_counter "$2" "$1"
}
tap_rx() { in_lb cat "/sys/class/net/$KIF_C/statistics/rx_packets"; }

w0=$(rvsadm --workers)
rx0=$(tap_rx)

STOPF=$CFG_DIR/curl.stop
# shellcheck disable=SC2016
in_client bash -c 'while [[ ! -e $2 ]]; do
    t0=$(date +%s.%N)
    b=$(curl -s --max-time 5 "http://$1/") && [[ -n $b ]] || b=FAIL
    echo "$t0 $(date +%s.%N) $b"
  done >"$3"' _ "$VIP" "$STOPF" "$CFG_DIR/curls.txt" &
CURLS=$!
bg_track $CURLS
sleep 1

say "flooding $FLOOD broadcast frames from the client"
fstart=$(date +%s.%N)
res=$(in_client timeout 120 "$PY" "$ROOT/tests/lab/bcast_flood.py" c0 "$FLOOD")
fend=$(date +%s.%N)
say "flood: $res"
assert_eq "broadcast frames sent" "$FLOOD" "$(json_field "$res" sent)"
secs=$(json_field "$res" seconds)
sleep 2
touch "$STOPF"
wait "$CURLS"

during=$(awk -v a="$fstart" -v b="$fend" '$1 >= a && $1 < b' "$CFG_DIR/curls.txt")
say "curls: $(wc -l <"$CFG_DIR/curls.txt") in all, $(grep -c . <<<"$during") started during the ${secs}s flood"
assert_gt "curls during the flood" 0 "$(grep -c . <<<"$during")"
assert_eq "curls that failed (whole run)" 0 "$(grep -c ' FAIL$' "$CFG_DIR/curls.txt")"
maxms=$(awk '{d = ($2 - $1) * 1000; if (d > m) m = d} END {printf "%d", m}' <<<"$during")
say "slowest curl during the flood: ${maxms} ms"
assert_range "slowest curl during the flood (ms)" 0 2000 "$maxms"

w1=$(rvsadm --workers)
indent <<<"$w1"
delta() { echo $(($(total "$1" "$w1") - $(total "$1" "$w0"))); }
to_k=$(delta to_kernel)
deliv=$(delta kernel_delivered)
limited=$(delta kernel_rate_limited)
full=$(delta kernel_ring_full)
say "during the flood: to_kernel $to_k, delivered $deliv, rate-limited $limited, ring full $full"
assert_ge "frames handed to the kernel path (of $FLOOD sent)" $((FLOOD * 8 / 10)) "$to_k"
budget=$(awk -v r="$RATE" -v b="$BURST" -v s="$secs" 'BEGIN {printf "%d", r * (s + 4) + b}')
assert_range "frames delivered to the kernel (rate $RATE/s over ${secs}s + 4 s, burst $BURST)" 1 "$budget" "$deliv"
assert_ge "excess dropped and counted" $((to_k - budget)) $((limited + full))
# Every frame the pipeline gave the kernel path, since rvsd started, is accounted for.
acc=0
for r in kernel_delivered kernel_rate_limited kernel_ring_full kernel_write_error kernel_no_interface; do
  acc=$((acc + $(total "$r" "$w1")))
done
assert_eq "to_kernel = delivered + every kernel drop" "$(total to_kernel "$w1")" "$acc"
rxd=$(($(tap_rx) - rx0))
assert_range "frames the tap received (its own counter) vs delivered ($deliv)" "$deliv" $((deliv + 20)) "$rxd"

sleep 1
out=$(in_client ping -n -c 3 -i 0.2 -W 2 "$KERNEL_C_IP" 2>&1)
assert_contains "ping $KERNEL_C_IP after the flood" "3 received" "$out"
finish
