//! ICMPv6 (RFC 4443) and Neighbor Discovery (RFC 4861) messages.
//!
//! [`Icmpv6Packet`] is the zero-copy view; [`Icmpv6Repr`] parses the messages rvsd acts on
//! (echo, neighbor solicitation and advertisement, router advertisement, and the errors it
//! translates) and emits them with their checksum, which covers the IPv6 pseudo-header.

use std::net::Ipv6Addr;

use super::ipv6::{self, NH_ICMPV6};
use super::{get_u16, get_u32, put_u16, put_u32, MacAddr, Result, WireError};

pub const DEST_UNREACHABLE: u8 = 1;
pub const PACKET_TOO_BIG: u8 = 2;
pub const TIME_EXCEEDED: u8 = 3;
pub const PARAM_PROBLEM: u8 = 4;
pub const ECHO_REQUEST: u8 = 128;
pub const ECHO_REPLY: u8 = 129;
pub const ROUTER_SOLICIT: u8 = 133;
pub const ROUTER_ADVERT: u8 = 134;
pub const NEIGHBOR_SOLICIT: u8 = 135;
pub const NEIGHBOR_ADVERT: u8 = 136;

/// Destination unreachable code "port unreachable".
pub const CODE_PORT_UNREACHABLE: u8 = 4;

/// NDP option types (RFC 4861 §4.6).
pub const OPT_SOURCE_LL: u8 = 1;
pub const OPT_TARGET_LL: u8 = 2;

/// Neighbor Advertisement flags (RFC 4861 §4.4).
pub const NA_ROUTER: u8 = 0x80;
pub const NA_SOLICITED: u8 = 0x40;
pub const NA_OVERRIDE: u8 = 0x20;

/// Header length: type, code, checksum and the 4-byte message-specific word.
pub const HEADER_LEN: usize = 8;
/// Neighbor Solicitation/Advertisement length without options: header and target.
pub const ND_LEN: usize = 24;
/// Router Advertisement length without options.
pub const RA_LEN: usize = 16;

/// A view of an ICMPv6 message: the whole upper-layer payload.
///
/// Invariant (established by [`Icmpv6Packet::new_checked`]): the buffer holds at least the
/// 8-byte header. Accessors of the Neighbor Discovery target need [`ND_LEN`] bytes;
/// [`Icmpv6Packet::target_addr`] returns None on a shorter message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv6Packet { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(Icmpv6Packet { buffer })
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
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), 2)
    }

    #[inline]
    pub fn echo_ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), 4)
    }

    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        get_u16(self.buffer.as_ref(), 6)
    }

    /// The MTU of a Packet Too Big message (RFC 4443 §3.2).
    #[inline]
    pub fn mtu(&self) -> u32 {
        get_u32(self.buffer.as_ref(), 4)
    }

    /// The Neighbor Advertisement flags byte (R, S, O).
    #[inline]
    pub fn na_flags(&self) -> u8 {
        self.buffer.as_ref()[4]
    }

    /// The target address of a Neighbor Solicitation or Advertisement.
    #[inline]
    pub fn target_addr(&self) -> Option<Ipv6Addr> {
        let b: [u8; 16] = self.buffer.as_ref().get(8..24)?.try_into().ok()?;
        Some(Ipv6Addr::from(b))
    }

    /// Everything after the 8-byte header: echo data, or for errors the invoking packet.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        ipv6::verify_upper(src, dst, NH_ICMPV6, self.buffer.as_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    #[inline]
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[0] = v;
    }

    #[inline]
    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[1] = v;
    }

    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), 2, v);
    }

    #[inline]
    pub fn set_mtu(&mut self, v: u32) {
        put_u32(self.buffer.as_mut(), 4, v);
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Recomputes the checksum over the message and the pseudo-header of `src` → `dst`.
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let c = ipv6::upper_checksum(src, dst, NH_ICMPV6, self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// The link-layer address option of type `kind` among the NDP options `opts`: None when
/// absent; [`WireError::BadLength`] for an option of length 0 or running past the message
/// (RFC 4861 §4.6: such a message is discarded).
pub fn find_lladdr(opts: &[u8], kind: u8) -> Result<Option<MacAddr>> {
    let mut found = None;
    let mut off = 0;
    while off < opts.len() {
        let h = opts.get(off..off + 2).ok_or(WireError::Truncated)?;
        let len = h[1] as usize * 8;
        if len == 0 {
            return Err(WireError::BadLength);
        }
        let o = opts.get(off..off + len).ok_or(WireError::Truncated)?;
        if o[0] == kind && found.is_none() && len >= 8 {
            found = MacAddr::from_slice(&o[2..]);
        }
        off += len;
    }
    Ok(found)
}

/// The ICMPv6 messages rvsd parses and builds, as plain fields. Error messages borrow the
/// invoking packet they quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv6Repr<'a> {
    EchoRequest {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    EchoReply {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    NeighborSolicit {
        target: Ipv6Addr,
        source_lladdr: Option<MacAddr>,
    },
    NeighborAdvert {
        flags: u8,
        target: Ipv6Addr,
        target_lladdr: Option<MacAddr>,
    },
    /// A router advertisement: rvsd does not configure itself from them, it only knows what
    /// they are (to ignore them or hand them to the kernel).
    RouterAdvert {
        hop_limit: u8,
        router_lifetime: u16,
    },
    DstUnreachable {
        code: u8,
        quote: &'a [u8],
    },
    PacketTooBig {
        mtu: u32,
        quote: &'a [u8],
    },
    TimeExceeded {
        code: u8,
        quote: &'a [u8],
    },
}

impl<'a> Icmpv6Repr<'a> {
    /// Parses a message received from `src` to `dst` with hop limit `hop_limit`. Errors:
    /// [`Icmpv6Error::Checksum`]; [`WireError::Truncated`] or [`WireError::BadLength`] for a
    /// short message or a malformed NDP option; [`WireError::Unsupported`] for other types
    /// and for Neighbor Discovery not sent with hop limit 255 (RFC 4861 §7.1.1: it crossed a
    /// router) or with a multicast target.
    pub fn parse(
        p: &Icmpv6Packet<&'a [u8]>,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hop_limit: u8,
    ) -> core::result::Result<Icmpv6Repr<'a>, Icmpv6Error> {
        if !p.verify_checksum(src, dst) {
            return Err(Icmpv6Error::Checksum);
        }
        let b: &'a [u8] = p.buffer;
        let nd = matches!(p.msg_type(), ROUTER_ADVERT | NEIGHBOR_SOLICIT | NEIGHBOR_ADVERT);
        if nd && (hop_limit != 255 || p.code() != 0) {
            return Err(Icmpv6Error::Wire(WireError::Unsupported));
        }
        Ok(match p.msg_type() {
            ECHO_REQUEST => {
                Icmpv6Repr::EchoRequest { ident: p.echo_ident(), seq_no: p.echo_seq_no(), data: &b[8..] }
            }
            ECHO_REPLY => {
                Icmpv6Repr::EchoReply { ident: p.echo_ident(), seq_no: p.echo_seq_no(), data: &b[8..] }
            }
            NEIGHBOR_SOLICIT => {
                let target = p.target_addr().ok_or(WireError::Truncated)?;
                let source_lladdr = find_lladdr(&b[ND_LEN..], OPT_SOURCE_LL)?;
                // From the unspecified address (duplicate address detection) a source
                // link-layer option is forbidden (RFC 4861 §7.1.1).
                if src.is_unspecified() && source_lladdr.is_some() {
                    return Err(Icmpv6Error::Wire(WireError::Unsupported));
                }
                if target.is_multicast() {
                    return Err(Icmpv6Error::Wire(WireError::Unsupported));
                }
                Icmpv6Repr::NeighborSolicit { target, source_lladdr }
            }
            NEIGHBOR_ADVERT => {
                let target = p.target_addr().ok_or(WireError::Truncated)?;
                let target_lladdr = find_lladdr(&b[ND_LEN..], OPT_TARGET_LL)?;
                if target.is_multicast() {
                    return Err(Icmpv6Error::Wire(WireError::Unsupported));
                }
                Icmpv6Repr::NeighborAdvert { flags: p.na_flags() & 0xe0, target, target_lladdr }
            }
            ROUTER_ADVERT => {
                if b.len() < RA_LEN {
                    return Err(Icmpv6Error::Wire(WireError::Truncated));
                }
                find_lladdr(&b[RA_LEN..], OPT_SOURCE_LL)?;
                Icmpv6Repr::RouterAdvert { hop_limit: b[4], router_lifetime: get_u16(b, 6) }
            }
            DEST_UNREACHABLE => Icmpv6Repr::DstUnreachable { code: p.code(), quote: &b[8..] },
            PACKET_TOO_BIG => Icmpv6Repr::PacketTooBig { mtu: p.mtu(), quote: &b[8..] },
            TIME_EXCEEDED => Icmpv6Repr::TimeExceeded { code: p.code(), quote: &b[8..] },
            _ => return Err(Icmpv6Error::Wire(WireError::Unsupported)),
        })
    }

    /// Bytes [`Icmpv6Repr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        match *self {
            Icmpv6Repr::EchoRequest { data, .. } | Icmpv6Repr::EchoReply { data, .. } => {
                HEADER_LEN + data.len()
            }
            Icmpv6Repr::NeighborSolicit { source_lladdr: l, .. }
            | Icmpv6Repr::NeighborAdvert { target_lladdr: l, .. } => ND_LEN + if l.is_some() { 8 } else { 0 },
            Icmpv6Repr::RouterAdvert { .. } => RA_LEN,
            Icmpv6Repr::DstUnreachable { quote, .. }
            | Icmpv6Repr::PacketTooBig { quote, .. }
            | Icmpv6Repr::TimeExceeded { quote, .. } => HEADER_LEN + quote.len(),
        }
    }

    /// Writes the message into `buf` (exactly [`Icmpv6Repr::buffer_len`] bytes) with its
    /// checksum for `src` → `dst`.
    pub fn emit(&self, buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) {
        buf[..HEADER_LEN].fill(0);
        let (t, code) = match *self {
            Icmpv6Repr::EchoRequest { ident, seq_no, data }
            | Icmpv6Repr::EchoReply { ident, seq_no, data } => {
                put_u16(buf, 4, ident);
                put_u16(buf, 6, seq_no);
                buf[8..8 + data.len()].copy_from_slice(data);
                let t =
                    if matches!(self, Icmpv6Repr::EchoRequest { .. }) { ECHO_REQUEST } else { ECHO_REPLY };
                (t, 0)
            }
            Icmpv6Repr::NeighborSolicit { target, source_lladdr } => {
                buf[8..24].copy_from_slice(&target.octets());
                emit_lladdr(&mut buf[24..], OPT_SOURCE_LL, source_lladdr);
                (NEIGHBOR_SOLICIT, 0)
            }
            Icmpv6Repr::NeighborAdvert { flags, target, target_lladdr } => {
                buf[4] = flags & 0xe0;
                buf[8..24].copy_from_slice(&target.octets());
                emit_lladdr(&mut buf[24..], OPT_TARGET_LL, target_lladdr);
                (NEIGHBOR_ADVERT, 0)
            }
            Icmpv6Repr::RouterAdvert { hop_limit, router_lifetime } => {
                buf[4] = hop_limit;
                put_u16(buf, 6, router_lifetime);
                buf[8..16].fill(0);
                (ROUTER_ADVERT, 0)
            }
            Icmpv6Repr::DstUnreachable { code, quote } => {
                buf[8..8 + quote.len()].copy_from_slice(quote);
                (DEST_UNREACHABLE, code)
            }
            Icmpv6Repr::PacketTooBig { mtu, quote } => {
                put_u32(buf, 4, mtu);
                buf[8..8 + quote.len()].copy_from_slice(quote);
                (PACKET_TOO_BIG, 0)
            }
            Icmpv6Repr::TimeExceeded { code, quote } => {
                buf[8..8 + quote.len()].copy_from_slice(quote);
                (TIME_EXCEEDED, code)
            }
        };
        buf[0] = t;
        buf[1] = code;
        Icmpv6Packet::new_unchecked(&mut buf[..self.buffer_len()]).fill_checksum(src, dst);
    }
}

fn emit_lladdr(buf: &mut [u8], kind: u8, mac: Option<MacAddr>) {
    if let Some(m) = mac {
        buf[0] = kind;
        buf[1] = 1;
        buf[2..8].copy_from_slice(&m.0);
    }
}

/// Why an ICMPv6 message was not parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv6Error {
    /// The checksum (with the pseudo-header) does not verify.
    Checksum,
    Wire(WireError),
}

impl From<WireError> for Icmpv6Error {
    fn from(e: WireError) -> Self {
        Icmpv6Error::Wire(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    const MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x10]);

    fn roundtrip(r: Icmpv6Repr<'_>, src: Ipv6Addr, dst: Ipv6Addr, hl: u8) -> Vec<u8> {
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut b, src, dst);
        let p = Icmpv6Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum(src, dst));
        assert_eq!(Icmpv6Repr::parse(&p, src, dst, hl).unwrap(), r);
        b
    }

    #[test]
    fn each_message_roundtrips() {
        let (s, d) = (a("2001:db8::10"), a("2001:db8::1"));
        roundtrip(Icmpv6Repr::EchoRequest { ident: 7, seq_no: 1, data: b"abcdefgh" }, s, d, 64);
        roundtrip(Icmpv6Repr::EchoReply { ident: 7, seq_no: 1, data: b"" }, d, s, 64);
        let ns = Icmpv6Repr::NeighborSolicit { target: d, source_lladdr: Some(MAC) };
        let b = roundtrip(ns, s, ipv6::solicited_node(d), 255);
        assert_eq!(b.len(), 32);
        assert_eq!(&b[24..32], &[1, 1, 2, 0, 0, 0, 0, 0x10]);
        roundtrip(Icmpv6Repr::NeighborSolicit { target: d, source_lladdr: None }, a("::"), d, 255);
        let na = Icmpv6Repr::NeighborAdvert {
            flags: NA_SOLICITED | NA_OVERRIDE,
            target: d,
            target_lladdr: Some(MAC),
        };
        let b = roundtrip(na, d, s, 255);
        assert_eq!(b[4], 0x60);
        roundtrip(
            Icmpv6Repr::RouterAdvert { hop_limit: 64, router_lifetime: 1800 },
            a("fe80::1"),
            a("ff02::1"),
            255,
        );
        roundtrip(Icmpv6Repr::DstUnreachable { code: CODE_PORT_UNREACHABLE, quote: &[0x60; 48] }, s, d, 64);
        roundtrip(Icmpv6Repr::PacketTooBig { mtu: 1280, quote: &[0x60; 48] }, s, d, 64);
        roundtrip(Icmpv6Repr::TimeExceeded { code: 0, quote: &[0x60; 48] }, s, d, 64);
    }

    #[test]
    fn known_echo_request_checksum() {
        // ping -6 2001:db8::1 from 2001:db8::10, id 0x1234 seq 1, 4 bytes "ping"; checksum
        // summed by hand over the pseudo-header and the message.
        let (s, d) = (a("2001:db8::10"), a("2001:db8::1"));
        let mut b = vec![0u8; 12];
        Icmpv6Repr::EchoRequest { ident: 0x1234, seq_no: 1, data: b"ping" }.emit(&mut b, s, d);
        let words: u32 =
            [0x2001u32, 0x0db8, 0x10, 0x2001, 0x0db8, 1, 12, 58, 0x8000, 0x1234, 1, 0x7069, 0x6e67]
                .iter()
                .sum();
        assert_eq!(get_u16(&b, 2), !crate::wire::checksum::fold(words));
    }

    #[test]
    fn parse_refuses_bad_messages() {
        let (s, d) = (a("2001:db8::10"), a("2001:db8::1"));
        let mut b = vec![0u8; 32];
        Icmpv6Repr::NeighborSolicit { target: d, source_lladdr: Some(MAC) }.emit(&mut b, s, d);
        let p = Icmpv6Packet::new_checked(&b[..]).unwrap();
        // Hop limit other than 255: forwarded by a router, not on-link.
        assert_eq!(Icmpv6Repr::parse(&p, s, d, 64), Err(Icmpv6Error::Wire(WireError::Unsupported)));
        // Wrong pseudo-header.
        assert_eq!(Icmpv6Repr::parse(&p, a("2001:db8::11"), d, 255), Err(Icmpv6Error::Checksum));
        // An option of length zero.
        b[25] = 0;
        Icmpv6Packet::new_unchecked(&mut b[..]).fill_checksum(s, d);
        let p = Icmpv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Icmpv6Repr::parse(&p, s, d, 255), Err(Icmpv6Error::Wire(WireError::BadLength)));
        // Source link-layer option from the unspecified address.
        let mut b = vec![0u8; 32];
        Icmpv6Repr::NeighborSolicit { target: d, source_lladdr: Some(MAC) }.emit(&mut b, a("::"), d);
        let p = Icmpv6Packet::new_checked(&b[..]).unwrap();
        assert!(Icmpv6Repr::parse(&p, a("::"), d, 255).is_err());
        // A short NS, an unknown type.
        let mut b = [0u8; 16];
        b[0] = NEIGHBOR_SOLICIT;
        Icmpv6Packet::new_unchecked(&mut b[..]).fill_checksum(s, d);
        let p = Icmpv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Icmpv6Repr::parse(&p, s, d, 255), Err(Icmpv6Error::Wire(WireError::Truncated)));
        b[0] = 200;
        Icmpv6Packet::new_unchecked(&mut b[..]).fill_checksum(s, d);
        let p = Icmpv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Icmpv6Repr::parse(&p, s, d, 64), Err(Icmpv6Error::Wire(WireError::Unsupported)));
        assert_eq!(Icmpv6Packet::new_checked(&[0u8; 7][..]), Err(WireError::Truncated));
    }

    #[test]
    fn lladdr_options() {
        let mut o = vec![3u8, 4];
        o.extend([0u8; 30]); // prefix information, 32 bytes
        o.extend([1u8, 1, 1, 2, 3, 4, 5, 6]);
        assert_eq!(find_lladdr(&o, OPT_SOURCE_LL), Ok(Some(MacAddr([1, 2, 3, 4, 5, 6]))));
        assert_eq!(find_lladdr(&o, OPT_TARGET_LL), Ok(None));
        assert_eq!(find_lladdr(&o[..36], OPT_SOURCE_LL), Err(WireError::Truncated));
        assert_eq!(find_lladdr(&[], OPT_SOURCE_LL), Ok(None));
    }

    proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..80), hl in any::<u8>(),
                              t in prop::sample::select(vec![1u8, 2, 3, 128, 129, 134, 135, 136])) {
            let (s, d) = (a("2001:db8::10"), a("2001:db8::1"));
            let mut data = data;
            if data.len() >= 8 {
                data[0] = t;
                Icmpv6Packet::new_unchecked(&mut data[..]).fill_checksum(s, d);
            }
            if let Ok(p) = Icmpv6Packet::new_checked(&data[..]) {
                if let Ok(r) = Icmpv6Repr::parse(&p, s, d, hl) {
                    // What parses emits again to a message that parses the same.
                    let mut b = vec![0u8; r.buffer_len()];
                    r.emit(&mut b, s, d);
                    let q = Icmpv6Packet::new_checked(&b[..]).unwrap();
                    prop_assert_eq!(Icmpv6Repr::parse(&q, s, d, hl).unwrap(), r);
                }
            }
        }

        #[test]
        fn echo_roundtrips(ident in any::<u16>(), seq in any::<u16>(), data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let (s, d) = (a("2001:db8::10"), a("2001:db8::1"));
            let r = Icmpv6Repr::EchoRequest { ident, seq_no: seq, data: &data };
            let mut b = vec![0u8; r.buffer_len()];
            r.emit(&mut b, s, d);
            let p = Icmpv6Packet::new_checked(&b[..]).unwrap();
            prop_assert_eq!(Icmpv6Repr::parse(&p, s, d, 64).unwrap(), r);
        }
    }
}
