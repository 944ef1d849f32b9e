#!/usr/bin/env bash
# Lab 67-vrrp-ipv6 with an IPv6 vrrp_instance: the IPv6 VIP in virtual_ipaddress (keepalived
# speaks VRRPv3 over IPv6 through rvsd's taps), the IPv4 VIP in virtual_ipaddress_excluded.
VRRP6_INSTANCE=1
# shellcheck source=tests/lab/67-vrrp-ipv6.sh
source "$(dirname "$0")/67-vrrp-ipv6.sh"
