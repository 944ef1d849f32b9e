//! ICMP errors across the families (RFC 7915 §4.2 and §5.2): an error about a packet of a
//! NAT64 session is rebuilt for the other end, its type and code mapped, a "fragmentation
//! needed" / "packet too big" MTU adjusted for the 20 bytes the headers differ by, and the
//! quoted packet translated back to what that end sent (addresses, ports, L4 checksum).
//! Errors are rare, so they are built into a new buffer rather than shifted in place.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{ck_offset, l4_update, mapped, Flow4, Flow6, Nat64Error, GROWTH, PROTO_TCP, PROTO_UDP};
use crate::wire::checksum;
use crate::wire::icmp::{CODE_FRAG_NEEDED, DEST_UNREACHABLE, TIME_EXCEEDED};
use crate::wire::icmpv6::{self, Icmpv6Packet};
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::{self, Ipv6Packet, NH_ICMPV6};
use crate::wire::{get_u16, put_u16, IpProtocol};

/// ICMPv4 parameter problem.
const PARAM_PROBLEM4: u8 = 12;
/// ICMPv4 "port unreachable".
const CODE_PORT_UNREACHABLE4: u8 = 3;
/// Hop limit / TTL of the errors we send on (a new packet of ours).
pub const ERROR_HOP_LIMIT: u8 = 64;
/// Largest ICMPv6 error (RFC 4443 §2.4: as much of the packet as fits in the minimum MTU).
pub const MAX_ICMPV6_ERROR: usize = ipv6::MIN_MTU as usize;
/// Largest ICMPv4 error we build (RFC 1812 §4.3.2.3: at most 576 bytes).
pub const MAX_ICMPV4_ERROR: usize = 576;
/// ICMP header length (both families).
const ICMP_HEADER_LEN: usize = 8;

/// RFC 1191's plateaus, for a "fragmentation needed" from a router too old to say its MTU.
const PLATEAUS: [u16; 10] = [32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

/// An ICMPv6 error type, code and its 32-bit parameter (MTU or pointer).
type Mapped = (u8, u8, u32);

/// What ICMPv4 type/code becomes over IPv6 (§4.2); `mtu` is the packet-too-big MTU
/// already adjusted. None: not translated (dropped).
fn map_4to6(msg_type: u8, code: u8, rest: [u8; 4], mtu: u32) -> Option<Mapped> {
    const UNREACH: u8 = icmpv6::DEST_UNREACHABLE;
    Some(match (msg_type, code) {
        (DEST_UNREACHABLE, 0 | 1 | 5 | 6 | 7 | 8 | 11 | 12) => (UNREACH, 0, 0),
        (DEST_UNREACHABLE, 2) => (icmpv6::PARAM_PROBLEM, 1, 6), // the Next Header field
        (DEST_UNREACHABLE, CODE_PORT_UNREACHABLE4) => (UNREACH, icmpv6::CODE_PORT_UNREACHABLE, 0),
        (DEST_UNREACHABLE, CODE_FRAG_NEEDED) => (icmpv6::PACKET_TOO_BIG, 0, mtu),
        (DEST_UNREACHABLE, 9 | 10 | 13 | 15) => (UNREACH, 1, 0), // administratively prohibited
        (TIME_EXCEEDED, c @ (0 | 1)) => (icmpv6::TIME_EXCEEDED, c, 0),
        (PARAM_PROBLEM4, 0 | 2) => (icmpv6::PARAM_PROBLEM, 0, pointer_4to6(rest[0])? as u32),
        _ => return None,
    })
}

/// Figure 3 of RFC 7915: where an IPv4 header field's counterpart is in the IPv6 header.
fn pointer_4to6(p: u8) -> Option<u8> {
    Some(match p {
        0 | 1 => p,
        2 | 3 => 4,
        8 => 7,
        9 => 6,
        12..=15 => 8,
        16..=19 => 24,
        _ => return None,
    })
}

/// Figure 6 of RFC 7915: the reverse.
fn pointer_6to4(p: u32) -> Option<u8> {
    Some(match p {
        0 | 1 => p as u8,
        4 | 5 => 2,
        6 => 9,
        7 => 8,
        8..=23 => 12,
        24..=39 => 16,
        _ => return None,
    })
}

/// What ICMPv6 type/code becomes over IPv4 (§5.2). None: not translated.
fn map_6to4(msg_type: u8, code: u8, param: u32, mtu: u16) -> Option<(u8, u8, [u8; 4])> {
    let none = [0; 4];
    Some(match (msg_type, code) {
        (icmpv6::DEST_UNREACHABLE, 0 | 2 | 3) => (DEST_UNREACHABLE, 1, none),
        (icmpv6::DEST_UNREACHABLE, 1) => (DEST_UNREACHABLE, 10, none),
        (icmpv6::DEST_UNREACHABLE, icmpv6::CODE_PORT_UNREACHABLE) => {
            (DEST_UNREACHABLE, CODE_PORT_UNREACHABLE4, none)
        }
        (icmpv6::PACKET_TOO_BIG, 0) => {
            let m = mtu.to_be_bytes();
            (DEST_UNREACHABLE, CODE_FRAG_NEEDED, [0, 0, m[0], m[1]])
        }
        (icmpv6::TIME_EXCEEDED, c @ (0 | 1)) => (TIME_EXCEEDED, c, none),
        (icmpv6::PARAM_PROBLEM, 0) => (PARAM_PROBLEM4, 0, [pointer_6to4(param)?, 0, 0, 0]),
        (icmpv6::PARAM_PROBLEM, 1) => (DEST_UNREACHABLE, 2, none),
        _ => return None,
    })
}

/// How the MTU of a "fragmentation needed" is carried over to IPv6: the advertised MTU
/// plus the 20 bytes IPv6 adds, less what the session still adds to the client's segments
/// (a TOA option), at most the MTU of our port towards the client (§4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MtuAdjust {
    pub room: u16,
    pub cap: u16,
}

/// The IPv6 MTU for an ICMPv4 "fragmentation needed" advertising `mtu4` about a packet of
/// `quoted_total` bytes. An MTU of 0 (a router before RFC 1191) takes the plateau below
/// the quoted packet's length.
pub fn mtu_4to6(mtu4: u16, quoted_total: u16, adj: MtuAdjust) -> u32 {
    let mtu4 =
        if mtu4 == 0 { PLATEAUS.iter().copied().find(|&p| p < quoted_total).unwrap_or(68) } else { mtu4 };
    let m = (u32::from(mtu4) + GROWTH as u32).saturating_sub(u32::from(adj.room));
    m.min(u32::from(adj.cap))
}

/// Rewrites the TCP/UDP header bytes `l4` (a quote: possibly cut short) from `from` to `to`:
/// the ports, and the checksum where the quote holds it and it is not a UDP "none".
fn requote(
    l4: &mut [u8],
    proto: u8,
    from: (Ipv6Addr, Ipv6Addr, u16, u16),
    to: (Ipv6Addr, Ipv6Addr, u16, u16),
) {
    let ck = ck_offset(proto);
    if l4.len() >= ck + 2 {
        let c = get_u16(l4, ck);
        if !(proto == PROTO_UDP && c == 0) {
            put_u16(l4, ck, l4_update(c, proto, from, to));
        }
    }
    put_u16(l4, 0, to.2);
    put_u16(l4, 2, to.3);
}

/// Translates the ICMPv4 error `icmp` (from its ICMP header to its end; checksum verified
/// by the caller) about a packet we sent over IPv4 into an ICMPv6 error written at the
/// start of `out` as a whole IPv6 packet from `from` to `to`. `quoted_as` is the flow the
/// quoted packet becomes (what the IPv6 end sent). Returns the IPv6 packet's length.
pub fn icmp4_error_to_v6(
    icmp: &[u8],
    quoted_as: &Flow6,
    from: Ipv6Addr,
    to: Ipv6Addr,
    adj: MtuAdjust,
    out: &mut [u8],
) -> Result<usize, Nat64Error> {
    if icmp.len() < ICMP_HEADER_LEN + 20 {
        return Err(Nat64Error::Truncated);
    }
    let inner = &icmp[ICMP_HEADER_LEN..];
    let ihl = usize::from(inner[0] & 0x0f) * 4;
    if inner[0] >> 4 != 4 || ihl < 20 || inner.len() < ihl + 4 {
        return Err(Nat64Error::Truncated);
    }
    let q = Ipv4Packet::new_unchecked(inner);
    let proto = q.protocol().0;
    if proto != PROTO_TCP && proto != PROTO_UDP {
        return Err(Nat64Error::NotTcpUdp);
    }
    let rest = [icmp[4], icmp[5], icmp[6], icmp[7]];
    let mtu = mtu_4to6(get_u16(icmp, 6), q.total_len(), adj);
    let (t, c, param) = map_4to6(icmp[0], icmp[1], rest, mtu).ok_or(Nat64Error::IcmpNotTranslated)?;
    let quoted_l4 = &inner[ihl..];
    let room = MAX_ICMPV6_ERROR - ipv6::HEADER_LEN - ICMP_HEADER_LEN - ipv6::HEADER_LEN;
    let l4_len = quoted_l4.len().min(room);
    let icmp_len = ICMP_HEADER_LEN + ipv6::HEADER_LEN + l4_len;
    let len = ipv6::HEADER_LEN + icmp_len;
    if out.len() < len {
        return Err(Nat64Error::NoHeadroom);
    }
    let (src4, dst4) = (q.src_addr(), q.dst_addr());
    let inner_payload = usize::from(q.total_len()).saturating_sub(ihl) as u16;
    let (tos, ttl) = (q.dscp_ecn(), q.ttl());
    // Outer header.
    let mut o = Ipv6Packet::new_unchecked(&mut out[..ipv6::HEADER_LEN]);
    o.set_version_tc_fl(0, 0);
    o.set_payload_len(icmp_len as u16);
    o.set_next_header(NH_ICMPV6);
    o.set_hop_limit(ERROR_HOP_LIMIT);
    o.set_src_addr(from);
    o.set_dst_addr(to);
    let m = &mut out[ipv6::HEADER_LEN..len];
    m[0] = t;
    m[1] = c;
    m[2..4].copy_from_slice(&[0, 0]);
    m[4..8].copy_from_slice(&param.to_be_bytes());
    // The quoted packet, as the IPv6 end sent it.
    let mut qi = Ipv6Packet::new_unchecked(&mut m[ICMP_HEADER_LEN..ICMP_HEADER_LEN + ipv6::HEADER_LEN]);
    qi.set_version_tc_fl(tos, 0);
    qi.set_payload_len(inner_payload);
    qi.set_next_header(proto);
    qi.set_hop_limit(ttl);
    qi.set_src_addr(quoted_as.src);
    qi.set_dst_addr(quoted_as.dst);
    let l4 = &mut m[ICMP_HEADER_LEN + ipv6::HEADER_LEN..];
    l4.copy_from_slice(&quoted_l4[..l4_len]);
    let old = (mapped(src4), mapped(dst4), get_u16(l4, 0), get_u16(l4, 2));
    requote(l4, proto, old, (quoted_as.src, quoted_as.dst, quoted_as.sport, quoted_as.dport));
    Icmpv6Packet::new_unchecked(&mut out[ipv6::HEADER_LEN..len]).fill_checksum(from, to);
    Ok(len)
}

/// Translates the ICMPv6 error `icmp` (from its ICMPv6 header to its end; checksum verified
/// by the caller) about a packet we sent over IPv6 into an ICMPv4 error written at the start
/// of `out` as a whole IPv4 packet from `from` to `to`. `quoted_as` is the flow the quoted
/// packet becomes (what the IPv4 end sent); `mtu_cap` bounds a packet-too-big's MTU (our
/// port towards the IPv4 end). Returns the IPv4 packet's length.
pub fn icmp6_error_to_v4(
    icmp: &[u8],
    quoted_as: &Flow4,
    from: Ipv4Addr,
    to: Ipv4Addr,
    mtu_cap: u16,
    out: &mut [u8],
) -> Result<usize, Nat64Error> {
    if icmp.len() < ICMP_HEADER_LEN + ipv6::HEADER_LEN + 4 {
        return Err(Nat64Error::Truncated);
    }
    let inner = &icmp[ICMP_HEADER_LEN..];
    if inner[0] >> 4 != 6 {
        return Err(Nat64Error::Truncated);
    }
    let q = Ipv6Packet::new_unchecked(inner);
    // The quote is cut short: walk its extension headers over what is there.
    let chain =
        ipv6::walk_ext(q.next_header(), &inner[ipv6::HEADER_LEN..]).map_err(|_| Nat64Error::Truncated)?;
    let proto = chain.upper.0;
    if proto != PROTO_TCP && proto != PROTO_UDP {
        return Err(Nat64Error::NotTcpUdp);
    }
    let l4_at = ipv6::HEADER_LEN + chain.offset;
    if inner.len() < l4_at + 4 {
        return Err(Nat64Error::Truncated);
    }
    let param = u32::from_be_bytes([icmp[4], icmp[5], icmp[6], icmp[7]]);
    // The IPv4 MTU is 20 bytes less, at most our port's (§5.2).
    let mtu = (param.saturating_sub(GROWTH as u32)).min(u32::from(mtu_cap)) as u16;
    let (t, c, rest) = map_6to4(icmp[0], icmp[1], param, mtu).ok_or(Nat64Error::IcmpNotTranslated)?;
    let quoted_l4 = &inner[l4_at..];
    let room = MAX_ICMPV4_ERROR - 20 - ICMP_HEADER_LEN - 20;
    let l4_len = quoted_l4.len().min(room);
    let len = 20 + ICMP_HEADER_LEN + 20 + l4_len;
    if out.len() < len {
        return Err(Nat64Error::NoHeadroom);
    }
    let (src6, dst6, tc, hop) = (q.src_addr(), q.dst_addr(), q.traffic_class(), q.hop_limit());
    let inner_total = (usize::from(q.payload_len()) + ipv6::HEADER_LEN).saturating_sub(l4_at) + 20;
    write_ipv4(&mut out[..20], 0, (len) as u16, ERROR_HOP_LIMIT, IpProtocol::ICMP, from, to);
    let m = &mut out[20..len];
    m[0] = t;
    m[1] = c;
    m[2..4].copy_from_slice(&[0, 0]);
    m[4..8].copy_from_slice(&rest);
    write_ipv4(
        &mut m[ICMP_HEADER_LEN..ICMP_HEADER_LEN + 20],
        tc,
        inner_total.min(u16::MAX as usize) as u16,
        hop,
        IpProtocol(proto),
        quoted_as.src,
        quoted_as.dst,
    );
    let l4 = &mut m[ICMP_HEADER_LEN + 20..];
    l4.copy_from_slice(&quoted_l4[..l4_len]);
    let old = (src6, dst6, get_u16(l4, 0), get_u16(l4, 2));
    requote(l4, proto, old, (mapped(quoted_as.src), mapped(quoted_as.dst), quoted_as.sport, quoted_as.dport));
    put_u16(m, 2, checksum::checksum(m));
    Ok(len)
}

/// A 20-byte IPv4 header with its checksum (identification 0, no flags).
fn write_ipv4(b: &mut [u8], tos: u8, total: u16, ttl: u8, proto: IpProtocol, src: Ipv4Addr, dst: Ipv4Addr) {
    b.fill(0);
    let mut h = Ipv4Packet::new_unchecked(b);
    h.set_version(4);
    h.set_header_len(20);
    h.set_dscp_ecn(tos);
    h.set_total_len(total);
    h.set_ttl(ttl);
    h.set_protocol(proto);
    h.set_src_addr(src);
    h.set_dst_addr(dst);
    h.fill_checksum();
}
