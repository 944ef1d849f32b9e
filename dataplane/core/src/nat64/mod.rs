//! NAT64 header translation (RFC 7915, the IP/ICMP translation algorithm), for FULLNAT
//! from IPv6 clients to IPv4 real servers: stateful as RFC 6146's NAT64, but the IPv4 side
//! takes our IPv4 local addresses (LIPs) and ports instead of a pool, and the IPv6 side
//! keeps the VIP instead of an RFC 6052 prefix. The session (`session::v6`) holds both
//! flows; this room only rewrites packets between them, in place, over byte slices:
//!
//! - [`ipv6_to_ipv4`]: a client's IPv6 TCP/UDP packet becomes LIP:lport → RIP:rport over
//!   IPv4 (RFC 7915 §5.1: TOS from the traffic class, TTL from the hop limit less one,
//!   DF set only above 1260 bytes, an identification of ours, extension headers dropped).
//! - [`ipv4_to_ipv6`]: a real server's IPv4 reply becomes VIP:vport → client over IPv6
//!   (§4.1: traffic class from the TOS, flow label 0, hop limit from the TTL less one; an
//!   IPv4 fragment gets a Fragment header carrying its identification, offset and MF).
//! - `icmp`: ICMPv4 errors from the IPv4 side become ICMPv6 errors for the client, and
//!   ICMPv6 errors from the client side ICMPv4 errors for the real server (§4.2, §5.2).
//!
//! TCP and UDP checksums are updated incrementally (RFC 1624) across the families: the
//! pseudo-headers differ only in their addresses (the length and protocol words sum the
//! same over IPv4 and IPv6), and an IPv4 address summed as its IPv4-mapped IPv6 address
//! (`::ffff:a.b.c.d`) gives the same one's complement sum (0xffff is zero), so the IPv6
//! address update of `wire::ipv6` applies unchanged. A UDP datagram without a checksum
//! (allowed over IPv4, not over IPv6) gets a full one on its way to IPv6.

pub mod icmp;

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::checksum;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::{self, update_addr_v6, FragmentRepr, Ipv6Packet, NH_FRAGMENT, NH_ICMPV6};
use crate::wire::{get_u16, put_u16, IpProtocol};

/// The IPv4 header we write (no options).
pub const IPV4_HEADER_LEN: usize = 20;
/// What a packet grows by from IPv4 to IPv6 (headers without options or extensions).
pub const GROWTH: usize = ipv6::HEADER_LEN - IPV4_HEADER_LEN;
/// Translated IPv4 packets up to this size go with DF clear (RFC 7915 §5.1): an IPv6
/// packet of at most 1280 bytes may cross IPv4 links that fragment it, as it may an IPv6
/// path (1280 less the 20 bytes the headers shrink by).
pub const DF_THRESHOLD: usize = 1260;
/// Length of the IPv6 Fragment header.
pub const FRAGMENT_HEADER_LEN: usize = 8;

const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_ICMP: u8 = 1;

/// One direction of a translated TCP/UDP flow over IPv4: what the packet carries after
/// translation to IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow4 {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
}

/// The same over IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub sport: u16,
    pub dport: u16,
}

/// Why a packet was not translated (the packet is then unchanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Nat64Error {
    #[error("packet truncated or its lengths inconsistent")]
    Truncated,
    #[error("not a TCP or UDP packet")]
    NotTcpUdp,
    #[error("no room in front of the packet for the bigger header")]
    NoHeadroom,
    #[error("hop limit or TTL exhausted")]
    HopLimit,
    #[error("a non-first fragment of a UDP datagram without checksum cannot be translated")]
    UdpNoChecksum,
    #[error("ICMP message not translated (informational, or a type RFC 7915 drops)")]
    IcmpNotTranslated,
}

/// The IPv4-mapped IPv6 address of `a` (`::ffff:a.b.c.d`): how a session keys and sums
/// IPv4 addresses (its one's complement sum is the IPv4 address's).
#[inline]
pub fn mapped(a: Ipv4Addr) -> Ipv6Addr {
    a.to_ipv6_mapped()
}

/// The L4 checksum offset of `proto` (TCP 16, UDP 6).
#[inline]
fn ck_offset(proto: u8) -> usize {
    if proto == PROTO_TCP {
        16
    } else {
        6
    }
}

/// The TCP/UDP checksum `c` after the pseudo-header addresses change from `from` to `to`
/// and the ports too. Addresses of either family, IPv4 ones as their mapped form.
fn l4_update(
    c: u16,
    proto: u8,
    from: (Ipv6Addr, Ipv6Addr, u16, u16),
    to: (Ipv6Addr, Ipv6Addr, u16, u16),
) -> u16 {
    let mut c = update_addr_v6(c, from.0, to.0);
    c = update_addr_v6(c, from.1, to.1);
    c = checksum::update_u16(c, from.2, to.2);
    c = checksum::update_u16(c, from.3, to.3);
    if proto == PROTO_UDP && c == 0 {
        c = 0xffff;
    }
    c
}

/// Translates the IPv6 TCP/UDP packet at the start of `buf` (its upper-layer header
/// `l4_at` bytes in, after any extension headers) to IPv4 carrying `to`, in place: the
/// IPv4 header is written just before the TCP/UDP header, whose ports and checksum are
/// rewritten. `ident` is the IPv4 identification to use. Returns where the IPv4 packet
/// now starts (`l4_at - 20`) and its length. On error nothing is changed.
///
/// The caller has checked the packet is not a fragment (RFC 7915 §5.1.1 translates
/// fragments too; rvsd's IPv6 path does not pass them on) and that the hop limit allows
/// forwarding.
pub fn ipv6_to_ipv4(
    buf: &mut [u8],
    l4_at: usize,
    to: &Flow4,
    ident: u16,
) -> Result<(usize, usize), Nat64Error> {
    let ip = Ipv6Packet::new_checked(&buf[..]).map_err(|_| Nat64Error::Truncated)?;
    let end = ip.total_len();
    if l4_at < ipv6::HEADER_LEN || l4_at > end {
        return Err(Nat64Error::Truncated);
    }
    let proto = if l4_at == ipv6::HEADER_LEN {
        ip.next_header()
    } else {
        ipv6::walk_ext(ip.next_header(), ip.payload()).map_err(|_| Nat64Error::Truncated)?.upper.0
    };
    if proto != PROTO_TCP && proto != PROTO_UDP {
        return Err(Nat64Error::NotTcpUdp);
    }
    let l4_len = end - l4_at;
    if l4_len < if proto == PROTO_TCP { 20 } else { 8 } {
        return Err(Nat64Error::Truncated);
    }
    let hop = ip.hop_limit();
    if hop <= 1 {
        return Err(Nat64Error::HopLimit);
    }
    let (tc, src, dst) = (ip.traffic_class(), ip.src_addr(), ip.dst_addr());
    let total = IPV4_HEADER_LEN + l4_len;
    if total > u16::MAX as usize {
        return Err(Nat64Error::Truncated);
    }
    let l4 = &mut buf[l4_at..end];
    let from = (src, dst, get_u16(l4, 0), get_u16(l4, 2));
    let ck = ck_offset(proto);
    let c = l4_update(get_u16(l4, ck), proto, from, (mapped(to.src), mapped(to.dst), to.sport, to.dport));
    put_u16(l4, ck, c);
    put_u16(l4, 0, to.sport);
    put_u16(l4, 2, to.dport);
    let at = l4_at - IPV4_HEADER_LEN;
    let mut v4 = Ipv4Packet::new_unchecked(&mut buf[at..at + total]);
    v4.set_version(4);
    v4.set_header_len(IPV4_HEADER_LEN);
    v4.set_dscp_ecn(tc);
    v4.set_total_len(total as u16);
    v4.set_ident(ident);
    // Flags and offset: MF 0, offset 0, DF only above 1260 bytes (§5.1).
    v4.as_mut_bytes()[6] = 0;
    v4.as_mut_bytes()[7] = 0;
    v4.set_dont_frag(total > DF_THRESHOLD);
    v4.set_ttl(hop - 1);
    v4.set_protocol(IpProtocol(proto));
    v4.set_src_addr(to.src);
    v4.set_dst_addr(to.dst);
    v4.fill_checksum();
    Ok((at, total))
}

/// How many bytes the IPv6 header (with a Fragment header for an IPv4 fragment) needs in
/// front of the TCP/UDP header of the IPv4 packet at the start of `buf`: the caller grows
/// the frame at the front by `front - ihl` (or shrinks it) before [`ipv4_to_ipv6`].
pub fn ipv6_front_len(buf: &[u8]) -> Result<usize, Nat64Error> {
    let ip = Ipv4Packet::new_checked(buf).map_err(|_| Nat64Error::Truncated)?;
    Ok(ipv6::HEADER_LEN + if ip.is_fragment() { FRAGMENT_HEADER_LEN } else { 0 })
}

/// Translates the IPv4 TCP/UDP packet at `buf[ip_at..]` to IPv6 carrying `to`, in place:
/// the IPv6 header (and a Fragment header for a fragment, §4.1) is written just before the
/// TCP/UDP header, so `ip_at + ihl` must be at least [`ipv6_front_len`]. Returns where the
/// IPv6 packet now starts and its length. On error nothing is changed.
pub fn ipv4_to_ipv6(buf: &mut [u8], ip_at: usize, to: &Flow6) -> Result<(usize, usize), Nat64Error> {
    let ip = Ipv4Packet::new_checked(&buf[ip_at..]).map_err(|_| Nat64Error::Truncated)?;
    let proto = ip.protocol().0;
    if proto != PROTO_TCP && proto != PROTO_UDP {
        return Err(Nat64Error::NotTcpUdp);
    }
    let (ihl, total) = (ip.header_len(), ip.total_len() as usize);
    let frag = ip.is_fragment();
    let first = ip.frag_offset() == 0;
    let front = ipv6::HEADER_LEN + if frag { FRAGMENT_HEADER_LEN } else { 0 };
    if ip_at + ihl < front {
        return Err(Nat64Error::NoHeadroom);
    }
    let ttl = ip.ttl();
    if ttl <= 1 {
        return Err(Nat64Error::HopLimit);
    }
    let (tos, ident, mf, offset) = (ip.dscp_ecn(), ip.ident(), ip.more_frags(), ip.frag_offset());
    let (src4, dst4) = (ip.src_addr(), ip.dst_addr());
    let l4_at = ip_at + ihl;
    let l4_end = ip_at + total;
    let l4_len = total - ihl;
    if first {
        // Only the first fragment holds the ports and the checksum.
        let min = if proto == PROTO_TCP { 20 } else { 8 };
        if l4_len < min {
            return Err(Nat64Error::Truncated);
        }
        let ck = ck_offset(proto);
        let l4 = &buf[l4_at..l4_end];
        let from = (mapped(src4), mapped(dst4), get_u16(l4, 0), get_u16(l4, 2));
        let old = get_u16(l4, ck);
        let new = if proto == PROTO_UDP && old == 0 {
            // No checksum over IPv4; IPv6 needs one (§4.5): computed over the whole
            // datagram, which a fragment does not hold.
            if frag {
                return Err(Nat64Error::UdpNoChecksum);
            }
            None
        } else {
            Some(l4_update(old, proto, from, (to.src, to.dst, to.sport, to.dport)))
        };
        let l4 = &mut buf[l4_at..l4_end];
        put_u16(l4, 0, to.sport);
        put_u16(l4, 2, to.dport);
        match new {
            Some(c) => put_u16(l4, ck, c),
            None => {
                put_u16(l4, ck, 0);
                let c = match ipv6::upper_checksum(to.src, to.dst, proto, l4) {
                    0 => 0xffff,
                    c => c,
                };
                put_u16(l4, ck, c);
            }
        }
    }
    let at = l4_at - front;
    let payload = front - ipv6::HEADER_LEN + l4_len;
    if frag {
        // The identification's low 16 bits; the high ones zero (§4.1).
        FragmentRepr { next_header: proto, offset, more: mf, ident: u32::from(ident) }
            .emit(&mut buf[l4_at - FRAGMENT_HEADER_LEN..l4_at]);
    }
    let mut v6 = Ipv6Packet::new_unchecked(&mut buf[at..at + ipv6::HEADER_LEN]);
    v6.set_version_tc_fl(tos, 0);
    v6.set_payload_len(payload as u16);
    v6.set_next_header(if frag { NH_FRAGMENT } else { proto });
    v6.set_hop_limit(ttl - 1);
    v6.set_src_addr(to.src);
    v6.set_dst_addr(to.dst);
    Ok((at, ipv6::HEADER_LEN + payload))
}

/// IPv4's protocol number for an IPv6 next header (ICMPv6 becomes ICMP, §5.1).
#[inline]
pub fn proto_6to4(nh: u8) -> u8 {
    if nh == NH_ICMPV6 {
        PROTO_ICMP
    } else {
        nh
    }
}

#[cfg(test)]
mod tests;
