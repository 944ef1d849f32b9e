//! NAT64 translation (RFC 7915) on arbitrary bytes, both ways, and the ICMP error
//! translators: errors, never panics; a packet whose TCP/UDP checksum verified before
//! translation verifies after it over the other family's pseudo-header, and every ICMP
//! error built has valid checksums.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rvs_core::nat64::icmp::{icmp4_error_to_v6, icmp6_error_to_v4, MtuAdjust};
use rvs_core::nat64::{ipv4_to_ipv6, ipv6_front_len, ipv6_to_ipv4, Flow4, Flow6};
use rvs_core::wire::icmp::Icmpv4Packet;
use rvs_core::wire::icmpv6::Icmpv6Packet;
use rvs_core::wire::ipv4::Ipv4Packet;
use rvs_core::wire::ipv6::{self, Ipv6Packet};
use rvs_core::wire::tcp::TcpPacket;
use rvs_core::wire::udp::UdpPacket;
use std::net::{Ipv4Addr, Ipv6Addr};

const LIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 200);
const RIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 11);
const VIP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100);
const CIP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10);

/// A UDP datagram filling its IP payload exactly (what both families' checksums then
/// cover the same way).
fn udp_whole(l4: &[u8]) -> bool {
    l4.len() >= 8 && usize::from(u16::from_be_bytes([l4[4], l4[5]])) == l4.len()
}

fn v4_l4_ok(p: &Ipv4Packet<&[u8]>) -> bool {
    let (s, d, l4) = (p.src_addr(), p.dst_addr(), p.payload());
    match p.protocol().0 {
        6 => TcpPacket::new_checked(l4).is_ok_and(|t| t.verify_checksum(s, d)),
        17 => udp_whole(l4) && UdpPacket::new_checked(l4).is_ok_and(|u| u.checksum() != 0 && u.verify_checksum(s, d)),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let to4 = Flow4 { src: LIP, dst: RIP, sport: 1026, dport: 80 };
    let to6 = Flow6 { src: VIP, dst: CIP, sport: 80, dport: 40000 };
    // IPv6 → IPv4 at the upper-layer header the walk finds.
    if let Ok(ip) = Ipv6Packet::new_checked(data) {
        if let Ok(c) = ip.ext_chain() {
            let at = ipv6::HEADER_LEN + c.offset;
            let end = ip.total_len();
            // A TCP segment counts only with a header that parses (a data offset of 5 or
            // more), as `v4_l4_ok` asks of the result: the pipeline drops the others before
            // it translates (the fuzzer found one with offset 0 and a checksum right).
            let was_ok = c.fragment.is_none()
                && (c.upper.0 == 6 && TcpPacket::new_checked(&data[at..end]).is_ok()
                    || c.upper.0 == 17 && udp_whole(&data[at..end]))
                && ipv6::verify_upper(ip.src_addr(), ip.dst_addr(), c.upper.0, &data[at..end]);
            let mut b = data.to_vec();
            if let Ok((start, total)) = ipv6_to_ipv4(&mut b, at, &to4, 7) {
                let v4 = Ipv4Packet::new_checked(&b[start..start + total]).expect("a valid IPv4 packet");
                assert!(v4.verify_checksum());
                if was_ok {
                    assert!(v4_l4_ok(&v4), "checksum kept across 6 -> 4");
                }
            }
        }
    }
    // IPv4 → IPv6 with the headroom it asks for.
    if let Ok(ip) = Ipv4Packet::new_checked(data) {
        let was_ok = !ip.is_fragment() && v4_l4_ok(&ip);
        let proto = ip.protocol().0;
        let ihl = ip.header_len();
        if let Ok(front) = ipv6_front_len(data) {
            let mut b = vec![0u8; front];
            b.extend_from_slice(data);
            if let Ok((start, len)) = ipv4_to_ipv6(&mut b, front, &to6) {
                assert_eq!(start, ihl);
                let v6 = Ipv6Packet::new_checked(&b[start..start + len]).expect("a valid IPv6 packet");
                if was_ok {
                    assert!(ipv6::verify_upper(VIP, CIP, proto, v6.payload()), "checksum kept across 4 -> 6");
                }
            }
        }
    }
    // ICMP errors both ways.
    let mut out = vec![0u8; 1280];
    let adj = MtuAdjust { room: 0, cap: 1500 };
    let client = Flow6 { src: CIP, dst: VIP, sport: 40000, dport: 80 };
    if let Ok(n) = icmp4_error_to_v6(data, &client, VIP, CIP, adj, &mut out) {
        let ip = Ipv6Packet::new_checked(&out[..n]).unwrap();
        assert!(Icmpv6Packet::new_checked(ip.payload()).unwrap().verify_checksum(VIP, CIP));
    }
    let server = Flow4 { src: RIP, dst: LIP, sport: 80, dport: 1026 };
    if let Ok(n) = icmp6_error_to_v4(data, &server, LIP, RIP, 1500, &mut out) {
        let ip = Ipv4Packet::new_checked(&out[..n]).unwrap();
        assert!(ip.verify_checksum());
        assert!(Icmpv4Packet::new_checked(ip.payload()).unwrap().verify_checksum());
    }
});
