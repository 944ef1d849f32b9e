# shellcheck shell=bash
# shellcheck disable=SC2034
# Helpers of the VLAN trunk test (30): the lab's server side becomes an 802.1Q trunk.
# Source after lib.sh (and exc-lib.sh).
#
#   rvs-lb                                rvs-sw                                        rvs-rsN
#   lb-s: rvsd "server" port  <-------->  sw-lb = trunk of vlan-switch --+-- sw-rs1 (VLAN 10) <--> rs1 198.19.10.11
#     VLAN 10: 198.19.10.1, LIPs .200 .201                              +-- sw-rs2 (VLAN 20) <--> rs2 198.19.20.12
#     VLAN 20: 198.19.20.1, LIP  .200                                   +-- sw-rs3 (VLAN 20) <--> rs3 198.19.20.13
#     kernel taps <ks>.10, <ks>.20: 198.19.10.2, 198.19.20.2
#
# The switch namespace's bridge lets go of its ports; the lab's tagging switch
# (tests/tools/vlan-switch; this kernel cannot tag) takes them.

VLAN_SWITCH=${VLAN_SWITCH:-$ROOT/target/release/vlan-switch}
RS_VLAN=(10 20 20)
RS_VLAN_IPS=(198.19.10.11 198.19.20.12 198.19.20.13)
LIPS_10=(198.19.10.200 198.19.10.201)
LIPS_20=(198.19.20.200)
KERNEL_10_IP=198.19.10.2
KERNEL_20_IP=198.19.20.2
VSW_PID=

# vlan_trunk_up: rewires the lab's server side into the trunk above and starts the switch.
vlan_trunk_up() {
  local i ns sw=$RVS_LAB-sw
  [[ -x $VLAN_SWITCH ]] || die "vlan-switch not built: $VLAN_SWITCH (cargo build --release -p vlan-switch)"
  ip -n "$sw" link set sw-lb nomaster || die "sw-lb off the bridge"
  for i in 1 2 3; do
    ns=$RVS_LAB-rs$i
    ip -n "$sw" link set "sw-rs$i" nomaster || die "sw-rs$i off the bridge"
    ip -n "$ns" addr flush dev eth0
    ip -n "$ns" addr add "${RS_VLAN_IPS[i - 1]}/24" dev eth0 || die "rs$i address"
    ip -n "$ns" route replace default via "198.19.${RS_VLAN[i - 1]}.1" dev eth0 || die "rs$i route"
  done
  ip netns exec "$sw" "$VLAN_SWITCH" --trunk sw-lb --access sw-rs1=10 --access sw-rs2=20 --access sw-rs3=20 \
    >"$CFG_DIR/vsw.json" 2>"$CFG_DIR/vsw.err" &
  VSW_PID=$!
  bg_track "$VSW_PID"
  wait_for 5 "vlan-switch up" grep -q trunk "$CFG_DIR/vsw.err" || die "vlan-switch did not start"
}

# vlan_config WORKERS OUT: the lab's rvsd config with the server port as that trunk: its
# VLANs, their LIP pools, kernel taps; one TCP service over rs1 (VLAN 10) and rs2, rs3
# (VLAN 20), naming no LIP of its own.
vlan_config() {
  local out=$2
  make_config "$1" "$out.base"
  sed -n '1,/^max_sessions/p' "$out.base" >"$out"
  cat >>"$out" <<EOT

[[port]]
name = "client"
device = "net_af_packet0"
devargs = "iface=lb-c,framecnt=4096"
addresses = ["198.18.0.1/24"]

[[port]]
name = "server"
device = "net_af_packet1"
devargs = "iface=lb-s,framecnt=4096"
addresses = ["198.19.0.1/24"]
kernel_if = "tap"
kernel_name = "$KIF_S"

[[port.vlan]]
id = 10
addresses = ["198.19.10.1/24"]
local_addresses = ["${LIPS_10[0]}", "${LIPS_10[1]}"]

[[port.vlan]]
id = 20
addresses = ["198.19.20.1/24"]
local_addresses = ["${LIPS_20[0]}"]

[[service]]
protocol = "tcp"
address = "$VIP:80"
scheduler = "rr"
real = [
  { address = "${RS_VLAN_IPS[0]}:80" },
  { address = "${RS_VLAN_IPS[1]}:80" },
  { address = "${RS_VLAN_IPS[2]}:80" },
]
EOT
  rm -f "$out.base"
  grep -q 'control_socket' "$out" || die "vlan_config: no dataplane section in $out"
}

# vlan_rows OUTPUT PORT VLAN: the "all" row of 'rvsadm --workers' VLAN table
# (RxPkts RxBytes TxPkts TxBytes Drops).
vlan_row() {
  awk -v p="$2" -v v="$3" '/^Port +VLAN/ {t = 1; next} t && $1 == p && $2 == v && $3 == "all" {print $4, $5, $6, $7, $8}' <<<"$1"
}
