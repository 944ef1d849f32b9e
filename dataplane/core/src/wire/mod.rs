//! Typed, zero-copy views of the packets RVS handles, in the style of smoltcp.
//!
//! Each view wraps a buffer `T: AsRef<[u8]>` (and, for the setters, `T: AsMut<[u8]>`) and
//! reads or writes header fields in place; there is no parsing into owned structs and no
//! logic beyond the wire format itself.
//!
//! # Checked and unchecked construction
//!
//! Bytes that come from the network go through `new_checked`, which validates every length
//! the accessors rely on and returns a [`WireError`] otherwise. After a successful check the
//! accessors index the buffer directly: the invariant each view documents (for instance "the
//! buffer holds at least `header_len()` bytes") is what makes those indexings in bounds.
//! `new_unchecked` skips the validation for the hot path where the caller has already checked
//! (or is building a packet into a buffer it sized itself); on a buffer that does not satisfy
//! the invariant the accessors may panic. Nothing reachable through `new_checked` panics, on
//! any input.
//!
//! # A FULLNAT rewrite with incremental checksums
//!
//! ```ignore
//! let mut ip = Ipv4Packet::new_checked(eth.payload_mut())?;
//! let (old_src, old_dst) = (ip.src_addr(), ip.dst_addr());
//! ip.rewrite_addrs(new_src, new_dst); // IP header checksum updated
//! let mut tcp = TcpPacket::new_checked(ip.payload_mut())?;
//! tcp.update_pseudo_addrs(old_src, old_dst, new_src, new_dst); // pseudo header
//! tcp.rewrite_ports(new_sport, new_dport);
//! // UdpPacket has the same two methods, which keep a zero ("none") checksum zero.
//! ```

use std::fmt;

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod repr;
pub mod tcp;
pub mod udp;
pub mod vlan;

/// Why a buffer is not a valid packet of the kind asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireError {
    /// The buffer is shorter than the header, or than a length field says.
    Truncated,
    /// The IP version field is not the one expected (4, or 6 for IPv6).
    BadVersion,
    /// The IPv4 IHL is below 5.
    BadHeaderLen,
    /// The IPv4 total length is below the header length.
    BadTotalLen,
    /// The TCP data offset is below 5.
    BadDataOffset,
    /// A length field (UDP length) is below the header length.
    BadLength,
    /// A checksum does not match the contents.
    BadChecksum,
    /// An IPv6 extension header out of place (hop-by-hop not first, a second fragment header).
    BadExtHeader,
    /// More IPv6 extension headers than `ipv6::MAX_EXT_HEADERS`.
    ExtChainTooLong,
    /// A well-formed packet of a kind RVS does not handle (e.g. ARP for other than Ethernet/IPv4).
    Unsupported,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WireError::Truncated => "packet truncated",
            WireError::BadVersion => "bad IP version",
            WireError::BadHeaderLen => "bad IPv4 header length",
            WireError::BadTotalLen => "bad IPv4 total length",
            WireError::BadDataOffset => "bad TCP data offset",
            WireError::BadLength => "bad length field",
            WireError::BadChecksum => "bad checksum",
            WireError::BadExtHeader => "bad IPv6 extension header",
            WireError::ExtChainTooLong => "IPv6 extension header chain too long",
            WireError::Unsupported => "unsupported packet",
        })
    }
}

impl std::error::Error for WireError {}

/// Result of the wire module.
pub type Result<T> = core::result::Result<T, WireError>;

/// An IP protocol number. A newtype rather than an enum so that every value round-trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    pub const ICMP: IpProtocol = IpProtocol(1);
    pub const TCP: IpProtocol = IpProtocol(6);
    pub const UDP: IpProtocol = IpProtocol(17);
}

impl From<u8> for IpProtocol {
    fn from(v: u8) -> Self {
        IpProtocol(v)
    }
}

impl From<IpProtocol> for u8 {
    fn from(p: IpProtocol) -> u8 {
        p.0
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            IpProtocol::ICMP => f.write_str("icmp"),
            IpProtocol::TCP => f.write_str("tcp"),
            IpProtocol::UDP => f.write_str("udp"),
            IpProtocol(p) => write!(f, "proto-{p}"),
        }
    }
}

/// An Ethernet type field value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EtherType(pub u16);

impl EtherType {
    pub const IPV4: EtherType = EtherType(0x0800);
    pub const ARP: EtherType = EtherType(0x0806);
    pub const VLAN: EtherType = EtherType(0x8100);
    pub const IPV6: EtherType = EtherType(0x86DD);
}

impl From<u16> for EtherType {
    fn from(v: u16) -> Self {
        EtherType(v)
    }
}

impl From<EtherType> for u16 {
    fn from(t: EtherType) -> u16 {
        t.0
    }
}

impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:04x}", self.0)
    }
}

/// A 48-bit Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// The address in the first six bytes of `bytes`, or None when it is shorter.
    pub fn from_slice(bytes: &[u8]) -> Option<MacAddr> {
        let b: [u8; 6] = bytes.get(..6)?.try_into().ok()?;
        Some(MacAddr(b))
    }

    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Group bit set (this includes broadcast).
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Neither multicast nor the all-zero address.
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast() && *self != Self::ZERO
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(b: [u8; 6]) -> Self {
        MacAddr(b)
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

// Big-endian field access shared by the views. Callers guarantee the range is in bounds (the
// view's invariant); out of bounds they panic like any slice index.

#[inline(always)]
pub(crate) fn get_u16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

#[inline(always)]
pub(crate) fn get_u32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

#[inline(always)]
pub(crate) fn put_u16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
pub(crate) fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Parses a frame as far as it goes, touching every accessor on the way.
    fn parse_all(frame: &[u8]) {
        let Ok(eth) = ethernet::EthernetFrame::new_checked(frame) else { return };
        let _ = (eth.dst_addr(), eth.src_addr());
        match eth.ethertype() {
            EtherType::ARP => {
                if let Ok(a) = arp::ArpPacket::new_checked(eth.payload()) {
                    let _ = (a.operation(), a.sender_hw(), a.sender_ip(), a.target_hw(), a.target_ip());
                }
            }
            EtherType::IPV4 => {
                let Ok(ip) = ipv4::Ipv4Packet::new_checked(eth.payload()) else { return };
                let _ =
                    (ip.verify_checksum(), ip.is_fragment(), ip.frag_offset(), ip.options().len(), ip.ttl());
                let (s, d) = (ip.src_addr(), ip.dst_addr());
                match ip.protocol() {
                    IpProtocol::TCP => {
                        if let Ok(t) = tcp::TcpPacket::new_checked(ip.payload()) {
                            let _ = (t.verify_checksum(s, d), t.flags(), t.payload().len(), t.seq_number());
                            let _ = t.iter_options().count();
                        }
                    }
                    IpProtocol::UDP => {
                        if let Ok(u) = udp::UdpPacket::new_checked(ip.payload()) {
                            let _ = (u.verify_checksum(s, d), u.payload().len(), u.src_port());
                        }
                    }
                    IpProtocol::ICMP => {
                        if let Ok(i) = icmp::Icmpv4Packet::new_checked(ip.payload()) {
                            let _ = (i.verify_checksum(), i.msg_type(), i.echo_seq_no(), i.payload().len());
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// An Ethernet/IPv4 frame skeleton: random protocol, IHL, lengths and body, so that the
    /// fuzzing reaches the transport parsers.
    fn skeleton() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::sample::select(vec![1u8, 6, 17, 47]),
            0u8..16,
            any::<u16>(),
            proptest::collection::vec(any::<u8>(), 0..120),
            any::<bool>(),
        )
            .prop_map(|(proto, ihl, tl, body, fit)| {
                let mut f = vec![0u8; 14];
                f[12..14].copy_from_slice(&EtherType::IPV4.0.to_be_bytes());
                f.push(0x40 | ihl);
                f.push(0);
                let tl = if fit { (20 + body.len() as u16).min(tl) } else { tl };
                f.extend_from_slice(&tl.to_be_bytes());
                f.extend_from_slice(&[0, 0, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
                f.extend_from_slice(&body);
                f
            })
    }

    proptest! {
        #[test]
        fn parsers_never_panic_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            parse_all(&data);
        }

        #[test]
        fn parsers_never_panic_on_mangled_frames(frame in skeleton()) {
            parse_all(&frame);
        }
    }

    #[test]
    fn mac_display_and_kinds() {
        let m = MacAddr([0x00, 0x0c, 0x29, 0x3e, 0x5c, 0x7a]);
        assert_eq!(m.to_string(), "00:0c:29:3e:5c:7a");
        assert!(m.is_unicast() && !m.is_multicast() && !m.is_broadcast());
        assert!(MacAddr::BROADCAST.is_broadcast() && MacAddr::BROADCAST.is_multicast());
        assert!(MacAddr([0x01, 0x00, 0x5e, 0, 0, 1]).is_multicast());
        assert!(!MacAddr::ZERO.is_unicast());
        assert_eq!(MacAddr::from_slice(&[1, 2, 3, 4, 5]), None);
        assert_eq!(MacAddr::from_slice(&[1, 2, 3, 4, 5, 6, 7]), Some(MacAddr([1, 2, 3, 4, 5, 6])));
    }

    #[test]
    fn protocol_and_ethertype() {
        assert_eq!(IpProtocol::from(6), IpProtocol::TCP);
        assert_eq!(u8::from(IpProtocol::UDP), 17);
        assert_eq!(IpProtocol::ICMP.to_string(), "icmp");
        assert_eq!(IpProtocol(99).to_string(), "proto-99");
        assert_eq!(EtherType::from(0x0806), EtherType::ARP);
        assert_eq!(EtherType::IPV6.to_string(), "0x86dd");
        assert_eq!(WireError::Truncated.to_string(), "packet truncated");
    }
}
