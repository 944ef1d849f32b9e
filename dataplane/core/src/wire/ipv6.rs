//! IPv6 (RFC 8200) headers and the walk over their extension headers.
//!
//! [`Ipv6Packet`] is the zero-copy view of the fixed 40-byte header; [`Ipv6Repr`] parses it
//! into plain fields and emits it back. [`walk_ext`] follows the Next Header chain through
//! hop-by-hop options, routing, fragment and destination options headers to the upper-layer
//! header, refusing chains longer than [`MAX_EXT_HEADERS`] (a packet that makes a router walk
//! a long chain is an attack, RFC 9098) and malformed or misplaced headers.

use std::net::Ipv6Addr;

use super::checksum;
use super::{get_u16, get_u32, put_u16, put_u32, IpProtocol, Result, WireError};

mod field {
    use std::ops::Range;
    pub const VER_TC_FL: usize = 0;
    pub const LENGTH: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;
}

/// Header length of IPv6 (fixed).
pub const HEADER_LEN: usize = 40;
/// The IPv6 minimum link MTU (RFC 8200 §5): every link carries 1280-byte packets.
pub const MIN_MTU: u16 = 1280;

/// Next Header values of the extension headers [`walk_ext`] follows, and the ones it stops at.
pub const NH_HOP_BY_HOP: u8 = 0;
pub const NH_ROUTING: u8 = 43;
pub const NH_FRAGMENT: u8 = 44;
pub const NH_ICMPV6: u8 = 58;
pub const NH_NO_NEXT: u8 = 59;
pub const NH_DEST_OPTS: u8 = 60;

/// Most extension headers one packet may carry before the walk gives up. Eight is more than any
/// legitimate packet needs (HBH, Dest, Routing, Fragment, Dest is the longest order RFC 8200
/// §4.1 recommends) and bounds the work a crafted packet costs.
pub const MAX_EXT_HEADERS: usize = 8;

/// A view of an IPv6 packet.
///
/// Invariant (established by [`Ipv6Packet::new_checked`]): the version is 6 and the buffer
/// holds the 40-byte header and `payload_len()` bytes after it. The buffer may be longer
/// (Ethernet padding); [`Ipv6Packet::payload`] stops at the payload length. Jumbograms
/// (payload length 0 with a Jumbo Payload option) are not supported: their payload reads as
/// empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check()?;
        Ok(p)
    }

    /// Checks the invariant: [`WireError::Truncated`] when the buffer is shorter than the header
    /// or than the payload length says, [`WireError::BadVersion`] when the version is not 6.
    pub fn check(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[field::VER_TC_FL] >> 4 != 6 {
            return Err(WireError::BadVersion);
        }
        if HEADER_LEN + self.payload_len() as usize > b.len() {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TC_FL] >> 4
    }

    /// The traffic class (DSCP/ECN).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (get_u16(self.buffer.as_ref(), field::VER_TC_FL) >> 4) as u8
    }

    #[inline]
    pub fn flow_label(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::VER_TC_FL) & 0x000f_ffff
    }

    #[inline]
    pub fn payload_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Length of the whole packet (header and payload).
    #[inline]
    pub fn total_len(&self) -> usize {
        HEADER_LEN + self.payload_len() as usize
    }

    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        addr_at(self.buffer.as_ref(), field::SRC.start)
    }

    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        addr_at(self.buffer.as_ref(), field::DST.start)
    }

    /// The payload: extension headers and upper-layer data, up to the payload length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.total_len()]
    }

    /// The extension-header chain of the payload (see [`walk_ext`]).
    pub fn ext_chain(&self) -> Result<ExtChain> {
        walk_ext(self.next_header(), self.payload())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Writes version 6, the traffic class and the flow label.
    #[inline]
    pub fn set_version_tc_fl(&mut self, tc: u8, flow_label: u32) {
        let v = (6u32 << 28) | ((tc as u32) << 20) | (flow_label & 0x000f_ffff);
        put_u32(self.buffer.as_mut(), field::VER_TC_FL, v);
    }

    #[inline]
    pub fn set_payload_len(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::LENGTH, v);
    }

    #[inline]
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = v;
    }

    #[inline]
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v;
    }

    #[inline]
    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.octets());
    }

    #[inline]
    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.octets());
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.total_len();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// Decrements the hop limit (IPv6 has no header checksum) and returns the new value.
    #[inline]
    pub fn decrement_hop_limit(&mut self) -> u8 {
        let h = self.hop_limit().saturating_sub(1);
        self.set_hop_limit(h);
        h
    }
}

#[inline]
fn addr_at(b: &[u8], off: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[off..off + 16]);
    Ipv6Addr::from(a)
}

/// The fixed IPv6 header as plain fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub next_header: u8,
    pub payload_len: u16,
    pub hop_limit: u8,
    pub traffic_class: u8,
    pub flow_label: u32,
}

impl Ipv6Repr {
    /// Parses a checked view.
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv6Packet<T>) -> Ipv6Repr {
        Ipv6Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            next_header: p.next_header(),
            payload_len: p.payload_len(),
            hop_limit: p.hop_limit(),
            traffic_class: p.traffic_class(),
            flow_label: p.flow_label(),
        }
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the first 40 bytes of `buf` (at least that long).
    pub fn emit(&self, buf: &mut [u8]) {
        let mut p = Ipv6Packet::new_unchecked(buf);
        p.set_version_tc_fl(self.traffic_class, self.flow_label);
        p.set_payload_len(self.payload_len);
        p.set_next_header(self.next_header);
        p.set_hop_limit(self.hop_limit);
        p.set_src_addr(self.src);
        p.set_dst_addr(self.dst);
    }
}

/// A Fragment header (RFC 8200 §4.5) as plain fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentRepr {
    pub next_header: u8,
    /// Offset of this fragment's data in the original payload, in bytes (a multiple of 8).
    pub offset: u16,
    pub more: bool,
    pub ident: u32,
}

impl FragmentRepr {
    pub const LEN: usize = 8;

    pub fn parse(b: &[u8]) -> Result<FragmentRepr> {
        if b.len() < Self::LEN {
            return Err(WireError::Truncated);
        }
        let off = get_u16(b, 2);
        Ok(FragmentRepr { next_header: b[0], offset: off & !7, more: off & 1 != 0, ident: get_u32(b, 4) })
    }

    pub fn emit(&self, b: &mut [u8]) {
        b[0] = self.next_header;
        b[1] = 0;
        put_u16(b, 2, (self.offset & !7) | self.more as u16);
        put_u32(b, 4, self.ident);
    }

    /// The first fragment carries the upper-layer header; the others carry only data.
    pub fn is_first(&self) -> bool {
        self.offset == 0
    }
}

/// Where the extension-header chain of a payload ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtChain {
    /// The upper-layer protocol (TCP, UDP, ICMPv6, No Next Header, or one the walk does not
    /// follow such as ESP).
    pub upper: IpProtocol,
    /// Offset of the upper-layer header in the payload.
    pub offset: usize,
    /// Extension headers walked.
    pub count: usize,
    /// The Fragment header, when the packet is a fragment. Behind a non-first fragment's
    /// header there is no upper-layer header, only data.
    pub fragment: Option<FragmentRepr>,
}

/// Walks the extension headers of `payload`, whose first header is `next_header`.
///
/// Errors: [`WireError::Truncated`] when a header runs past the payload;
/// [`WireError::BadExtHeader`] for a hop-by-hop header anywhere but first (RFC 8200 §4.3)
/// or a second Fragment header; [`WireError::ExtChainTooLong`] beyond [`MAX_EXT_HEADERS`].
/// The walk stops at a Fragment header with a non-zero offset (its upper-layer header is
/// in the first fragment).
pub fn walk_ext(next_header: u8, payload: &[u8]) -> Result<ExtChain> {
    let mut nh = next_header;
    let mut off = 0usize;
    let mut count = 0usize;
    let mut fragment: Option<FragmentRepr> = None;
    loop {
        if matches!(nh, NH_HOP_BY_HOP | NH_ROUTING | NH_DEST_OPTS | NH_FRAGMENT) && count == MAX_EXT_HEADERS {
            return Err(WireError::ExtChainTooLong);
        }
        let len = match nh {
            NH_HOP_BY_HOP | NH_ROUTING | NH_DEST_OPTS => {
                if nh == NH_HOP_BY_HOP && count != 0 {
                    return Err(WireError::BadExtHeader);
                }
                let h = payload.get(off..off + 2).ok_or(WireError::Truncated)?;
                (h[1] as usize + 1) * 8
            }
            NH_FRAGMENT => {
                if fragment.is_some() {
                    return Err(WireError::BadExtHeader);
                }
                let f = FragmentRepr::parse(payload.get(off..).ok_or(WireError::Truncated)?)?;
                fragment = Some(f);
                if !f.is_first() {
                    count += 1;
                    return Ok(ExtChain {
                        upper: IpProtocol(f.next_header),
                        offset: off + FragmentRepr::LEN,
                        count,
                        fragment,
                    });
                }
                FragmentRepr::LEN
            }
            _ => return Ok(ExtChain { upper: IpProtocol(nh), offset: off, count, fragment }),
        };
        if off + len > payload.len() {
            return Err(WireError::Truncated);
        }
        nh = payload[off];
        off += len;
        count += 1;
    }
}

/// Partial sum of the IPv6 pseudo-header (RFC 8200 §8.1) for an upper-layer packet of
/// `upper_len` bytes, to add to the sum over the packet itself.
pub fn pseudo_header_sum(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, upper_len: u32) -> u32 {
    let mut s = checksum::sum(&src.octets()) + checksum::sum(&dst.octets());
    s += upper_len >> 16;
    s += upper_len & 0xffff;
    s += next_header as u32;
    s
}

/// The checksum to write into an upper-layer header over IPv6: `data` is the whole
/// upper-layer packet with its checksum field zero.
pub fn upper_checksum(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, data: &[u8]) -> u16 {
    let s = pseudo_header_sum(src, dst, next_header, data.len() as u32) + checksum::sum(data);
    !checksum::fold(s)
}

/// Whether the upper-layer packet `data` (checksum field included) verifies over IPv6.
pub fn verify_upper(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, data: &[u8]) -> bool {
    let s = pseudo_header_sum(src, dst, next_header, data.len() as u32) + checksum::sum(data);
    checksum::fold(s) == 0xffff
}

/// RFC 1624 update of a checksum covering a pseudo-header address that changes from `old`
/// to `new`. Over IPv6 the UDP checksum is mandatory (RFC 8200 §8.1), so there is no "none"
/// case; a result of 0 is kept as 0 only for TCP, callers fix it up for UDP.
pub fn update_addr_v6(csum: u16, old: Ipv6Addr, new: Ipv6Addr) -> u16 {
    let (o, n) = (old.octets(), new.octets());
    let mut c = csum;
    for i in (0..16).step_by(4) {
        let ow = u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
        let nw = u32::from_be_bytes([n[i], n[i + 1], n[i + 2], n[i + 3]]);
        if ow != nw {
            c = checksum::update_u32(c, ow, nw);
        }
    }
    c
}

/// The solicited-node multicast address of `a` (RFC 4291 §2.7.1): where a Neighbor
/// Solicitation for `a` is sent.
pub fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00 | o[13] as u16, u16::from_be_bytes([o[14], o[15]]))
}

/// The Ethernet multicast address of an IPv6 multicast address (RFC 2464 §7): 33:33 and its
/// last 32 bits.
pub fn multicast_mac(a: Ipv6Addr) -> super::MacAddr {
    let o = a.octets();
    super::MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

/// The link-local address of a MAC by modified EUI-64 (RFC 4291 appendix A).
pub fn link_local(mac: super::MacAddr) -> Ipv6Addr {
    let m = mac.0;
    Ipv6Addr::from([0xfe, 0x80, 0, 0, 0, 0, 0, 0, m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn repr() -> Ipv6Repr {
        Ipv6Repr {
            src: a("2001:db8::10"),
            dst: a("2001:db8::100"),
            next_header: 6,
            payload_len: 4,
            hop_limit: 64,
            traffic_class: 0xb8,
            flow_label: 0x12345,
        }
    }

    #[test]
    fn parse_emit_roundtrip_and_field_layout() {
        let mut buf = vec![0u8; 44];
        repr().emit(&mut buf);
        // Version 6, TC 0xb8, flow label 0x12345: 0x6b812345.
        assert_eq!(&buf[..4], &[0x6b, 0x81, 0x23, 0x45]);
        assert_eq!(&buf[4..8], &[0, 4, 6, 64]);
        let p = Ipv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&p), repr());
        assert_eq!(p.payload().len(), 4);
        assert_eq!(p.total_len(), 44);
    }

    #[test]
    fn check_refuses_short_bad_version_and_overlong_payload() {
        assert_eq!(Ipv6Packet::new_checked(&[0u8; 39][..]), Err(WireError::Truncated));
        let mut buf = vec![0u8; 44];
        repr().emit(&mut buf);
        buf[0] = 0x45;
        assert_eq!(Ipv6Packet::new_checked(&buf[..]), Err(WireError::BadVersion));
        repr().emit(&mut buf);
        buf[5] = 5;
        assert_eq!(Ipv6Packet::new_checked(&buf[..]), Err(WireError::Truncated));
        // Padding beyond the payload is allowed and not part of it.
        buf[5] = 2;
        assert_eq!(Ipv6Packet::new_checked(&buf[..]).unwrap().payload().len(), 2);
    }

    #[test]
    fn hop_limit_decrements_and_saturates() {
        let mut buf = vec![0u8; 40];
        Ipv6Repr { hop_limit: 1, payload_len: 0, ..repr() }.emit(&mut buf);
        let mut p = Ipv6Packet::new_unchecked(&mut buf[..]);
        assert_eq!(p.decrement_hop_limit(), 0);
        assert_eq!(p.decrement_hop_limit(), 0);
    }

    /// An extension header of `len8` 8-octet units after the first.
    fn ext(next: u8, len8: u8) -> Vec<u8> {
        let mut h = vec![0u8; (len8 as usize + 1) * 8];
        h[0] = next;
        h[1] = len8;
        h
    }

    #[test]
    fn walk_follows_hbh_dest_routing_fragment_to_tcp() {
        let mut p = ext(NH_DEST_OPTS, 0);
        p.extend(ext(NH_ROUTING, 1));
        p.extend(ext(NH_FRAGMENT, 0));
        let mut f = [0u8; 8];
        FragmentRepr { next_header: 6, offset: 0, more: true, ident: 7 }.emit(&mut f);
        p.extend_from_slice(&f);
        p.extend_from_slice(&[0u8; 20]);
        let c = walk_ext(NH_HOP_BY_HOP, &p).unwrap();
        assert_eq!(c.upper, IpProtocol::TCP);
        assert_eq!(c.offset, 8 + 8 + 16 + 8);
        assert_eq!(c.count, 4);
        assert_eq!(c.fragment, Some(FragmentRepr { next_header: 6, offset: 0, more: true, ident: 7 }));
    }

    #[test]
    fn walk_without_ext_headers_is_offset_zero() {
        let c = walk_ext(17, &[0u8; 8]).unwrap();
        assert_eq!((c.upper, c.offset, c.count, c.fragment), (IpProtocol::UDP, 0, 0, None));
        // No Next Header and ESP end the walk too.
        assert_eq!(walk_ext(NH_NO_NEXT, &[]).unwrap().upper, IpProtocol(NH_NO_NEXT));
        assert_eq!(walk_ext(50, &[]).unwrap().upper, IpProtocol(50));
    }

    #[test]
    fn walk_stops_at_a_non_first_fragment() {
        let mut f = [0u8; 8];
        FragmentRepr { next_header: 17, offset: 1448, more: false, ident: 9 }.emit(&mut f);
        let c = walk_ext(NH_FRAGMENT, &f).unwrap();
        assert_eq!(c.offset, 8);
        assert!(!c.fragment.unwrap().is_first());
        assert_eq!(c.fragment.unwrap().offset, 1448);
    }

    #[test]
    fn walk_refuses_malformed_chains() {
        // Hop-by-hop after another header.
        let mut p = ext(NH_HOP_BY_HOP, 0);
        p.extend(ext(6, 0));
        assert_eq!(walk_ext(NH_DEST_OPTS, &p), Err(WireError::BadExtHeader));
        // Header longer than the payload.
        assert_eq!(walk_ext(NH_ROUTING, &ext(6, 3)[..16]), Err(WireError::Truncated));
        assert_eq!(walk_ext(NH_ROUTING, &[6]), Err(WireError::Truncated));
        assert_eq!(walk_ext(NH_FRAGMENT, &[6, 0, 0]), Err(WireError::Truncated));
        // Two fragment headers.
        let mut f = [0u8; 16];
        FragmentRepr { next_header: NH_FRAGMENT, offset: 0, more: true, ident: 1 }.emit(&mut f[..8]);
        assert_eq!(walk_ext(NH_FRAGMENT, &f), Err(WireError::BadExtHeader));
        // A chain of destination options longer than the limit.
        let mut long = Vec::new();
        for _ in 0..MAX_EXT_HEADERS {
            long.extend(ext(NH_DEST_OPTS, 0));
        }
        assert_eq!(walk_ext(NH_DEST_OPTS, &long), Err(WireError::ExtChainTooLong));
        // The limit itself is fine.
        let mut ok = Vec::new();
        for _ in 0..MAX_EXT_HEADERS - 1 {
            ok.extend(ext(NH_DEST_OPTS, 0));
        }
        ok.extend(ext(17, 0));
        assert_eq!(walk_ext(NH_DEST_OPTS, &ok).unwrap().count, MAX_EXT_HEADERS);
    }

    #[test]
    fn pseudo_header_checksum_matches_a_known_udp_packet() {
        // UDP 2001:db8::1 port 1234 -> 2001:db8::2 port 53, payload "hi"; checksum as
        // computed by hand from RFC 8200 §8.1's pseudo-header.
        let (s, d) = (a("2001:db8::1"), a("2001:db8::2"));
        let mut udp = vec![0x04, 0xd2, 0x00, 0x35, 0x00, 0x0a, 0, 0, b'h', b'i'];
        let c = upper_checksum(s, d, 17, &udp);
        // Words: 2001 0db8 0001 + 2001 0db8 0002 + 000a + 0011 + 04d2 0035 000a 6869
        let words: u32 =
            [0x2001u32, 0x0db8, 1, 0x2001, 0x0db8, 2, 0x0a, 0x11, 0x04d2, 0x35, 0x0a, 0x6869].iter().sum();
        assert_eq!(c, !checksum::fold(words));
        udp[6..8].copy_from_slice(&c.to_be_bytes());
        assert!(verify_upper(s, d, 17, &udp));
        udp[9] ^= 1;
        assert!(!verify_upper(s, d, 17, &udp));
    }

    #[test]
    fn multicast_helpers() {
        let t = a("2001:db8::1:2:3");
        assert_eq!(solicited_node(t), a("ff02::1:ff02:3"));
        assert_eq!(multicast_mac(solicited_node(t)).0, [0x33, 0x33, 0xff, 0x02, 0x00, 0x03]);
        assert_eq!(
            link_local(super::super::MacAddr([0x02, 0, 0, 0xaa, 0xbb, 0xcc])),
            a("fe80::ff:feaa:bbcc")
        );
    }

    proptest! {
        #[test]
        fn repr_roundtrips(src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(), nh in any::<u8>(),
                           len in 0u16..64, hl in any::<u8>(), tc in any::<u8>(), fl in 0u32..0x10_0000) {
            let r = Ipv6Repr { src: src.into(), dst: dst.into(), next_header: nh, payload_len: len,
                               hop_limit: hl, traffic_class: tc, flow_label: fl };
            let mut buf = vec![0u8; 40 + len as usize];
            r.emit(&mut buf);
            let p = Ipv6Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Ipv6Repr::parse(&p), r);
        }

        #[test]
        fn fragment_repr_roundtrips(nh in any::<u8>(), off in 0u16..8192, more in any::<bool>(), id in any::<u32>()) {
            let f = FragmentRepr { next_header: nh, offset: off * 8, more, ident: id };
            let mut b = [0u8; 8];
            f.emit(&mut b);
            prop_assert_eq!(FragmentRepr::parse(&b).unwrap(), f);
        }

        #[test]
        fn walk_never_panics_and_stays_in_bounds(nh in any::<u8>(), data in proptest::collection::vec(any::<u8>(), 0..160)) {
            if let Ok(c) = walk_ext(nh, &data) {
                prop_assert!(c.offset <= data.len());
                prop_assert!(c.count <= MAX_EXT_HEADERS);
            }
        }

        #[test]
        fn incremental_address_update_equals_recomputation(s in any::<[u8; 16]>(), d in any::<[u8; 16]>(),
                n in any::<[u8; 16]>(), body in proptest::collection::vec(any::<u8>(), 20..60)) {
            // A TCP-like upper packet: checksum at bytes 16..18.
            let (s, d, n) = (Ipv6Addr::from(s), Ipv6Addr::from(d), Ipv6Addr::from(n));
            let mut pkt = body.clone();
            pkt[16] = 0; pkt[17] = 0;
            let c = upper_checksum(s, d, 6, &pkt);
            let updated = update_addr_v6(c, s, n);
            pkt[16..18].copy_from_slice(&updated.to_be_bytes());
            prop_assert!(verify_upper(n, d, 6, &pkt));
        }
    }
}
