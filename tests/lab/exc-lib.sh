# shellcheck shell=bash
# shellcheck disable=SC2034
# Helpers of the exception-path tests (23-26): rvsd's ports get kernel interfaces (taps
# rvsd makes, carrying the port's MAC) and the lb namespace's kernel gets addresses on them.
# Source after lib.sh.

# The kernel interfaces (inside the lb namespace; the lab prefix keeps names apart anyway).
KIF_C=$RVS_LAB-kc
KIF_S=$RVS_LAB-ks
# The lb kernel's own address on the client side (rvsd owns 198.18.0.1 and the VIP).
KERNEL_C_IP=198.18.0.2
NS_LB=$RVS_LAB-lb

# exc_config WORKERS OUT [RATE_PPS [BURST [RING]]]: the lab config with a tap on both ports.
exc_config() {
  local out=$2 rate=${3:-20000} burst=${4:-2000} ring=${5:-1024}
  make_config "$1" "$out"
  sed -i -e "/^devargs = \"iface=lb-c,/a kernel_if = \"tap\"\nkernel_name = \"$KIF_C\"" \
    -e "/^devargs = \"iface=lb-s,/a kernel_if = \"tap\"\nkernel_name = \"$KIF_S\"" "$out"
  printf '\n[exception]\nring_size = %s\nrate_pps = %s\nburst = %s\n' "$ring" "$rate" "$burst" >>"$out"
  grep -qF "kernel_name = \"$KIF_C\"" "$out" || die "exc_config: could not add kernel_if to $out"
  grep -qF "kernel_name = \"$KIF_S\"" "$out" || die "exc_config: could not add kernel_if to $out"
}

# lb_kernel_guard: with af_packet the lb kernel sees the veths rvsd drives too. Keep it from
# answering there itself (ARP for its tap addresses, IP to them arriving on a veth), so that
# whatever reaches the kernel came through rvsd's exception path.
lb_kernel_guard() {
  local dev
  in_lb sysctl -qw net.ipv4.conf.all.rp_filter=1
  for dev in lb-c lb-s; do
    in_lb sysctl -qw "net.ipv4.conf.$dev.arp_ignore=8"
    in_lb sysctl -qw "net.ipv4.conf.$dev.rp_filter=1"
  done
}

# kif_wait NAME: waits (up to 10 s) for kernel interface NAME in the lb namespace.
kif_wait() {
  wait_for 10 "kernel interface $1" in_lb ip link show "$1" >/dev/null 2>&1
}

# mac_of NS DEV
mac_of() { ip netns exec "$1" cat "/sys/class/net/$2/address" 2>/dev/null; }

# pcap_count FILE FILTER: packets of FILE matching the tcpdump FILTER.
pcap_count() { tcpdump -r "$1" -n "$2" 2>/dev/null | wc -l; }
