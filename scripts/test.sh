#!/usr/bin/env bash
# Runs everything: setup, fmt, clippy, unit tests, release build, then the lab tests.
#
#   scripts/test.sh              everything
#   scripts/test.sh --quick      no lab tests
#   scripts/test.sh --lab-only   setup + release build + lab tests (no fmt/clippy/cargo test)
#   scripts/test.sh [opts] PATTERN...   only lab tests whose name (e.g. 01-http-rr-w2) matches
#                                       one of the extended regexps
#
# Lab tests run one after the other (they share the lab), each under 'timeout 300', and a
# failure does not stop the others. The last line is exactly 'lab: N passed, N failed'.
# Exit status is non-zero if any step or test failed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

QUICK=0
LAB_ONLY=0
FILTERS=()
for a in "$@"; do
  case $a in
    --quick) QUICK=1 ;;
    --lab-only) LAB_ONLY=1 ;;
    -h | --help)
      sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*) echo "test.sh: unknown option $a" >&2; exit 2 ;;
    *) FILTERS+=("$a") ;;
  esac
done
if ((QUICK && LAB_ONLY)); then
  echo "test.sh: --quick and --lab-only exclude each other" >&2
  exit 2
fi

LOG_DIR=${RVS_TEST_LOGS:-/tmp/rvs-test-logs}
mkdir -p "$LOG_DIR"
STEP_FAILS=()
BUILD_OK=1

step() {
  local name=$1 t0=$SECONDS
  shift
  echo "==> $name"
  if "$@"; then
    echo "==> $name: ok ($((SECONDS - t0)) s)"
  else
    echo "==> $name: FAILED ($((SECONDS - t0)) s)"
    STEP_FAILS+=("$name")
    return 1
  fi
}

step setup scripts/setup.sh || { echo "lab: 0 passed, 0 failed"; exit 1; }

if ((!LAB_ONLY)); then
  step "cargo fmt" cargo fmt --all -- --check
  step "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings
  step "cargo test" cargo test --workspace
  step "monitoring examples" scripts/check-examples.sh
fi
step "cargo build --release" cargo build --release || BUILD_OK=0

# name, script, workers. Each line: NAME SCRIPT WORKERS
LAB_TESTS=()
for w in 1 2; do
  for t in 01-http-rr 02-wrk 03-download 04-udp-icmp 05-expiry 06-malformed; do
    LAB_TESTS+=("$t-w$w $t $w")
  done
done
LAB_TESTS+=("07-two-workers-w2 07-two-workers 2")
for w in 1 2; do
  for t in 09-persistence 10-quiesce 16-thresholds 22-nodest; do
    LAB_TESTS+=("$t-w$w $t $w")
  done
done
LAB_TESTS+=("08-bad-config 08-bad-config 1")
# SYN proxy (under a spoofed flood; ordinary traffic), PROXY protocol, TOA.
for w in 1 2; do
  for t in 17-synproxy-flood 18-synproxy-traffic; do
    LAB_TESTS+=("$t-w$w $t $w")
  done
done
# A session table too small for a SYN flood without the SYN proxy: half-open sessions evicted.
for w in 1 2; do
  LAB_TESTS+=("43-table-full-w$w 43-table-full $w")
done
for t in 19-proxy-protocol 20-toa 30-mtu-growth 31-pp-banner; do
  LAB_TESTS+=("$t-w1 $t 1")
done
# Exception path: kernel interfaces on rvsd's ports.
for w in 1 2; do
  LAB_TESTS+=("26-exception-kernel-w$w 26-exception-kernel $w")
  LAB_TESTS+=("28-exception-flood-w$w 28-exception-flood $w")
done
# BIRD/OSPF through the exception path, VIP announced by rvs-ctrl while it has quorum.
LAB_TESTS+=("27-bird-ospf-w1 27-bird-ospf 1")
# The lab's 802.1Q tagging switch (tests/tools/vlan-switch) on its own.
LAB_TESTS+=("29-vlan-switch 29-vlan-switch 1")
# rvsd on an 802.1Q trunk: real servers on VLANs 10 and 20, each with its own LIPs.
for w in 1 2; do
  LAB_TESTS+=("40-vlan-trunk-w$w 40-vlan-trunk $w")
done
# IPv6 on that trunk: rvsd's VLAN addresses answer ND and ping -6, FULLNAT v6 to the VLANs.
for w in 1 2; do
  LAB_TESTS+=("57-ipv6-vlan-w$w 57-ipv6-vlan $w")
done
# Forwarding methods DR (keepalived.conf and ipvsadm lines), ldirectord through rvsadm as
# ipvsadm, NAT (with two workers too: its replies reach the client's worker), TUN.
for w in 1 2; do
  LAB_TESTS+=("33-dr-w$w 33-dr $w")
  LAB_TESTS+=("35-nat-w$w 35-nat $w")
done
for t in 34-ldirectord 36-tun; do
  LAB_TESTS+=("$t $t 1")
done
# Two directors with session sync: failover under load, forged sync messages, SYN cookies
# across the pair (tests/lab/ha-lib.sh).
for t in 47-ha-failover 48-sync-forged 49-ha-synproxy; do
  LAB_TESTS+=("$t-w1 $t 1")
done
LAB_TESTS+=("47-ha-failover-w2 47-ha-failover 2")
# The same pair with an IPv6 VIP: IPv6 FULLNAT and NAT64 downloads survive the failover.
for w in 1 2; do
  LAB_TESTS+=("54-ha-ipv6-w$w 54-ha-ipv6 $w")
done
# The same pair with NAT (masquerade) real servers: their sessions are synced too.
for w in 1 2; do
  LAB_TESTS+=("58-ha-nat-w$w 58-ha-nat $w")
done
# And with LVS/DR (IPv4, IPv6) and LVS/TUN real servers (the VIPs on lo / tunl0, replies
# through a gateway): their sessions are synced and the downloads survive lb1's death.
for w in 1 2; do
  LAB_TESTS+=("59-ha-dr-w$w 59-ha-dr $w")
done
# ECMP cluster of active directors: a router with L4-hash ECMP over three rvsd + BIRD
# directors; member failure under downloads, the same real server on every member, a
# member joining (announced after its bulk sync), a graceful leave under wrk.
for t in 50-cluster-failure 51-cluster-same-real 52-cluster-join 53-cluster-leave; do
  LAB_TESTS+=("$t $t 1")
done
# VRRP: two directors driven by rvs-ctrl's keepalived; a plain keepalived peer; ocf:rvs:vip.
for t in 37-vrrp-failover 38-vrrp-interop 39-ocf-vip; do
  LAB_TESTS+=("$t $t 1")
done
# VRRP with session sync: failover and failback under downloads (tests/lab/vrrp-sync-lib.sh).
for t in 55-vrrp-sync-failover 56-vrrp-sync-nopreempt; do
  LAB_TESTS+=("$t $t 1")
done
# An IPv6 VIP (virtual_ipaddress_excluded) failing over with its VRRP instance.
# 68: the same with an IPv6 instance (VRRPv3 over IPv6 through rvsd's taps).
for t in 67-vrrp-ipv6 68-vrrp-ipv6-instance; do
  LAB_TESTS+=("$t $t 1")
done
# rvs-ctrl (keepalived.conf, health checks, reload, stats, /metrics, JSON API): one worker.
for t in 11-ctrl-health 12-ctrl-quorum 13-ctrl-reload 14-ctrl-stats-metrics 15-ctrl-bad-config 21-ctrl-scale \
  23-ka-persistence 24-ka-tcp-options 25-ka-group-quorum 70-ctrl-file-check; do
  LAB_TESTS+=("$t $t 1")
done
# The control socket under stuck, oversized and unprivileged clients.
LAB_TESTS+=("45-control-access 45-control-access 1")
# ICMP errors translated for their sessions (port unreachable to a UDP client); with two
# workers the error must find the worker that owns its session.
for w in 1 2; do
  LAB_TESTS+=("46-icmp-errors-w$w 46-icmp-errors $w")
done
# Per-service source lists and admission limits against two client hosts and a UDP flood.
LAB_TESTS+=("65-acl-limits-w1 65-acl-limits 1")
# rvs-ctrl's checkers over IPv6 on an IPv6 keepalived.conf.
LAB_TESTS+=("66-ctrl-ipv6-w1 66-ctrl-ipv6 1")
# Static neighbours: a pinned real server that answers no ARP, a forged ARP reply for it.
for w in 1 2; do
  LAB_TESTS+=("69-static-neighbour-w$w 69-static-neighbour $w")
done
# IPv6: own addresses (ND, ping -6), FULLNAT v6 -> v6 for TCP and UDP, rvsadm's brackets.
for w in 1 2; do
  LAB_TESTS+=("60-ipv6-w$w 60-ipv6 $w")
done
# NAT64: an IPv6 VIP in front of the IPv4 real servers, TOA v6; two workers hand replies over.
for w in 1 2; do
  LAB_TESTS+=("61-nat64-w$w 61-nat64 $w")
done
# IPv6 DR (keepalived.conf), NAT and TUN (rvsadm): curl -6, access logs with the client,
# downloads intact, DR replies bypassing rvsd, Packet Too Big for TUN; two workers steer NAT.
for w in 1 2; do
  LAB_TESTS+=("64-ipv6-methods-w$w 64-ipv6-methods $w")
done
# Path MTU discovery through a narrow hop on the server side (IPv4 and IPv6), and IPv6
# fragments steered through a UDP VIP.
LAB_TESTS+=("62-pmtu 62-pmtu 1")
for w in 1 2; do
  LAB_TESTS+=("63-fragments-w$w 63-fragments $w")
done
# What an operator lives with: the dashboard in headless Chromium; the .deb package.
LAB_TESTS+=("41-dashboard 41-dashboard 1")
LAB_TESTS+=("42-package 42-package 1")

selected() {
  local name=$1 f
  ((${#FILTERS[@]})) || return 0
  for f in "${FILTERS[@]}"; do [[ $name =~ $f ]] && return 0; done
  return 1
}

PASSED=0
FAILED=0
FAILED_NAMES=()
if ((!QUICK)); then
  if ((EUID != 0)); then
    echo "test.sh: the lab tests need root" >&2
    echo "lab: 0 passed, 1 failed"
    exit 1
  fi
  ((BUILD_OK)) || echo "==> release build failed: lab tests will fail"
  for entry in "${LAB_TESTS[@]}"; do
    read -r name script workers <<<"$entry"
    selected "$name" || continue
    log=$LOG_DIR/$name.log
    echo "==> lab $name"
    t0=$SECONDS
    WORKERS=$workers timeout -k 20 300 bash "tests/lab/$script.sh" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    # Safety net: whatever the test did (even if it was killed), leave nothing behind.
    scripts/lab.sh down >/dev/null 2>&1 || scripts/lab.sh down
    if ((rc == 0)); then
      PASSED=$((PASSED + 1))
      echo "==> lab $name: PASS ($((SECONDS - t0)) s)"
    else
      FAILED=$((FAILED + 1))
      FAILED_NAMES+=("$name")
      ((rc == 124 || rc == 137)) && echo "==> lab $name: timed out after 300 s"
      echo "==> lab $name: FAIL (exit $rc, $((SECONDS - t0)) s, log $log)"
    fi
  done
  if ((${#FILTERS[@]} && PASSED + FAILED == 0)); then
    echo "==> no lab test matches: ${FILTERS[*]}"
    STEP_FAILS+=("lab test selection")
  fi
fi

echo
((${#STEP_FAILS[@]})) && echo "failed steps: ${STEP_FAILS[*]}"
((${#FAILED_NAMES[@]})) && echo "failed lab tests: ${FAILED_NAMES[*]}"
echo "lab: $PASSED passed, $FAILED failed"
((${#STEP_FAILS[@]} == 0 && FAILED == 0))
