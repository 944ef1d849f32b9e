#!/usr/bin/env bash
# Installs what bench/run.sh needs beyond scripts/setup.sh: the balancers the lab compares
# rvsd with, the load generators, valgrind and matplotlib, and the sources of DPDK's examples
# (dpdk-doc: bench/l3fwd.sh builds l3fwd from them). Debian 12, root.
set -euo pipefail
pkgs=(haproxy nftables libnginx-mod-stream nginx iperf3 wrk valgrind python3-matplotlib dpdk dpdk-doc make)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
# haproxy and nginx are only started inside the lab's namespaces by bench/lab.sh.
for s in haproxy nginx; do systemctl disable --now "$s" >/dev/null 2>&1 || true; done
echo "bench setup: ok"
