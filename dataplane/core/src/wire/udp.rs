//! UDP (RFC 768) datagrams.

use std::net::Ipv4Addr;

use super::checksum;
use super::{get_u16, put_u16, IpProtocol, Result, WireError};

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
}

/// A view of a UDP datagram (the IPv4 payload).
///
/// Invariant (established by [`UdpPacket::new_checked`]): `8 <= len() <= buffer length`. The
/// payload and the checksum stop at `len()`, whatever follows in the buffer.
///
/// Checksum rule (IPv4): a checksum field of 0 means "none" and always verifies; a computed 0
/// is sent as `0xFFFF`. The incremental methods keep 0 as 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    pub const HEADER_LEN: usize = 8;

    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check()?;
        Ok(p)
    }

    /// Checks the invariant. Errors: [`WireError::Truncated`] when the buffer is shorter than
    /// 8 bytes or than the length field; [`WireError::BadLength`] for a length field below 8.
    pub fn check(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < Self::HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let len = self.len() as usize;
        if len < Self::HEADER_LEN {
            return Err(WireError::BadLength);
        }
        if len > b.len() {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The datagram, 0..len().
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.len() as usize]
    }

    #[inline]
    pub fn src_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// The length field: header plus payload.
    #[inline]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// The checksum field; 0 means none.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// 8..len().
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[Self::HEADER_LEN..self.len() as usize]
    }

    /// True when the checksum field is 0 (none) or right.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        checksum::fold(self.raw_sum(src, dst)) == 0xffff
    }

    #[inline]
    fn raw_sum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u32 {
        checksum::pseudo_header_v4(src, dst, IpProtocol::UDP, self.len()) + checksum::sum(self.as_bytes())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::SRC_PORT, v);
    }

    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::DST_PORT, v);
    }

    #[inline]
    pub fn set_len(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::LENGTH, v);
    }

    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = self.len() as usize;
        &mut self.buffer.as_mut()[Self::HEADER_LEN..len]
    }

    /// Computes the checksum over the pseudo header and 0..len(); a 0 result is written as
    /// `0xFFFF`.
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let c = !checksum::fold(self.raw_sum(src, dst));
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }

    /// Sets both ports and updates the checksum incrementally (0 stays 0).
    #[inline]
    pub fn rewrite_ports(&mut self, new_src: u16, new_dst: u16) {
        let (old_src, old_dst) = (self.src_port(), self.dst_port());
        self.set_src_port(new_src);
        self.set_dst_port(new_dst);
        let c = checksum::update_udp_u16(self.checksum(), old_src, new_src);
        self.set_checksum(checksum::update_udp_u16(c, old_dst, new_dst));
    }

    /// Updates the checksum for a change of the pseudo-header addresses (0 stays 0). Changes
    /// nothing else.
    #[inline]
    pub fn update_pseudo_addrs(
        &mut self,
        old_src: Ipv4Addr,
        old_dst: Ipv4Addr,
        new_src: Ipv4Addr,
        new_dst: Ipv4Addr,
    ) {
        let c = checksum::update_udp_addr_v4(self.checksum(), old_src, new_src);
        self.set_checksum(checksum::update_udp_addr_v4(c, old_dst, new_dst));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ethernet::EthernetFrame;
    use crate::wire::ipv4::Ipv4Packet;
    use proptest::prelude::*;

    /// A DNS query for example.com A, 192.168.1.10:53000 -> 8.8.8.8:53.
    #[rustfmt::skip]
    const DNS: [u8; 71] = [
        // Ethernet
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0x0c, 0x29, 0x3e, 0x5c, 0x7a, 0x08, 0x00,
        // IPv4: total length 57, ident 0x5a5a, no DF, ttl 64, UDP
        0x45, 0x00, 0x00, 0x39, 0x5a, 0x5a, 0x00, 0x00, 0x40, 0x11, 0x4e, 0x98,
        0xc0, 0xa8, 0x01, 0x0a, 0x08, 0x08, 0x08, 0x08,
        // UDP: 53000 -> 53, length 37, checksum
        0xcf, 0x08, 0x00, 0x35, 0x00, 0x25, 0xe3, 0x68,
        // DNS: id, flags RD, 1 question, example.com A IN
        0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x07, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0x03, b'c', b'o', b'm', 0x00,
        0x00, 0x01, 0x00, 0x01,
    ];

    #[test]
    fn parse_dns_query() {
        let eth = EthernetFrame::new_checked(&DNS[..]).unwrap();
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.protocol(), IpProtocol::UDP);
        assert!(!ip.dont_frag());
        let udp = UdpPacket::new_checked(ip.payload()).unwrap();
        assert_eq!(udp.src_port(), 53000);
        assert_eq!(udp.dst_port(), 53);
        assert_eq!(udp.len(), 37);
        assert_eq!(udp.checksum(), 0xe368);
        assert_eq!(udp.payload().len(), 29);
        assert_eq!(&udp.payload()[..2], &[0xab, 0xcd]);
        assert!(udp.verify_checksum(ip.src_addr(), ip.dst_addr()));
        assert!(!udp.verify_checksum(ip.src_addr(), Ipv4Addr::new(8, 8, 4, 4)));
    }

    #[test]
    fn zero_checksum_and_length_bound() {
        // Length 10 in a 14-byte buffer: the payload and checksum stop at 10.
        let mut b = [0x12, 0x34, 0x56, 0x78, 0x00, 0x0a, 0x00, 0x00, 0xaa, 0xbb, 0xee, 0xee, 0xee, 0xee];
        let (s, d) = (Ipv4Addr::new(10, 1, 1, 1), Ipv4Addr::new(10, 2, 2, 2));
        let mut u = UdpPacket::new_checked(&mut b[..]).unwrap();
        assert_eq!(u.payload(), &[0xaa, 0xbb]);
        assert_eq!(u.payload_mut().len(), 2);
        assert!(u.verify_checksum(s, d), "0 means none");
        u.rewrite_ports(1, 2);
        u.update_pseudo_addrs(s, d, d, s);
        assert_eq!(u.checksum(), 0, "none stays none");
        u.fill_checksum(s, d);
        assert_ne!(u.checksum(), 0);
        assert!(u.verify_checksum(s, d));
        let c = u.checksum();
        u.set_len(14);
        u.fill_checksum(s, d);
        assert_ne!(u.checksum(), c, "padding is not summed at length 10");
    }

    #[test]
    fn computed_zero_is_ffff() {
        // Choose the payload word so that the checksum comes out at 0.
        let (s, d) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let mut b = [0x00, 0x01, 0x00, 0x02, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00];
        let mut u = UdpPacket::new_checked(&mut b[..]).unwrap();
        u.fill_checksum(s, d);
        // Put the computed checksum into the payload word: the sum then becomes 0xffff and the
        // checksum 0.
        let c = u.checksum();
        u.payload_mut().copy_from_slice(&c.to_be_bytes());
        u.fill_checksum(s, d);
        assert_eq!(u.checksum(), 0xffff);
        assert!(u.verify_checksum(s, d));
    }

    #[test]
    fn malformed() {
        let udp = &DNS[34..];
        assert!(UdpPacket::new_checked(udp).is_ok());
        assert_eq!(UdpPacket::new_checked(&udp[..7]), Err(WireError::Truncated));
        assert_eq!(UdpPacket::new_checked(&udp[..36]), Err(WireError::Truncated));
        for len in 0..8u16 {
            let mut b = udp.to_vec();
            b[4..6].copy_from_slice(&len.to_be_bytes());
            assert_eq!(UdpPacket::new_checked(&b[..]), Err(WireError::BadLength));
        }
        let mut b = udp.to_vec();
        b[4..6].copy_from_slice(&8u16.to_be_bytes());
        assert!(UdpPacket::new_checked(&b[..]).unwrap().payload().is_empty());
    }

    proptest! {
        #[test]
        fn incremental_checksum(hdr in any::<[u8; 4]>(), payload in proptest::collection::vec(any::<u8>(), 0..100),
                                src in any::<u32>(), dst in any::<u32>(), nsrc in any::<u32>(),
                                ndst in any::<u32>(), sport in any::<u16>(), dport in any::<u16>(),
                                no_checksum in any::<bool>(), force_zero in any::<bool>()) {
            let (src, dst, nsrc, ndst) = (src.into(), dst.into(), nsrc.into(), ndst.into());
            let mut b = hdr.to_vec();
            b.extend_from_slice(&((8 + payload.len() + 2) as u16).to_be_bytes());
            b.extend_from_slice(&[0, 0, 0, 0]);
            b.extend_from_slice(&payload);
            let mut u = UdpPacket::new_checked(&mut b[..]).unwrap();
            if force_zero {
                // Make the original checksum a computed 0 (sent as 0xFFFF): put into the first
                // payload word (zero so far) the checksum computed with it zero.
                u.fill_checksum(src, dst);
                let c = u.checksum();
                u.payload_mut()[..2].copy_from_slice(&c.to_be_bytes());
            }
            u.fill_checksum(src, dst);
            if force_zero {
                prop_assert_eq!(u.checksum(), 0xffff);
            }
            if no_checksum {
                u.set_checksum(0);
            }
            prop_assert!(u.verify_checksum(src, dst));
            u.update_pseudo_addrs(src, dst, nsrc, ndst);
            u.rewrite_ports(sport, dport);
            let inc = u.checksum();
            prop_assert!(u.verify_checksum(nsrc, ndst));
            if no_checksum {
                prop_assert_eq!(inc, 0);
            } else {
                u.fill_checksum(nsrc, ndst);
                prop_assert_eq!(inc, u.checksum());
            }
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(u) = UdpPacket::new_checked(&data[..]) {
                let _ = (u.src_port(), u.dst_port(), u.payload().len());
                let _ = u.verify_checksum(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST);
            }
        }
    }
}
