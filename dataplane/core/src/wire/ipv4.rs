//! IPv4 (RFC 791) headers.

use std::net::Ipv4Addr;

use super::checksum;
use super::{get_u16, put_u16, IpProtocol, Result, WireError};

mod field {
    use std::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLG_OFF: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet.
///
/// Invariant (established by [`Ipv4Packet::new_checked`]): the version is 4,
/// `20 <= header_len() <= total_len() <= buffer length`. The buffer may be longer than
/// `total_len()` (Ethernet padding of short frames); [`Ipv4Packet::payload`] stops at
/// `total_len()`. Setters that change the version, IHL or total length can break the
/// invariant; re-check (or know what you do) before using the other accessors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Minimum (option-less) header length.
    pub const MIN_HEADER_LEN: usize = 20;

    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check()?;
        Ok(p)
    }

    /// Checks the invariant. Errors: [`WireError::Truncated`] when the buffer is shorter than
    /// 20 bytes, than the header or than the total length; [`WireError::BadVersion`];
    /// [`WireError::BadHeaderLen`] for IHL < 5; [`WireError::BadTotalLen`] when the total
    /// length is below the header length.
    pub fn check(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < Self::MIN_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[field::VER_IHL] >> 4 != 4 {
            return Err(WireError::BadVersion);
        }
        let hl = self.header_len();
        if hl < Self::MIN_HEADER_LEN {
            return Err(WireError::BadHeaderLen);
        }
        if hl > b.len() {
            return Err(WireError::Truncated);
        }
        let tl = self.total_len() as usize;
        if tl < hl {
            return Err(WireError::BadTotalLen);
        }
        if tl > b.len() {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole buffer (padding included).
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        ((self.buffer.as_ref()[field::VER_IHL] & 0x0f) as usize) * 4
    }

    /// The DSCP/ECN byte (former TOS).
    #[inline]
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    #[inline]
    pub fn total_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    #[inline]
    pub fn ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::IDENT)
    }

    #[inline]
    pub fn dont_frag(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_DF != 0
    }

    #[inline]
    pub fn more_frags(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field × 8).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (get_u16(self.buffer.as_ref(), field::FLG_OFF) & OFFSET_MASK) << 3
    }

    /// MF set or a nonzero offset: a first, middle or last fragment.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & (FLAG_MF | OFFSET_MASK) != 0
    }

    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    #[inline]
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[field::PROTOCOL])
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(b[12], b[13], b[14], b[15])
    }

    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(b[16], b[17], b[18], b[19])
    }

    /// The header bytes, options included.
    #[inline]
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len()]
    }

    /// The options bytes (20..header_len), possibly empty.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[Self::MIN_HEADER_LEN..self.header_len()]
    }

    /// header_len..total_len: the transport segment, without Ethernet padding.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..self.total_len() as usize]
    }

    /// True when the header checksum is right.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(self.header())) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    #[inline]
    pub fn set_version(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (v << 4);
    }

    /// Sets the IHL to `len / 4` (`len` a multiple of 4 in 20..=60).
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((len / 4) as u8 & 0x0f);
    }

    #[inline]
    pub fn set_dscp_ecn(&mut self, v: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = v;
    }

    #[inline]
    pub fn set_total_len(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::LENGTH, v);
    }

    #[inline]
    pub fn set_ident(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::IDENT, v);
    }

    #[inline]
    fn set_flg_off(&mut self, mask: u16, v: u16) {
        let b = self.buffer.as_mut();
        let w = (get_u16(b, field::FLG_OFF) & !mask) | (v & mask);
        put_u16(b, field::FLG_OFF, w);
    }

    #[inline]
    pub fn set_dont_frag(&mut self, v: bool) {
        self.set_flg_off(FLAG_DF, if v { FLAG_DF } else { 0 });
    }

    #[inline]
    pub fn set_more_frags(&mut self, v: bool) {
        self.set_flg_off(FLAG_MF, if v { FLAG_MF } else { 0 });
    }

    /// Sets the fragment offset, in bytes (a multiple of 8; the low 3 bits are dropped).
    #[inline]
    pub fn set_frag_offset(&mut self, bytes: u16) {
        self.set_flg_off(OFFSET_MASK, bytes >> 3);
    }

    #[inline]
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }

    #[inline]
    pub fn set_protocol(&mut self, p: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = p.0;
    }

    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    /// Sets the source address; the checksum is not updated (see [`Self::rewrite_addrs`]).
    #[inline]
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.octets());
    }

    /// Sets the destination address; the checksum is not updated.
    #[inline]
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.octets());
    }

    /// The whole buffer, for writers that lay out bytes the setters do not name.
    #[inline]
    pub fn as_mut_bytes(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[Self::MIN_HEADER_LEN..hl]
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, tl) = (self.header_len(), self.total_len() as usize);
        &mut self.buffer.as_mut()[hl..tl]
    }

    /// Recomputes the header checksum from scratch.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.header());
        self.set_checksum(c);
    }

    /// Sets the source address and updates the header checksum incrementally. The transport
    /// checksum (pseudo header) is the caller's: see `TcpPacket::update_pseudo_addrs`.
    #[inline]
    pub fn rewrite_src_addr(&mut self, new: Ipv4Addr) {
        let old = self.src_addr();
        self.set_src_addr(new);
        let c = checksum::update_addr_v4(self.checksum(), old, new);
        self.set_checksum(c);
    }

    /// Sets the destination address and updates the header checksum incrementally.
    #[inline]
    pub fn rewrite_dst_addr(&mut self, new: Ipv4Addr) {
        let old = self.dst_addr();
        self.set_dst_addr(new);
        let c = checksum::update_addr_v4(self.checksum(), old, new);
        self.set_checksum(c);
    }

    /// Sets both addresses (FULLNAT) and updates the header checksum incrementally.
    #[inline]
    pub fn rewrite_addrs(&mut self, new_src: Ipv4Addr, new_dst: Ipv4Addr) {
        let (old_src, old_dst) = (self.src_addr(), self.dst_addr());
        self.set_src_addr(new_src);
        self.set_dst_addr(new_dst);
        let c = checksum::update_u32(self.checksum(), u32::from(old_src), u32::from(new_src));
        let c = checksum::update_u32(c, u32::from(old_dst), u32::from(new_dst));
        self.set_checksum(c);
    }

    /// Decrements the TTL by one and updates the header checksum incrementally; returns the new
    /// TTL. A TTL of 0 is left alone (returns 0). A forwarder drops (and may answer ICMP time
    /// exceeded) when `ttl() <= 1` before calling this.
    #[inline]
    pub fn decrement_ttl(&mut self) -> u8 {
        let ttl = self.ttl();
        if ttl == 0 {
            return 0;
        }
        let proto = self.buffer.as_ref()[field::PROTOCOL] as u16;
        let old = (ttl as u16) << 8 | proto;
        let new = ((ttl - 1) as u16) << 8 | proto;
        self.set_ttl(ttl - 1);
        let c = checksum::update_u16(self.checksum(), old, new);
        self.set_checksum(c);
        ttl - 1
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A real ICMP echo request, 192.168.1.10 -> 8.8.8.8, 84 bytes (ping with 56 data bytes:
    /// a 16-byte timestamp, then 0x10..=0x37).
    pub(crate) fn icmp_echo_frame() -> Vec<u8> {
        #[rustfmt::skip]
        let mut v = vec![
            // Ethernet
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0x0c, 0x29, 0x3e, 0x5c, 0x7a, 0x08, 0x00,
            // IPv4: ver/ihl, tos, len 84, id 0x1c46, DF, ttl 64, icmp, csum, src, dst
            0x45, 0x00, 0x00, 0x54, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x01, 0x4c, 0xa1,
            0xc0, 0xa8, 0x01, 0x0a, 0x08, 0x08, 0x08, 0x08,
            // ICMP echo request: type 8, code 0, csum, id 0x0d2a, seq 1
            0x08, 0x00, 0x5b, 0xc3, 0x0d, 0x2a, 0x00, 0x01,
            // struct timeval: tv_sec, tv_usec (little-endian, 64-bit)
            0x5e, 0x4f, 0x3a, 0x65, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x8a, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        v.extend(0x10u8..0x38);
        v
    }

    fn header(ihl: u8, total_len: u16) -> Vec<u8> {
        let mut h = vec![0u8; 20];
        h[0] = 0x40 | ihl;
        h[2..4].copy_from_slice(&total_len.to_be_bytes());
        h
    }

    #[test]
    fn parse_icmp_echo() {
        let f = icmp_echo_frame();
        assert_eq!(f.len(), 98);
        let p = Ipv4Packet::new_checked(&f[14..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.dscp_ecn(), 0);
        assert_eq!(p.total_len(), 84);
        assert_eq!(p.ident(), 0x1c46);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert!(!p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), IpProtocol::ICMP);
        assert_eq!(p.checksum(), 0x4ca1);
        assert!(p.verify_checksum());
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 1, 10));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(8, 8, 8, 8));
        assert!(p.options().is_empty());
        assert_eq!(p.payload().len(), 64);
        assert_eq!(p.payload()[0], 0x08);
    }

    #[test]
    fn padding_is_trimmed() {
        // A 40-byte TCP ACK in a 60-byte frame: 6 bytes of Ethernet padding.
        let mut b = header(5, 40);
        b.resize(46, 0xee);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload().len(), 20);
        assert!(p.payload().iter().all(|&x| x == 0xee));
        let mut b2 = b.clone();
        let mut p = Ipv4Packet::new_checked(&mut b2[..]).unwrap();
        assert_eq!(p.payload_mut().len(), 20);
    }

    #[test]
    fn options_and_fragments() {
        let mut b = header(6, 28);
        b.extend_from_slice(&[0x94, 0x04, 0x00, 0x00]); // router alert
        b.extend_from_slice(&[1, 2, 3, 4]);
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[0x94, 0x04, 0, 0]);
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
        p.set_more_frags(true);
        assert!(p.is_fragment() && p.more_frags() && !p.dont_frag());
        p.set_more_frags(false);
        p.set_frag_offset(1480);
        assert!(p.is_fragment());
        assert_eq!(p.frag_offset(), 1480);
        p.set_dont_frag(true);
        assert!(p.dont_frag());
        assert_eq!(p.frag_offset(), 1480);
        p.set_frag_offset(0);
        assert!(!p.is_fragment() && p.dont_frag());
        p.options_mut()[1] = 5;
        assert_eq!(p.options()[1], 5);
    }

    #[test]
    fn setters_roundtrip() {
        let mut b = [0u8; 40];
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_version(4);
        p.set_header_len(20);
        p.set_dscp_ecn(0xb8);
        p.set_total_len(40);
        p.set_ident(0xbeef);
        p.set_dont_frag(true);
        p.set_ttl(63);
        p.set_protocol(IpProtocol::TCP);
        p.set_src_addr(Ipv4Addr::new(10, 0, 0, 1));
        p.set_dst_addr(Ipv4Addr::new(10, 0, 0, 2));
        p.fill_checksum();
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            (p.version(), p.header_len(), p.dscp_ecn(), p.total_len(), p.ident(), p.ttl(), p.protocol()),
            (4, 20, 0xb8, 40, 0xbeef, 63, IpProtocol::TCP)
        );
        assert!(p.dont_frag() && p.verify_checksum());
        assert_eq!((p.src_addr(), p.dst_addr()), (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)));
    }

    #[test]
    fn malformed() {
        let ok = header(5, 20);
        assert!(Ipv4Packet::new_checked(&ok[..]).is_ok());
        assert_eq!(Ipv4Packet::new_checked(&ok[..19]), Err(WireError::Truncated));
        let mut v6 = ok.clone();
        v6[0] = 0x65;
        assert_eq!(Ipv4Packet::new_checked(&v6[..]), Err(WireError::BadVersion));
        for ihl in 0..5 {
            assert_eq!(Ipv4Packet::new_checked(&header(ihl, 20)[..]), Err(WireError::BadHeaderLen));
        }
        // IHL beyond the buffer.
        assert_eq!(Ipv4Packet::new_checked(&header(6, 24)[..]), Err(WireError::Truncated));
        assert_eq!(Ipv4Packet::new_checked(&header(15, 60)[..]), Err(WireError::Truncated));
        // Total length below the header, beyond the buffer.
        assert_eq!(Ipv4Packet::new_checked(&header(5, 19)[..]), Err(WireError::BadTotalLen));
        assert_eq!(Ipv4Packet::new_checked(&header(5, 0)[..]), Err(WireError::BadTotalLen));
        assert_eq!(Ipv4Packet::new_checked(&header(5, 21)[..]), Err(WireError::Truncated));
        let mut h = header(6, 22);
        h.resize(24, 0);
        assert_eq!(Ipv4Packet::new_checked(&h[..]), Err(WireError::BadTotalLen));
    }

    #[test]
    fn ttl_decrement() {
        let f = icmp_echo_frame();
        let mut b = f[14..].to_vec();
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        assert_eq!(p.decrement_ttl(), 63);
        assert_eq!(p.ttl(), 63);
        assert!(p.verify_checksum());
        p.set_ttl(0);
        p.fill_checksum();
        assert_eq!(p.decrement_ttl(), 0);
        assert!(p.verify_checksum());
    }

    prop_compose! {
        pub(crate) fn arb_header()(ihl in 5u8..=15, tos in any::<u8>(), ident in any::<u16>(),
                        flags in any::<u16>(), ttl in any::<u8>(), proto in any::<u8>(),
                        src in any::<u32>(), dst in any::<u32>(),
                        opts in proptest::collection::vec(any::<u8>(), 40),
                        payload in proptest::collection::vec(any::<u8>(), 0..64)) -> Vec<u8> {
            let hl = ihl as usize * 4;
            let mut b = vec![0u8; hl];
            b[0] = 0x40 | ihl;
            b[1] = tos;
            b[2..4].copy_from_slice(&((hl + payload.len()) as u16).to_be_bytes());
            b[4..6].copy_from_slice(&ident.to_be_bytes());
            b[6..8].copy_from_slice(&flags.to_be_bytes());
            b[8] = ttl;
            b[9] = proto;
            b[12..16].copy_from_slice(&src.to_be_bytes());
            b[16..20].copy_from_slice(&dst.to_be_bytes());
            b[20..].copy_from_slice(&opts[..hl - 20]);
            b.extend_from_slice(&payload);
            let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
            p.fill_checksum();
            b
        }
    }

    proptest! {
        #[test]
        fn incremental_header_checksum(mut b in arb_header(), src in any::<u32>(), dst in any::<u32>(),
                                       which in 0u8..4) {
            let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
            prop_assert!(p.verify_checksum());
            match which {
                0 => p.rewrite_addrs(src.into(), dst.into()),
                1 => p.rewrite_src_addr(src.into()),
                2 => p.rewrite_dst_addr(dst.into()),
                _ => { p.decrement_ttl(); }
            }
            let inc = p.checksum();
            prop_assert!(p.verify_checksum());
            p.fill_checksum();
            prop_assert_eq!(inc, p.checksum());
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..80), fix_version in any::<bool>()) {
            let mut data = data;
            if fix_version && !data.is_empty() {
                data[0] = 0x40 | (data[0] & 0x0f);
            }
            if let Ok(p) = Ipv4Packet::new_checked(&data[..]) {
                let _ = (p.header_len(), p.total_len(), p.is_fragment(), p.src_addr(), p.dst_addr());
                let _ = (p.options().len(), p.payload().len(), p.verify_checksum());
            }
        }
    }
}
