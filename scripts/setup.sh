#!/usr/bin/env bash
# Installs every Debian package RVS needs (build, lab, tests, demo).
# Idempotent: prints one line and touches nothing when everything is already there.
set -euo pipefail

PACKAGES=(
  # build: DPDK 22.11, bindgen, a C toolchain for the linker
  dpdk dpdk-dev libdpdk-dev clang libclang-dev pkg-config build-essential
  # lab topology
  iproute2 ethtool procps psmisc
  # real servers and clients
  nginx-light curl wrk iperf3 hping3 iputils-ping socat python3 python3-scapy
  # Prometheus text-format parser for the /metrics lab test
  python3-prometheus-client
  # debugging and analysis
  tcpdump tshark valgrind shellcheck
  # the soak's and the flood bench's plots (bench/soak.sh, bench/results)
  python3-matplotlib
  # routing daemon of the exception-path lab (OSPF between the director and a router)
  bird2
  # ldirectord drives rvsd through rvsadm installed as ipvsadm (it pulls in Debian's
  # ipvsadm, whose file the test's mount namespace covers); nftables for the TUN test and for
  # the SYN-proxy failover test (it keeps the client kernel's RSTs off the wire)
  ldirectord ipvsadm nftables
  # the dashboard's browser test (headless Chromium over the DevTools protocol), promtool for
  # examples/prometheus, packaging checks (dpkg-deb, systemd-analyze verify, man -l)
  chromium python3-websocket prometheus python3-jsonschema dpkg-dev systemd man-db
  # VRRP: the keepalived rvs-ctrl runs (its no_accept rules need nftables), and the OCF agent's
  # ocf-tester (resource-agents; xmllint checks the agent's meta-data)
  keepalived resource-agents libxml2-utils
)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ $status == installed ]] || missing+=("$p")
done

if ((${#missing[@]})); then
  if ((EUID != 0)); then
    echo "setup: missing packages: ${missing[*]} (run as root to install)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  log=$(mktemp)
  if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    rm -f "$log"
    echo "setup: apt-get failed" >&2
    exit 1
  fi
  rm -f "$log"
  echo "setup: packages installed"
else
  echo "setup: all ${#PACKAGES[@]} packages present"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found: install a Rust toolchain (https://rustup.rs) and put cargo on PATH" >&2
  exit 1
fi

# The lab's scapy scripts need Debian's interpreter, not a pyenv one that may be first on PATH.
if ! /usr/bin/python3 -c 'import scapy.all' >/dev/null 2>&1; then
  echo "setup: /usr/bin/python3 cannot import scapy (python3-scapy broken?)" >&2
  exit 1
fi
if ! /usr/bin/python3 -c 'import websocket' >/dev/null 2>&1; then
  echo "setup: /usr/bin/python3 cannot import websocket (python3-websocket broken?)" >&2
  exit 1
fi
if ! /usr/bin/python3 -c 'import prometheus_client.parser' >/dev/null 2>&1; then
  echo "setup: /usr/bin/python3 cannot import prometheus_client (python3-prometheus-client broken?)" >&2
  exit 1
fi
