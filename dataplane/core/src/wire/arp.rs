//! ARP (RFC 826) for Ethernet and IPv4 only, plus builders of whole request/reply frames.

use std::net::Ipv4Addr;

use super::ethernet::EthernetFrame;
use super::{get_u16, put_u16, EtherType, MacAddr, Result, WireError};

mod field {
    use std::ops::Range;
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// The ARP operation field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpOperation(pub u16);

impl ArpOperation {
    pub const REQUEST: ArpOperation = ArpOperation(1);
    pub const REPLY: ArpOperation = ArpOperation(2);
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const ARP_LEN: usize = 28;

/// Length of the frames [`build_request`] and [`build_reply`] write: 14 + 28 = 42 bytes of
/// headers, zero-padded to the 60-byte Ethernet minimum (FCS excluded) so that no NIC or PMD
/// has to pad them.
pub const ARP_FRAME_LEN: usize = 60;

/// A view of an Ethernet/IPv4 ARP packet (the Ethernet payload).
///
/// Invariant (established by [`ArpPacket::new_checked`]): the buffer holds at least
/// [`ARP_LEN`] bytes. `new_checked` also rejects hardware/protocol types and lengths other
/// than Ethernet (1, 6) and IPv4 (0x0800, 4) with [`WireError::Unsupported`], so the address
/// accessors are meaningful.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check()?;
        Ok(p)
    }

    /// Checks the length and that the packet is Ethernet/IPv4.
    pub fn check(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < ARP_LEN {
            return Err(WireError::Truncated);
        }
        if self.hardware_type() != 1
            || self.protocol_type() != EtherType::IPV4
            || b[field::HLEN] != 6
            || b[field::PLEN] != 4
        {
            return Err(WireError::Unsupported);
        }
        Ok(())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn hardware_type(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::HTYPE)
    }

    #[inline]
    pub fn protocol_type(&self) -> EtherType {
        EtherType(get_u16(self.buffer.as_ref(), field::PTYPE))
    }

    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    #[inline]
    pub fn operation(&self) -> ArpOperation {
        ArpOperation(get_u16(self.buffer.as_ref(), field::OPER))
    }

    #[inline]
    pub fn sender_hw(&self) -> MacAddr {
        mac_at(self.buffer.as_ref(), field::SHA.start)
    }

    #[inline]
    pub fn sender_ip(&self) -> Ipv4Addr {
        ip_at(self.buffer.as_ref(), field::SPA.start)
    }

    #[inline]
    pub fn target_hw(&self) -> MacAddr {
        mac_at(self.buffer.as_ref(), field::THA.start)
    }

    #[inline]
    pub fn target_ip(&self) -> Ipv4Addr {
        ip_at(self.buffer.as_ref(), field::TPA.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Writes the fixed Ethernet/IPv4 fields: htype 1, ptype 0x0800, hlen 6, plen 4.
    pub fn init_ethernet_ipv4(&mut self) {
        let b = self.buffer.as_mut();
        put_u16(b, field::HTYPE, 1);
        put_u16(b, field::PTYPE, EtherType::IPV4.0);
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
    }

    #[inline]
    pub fn set_operation(&mut self, op: ArpOperation) {
        put_u16(self.buffer.as_mut(), field::OPER, op.0);
    }

    #[inline]
    pub fn set_sender_hw(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&a.0);
    }

    #[inline]
    pub fn set_sender_ip(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&a.octets());
    }

    #[inline]
    pub fn set_target_hw(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&a.0);
    }

    #[inline]
    pub fn set_target_ip(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&a.octets());
    }
}

fn mac_at(b: &[u8], o: usize) -> MacAddr {
    MacAddr([b[o], b[o + 1], b[o + 2], b[o + 3], b[o + 4], b[o + 5]])
}

fn ip_at(b: &[u8], o: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[o], b[o + 1], b[o + 2], b[o + 3])
}

/// An Ethernet/IPv4 ARP message as values: what `emit` writes and `parse` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    pub operation: ArpOperation,
    pub sender_hw: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_hw: MacAddr,
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// Reads a checked packet (Ethernet/IPv4 by `ArpPacket`'s invariant).
    pub fn parse<T: AsRef<[u8]>>(p: &ArpPacket<T>) -> ArpRepr {
        ArpRepr {
            operation: p.operation(),
            sender_hw: p.sender_hw(),
            sender_ip: p.sender_ip(),
            target_hw: p.target_hw(),
            target_ip: p.target_ip(),
        }
    }

    /// Writes every field of the message into `p` (which holds at least [`ARP_LEN`] bytes).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut ArpPacket<T>) {
        p.init_ethernet_ipv4();
        p.set_operation(self.operation);
        p.set_sender_hw(self.sender_hw);
        p.set_sender_ip(self.sender_ip);
        p.set_target_hw(self.target_hw);
        p.set_target_ip(self.target_ip);
    }

    /// Writes the whole frame, Ethernet header to `eth_dst` and zero padding to
    /// [`ARP_FRAME_LEN`], into `buf`; returns its length.
    pub fn emit_frame(&self, buf: &mut [u8], eth_dst: MacAddr) -> Result<usize> {
        let buf = buf.get_mut(..ARP_FRAME_LEN).ok_or(WireError::Truncated)?;
        buf.fill(0);
        let mut eth = EthernetFrame::new_unchecked(&mut *buf);
        eth.set_dst_addr(eth_dst);
        eth.set_src_addr(self.sender_hw);
        eth.set_ethertype(EtherType::ARP);
        self.emit(&mut ArpPacket::new_unchecked(eth.payload_mut()));
        Ok(ARP_FRAME_LEN)
    }
}

/// Writes a broadcast "who has `target_ip`? tell `src_ip`" frame into `buf` and returns its
/// length, always [`ARP_FRAME_LEN`] (60: 42 bytes of headers and zero padding). The target
/// hardware address is zero. A gratuitous ARP is `target_ip == src_ip`.
///
/// Errors with [`WireError::Truncated`] when `buf` is shorter than 60 bytes (nothing written).
pub fn build_request(
    buf: &mut [u8],
    src_mac: MacAddr,
    src_ip: Ipv4Addr,
    target_ip: Ipv4Addr,
) -> Result<usize> {
    let r = ArpRepr {
        operation: ArpOperation::REQUEST,
        sender_hw: src_mac,
        sender_ip: src_ip,
        target_hw: MacAddr::ZERO,
        target_ip,
    };
    r.emit_frame(buf, MacAddr::BROADCAST)
}

/// Writes a unicast "`src_ip` is at `src_mac`" reply to `dst_mac`/`dst_ip` (the requester's
/// sender addresses) into `buf` and returns its length, always [`ARP_FRAME_LEN`] (60).
///
/// Errors with [`WireError::Truncated`] when `buf` is shorter than 60 bytes (nothing written).
pub fn build_reply(
    buf: &mut [u8],
    src_mac: MacAddr,
    src_ip: Ipv4Addr,
    dst_mac: MacAddr,
    dst_ip: Ipv4Addr,
) -> Result<usize> {
    let r = ArpRepr {
        operation: ArpOperation::REPLY,
        sender_hw: src_mac,
        sender_ip: src_ip,
        target_hw: dst_mac,
        target_ip: dst_ip,
    };
    r.emit_frame(buf, dst_mac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A real ARP request as captured (42 bytes, no padding): who has 192.168.1.1? tell
    /// 192.168.1.10.
    #[rustfmt::skip]
    const REQUEST: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x0c, 0x29, 0x3e, 0x5c, 0x7a, 0x08, 0x06, // eth
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // htype ptype hlen plen oper
        0x00, 0x0c, 0x29, 0x3e, 0x5c, 0x7a, 0xc0, 0xa8, 0x01, 0x0a, // sha spa
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xa8, 0x01, 0x01, // tha tpa
    ];

    const MAC: MacAddr = MacAddr([0x00, 0x0c, 0x29, 0x3e, 0x5c, 0x7a]);

    #[test]
    fn parse_request() {
        let eth = EthernetFrame::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(eth.ethertype(), EtherType::ARP);
        let arp = ArpPacket::new_checked(eth.payload()).unwrap();
        assert_eq!(arp.hardware_type(), 1);
        assert_eq!(arp.protocol_type(), EtherType::IPV4);
        assert_eq!((arp.hardware_len(), arp.protocol_len()), (6, 4));
        assert_eq!(arp.operation(), ArpOperation::REQUEST);
        assert_eq!(arp.sender_hw(), MAC);
        assert_eq!(arp.sender_ip(), Ipv4Addr::new(192, 168, 1, 10));
        assert_eq!(arp.target_hw(), MacAddr::ZERO);
        assert_eq!(arp.target_ip(), Ipv4Addr::new(192, 168, 1, 1));
    }

    #[test]
    fn build_request_matches_capture() {
        let mut buf = [0xeeu8; 64];
        let n = build_request(&mut buf, MAC, Ipv4Addr::new(192, 168, 1, 10), Ipv4Addr::new(192, 168, 1, 1))
            .unwrap();
        assert_eq!(n, ARP_FRAME_LEN);
        assert_eq!(&buf[..42], &REQUEST[..]);
        assert!(buf[42..60].iter().all(|&b| b == 0));
        assert_eq!(buf[60], 0xee);
        assert_eq!(
            build_request(&mut [0u8; 59], MAC, Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn build_reply_fields() {
        let mut buf = [0u8; 60];
        let peer = MacAddr([2, 0, 0, 0, 0, 1]);
        let n =
            build_reply(&mut buf, MAC, Ipv4Addr::new(10, 0, 0, 1), peer, Ipv4Addr::new(10, 0, 0, 2)).unwrap();
        assert_eq!(n, 60);
        let eth = EthernetFrame::new_checked(&buf[..n]).unwrap();
        assert_eq!((eth.dst_addr(), eth.src_addr(), eth.ethertype()), (peer, MAC, EtherType::ARP));
        let arp = ArpPacket::new_checked(eth.payload()).unwrap();
        assert_eq!(arp.operation(), ArpOperation::REPLY);
        assert_eq!((arp.sender_hw(), arp.sender_ip()), (MAC, Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!((arp.target_hw(), arp.target_ip()), (peer, Ipv4Addr::new(10, 0, 0, 2)));
    }

    #[test]
    fn malformed() {
        assert_eq!(ArpPacket::new_checked(&REQUEST[14..41]), Err(WireError::Truncated));
        for (i, v) in [(1, 6u8), (3, 0xdd), (4, 8), (5, 16)] {
            let mut b = REQUEST;
            b[14 + i] = v;
            assert_eq!(ArpPacket::new_checked(&b[14..]), Err(WireError::Unsupported), "byte {i}");
        }
    }

    proptest! {
        #[test]
        fn emit_then_parse_round_trips(op in any::<u16>(), sha in any::<[u8; 6]>(), spa in any::<u32>(),
                                       tha in any::<[u8; 6]>(), tpa in any::<u32>(), dst in any::<[u8; 6]>()) {
            let r = ArpRepr {
                operation: ArpOperation(op), sender_hw: MacAddr(sha), sender_ip: spa.into(),
                target_hw: MacAddr(tha), target_ip: tpa.into(),
            };
            let mut buf = [0xa5u8; ARP_FRAME_LEN];
            prop_assert_eq!(r.emit_frame(&mut buf, MacAddr(dst)), Ok(ARP_FRAME_LEN));
            prop_assert_eq!(&buf[..6], &dst[..]);
            prop_assert!(buf[42..].iter().all(|&b| b == 0), "zero padding");
            let p = ArpPacket::new_checked(&buf[14..]).unwrap();
            prop_assert_eq!(ArpRepr::parse(&p), r);
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(a) = ArpPacket::new_checked(&data[..]) {
                let _ = (a.operation(), a.sender_hw(), a.sender_ip(), a.target_hw(), a.target_ip());
            }
        }
    }
}
