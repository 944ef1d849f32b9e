# shellcheck shell=bash
# Variables set by lib.sh (sourced first) and used by the tests:
# shellcheck disable=SC2034,SC2153
# Two directors (tests 47-49): lb1 (the lab's rvs-lb) and lb2, each its own rvsd with the
# same services, workers and LIPs, on the same client and server segments, plus a sync link.
# Source after lib.sh.
#
#   client c0 ---+ br1 (switch ns) +--- lb1 lb-c   rvsd   lb-s ---+ br0 +--- rs1..3
#                |                 +--- lb2 lb-c   rvsd   lb-s ---+
#   lb1 sy 198.18.9.1/24 <---- sync link (kernel veth) ----> lb2 sy 198.18.9.2/24
#
# Each director's ports have their own addresses (lb1 198.18.0.1 / 198.19.0.1, lb2 .2);
# the VIP 198.18.0.100 and the LIPs 198.19.0.200-201 move between them.

NS_LB1=$RVS_LAB-lb
NS_LB2=$RVS_LAB-lb2
NS_SW=$RVS_LAB-sw
SYNC_IP1=198.18.9.1
SYNC_IP2=198.18.9.2
SYNC_KEY=$STATE/sync.key
CTRL_SOCK2=/run/rvsd/$RVS_LAB-2.sock
RVSD2_PID=
RVSD2_LOG=
RVSD2_PREFIX=

in_lb1() { ip netns exec "$NS_LB1" "$@"; }
in_lb2() { ip netns exec "$NS_LB2" "$@"; }
in_sw() { ip netns exec "$NS_SW" "$@"; }
rvsadm1() { timeout 15 "$RVSADM" --socket "$CTRL_SOCK" "$@"; }
rvsadm2() { timeout 15 "$RVSADM" --socket "$CTRL_SOCK2" "$@"; }

_ha_dev() {
  local ns=$1 dev=$2 f
  for f in rx tx sg tso gso gro lro; do ip netns exec "$ns" ethtool -K "$dev" "$f" off >/dev/null 2>&1; done
  ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1" >/dev/null 2>&1
  ip netns exec "$ns" ip link set "$dev" up
}

# ha_up: the lab, then the client segment as a bridge with both directors on it, lb2 on
# the server bridge, the sync link, and a cluster key (mode 600).
ha_up() {
  lab_up
  say "two directors: lb2, client bridge, sync link"
  ip netns del "$NS_LB2" 2>/dev/null
  ip netns add "$NS_LB2" || die "ip netns add $NS_LB2"
  in_lb2 sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  in_lb2 sysctl -qw net.ipv6.conf.default.disable_ipv6=1
  in_lb2 ip link set lo up
  # The lab's client <-> lb veth is replaced by a bridge.
  in_client ip link del c0 || die "cannot remove the client veth"
  in_sw ip link add br1 type bridge stp_state 0 forward_delay 0
  in_sw ip link set br1 type bridge mcast_snooping 0 2>/dev/null
  ip link add c0 netns "$RVS_LAB-client" address 02:72:76:00:00:10 type veth peer name swc-c netns "$NS_SW"
  ip link add lb-c netns "$NS_LB1" address 02:72:76:00:01:01 type veth peer name swc-lb1 netns "$NS_SW"
  ip link add lb-c netns "$NS_LB2" address 02:72:76:00:03:01 type veth peer name swc-lb2 netns "$NS_SW"
  ip link add lb-s netns "$NS_LB2" address 02:72:76:00:03:02 type veth peer name sw-lb2 netns "$NS_SW"
  ip link add sy netns "$NS_LB1" address 02:72:76:00:09:01 type veth peer name sy netns "$NS_LB2" address 02:72:76:00:09:02
  local d
  for d in swc-c swc-lb1 swc-lb2; do in_sw ip link set "$d" master br1; done
  in_sw ip link set sw-lb2 master br0
  for d in br1 swc-c swc-lb1 swc-lb2 sw-lb2; do _ha_dev "$NS_SW" "$d"; done
  _ha_dev "$RVS_LAB-client" c0
  for d in lb-c lb-s sy; do _ha_dev "$NS_LB2" "$d"; done
  for d in lb-c sy; do _ha_dev "$NS_LB1" "$d"; done
  local i
  for i in $(seq 10 30); do in_client ip addr add "198.18.0.$i/24" dev c0; done
  in_client ip route add default via 198.18.0.1 dev c0 src 198.18.0.10
  in_lb1 ip addr add "$SYNC_IP1/24" dev sy
  in_lb2 ip addr add "$SYNC_IP2/24" dev sy
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$SYNC_KEY")
  [[ $(stat -c %a "$SYNC_KEY") == 600 ]] || die "cluster key file is not mode 600"
}

# ha_config N WORKERS OUT [INITIAL]: the lab config for director N (1 or 2): its own port
# addresses, control socket and file prefix, [ha] initial, and [sync] on its sync link.
ha_config() {
  local n=$1 workers=$2 out=$3 initial=${4:-master} lb1_prefix=$RVSD_PREFIX
  make_config "$workers" "$out"
  if ((n == 2)); then
    RVSD2_PREFIX="rvsd-lab2-$$-$RANDOM"
    sed -i -e "s/\"--file-prefix\", \"$RVSD_PREFIX\"/\"--file-prefix\", \"$RVSD2_PREFIX\"/" \
      -e "s|^control_socket = .*|control_socket = \"$CTRL_SOCK2\"|" \
      -e 's|"198.18.0.1/24"|"198.18.0.2/24"|' -e 's|"198.19.0.1/24"|"198.19.0.2/24"|' "$out"
    grep -qF '"198.18.0.2/24"' "$out" || die "ha_config: could not set lb2's addresses"
    # make_config named a prefix for lb2's config, now lb2's own: lb1's is still lb1's.
    RVSD_PREFIX=$lb1_prefix
  fi
  cat >>"$out" <<EOF

[ha]
initial = "$initial"

[sync]
sync_id = 19
member_id = $n
interface = "sy"
key_file = "$SYNC_KEY"
EOF
}

# ha_ipv6_client: with RVS_LAB_IPV6=1, gives the client its lab IPv6 address back (ha_up
# made its port again, without IPv6).
ha_ipv6_client() {
  local k
  for k in c0.disable_ipv6=0 c0.accept_ra=0 c0.autoconf=0 c0.router_solicitations=0 c0.dad_transmits=0; do
    in_client sysctl -qw "net.ipv6.conf.$k" >/dev/null
  done
  in_client ip -6 addr add 2001:db8:1::10/64 dev c0 nodad || die "cannot give the client its IPv6 address"
}

# ha_ipv6_ports N FILE: director N's IPv6 port addresses (2001:db8:1::N, 2001:db8:2::N).
ha_ipv6_ports() {
  local n=$1 f=$2
  sed -i -e "s|^addresses = \[\"198.18.0.$n/24\"\]|addresses = [\"198.18.0.$n/24\", \"2001:db8:1::$n/64\"]|" \
    -e "s|^addresses = \[\"198.19.0.$n/24\"\]|addresses = [\"198.19.0.$n/24\", \"2001:db8:2::$n/64\"]|" "$f"
  grep -qF "2001:db8:2::$n/64" "$f" || die "could not add director $n's IPv6 port addresses"
}

# rvsd2_start CONFIG: like rvsd_start, for lb2.
rvsd2_start() {
  local cfg=$1 i
  RVSD2_LOG=$STATE/rvsd2-$TEST_NAME-w$WORKERS.log
  say "starting lb2's rvsd (log $RVSD2_LOG)"
  # Not through in_lb2: $! would be the function's subshell, and rvsd2_stop's signal would
  # stop that shell and leave rvsd running.
  ip netns exec "$NS_LB2" "$RVSD" --config "$cfg" </dev/null >"$RVSD2_LOG" 2>&1 &
  RVSD2_PID=$!
  echo "$RVSD2_PID" >"$STATE/rvsd2.pid"
  for i in $(seq 80); do
    if ! kill -0 "$RVSD2_PID" 2>/dev/null; then
      tail -n 30 "$RVSD2_LOG" | indent
      RVSD2_PID=
      die "lb2's rvsd exited during startup"
    fi
    if rvsadm2 -Ln >/dev/null 2>&1; then
      pass "lb2's rvsd answers rvsadm"
      return 0
    fi
    sleep 0.25
  done
  die "lb2's rvsd did not answer within 20 s"
}

rvsd2_stop() {
  local i
  if [[ -n $RVSD2_PID ]] && kill -0 "$RVSD2_PID" 2>/dev/null; then
    kill -TERM "$RVSD2_PID" 2>/dev/null
    for i in $(seq 100); do
      kill -0 "$RVSD2_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$RVSD2_PID" 2>/dev/null
    wait "$RVSD2_PID" 2>/dev/null
  fi
  RVSD2_PID=
  rm -f "$STATE/rvsd2.pid" "$CTRL_SOCK2"
  [[ -n $RVSD2_PREFIX ]] && rm -rf "/var/run/dpdk/$RVSD2_PREFIX"
  return 0
}

# rvsd1_kill9: lb1's rvsd crashes (SIGKILL); lib.sh's final checks then skip it.
rvsd1_kill9() {
  kill -KILL "$RVSD_PID" 2>/dev/null
  wait "$RVSD_PID" 2>/dev/null
  RVSD_PID=
  rm -f "$STATE/rvsd.pid" "$CTRL_SOCK"
  [[ -n $RVSD_PREFIX ]] && rm -rf "/var/run/dpdk/$RVSD_PREFIX"
  return 0
}

# sync_count OUTPUT NAME: the count of row NAME in 'rvsadm --sync' (refusal or
# install-failure reasons); 0 when absent.
sync_count() { awk -v r="$2" '$1 == r {print $2; f = 1; exit} END {if (!f) print 0}' <<<"$1"; }

# lb2's rvsd goes down with the lab whatever happens (lib.sh's trap then removes the lab).
_ha_cleanup() {
  if ((_FAILS)) && [[ -n $RVSD2_LOG && -f $RVSD2_LOG ]]; then
    say "lb2 rvsd log tail ($RVSD2_LOG):"
    tail -n 25 "$RVSD2_LOG" | indent
  fi
  rvsd2_stop
}
_ha_exit() {
  local rc=$?
  _ha_cleanup
  (exit "$rc")
  _cleanup
}
trap _ha_exit EXIT

# recv_from DST: the payload bytes the client's TCP sockets to DST (an `ss` address, e.g.
# 198.18.0.100 or [2001:db8:1::100]:8080) have received, buffered or not: what a failover
# test subtracts from the downloads' size to know what the new master must still carry.
recv_from() {
  in_client ss -tin "dst $1" 2>/dev/null | grep -o 'bytes_received:[0-9]*' | awk -F: '{s += $2} END {print s + 0}'
}

# held_by_clients DST: at most the bytes the client's sockets to DST hold out of order.
# Segments a client holds out of order when a director dies came through it, are
# acknowledged selectively (SACK) and are not in bytes_received until the hole before them
# is filled: the new master never carries them. Bounded by the out-of-order packets each
# socket ever received (rcv_ooopack, cumulative) times its receive MSS.
# ha_assert_carried WHAT LEFT HELD OUT: lb2 forwarded (OUT, IP bytes of its service
# counters) at least 90 % of what the clients had left to receive (LEFT) less what they held
# out of order (HELD). Not all of it: the payload of the remainder is within a few per cent
# of what lb2 forwarded, and some frames a dying lb1 had queued in the kernel still arrive
# after the count (NAT64 came out 0.3-1.2 % under a bound without the margin); a third path
# would show as far less.
ha_assert_carried() {
  local need=$((($2 - $3) * 9 / 10))
  say "$1: $4 bytes for $(($2 - $3)) left ($((${4:-0} * 100 / ($2 - $3 > 0 ? $2 - $3 : 1))) %)"
  assert_ge "$1 (90 % of what was left)" "$need" "${4:-0}"
}

held_by_clients() {
  in_client ss -tin "dst $1" 2>/dev/null | awk '
    { ooo = 0; mss = 0
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^rcv_ooopack:/) { split($i, a, ":"); ooo = a[2] }
        if ($i ~ /^rcvmss:/) { split($i, a, ":"); mss = a[2] }
      }
      s += ooo * mss }
    END { print s + 0 }'
}

# ha_watch_takeover: the watcher the failover tests start before killing lb1: it polls lb1
# every 100 ms; when lb1 stops answering, it notes the time ($CFG_DIR/takeover.ms) and tells
# lb2 to take over ($CFG_DIR/takeover.out). Its pid is $WATCH.
WATCH=
ha_watch_takeover() {
  # shellcheck disable=SC2016
  bash -c 'while timeout 1 "$1" --socket "$2" --owned >/dev/null 2>&1; do sleep 0.1; done
    date +%s%3N >"$4"
    timeout 15 "$1" --socket "$3" --takeover >"$5" 2>&1' _ "$RVSADM" "$CTRL_SOCK" "$CTRL_SOCK2" \
    "$CFG_DIR/takeover.ms" "$CFG_DIR/takeover.out" &
  WATCH=$!
  bg_track "$WATCH"
}

# ha_check_downloads NOMINAL: waits for the downloads dls[i] ("NAME URL", curl pid pids[i],
# written to $CFG_DIR/dl.NAME with its "code size seconds" in dl.NAME.status) and compares
# each with $want (sha256 of the 50 MB file); says how each went (NOMINAL: the time it
# would take at its rate limit) and leaves the count of broken ones in DL_FAILED.
DL_FAILED=0
# The caller's arrays and checksum:
# shellcheck disable=SC2154
ha_check_downloads() {
  local i name got code size secs
  DL_FAILED=0
  for i in "${!dls[@]}"; do
    read -r name _ <<<"${dls[$i]}"
    wait "${pids[$i]}"
    got=$(sha256sum "$CFG_DIR/dl.$name" 2>/dev/null | awk '{print $1}')
    read -r code size secs <"$CFG_DIR/dl.$name.status"
    if [[ $got == "$want" && "$code $size" == "200 $((50 * 1024 * 1024))" ]]; then
      say "download $name: intact in $secs s (nominal: $1)"
      rm -f "$CFG_DIR/dl.$name"
    else
      DL_FAILED=$((DL_FAILED + 1))
      say "download $name: $(cat "$CFG_DIR/dl.$name.status") sha256 $got"
    fi
  done
}

# ha_wait_sync_peer: lb2 lists lb1 as a sync peer within 10 s (a failed check otherwise).
ha_wait_sync_peer() {
  wait_for 10 "lb2 sees lb1 in the sync group" bash -c "'$RVSADM' --socket '$CTRL_SOCK2' --sync | grep -qE '^1 +198.18.9.1:'" ||
    fail "lb2 does not list lb1 as a sync peer"
}

# ha_start_downloads RATE: one curl in the client per entry "NAME URL" of dls, at RATE,
# into $CFG_DIR/dl.NAME (status line in dl.NAME.status); their pids in pids, in dls' order,
# for ha_check_downloads.
ha_start_downloads() {
  local d name url
  pids=()
  for d in "${dls[@]}"; do
    read -r name url <<<"$d"
    in_client curl -s --max-time 90 --limit-rate "$1" -o "$CFG_DIR/dl.$name" \
      -w '%{http_code} %{size_download} %{time_total}\n' "$url" >"$CFG_DIR/dl.$name.status" 2>&1 &
    pids+=($!)
    bg_track "$!"
  done
}

# method_service FILE VIP:PORT METHOD PREFIX: appends a round-robin TCP service with the three
# real servers PREFIX11..PREFIX13 on port 80 forwarded by METHOD (nat, dr, tun);
# PREFIX is "198.19.0." or "[2001:db8:2::" (the closing bracket is added).
method_service() {
  local close=
  [[ $4 == "["* ]] && close="]"
  cat >>"$1" <<EOF

[[service]]
protocol = "tcp"
address = "$2"
scheduler = "rr"
real = [
  { address = "${4}11$close:80", method = "$3" },
  { address = "${4}12$close:80", method = "$3" },
  { address = "${4}13$close:80", method = "$3" },
]
EOF
}
