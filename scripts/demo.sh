#!/usr/bin/env bash
# A five-minute tour: builds rvsd and rvsadm, brings the lab up, balances some HTTP and UDP
# through the VIP 198.18.0.100, shows rvsadm's view, and tears everything down again.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export RVS_LAB_STATE=${RVS_LAB_STATE:-/tmp/rvs-lab}
STATE=$RVS_LAB_STATE
RVSD=$ROOT/target/release/rvsd
RVSADM=$ROOT/target/release/rvsadm
VIP=198.18.0.100
RVSD_PID=

((EUID == 0)) || { echo "demo: run as root (namespaces, DPDK)" >&2; exit 1; }

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  if [[ -n $RVSD_PID ]] && kill -0 "$RVSD_PID" 2>/dev/null; then
    echo "== stopping rvsd"
    kill -TERM "$RVSD_PID" 2>/dev/null || true
    for i in $(seq 100); do kill -0 "$RVSD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$RVSD_PID" 2>/dev/null || true
  fi
  # DPDK leaves its runtime directory (examples/lab.toml's --file-prefix) behind.
  [[ -n $RVSD_PID ]] && rm -rf /var/run/dpdk/rvsd-lab
  "$ROOT/scripts/lab.sh" down || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

hdr() { printf '\n== %s\n' "$*"; }

hdr "setup"
scripts/setup.sh
hdr "cargo build --release"
cargo build --release
hdr "lab up"
scripts/lab.sh up

hdr "starting rvsd with examples/lab.toml (log $STATE/rvsd-demo.log)"
if "$RVSADM" -Ln >/dev/null 2>&1; then
  echo "demo: another rvsd already answers on the control socket; stop it first" >&2
  exit 1
fi
ip netns exec rvs-lb "$RVSD" --config examples/lab.toml </dev/null >"$STATE/rvsd-demo.log" 2>&1 &
RVSD_PID=$!
echo "$RVSD_PID" >"$STATE/rvsd.pid"
up=0
for _ in $(seq 80); do
  kill -0 "$RVSD_PID" 2>/dev/null || break
  if "$RVSADM" -Ln >/dev/null 2>&1; then up=1; break; fi
  sleep 0.25
done
if ((!up)); then
  tail -n 30 "$STATE/rvsd-demo.log" >&2
  echo "demo: rvsd did not come up" >&2
  exit 1
fi
for _ in $(seq 20); do
  ip netns exec rvs-client ping -n -c 1 -W 1 198.18.0.1 >/dev/null 2>&1 && break
  sleep 0.5
done

hdr "rvsadm -Ln"
"$RVSADM" -Ln

hdr "6 HTTP requests from rvs-client to http://$VIP/"
for i in $(seq 6); do
  body=$(ip netns exec rvs-client curl -s --max-time 5 "http://$VIP/" || echo "(no answer)")
  echo "request $i answered by: $body"
done

hdr "one UDP datagram to $VIP:53 (echo service on the real servers)"
ip netns exec rvs-client /usr/bin/python3 "$ROOT/tests/lab/udp_burst.py" \
  --dst "$VIP" --port 53 --count 1 --sports 1 --timeout 3 || true

hdr "rvsadm -Lnc"
"$RVSADM" -Lnc
hdr "rvsadm --workers"
"$RVSADM" --workers

hdr "real server access logs (remote_addr is a LIP: FULLNAT)"
tail -n 2 "$STATE"/rs[123]/access.log
