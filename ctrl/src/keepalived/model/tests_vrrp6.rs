//! IPv6 VIPs in `vrrp_instance`: `virtual_ipaddress` of the instance's family,
//! `virtual_ipaddress_excluded` of either, errors named by FILE:LINE.

use super::tests::{errors, ok};
use super::*;
use crate::keepalived::{Loaded, Severity};

fn diags(l: &Loaded, s: Severity) -> Vec<String> {
    l.diags.iter().filter(|d| d.severity == s).map(ToString::to_string).collect()
}

/// One instance (line 1) whose block holds `body` from line 4 on.
fn inst(body: &str) -> String {
    format!("vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 51\n{body}}}\n")
}

fn ips(v: &[IpAddr]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

#[test]
fn ipv4_instance_with_excluded_ipv6_vips() {
    let text = format!(
        "{}local_address_group g6 {{\n 2001:db8:2::200\n}}\n\
         virtual_server 2001:db8:1::100 80 {{\n lb_algo rr\n lb_kind FNAT\n laddr_group_name g6\n real_server 2001:db8:2::11 80 {{ }}\n}}\n",
        inst(
            " virtual_ipaddress {\n  198.18.0.100/24 dev eth0 label eth0:1\n }\n virtual_ipaddress_excluded {\n  \
             2001:db8:1::100/64 dev eth0 nodad\n  198.18.0.101\n  2001:db8:1::101\n }\n"
        )
    );
    let l = ok(&text);
    assert!(diags(&l, Severity::Warning).is_empty(), "{:?}", l.diags);
    let i = &l.config.vrrp.instances[0];
    assert!(!i.is_ipv6());
    assert_eq!(ips(&i.vips), ["198.18.0.100"]);
    assert_eq!(ips(&i.excluded), ["2001:db8:1::100", "198.18.0.101", "2001:db8:1::101"]);
    assert_eq!(ips(&i.owned_vips()), ["198.18.0.100", "2001:db8:1::100", "198.18.0.101", "2001:db8:1::101"]);
    // The IPv6 service's LIPs move with the excluded VIP.
    assert_eq!(ips(&i.lips(&l.config)), ["2001:db8:2::200"]);
    // Options are the kernel's business, as for IPv4: said, not refused.
    let infos = diags(&l, Severity::Info);
    assert!(
        infos.iter().any(|m| m
            .starts_with("k.conf:8: virtual_ipaddress_excluded 2001:db8:1::100: 'dev eth0 nodad' ignored")),
        "{infos:?}"
    );
}

#[test]
fn ipv6_instance() {
    let l = ok(&inst(
        " authentication {\n  auth_type PASS\n  auth_pass secret\n }\n virtual_ipaddress {\n  2001:db8:1::100/64\n  \
         2001:db8:1::101 dev eth0\n }\n virtual_ipaddress_excluded {\n  198.18.0.100\n }\n",
    ));
    let i = &l.config.vrrp.instances[0];
    assert!(i.is_ipv6());
    assert_eq!(ips(&i.vips), ["2001:db8:1::100", "2001:db8:1::101"]);
    assert_eq!(ips(&i.excluded), ["198.18.0.100"]);
    // VRRPv3 has no authentication: warned and dropped (keepalived's config test fails on it).
    assert_eq!(i.auth, None);
    let w = diags(&l, Severity::Warning);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("k.conf:4: vrrp_instance VI_1: 'authentication' ignored: an IPv6 instance"),
        "{w:?}"
    );
    // An IPv4 instance keeps it.
    let l = ok(&inst(" authentication {\n  auth_type PASS\n  auth_pass secret\n }\n virtual_ipaddress {\n  198.18.0.1\n }\n"));
    assert!(l.config.vrrp.instances[0].auth.is_some());
}

#[test]
fn refused_forms_name_the_line() {
    let e = errors(&inst(
        " virtual_ipaddress {\n  198.18.0.100\n  2001:db8:1::100\n  2001:db8:1::1/129\n  2001:db8::zz\n  ff02::12\n  ::\n  ::1\n }\n \
         virtual_ipaddress_excluded {\n  2001:db8:1::1/200\n  fe80::1%eth0\n  224.0.0.18\n }\n",
    ));
    for want in [
        "k.conf:6: virtual_ipaddress: 2001:db8:1::100 is IPv6 but the instance is IPv4 (198.18.0.100 comes first): \
         keepalived advertises one family; put 2001:db8:1::100 in virtual_ipaddress_excluded",
        "k.conf:7: virtual_ipaddress: bad prefix length \"129\"",
        "k.conf:8: virtual_ipaddress: bad IP address \"2001:db8::zz\"",
        "k.conf:9: virtual_ipaddress: ff02::12 cannot be a virtual address",
        "k.conf:10: virtual_ipaddress: :: cannot be a virtual address",
        "k.conf:11: virtual_ipaddress: ::1 cannot be a virtual address",
        "k.conf:14: virtual_ipaddress_excluded: bad prefix length \"200\"",
        "k.conf:15: virtual_ipaddress_excluded: bad IP address \"fe80::1%eth0\"",
        "k.conf:16: virtual_ipaddress_excluded: 224.0.0.18 cannot be a virtual address",
    ] {
        assert!(e.iter().any(|l| l == want), "missing {want:?} in {e:?}");
    }
    assert_eq!(e.len(), 9, "{e:?}");
    // The other way round: an IPv6 instance with an IPv4 address.
    let e = errors(&inst(" virtual_ipaddress {\n  2001:db8:1::100\n  198.18.0.100\n }\n"));
    assert_eq!(
        e,
        ["k.conf:6: virtual_ipaddress: 198.18.0.100 is IPv4 but the instance is IPv6 (2001:db8:1::100 comes first): \
          keepalived advertises one family; put 198.18.0.100 in virtual_ipaddress_excluded"]
    );
    // Excluded addresses alone advertise nothing: still no virtual_ipaddress.
    let e = errors(&inst(" virtual_ipaddress_excluded {\n  2001:db8:1::100\n }\n"));
    assert_eq!(e, ["k.conf:1: vrrp_instance VI_1 has no virtual_ipaddress: nothing for rvsd to take over"]);
}

#[test]
fn listed_twice_is_warned_once_kept() {
    let l = ok(&inst(
        " virtual_ipaddress {\n  2001:db8:1::100\n  2001:db8:1:0::100/64\n }\n virtual_ipaddress_excluded {\n  \
         2001:db8:1::100\n  198.18.0.7\n }\n",
    ));
    let w = diags(&l, Severity::Warning);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].starts_with("k.conf:6: virtual_ipaddress 2001:db8:1::100 listed twice"), "{w:?}");
    assert!(
        w[1].starts_with("k.conf:1: vrrp_instance VI_1: 2001:db8:1::100 is in virtual_ipaddress and virtual_ipaddress_excluded"),
        "{w:?}"
    );
    let i = &l.config.vrrp.instances[0];
    assert_eq!(ips(&i.vips), ["2001:db8:1::100"]);
    assert_eq!(ips(&i.excluded), ["198.18.0.7"]);
}
