# shellcheck shell=bash
# shellcheck disable=SC2034,SC2153
# VRRP with session sync (tests 55-56): vrrp-lib.sh's two directors (each rvsd + rvs-ctrl +
# the keepalived rvs-ctrl runs), plus a sync link between their kernels and a [sync]
# section in each rvsd, and `lvs_sync_daemon` in each keepalived.conf. Source after
# lib.sh, exc-lib.sh and vrrp-lib.sh.
#
#   lb1 sy 198.18.9.1/24 <---- sync link (kernel veth) ----> lb2 sy 198.18.9.2/24

SYNC_KEY=$STATE/sync.key
DOWNLOADS=20
DL_PIDS=()

# vrrp_sync_up: the VRRP lab, the sync link, the cluster key (mode 600) and both rvsd
# configurations with [sync] (sync id 19, member = director number, multicast on "sy").
vrrp_sync_up() {
  local n
  vrrp_topology_up
  say "sync link lb1 <-> lb2"
  ip link add sy netns "${LB_NS[1]}" address 02:72:76:00:09:01 type veth \
    peer name sy netns "${LB_NS[2]}" address 02:72:76:00:09:02 || die "veth sy"
  for n in 1 2; do
    _veth_ready "${LB_NS[$n]}" sy
    in_ns "${LB_NS[$n]}" ip addr add "198.18.9.$n/24" dev sy
  done
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$SYNC_KEY")
  for n in 1 2; do
    director_config "$n" "$CFG_DIR/rvsd$n.toml"
    printf '\n[sync]\nsync_id = 19\nmember_id = %s\ninterface = "sy"\nkey_file = "%s"\n' "$n" "$SYNC_KEY" \
      >>"$CFG_DIR/rvsd$n.toml"
  done
}

# sync_keepalived_conf N OUT [EXTRA_VRRP_LINES]: vrrp-lib's keepalived.conf of director N
# with `lvs_sync_daemon sy VI_1 id 19` in global_defs, as an LVS pair that syncs has it.
sync_keepalived_conf() {
  keepalived_conf "$@"
  sed -i '/^    vrrp_garp_master_delay 1$/a\    lvs_sync_daemon sy VI_1 id 19' "$2"
  grep -q '^    lvs_sync_daemon sy VI_1 id 19$' "$2" || die "no lvs_sync_daemon in $2"
}

# sync_field N KEY: a field of director N's start-up sync ("initial_sync", ...) as its
# rvs-ctrl's hold and rvsadm --sync show it: hold (rvs-ctrl API), state (rvsadm line).
hold_of() {
  api "$1" /api/v1/vrrp | "$PY" -c 'import json,sys
try: print(str(json.load(sys.stdin)["sync_hold"]).lower())
except Exception: print("none")'
}
# startup_sync N: director N's "start-up sync: ..." line of rvsadm --sync.
startup_sync() { adm "$1" --sync 2>/dev/null | grep '^start-up sync:'; }
# established N: ESTABLISHED sessions in director N's table.
established() { adm "$1" -Lnc 2>/dev/null | awk 'NR > 2 && /ESTABLISHED/' | wc -l; }

# downloads_start RATE: $DOWNLOADS rate-limited downloads of the 50 MB big.bin through the VIP.
downloads_start() {
  local i
  DL_PIDS=()
  for i in $(seq "$DOWNLOADS"); do
    in_client curl -s --max-time 150 --limit-rate "$1" -o "$CFG_DIR/dl.$i" \
      -w '%{http_code} %{size_download}\n' "http://$VIP/big.bin" >"$CFG_DIR/dl.$i.status" 2>&1 &
    DL_PIDS+=($!)
    bg_track "$!"
  done
}

# downloads_in_flight: how many are still running.
downloads_in_flight() {
  local p n=0
  for p in "${DL_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done
  echo "$n"
}

# downloads_check: waits for them; asserts each completed byte-identical (sha256), whole.
downloads_check() {
  local i got failed=0 want
  want=$(cat "$STATE/big.sha256")
  for i in $(seq "$DOWNLOADS"); do
    wait "${DL_PIDS[$((i - 1))]}"
    got=$(sha256sum "$CFG_DIR/dl.$i" 2>/dev/null | awk '{print $1}')
    if [[ $got == "$want" && $(cat "$CFG_DIR/dl.$i.status") == "200 $((50 * 1024 * 1024))" ]]; then
      rm -f "$CFG_DIR/dl.$i"
    else
      failed=$((failed + 1))
      say "download $i: $(cat "$CFG_DIR/dl.$i.status") sha256 $got"
    fi
  done
  assert_eq "downloads that did not complete byte-identical (of $DOWNLOADS)" 0 "$failed"
}

# sync_curl_loop FILE: one request every 50 ms from the client until FILE.stop exists; a
# line per request: "start_ms end_ms ok|FAIL". A request may take 10 s: a SYN lost while
# the VIP moves is retransmitted after 1 s and 3 s, as TCP does, and a real server busy
# with the downloads on a loaded host may answer seconds late (as in lab 47).
sync_curl_loop() {
  # shellcheck disable=SC2016
  in_client bash -c 'while [[ ! -e $1.stop ]]; do
      t=$(date +%s%3N)
      if curl -s --max-time 10 -o /dev/null "http://$2/"; then r=ok; else r=FAIL; fi
      echo "$t $(date +%s%3N) $r" >>"$1"
      sleep 0.05
    done' _ "$1" "$VIP" &
  bg_track $!
}

# move_gap FILE T_MS: the longest time without a successful answer around T (between two
# consecutive successful completions, the later one after T, within 30 s), the failed
# requests from 1 s before T on, and the failures after the first success after T.
move_gap() {
  awk -v k="$2" '$3 == "FAIL" && $2 >= k - 1000 && $1 <= k + 30000 {f++}
    $3 == "ok" { if ($2 >= k && prev && $2 - prev > g && prev < k + 30000) g = $2 - prev; prev = $2 }
    $1 > k && $3 == "ok" && !s {s = $1}
    s && $1 > s && $1 <= k + 30000 && $3 == "FAIL" {late++}
    END {print g + 0, f + 0, late + 0}' "$1"
}

# fail_times FILE T_MS: the failed requests' start times, in ms after T.
fail_times() { awk -v k="$2" '$3 == "FAIL" && $1 >= k - 1000 && $1 <= k + 30000 {printf "%d ", $1 - k}' "$1"; }

# watch_failback N SECS OUT: samples director N every ~0.2 s until it is MASTER (or SECS
# pass): "ms state hold startup-sync-state" per line in OUT.
watch_failback() {
  local n=$1 secs=$2 out=$3 end st
  end=$(($(date +%s) + secs))
  : >"$out"
  while (($(date +%s) < end)); do
    st=$(vrrp_state "$n")
    printf '%s %s %s %s\n' "$(date +%s%3N)" "$st" "$(hold_of "$n")" \
      "$(startup_sync "$n" | awk '{print $3}' | tr -d ';')" >>"$out"
    [[ $st == MASTER ]] && return 0
    sleep 0.2
  done
  return 1
}
