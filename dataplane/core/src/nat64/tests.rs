//! RFC 7915 known vectors, built from the RFC's rules: each header field the translation
//! maps is checked one by one, and every checksum is verified by full recomputation over
//! the new pseudo-header (never by the incremental arithmetic under test).

use super::icmp::{icmp4_error_to_v6, icmp6_error_to_v4, mtu_4to6, MtuAdjust};
use super::*;
use crate::wire::icmp::Icmpv4Packet;
use crate::wire::icmpv6::Icmpv6Packet;
use crate::wire::ipv6::{FragmentRepr, Ipv6Repr};
use crate::wire::tcp::TcpPacket;
use crate::wire::udp::UdpPacket;
use proptest::prelude::*;

const CIP: &str = "2001:db8:1::10";
const VIP: &str = "2001:db8:1::100";
const LIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 200);
const RIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 11);

fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// What the client's packets become, and what the server's replies become.
fn to_server() -> Flow4 {
    Flow4 { src: LIP, dst: RIP, sport: 1026, dport: 80 }
}
fn to_client() -> Flow6 {
    Flow6 { src: a6(VIP), dst: a6(CIP), sport: 80, dport: 40000 }
}

/// An IPv6 packet CIP:40000 → VIP:80 with `ext` (extension header bytes, their first next
/// header `ext_nh`) and an upper-layer header + payload whose checksum is valid.
fn v6_packet(proto: u8, tc: u8, hop: u8, ext: &[u8], payload: &[u8]) -> (Vec<u8>, usize) {
    let hl = if proto == 6 { 20 } else { 8 };
    let l4_len = hl + payload.len();
    let mut p = vec![0u8; 40 + ext.len() + l4_len];
    Ipv6Repr {
        src: a6(CIP),
        dst: a6(VIP),
        next_header: if ext.is_empty() { proto } else { 60 },
        payload_len: (ext.len() + l4_len) as u16,
        hop_limit: hop,
        traffic_class: tc,
        flow_label: 0x12345,
    }
    .emit(&mut p);
    p[40..40 + ext.len()].copy_from_slice(ext);
    let l4_at = 40 + ext.len();
    let l4 = &mut p[l4_at..];
    put_u16(l4, 0, 40000);
    put_u16(l4, 2, 80);
    if proto == 6 {
        l4[4..8].copy_from_slice(&0x0102_0304u32.to_be_bytes());
        l4[12] = 5 << 4;
        l4[13] = 0x18;
        put_u16(l4, 14, 65535);
    } else {
        put_u16(l4, 4, l4_len as u16);
    }
    l4[hl..].copy_from_slice(payload);
    let c = ipv6::upper_checksum(a6(CIP), a6(VIP), proto, l4);
    put_u16(l4, ck_offset(proto), c);
    (p, l4_at)
}

/// An IPv4 packet RIP:80 → LIP:1026 with a valid checksum (UDP: `udp_ck` false sends none).
fn v4_packet(
    proto: u8,
    tos: u8,
    ttl: u8,
    flags_off: u16,
    ident: u16,
    payload: &[u8],
    udp_ck: bool,
) -> Vec<u8> {
    let hl = if proto == 6 { 20 } else { 8 };
    let total = 20 + hl + payload.len();
    let mut p = vec![0u8; total];
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut p[..]);
        ip.set_version(4);
        ip.set_header_len(20);
        ip.set_dscp_ecn(tos);
        ip.set_total_len(total as u16);
        ip.set_ident(ident);
        ip.set_ttl(ttl);
        ip.set_protocol(IpProtocol(proto));
        ip.set_src_addr(RIP);
        ip.set_dst_addr(LIP);
    }
    put_u16(&mut p, 6, flags_off);
    Ipv4Packet::new_unchecked(&mut p[..]).fill_checksum();
    let l4 = &mut p[20..];
    put_u16(l4, 0, 80);
    put_u16(l4, 2, 1026);
    if proto == 6 {
        l4[12] = 5 << 4;
        l4[13] = 0x12;
    } else {
        put_u16(l4, 4, (hl + payload.len()) as u16);
    }
    l4[hl..].copy_from_slice(payload);
    if proto == 6 {
        let c = {
            let mut t = TcpPacket::new_unchecked(&mut l4[..]);
            t.fill_checksum(RIP, LIP);
            t.checksum()
        };
        assert_ne!(c, 0);
    } else if udp_ck {
        UdpPacket::new_unchecked(&mut l4[..]).fill_checksum(RIP, LIP);
    }
    p
}

/// The fields §5.1 sets, and the TCP/UDP checksum recomputed in full.
fn check_v4(p: &[u8], proto: u8, tos: u8, ttl: u8, ident: u16, l4_len: usize) {
    let ip = Ipv4Packet::new_checked(p).unwrap();
    assert_eq!((ip.version(), ip.header_len()), (4, 20));
    assert_eq!(ip.dscp_ecn(), tos, "TOS = traffic class");
    assert_eq!(ip.total_len() as usize, 20 + l4_len, "total length = payload less extensions + 20");
    assert_eq!(ip.ident(), ident);
    assert!(!ip.more_frags() && ip.frag_offset() == 0);
    assert_eq!(ip.dont_frag(), 20 + l4_len > DF_THRESHOLD, "DF only above 1260 bytes");
    assert_eq!(ip.ttl(), ttl, "TTL = hop limit - 1");
    assert_eq!(ip.protocol().0, proto);
    assert!(ip.verify_checksum(), "header checksum");
    assert_eq!((ip.src_addr(), ip.dst_addr()), (LIP, RIP));
    let l4 = ip.payload();
    assert_eq!((get_u16(l4, 0), get_u16(l4, 2)), (1026, 80));
    let ok = if proto == 6 {
        TcpPacket::new_unchecked(l4).verify_checksum(LIP, RIP)
    } else {
        UdpPacket::new_unchecked(l4).verify_checksum(LIP, RIP)
    };
    assert!(ok, "L4 checksum over the IPv4 pseudo-header");
}

#[test]
fn ipv6_to_ipv4_maps_every_field_tcp_and_udp() {
    for proto in [6u8, 17] {
        for (size, ident) in [(100usize, 7u16), (1300, 0xbeef)] {
            let payload: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
            let (mut p, l4_at) = v6_packet(proto, 0xb8, 64, &[], &payload);
            let l4_len = p.len() - l4_at;
            let (at, total) = ipv6_to_ipv4(&mut p, l4_at, &to_server(), ident).unwrap();
            assert_eq!((at, total), (20, 20 + l4_len));
            check_v4(&p[at..], proto, 0xb8, 63, ident, l4_len);
            assert_eq!(&p[at + total - size..], &payload[..], "payload untouched");
        }
    }
}

#[test]
fn ipv6_extension_headers_are_not_carried_over() {
    // A destination options header of 8 bytes (PadN), then TCP.
    let ext = [6u8, 0, 1, 4, 0, 0, 0, 0];
    let (mut p, l4_at) = v6_packet(6, 0, 10, &ext, b"GET /");
    assert_eq!(l4_at, 48);
    let (at, total) = ipv6_to_ipv4(&mut p, l4_at, &to_server(), 1).unwrap();
    assert_eq!(at, 28);
    check_v4(&p[at..at + total], 6, 0, 9, 1, 25);
}

#[test]
fn ipv6_to_ipv4_refusals_change_nothing() {
    let (p, l4_at) = v6_packet(6, 0, 1, &[], b"x");
    let mut q = p.clone();
    assert_eq!(ipv6_to_ipv4(&mut q, l4_at, &to_server(), 0), Err(Nat64Error::HopLimit));
    assert_eq!(q, p);
    let (mut p, _) = v6_packet(6, 0, 64, &[], b"x");
    p[6] = 58;
    let q = p.clone();
    assert_eq!(ipv6_to_ipv4(&mut p, 40, &to_server(), 0), Err(Nat64Error::NotTcpUdp));
    assert_eq!(q, p);
    assert_eq!(ipv6_to_ipv4(&mut p[..30], 40, &to_server(), 0), Err(Nat64Error::Truncated));
}

#[test]
fn ipv4_to_ipv6_maps_every_field() {
    for proto in [6u8, 17] {
        let payload = b"HTTP/1.1 200 OK\r\n\r\nhello";
        let v4 = v4_packet(proto, 0x28, 64, 0x4000, 99, payload, true);
        let mut p = vec![0u8; 20];
        p.extend_from_slice(&v4);
        let front = ipv6_front_len(&p[20..]).unwrap();
        assert_eq!(front, 40);
        let (at, len) = ipv4_to_ipv6(&mut p, 20, &to_client()).unwrap();
        assert_eq!(at, 0);
        let ip = Ipv6Packet::new_checked(&p[..len]).unwrap();
        assert_eq!((ip.version(), ip.traffic_class(), ip.flow_label()), (6, 0x28, 0));
        assert_eq!(ip.payload_len() as usize, v4.len() - 20, "payload length = total - IHL");
        assert_eq!(ip.next_header(), proto);
        assert_eq!(ip.hop_limit(), 63);
        assert_eq!((ip.src_addr(), ip.dst_addr()), (a6(VIP), a6(CIP)));
        let l4 = ip.payload();
        assert_eq!((get_u16(l4, 0), get_u16(l4, 2)), (80, 40000));
        assert!(ipv6::verify_upper(a6(VIP), a6(CIP), proto, l4), "L4 checksum over the IPv6 pseudo-header");
        assert!(l4.ends_with(payload));
    }
}

#[test]
fn ipv4_udp_without_checksum_gets_one_over_ipv6() {
    let v4 = v4_packet(17, 0, 64, 0, 5, b"no checksum here", false);
    assert_eq!(get_u16(&v4, 26), 0);
    let mut p = vec![0u8; 20];
    p.extend_from_slice(&v4);
    let (at, len) = ipv4_to_ipv6(&mut p, 20, &to_client()).unwrap();
    let l4 = &p[at + 40..at + len];
    assert_ne!(get_u16(l4, 6), 0);
    assert!(ipv6::verify_upper(a6(VIP), a6(CIP), 17, l4));
    // A fragment of such a datagram cannot be given one (§4.5 lets the translator drop it).
    let v4 = v4_packet(17, 0, 64, 0x2000, 5, b"no checksum here", false);
    let mut p = vec![0u8; 28];
    p.extend_from_slice(&v4);
    assert_eq!(ipv4_to_ipv6(&mut p, 28, &to_client()), Err(Nat64Error::UdpNoChecksum));
}

#[test]
fn ipv4_fragments_get_a_fragment_header() {
    // First fragment: MF set, offset 0, identification 0xabcd.
    let v4 = v4_packet(6, 0, 64, 0x2000, 0xabcd, &[1; 64], true);
    assert_eq!(ipv6_front_len(&v4).unwrap(), 48);
    let mut short = vec![0u8; 20];
    short.extend_from_slice(&v4);
    assert_eq!(ipv4_to_ipv6(&mut short, 20, &to_client()), Err(Nat64Error::NoHeadroom));
    let mut p = vec![0u8; 28];
    p.extend_from_slice(&v4);
    let (at, len) = ipv4_to_ipv6(&mut p, 28, &to_client()).unwrap();
    let ip = Ipv6Packet::new_checked(&p[at..at + len]).unwrap();
    assert_eq!(ip.next_header(), ipv6::NH_FRAGMENT);
    assert_eq!(ip.payload_len() as usize, 8 + v4.len() - 20);
    let fh = FragmentRepr::parse(ip.payload()).unwrap();
    assert_eq!(fh, FragmentRepr { next_header: 6, offset: 0, more: true, ident: 0xabcd });
    assert_eq!(get_u16(&ip.payload()[8..], 0), 80);
    // A later fragment: data only, offset carried over (185 × 8 bytes), ports untouched.
    let mut v4 = v4_packet(6, 0, 64, 185, 0xabcd, &[2; 40], true);
    put_u16(&mut v4, 20, 0x5555);
    let mut p = vec![0u8; 28];
    p.extend_from_slice(&v4);
    let (at, len) = ipv4_to_ipv6(&mut p, 28, &to_client()).unwrap();
    let ip = Ipv6Packet::new_checked(&p[at..at + len]).unwrap();
    let fh = FragmentRepr::parse(ip.payload()).unwrap();
    assert_eq!(fh, FragmentRepr { next_header: 6, offset: 1480, more: false, ident: 0xabcd });
    assert_eq!(get_u16(&ip.payload()[8..], 0), 0x5555);
}

#[test]
fn ipv4_to_ipv6_refusals() {
    let v4 = v4_packet(6, 0, 1, 0, 0, b"", true);
    let mut p = vec![0u8; 20];
    p.extend_from_slice(&v4);
    assert_eq!(ipv4_to_ipv6(&mut p, 20, &to_client()), Err(Nat64Error::HopLimit));
    let v4 = v4_packet(6, 0, 9, 0, 0, b"", true);
    let mut p = vec![0u8; 10];
    p.extend_from_slice(&v4);
    assert_eq!(ipv4_to_ipv6(&mut p, 10, &to_client()), Err(Nat64Error::NoHeadroom));
    let mut v4 = v4_packet(6, 0, 9, 0, 0, b"", true);
    v4[9] = 1;
    Ipv4Packet::new_unchecked(&mut v4[..]).fill_checksum();
    let mut p = vec![0u8; 20];
    p.extend_from_slice(&v4);
    assert_eq!(ipv4_to_ipv6(&mut p, 20, &to_client()), Err(Nat64Error::NotTcpUdp));
}

/// An ICMPv4 error (type, code, MTU) from RIP quoting `quote` bytes of `about`, as the
/// ICMP message alone (header first).
fn icmp4(t: u8, code: u8, mtu: u16, about: &[u8], quote: usize) -> Vec<u8> {
    let mut m = vec![0u8; 8];
    m[0] = t;
    m[1] = code;
    put_u16(&mut m, 6, mtu);
    m.extend_from_slice(&about[..quote.min(about.len())]);
    let c = checksum::checksum(&m);
    put_u16(&mut m, 2, c);
    assert!(Icmpv4Packet::new_checked(&m[..]).unwrap().verify_checksum());
    m
}

/// What the client sent, in the form the error must quote.
fn client_flow() -> Flow6 {
    Flow6 { src: a6(CIP), dst: a6(VIP), sport: 40000, dport: 80 }
}

/// A packet we sent the real server: LIP:1026 → RIP:80.
fn sent_to_server(proto: u8, payload: &[u8]) -> Vec<u8> {
    let (mut p, l4_at) = v6_packet(proto, 0, 64, &[], payload);
    let (at, total) = ipv6_to_ipv4(&mut p, l4_at, &to_server(), 3).unwrap();
    p[at..at + total].to_vec()
}

fn wide() -> MtuAdjust {
    MtuAdjust { room: 0, cap: 1500 }
}

#[test]
fn icmpv4_errors_become_icmpv6_errors() {
    let about = sent_to_server(17, b"query");
    for (t, code, want) in [
        (3u8, 3u8, (1u8, 4u8, 0u32)), // port unreachable
        (3, 1, (1, 0, 0)),            // host unreachable
        (3, 13, (1, 1, 0)),           // administratively prohibited
        (3, 2, (4, 1, 6)),            // protocol unreachable: parameter problem at Next Header
        (3, 4, (2, 0, 1420)),         // fragmentation needed, MTU 1400 + 20
        (11, 0, (3, 0, 0)),           // time exceeded in transit
        (12, 0, (4, 0, 24)),          // parameter problem at the destination address (16)
    ] {
        let ptr_or_mtu = if t == 12 { 16u16 << 8 } else { 1400 };
        let mut m = icmp4(t, code, ptr_or_mtu, &about, about.len());
        if t == 12 {
            m[4] = 16;
            m[6..8].copy_from_slice(&[0, 0]);
            put_u16(&mut m, 2, 0);
            let c = checksum::checksum(&m);
            put_u16(&mut m, 2, c);
        }
        let mut out = vec![0u8; 1280];
        let n = icmp4_error_to_v6(&m, &client_flow(), a6(VIP), a6(CIP), wide(), &mut out).unwrap();
        let ip = Ipv6Packet::new_checked(&out[..n]).unwrap();
        assert_eq!((ip.src_addr(), ip.dst_addr(), ip.next_header()), (a6(VIP), a6(CIP), 58));
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum(a6(VIP), a6(CIP)), "ICMPv6 checksum");
        assert_eq!((icmp.msg_type(), icmp.code(), icmp.mtu()), want, "type {t} code {code}");
        // The quote is the client's own packet: its addresses, ports and a valid checksum.
        let q = Ipv6Packet::new_unchecked(icmp.payload());
        assert_eq!((q.src_addr(), q.dst_addr(), q.next_header()), (a6(CIP), a6(VIP), 17));
        assert_eq!(q.payload_len() as usize, about.len() - 20);
        let l4 = &icmp.payload()[40..];
        assert_eq!((get_u16(l4, 0), get_u16(l4, 2)), (40000, 80));
        assert!(ipv6::verify_upper(a6(CIP), a6(VIP), 17, l4), "quoted UDP checksum");
    }
    // Echo and source quench are not errors RFC 7915 passes on.
    for (t, code) in [(0u8, 0u8), (4, 0), (3, 14), (5, 0), (12, 1)] {
        let m = icmp4(t, code, 0, &about, about.len());
        let mut out = vec![0u8; 1280];
        assert_eq!(
            icmp4_error_to_v6(&m, &client_flow(), a6(VIP), a6(CIP), wide(), &mut out),
            Err(Nat64Error::IcmpNotTranslated)
        );
    }
}

#[test]
fn frag_needed_mtu_follows_the_rfc() {
    let adj = MtuAdjust { room: 0, cap: 1500 };
    assert_eq!(mtu_4to6(1400, 1500, adj), 1420);
    assert_eq!(mtu_4to6(1500, 1500, adj), 1500, "capped by our port towards the client");
    assert_eq!(mtu_4to6(1400, 1500, MtuAdjust { room: 20, cap: 1500 }), 1400, "less a pending TOA");
    let jumbo = MtuAdjust { room: 0, cap: 9000 };
    assert_eq!(mtu_4to6(0, 1500, jumbo), 1492 + 20, "a pre-RFC 1191 router: the plateau below");
    assert_eq!(mtu_4to6(0, 1000, jumbo), 508 + 20);
    // A TCP quote cut short after 8 bytes: the checksum is not in it and stays as is.
    let about = sent_to_server(6, &[0; 1200]);
    let m = icmp4(3, 4, 1300, &about, 28);
    let mut out = vec![0u8; 1280];
    let n = icmp4_error_to_v6(&m, &client_flow(), a6(VIP), a6(CIP), adj, &mut out).unwrap();
    assert_eq!(n, 40 + 8 + 40 + 8);
    let icmp = Icmpv6Packet::new_checked(&out[40..n]).unwrap();
    assert_eq!((icmp.msg_type(), icmp.mtu()), (2, 1320));
    assert!(icmp.verify_checksum(a6(VIP), a6(CIP)));
    // A long quote is cut to fit the IPv6 minimum MTU.
    let m = icmp4(3, 3, 0, &about, about.len());
    let n = icmp4_error_to_v6(&m, &client_flow(), a6(VIP), a6(CIP), adj, &mut out).unwrap();
    assert_eq!(n, 1280);
}

#[test]
fn icmpv6_errors_become_icmpv4_errors() {
    // A packet we sent the client (VIP:80 → CIP:40000), as translated from the server's.
    let mut about = vec![0u8; 20];
    about.extend_from_slice(&v4_packet(6, 0, 64, 0x4000, 1, &[9; 100], true));
    let (at, len) = ipv4_to_ipv6(&mut about, 20, &to_client()).unwrap();
    let about = about[at..at + len].to_vec();
    let server = Flow4 { src: RIP, dst: LIP, sport: 80, dport: 1026 };
    for (t, code, param, want) in [
        (2u8, 0u8, 1280u32, (3u8, 4u8, 1260u16)),
        (1, 4, 0, (3, 3, 0)),
        (1, 0, 0, (3, 1, 0)),
        (1, 1, 0, (3, 10, 0)),
        (3, 0, 0, (11, 0, 0)),
    ] {
        let mut m = vec![t, code, 0, 0];
        m.extend_from_slice(&param.to_be_bytes());
        m.extend_from_slice(&about);
        let c = ipv6::upper_checksum(a6(CIP), a6(VIP), 58, &m);
        put_u16(&mut m, 2, c);
        let mut out = vec![0u8; 576];
        let n = icmp6_error_to_v4(&m, &server, LIP, RIP, 1500, &mut out).unwrap();
        let ip = Ipv4Packet::new_checked(&out[..n]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!((ip.src_addr(), ip.dst_addr(), ip.protocol()), (LIP, RIP, IpProtocol::ICMP));
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum(), "ICMP checksum");
        assert_eq!((icmp.msg_type(), icmp.code(), icmp.next_hop_mtu()), want);
        let q = Ipv4Packet::new_unchecked(icmp.payload());
        assert!(q.verify_checksum(), "quoted IPv4 header checksum");
        assert_eq!((q.src_addr(), q.dst_addr()), (RIP, LIP));
        let l4 = &icmp.payload()[20..];
        assert_eq!((get_u16(l4, 0), get_u16(l4, 2)), (80, 1026));
        assert!(TcpPacket::new_unchecked(l4).verify_checksum(RIP, LIP), "quoted TCP checksum");
    }
    // Capped by our port towards the server; informational messages are not errors.
    let mut m = vec![2, 0, 0, 0, 0, 0, 0x23, 0x28];
    m.extend_from_slice(&about);
    let mut out = vec![0u8; 576];
    let n = icmp6_error_to_v4(&m, &server, LIP, RIP, 1500, &mut out).unwrap();
    assert_eq!(Icmpv4Packet::new_unchecked(&out[20..n]).next_hop_mtu(), 1500);
    m[0] = 128;
    assert_eq!(icmp6_error_to_v4(&m, &server, LIP, RIP, 1500, &mut out), Err(Nat64Error::IcmpNotTranslated));
}

/// A golden frame: an IPv6 SYN with MSS and SACK-permitted options, and the exact IPv4
/// bytes RFC 7915 gives for it (written out by hand from the rules, not by the code).
#[test]
fn golden_syn_6to4() {
    let (mut p, l4_at) = {
        let mut p = vec![0u8; 40 + 28];
        Ipv6Repr {
            src: a6(CIP),
            dst: a6(VIP),
            next_header: 6,
            payload_len: 28,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
        }
        .emit(&mut p);
        let t = &mut p[40..];
        t[..20].copy_from_slice(&[
            0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x70, 0x02, 0xff, 0xff, 0, 0, 0, 0,
        ]);
        t[20..].copy_from_slice(&[2, 4, 0x05, 0xa0, 4, 2, 1, 1]);
        let c = ipv6::upper_checksum(a6(CIP), a6(VIP), 6, t);
        put_u16(t, 16, c);
        (p, 40)
    };
    let (at, total) = ipv6_to_ipv4(&mut p, l4_at, &to_server(), 0x1234).unwrap();
    let want_ip: [u8; 20] = [
        0x45, 0x00, 0x00, 0x30, 0x12, 0x34, 0x00, 0x00, 0x3f, 0x06, 0x00, 0x00, 198, 19, 0, 200, 198, 19, 0,
        11,
    ];
    let mut want = want_ip.to_vec();
    let hc = checksum::checksum(&want);
    put_u16(&mut want, 10, hc);
    let mut tcp = vec![0x04, 0x02, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x70, 0x02, 0xff, 0xff, 0, 0, 0, 0];
    tcp.extend_from_slice(&[2, 4, 0x05, 0xa0, 4, 2, 1, 1]);
    let tc = {
        let mut t = TcpPacket::new_unchecked(&mut tcp[..]);
        t.fill_checksum(LIP, RIP);
        t.checksum()
    };
    put_u16(&mut tcp, 16, tc);
    want.extend_from_slice(&tcp);
    assert_eq!(&p[at..at + total], &want[..]);
}

proptest! {
    /// Any TCP/UDP packet survives 6 → 4 → 6 (the reply path with the flows swapped):
    /// payload intact, every checksum valid at each step.
    #[test]
    fn round_trip(proto in prop::sample::select(vec![6u8, 17]), tc in any::<u8>(), hop in 3u8..=255,
                  payload in proptest::collection::vec(any::<u8>(), 0..1400),
                  sport in 1u16.., dport in 1u16.., ident in any::<u16>()) {
        let (mut p, l4_at) = v6_packet(proto, tc, hop, &[], &payload);
        let f4 = Flow4 { src: LIP, dst: RIP, sport, dport };
        let (at, total) = ipv6_to_ipv4(&mut p, l4_at, &f4, ident).unwrap();
        let v4 = p[at..at + total].to_vec();
        let ip = Ipv4Packet::new_checked(&v4[..]).unwrap();
        prop_assert!(ip.verify_checksum());
        let ok = if proto == 6 {
            TcpPacket::new_unchecked(ip.payload()).verify_checksum(LIP, RIP)
        } else {
            UdpPacket::new_unchecked(ip.payload()).verify_checksum(LIP, RIP)
        };
        prop_assert!(ok);
        let mut back = vec![0u8; 20];
        back.extend_from_slice(&v4);
        let f6 = Flow6 { src: a6(CIP), dst: a6(VIP), sport: 40000, dport: 80 };
        let (at, len) = ipv4_to_ipv6(&mut back, 20, &f6).unwrap();
        let ip6 = Ipv6Packet::new_checked(&back[at..at + len]).unwrap();
        prop_assert_eq!(ip6.traffic_class(), tc);
        prop_assert_eq!(ip6.hop_limit(), hop.saturating_sub(2));
        prop_assert!(ipv6::verify_upper(a6(CIP), a6(VIP), proto, ip6.payload()));
        let hl = if proto == 6 { 20 } else { 8 };
        prop_assert_eq!(&ip6.payload()[hl..], &payload[..]);
    }

    #[test]
    fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..200), at in 0usize..80) {
        let mut d = data.clone();
        let _ = ipv6_to_ipv4(&mut d, at, &to_server(), 0);
        let mut d = data.clone();
        let n = at.min(d.len());
        let _ = ipv4_to_ipv6(&mut d, n, &to_client());
        let mut out = vec![0u8; 1280];
        let _ = icmp4_error_to_v6(&data, &client_flow(), a6(VIP), a6(CIP), wide(), &mut out);
        let server = Flow4 { src: RIP, dst: LIP, sport: 80, dport: 1026 };
        let _ = icmp6_error_to_v4(&data, &server, LIP, RIP, 1500, &mut out);
    }
}
