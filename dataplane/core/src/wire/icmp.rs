//! ICMPv4 (RFC 792) messages.

use super::checksum;
use super::{get_u16, put_u16, Result, WireError};

pub const ECHO_REPLY: u8 = 0;
pub const DEST_UNREACHABLE: u8 = 3;
pub const ECHO_REQUEST: u8 = 8;
pub const TIME_EXCEEDED: u8 = 11;

/// Destination unreachable code "fragmentation needed and DF set" (RFC 1191 PMTU discovery).
pub const CODE_FRAG_NEEDED: u8 = 4;

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const ECHO_IDENT: usize = 4;
    pub const ECHO_SEQ: usize = 6;
    pub const NEXT_HOP_MTU: usize = 6;
}

/// A view of an ICMPv4 message. ICMP has no length field: the buffer is exactly the message
/// (the IPv4 payload), and the checksum covers all of it.
///
/// Invariant (established by [`Icmpv4Packet::new_checked`]): the buffer holds at least the
/// 8-byte header (type, code, checksum and the 4-byte rest of header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    pub const HEADER_LEN: usize = 8;

    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < Self::HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
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
        self.buffer.as_ref()[field::TYPE]
    }

    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Identifier of an echo request/reply.
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    /// Sequence number of an echo request/reply.
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_SEQ)
    }

    /// Next-hop MTU of a "fragmentation needed" destination unreachable (RFC 1191).
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::NEXT_HOP_MTU)
    }

    /// Everything after the 8-byte header: echo data, or the offending IP header and its first
    /// bytes for error messages.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[Self::HEADER_LEN..]
    }

    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(self.buffer.as_ref())) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    #[inline]
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    #[inline]
    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    #[inline]
    pub fn set_echo_ident(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::ECHO_IDENT, v);
    }

    #[inline]
    pub fn set_echo_seq_no(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::ECHO_SEQ, v);
    }

    /// Sets the next-hop MTU and zeroes the unused word before it.
    #[inline]
    pub fn set_next_hop_mtu(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::ECHO_IDENT, 0);
        put_u16(self.buffer.as_mut(), field::NEXT_HOP_MTU, v);
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[Self::HEADER_LEN..]
    }

    /// Recomputes the checksum over the whole message.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ethernet::EthernetFrame;
    use crate::wire::ipv4::tests::icmp_echo_frame;
    use crate::wire::ipv4::Ipv4Packet;
    use crate::wire::IpProtocol;
    use proptest::prelude::*;

    #[test]
    fn parse_echo_request() {
        let f = icmp_echo_frame();
        let eth = EthernetFrame::new_checked(&f[..]).unwrap();
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        assert_eq!(ip.protocol(), IpProtocol::ICMP);
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(icmp.msg_type(), ECHO_REQUEST);
        assert_eq!(icmp.code(), 0);
        assert_eq!(icmp.checksum(), 0x5bc3);
        assert_eq!(icmp.echo_ident(), 0x0d2a);
        assert_eq!(icmp.echo_seq_no(), 1);
        assert_eq!(icmp.payload().len(), 56);
        assert_eq!(icmp.payload()[16..], (0x10u8..0x38).collect::<Vec<_>>()[..]);
        assert!(icmp.verify_checksum());
    }

    #[test]
    fn echo_reply_in_place() {
        let f = icmp_echo_frame();
        let mut b = f[34..].to_vec();
        let mut icmp = Icmpv4Packet::new_checked(&mut b[..]).unwrap();
        icmp.set_msg_type(ECHO_REPLY);
        icmp.fill_checksum();
        assert!(icmp.verify_checksum());
        // Type 8 -> 0 in the high byte: the checksum goes up by 0x0800.
        assert_eq!(icmp.checksum(), 0x5bc3 + 0x0800);
        icmp.set_echo_ident(7);
        icmp.set_echo_seq_no(9);
        icmp.set_code(1);
        icmp.payload_mut()[0] = 0;
        assert_eq!((icmp.echo_ident(), icmp.echo_seq_no(), icmp.code()), (7, 9, 1));
        assert!(!icmp.verify_checksum());
    }

    #[test]
    fn frag_needed() {
        let mut b = [0xffu8; 36];
        let mut icmp = Icmpv4Packet::new_checked(&mut b[..]).unwrap();
        icmp.set_msg_type(DEST_UNREACHABLE);
        icmp.set_code(CODE_FRAG_NEEDED);
        icmp.set_next_hop_mtu(1500);
        icmp.fill_checksum();
        assert_eq!(&b[..8], &[3, 4, b[2], b[3], 0, 0, 0x05, 0xdc]);
        let icmp = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(icmp.next_hop_mtu(), 1500);
        assert!(icmp.verify_checksum());
        assert_eq!(TIME_EXCEEDED, 11);
    }

    #[test]
    fn truncated() {
        assert_eq!(Icmpv4Packet::new_checked(&[8u8, 0, 0, 0, 0, 0, 0][..]), Err(WireError::Truncated));
        assert!(Icmpv4Packet::new_checked(&[0u8; 8][..]).unwrap().payload().is_empty());
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..20)) {
            if let Ok(p) = Icmpv4Packet::new_checked(&data[..]) {
                let _ = (p.msg_type(), p.code(), p.echo_ident(), p.echo_seq_no(), p.payload().len());
                let _ = p.verify_checksum();
            }
        }
    }
}
