//! Ethernet II frames (no FCS: DPDK strips it).

use super::{get_u16, put_u16, EtherType, MacAddr, Result, WireError};

mod field {
    use std::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: usize = 12;
    pub const PAYLOAD: usize = 14;
}

/// A view of an Ethernet II frame.
///
/// Invariant (established by [`EthernetFrame::new_checked`]): the buffer holds at least
/// [`EthernetFrame::HEADER_LEN`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    pub const HEADER_LEN: usize = 14;

    /// Wraps `buffer` without checks; the caller guarantees the invariant.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wraps `buffer` after checking it holds a whole header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// Checks the invariant.
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

    /// The whole frame.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The header length (always 14 until VLAN tags are parsed).
    #[inline]
    pub fn header_len(&self) -> usize {
        Self::HEADER_LEN
    }

    #[inline]
    pub fn dst_addr(&self) -> MacAddr {
        let b = self.buffer.as_ref();
        MacAddr([b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    #[inline]
    pub fn src_addr(&self) -> MacAddr {
        let b = self.buffer.as_ref();
        MacAddr([b[6], b[7], b[8], b[9], b[10], b[11]])
    }

    /// The Ethernet type. 802.1Q tags are not parsed yet: a tagged frame reports
    /// [`EtherType::VLAN`] and its payload starts at the tag control information.
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        // VLAN: when the ethertype is 0x8100 (or 0x88a8 for QinQ), the TCI and the inner
        // ethertype follow; parse them here and make header_len() 18 (22) when VLAN support lands.
        EtherType(get_u16(self.buffer.as_ref(), field::ETHERTYPE))
    }

    /// Everything after the header, Ethernet padding included (the IPv4 view trims it).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    #[inline]
    pub fn set_dst_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&addr.0);
    }

    #[inline]
    pub fn set_src_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&addr.0);
    }

    #[inline]
    pub fn set_ethertype(&mut self, t: EtherType) {
        put_u16(self.buffer.as_mut(), field::ETHERTYPE, t.0);
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }

    /// The whole frame, mutable.
    #[inline]
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_and_set() {
        let mut b =
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x0c, 0x29, 0x3e, 0x5c, 0x7a, 0x08, 0x06, 0xaa, 0xbb];
        let f = EthernetFrame::new_checked(&b[..]).unwrap();
        assert_eq!(f.dst_addr(), MacAddr::BROADCAST);
        assert_eq!(f.src_addr(), MacAddr([0x00, 0x0c, 0x29, 0x3e, 0x5c, 0x7a]));
        assert_eq!(f.ethertype(), EtherType::ARP);
        assert_eq!(f.payload(), &[0xaa, 0xbb]);
        assert_eq!(f.header_len(), 14);

        let mut f = EthernetFrame::new_checked(&mut b[..]).unwrap();
        f.set_dst_addr(MacAddr([1, 2, 3, 4, 5, 6]));
        f.set_src_addr(MacAddr([7, 8, 9, 10, 11, 12]));
        f.set_ethertype(EtherType::IPV4);
        f.payload_mut()[0] = 0x45;
        assert_eq!(&b[..15], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x00, 0x45]);
    }

    #[test]
    fn truncated() {
        assert_eq!(EthernetFrame::new_checked(&[0u8; 13][..]), Err(WireError::Truncated));
        assert_eq!(EthernetFrame::new_checked(&[][..] as &[u8]), Err(WireError::Truncated));
        assert!(EthernetFrame::new_checked(&[0u8; 14][..]).unwrap().payload().is_empty());
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(f) = EthernetFrame::new_checked(&data[..]) {
                let _ = (f.dst_addr(), f.src_addr(), f.ethertype(), f.payload().len());
            }
        }
    }
}
