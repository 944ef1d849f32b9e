//! IEEE 802.1Q VLAN tags: the 4 bytes (TPID 0x8100, then priority, DEI and the 12-bit
//! VLAN id) that sit between the source MAC and the ethertype of a tagged frame.
//!
//! [`VlanRepr`] parses and emits the tag of a frame. [`L2Header`] is the VLAN-aware view
//! the pipeline's classification uses: the MACs, the VLAN (if any), the inner ethertype
//! and where the L3 header starts. QinQ (an 802.1ad outer tag, TPID 0x88a8, or a second
//! 802.1Q tag) is recognised and refused: RVS does not handle stacked tags.
//!
//! [`strip`] and [`insert`] move the MACs over the tag in place, what a NIC's VLAN strip
//! and insert offloads do; the caller shrinks or grows the buffer at the front.

use super::{get_u16, put_u16, EtherType, MacAddr, Result, WireError};

/// The 802.1Q tag protocol identifier.
pub const TPID_8021Q: u16 = 0x8100;
/// The 802.1ad (QinQ, "S-tag") tag protocol identifier.
pub const TPID_8021AD: u16 = 0x88a8;
/// Bytes one tag adds to a frame.
pub const TAG_LEN: usize = 4;
/// Where the tag starts (after the two MAC addresses).
const TAG_AT: usize = 12;
/// The largest VLAN id (4095 is reserved).
pub const MAX_VID: u16 = 4094;

/// One 802.1Q tag and the ethertype that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VlanRepr {
    /// Priority code point (802.1p), 0-7.
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN id, 0-4095 (0: priority tag only, no VLAN).
    pub vid: u16,
    /// The ethertype of what the tag carries.
    pub inner: EtherType,
}

impl VlanRepr {
    /// A tag for `vid` with priority 0, carrying `inner`.
    pub fn new(vid: u16, inner: EtherType) -> Self {
        VlanRepr { pcp: 0, dei: false, vid: vid & 0x0fff, inner }
    }

    /// The tag control information field.
    #[inline]
    pub fn tci(&self) -> u16 {
        (u16::from(self.pcp & 7) << 13) | (u16::from(self.dei) << 12) | (self.vid & 0x0fff)
    }

    /// Parses the tag of an Ethernet frame whose ethertype field is 0x8100. Errors:
    /// `Truncated` when the frame ends inside the tag, `Unsupported` when the frame is not
    /// 802.1Q tagged at all.
    pub fn parse(frame: &[u8]) -> Result<VlanRepr> {
        if frame.len() < TAG_AT + 2 {
            return Err(WireError::Truncated);
        }
        if get_u16(frame, TAG_AT) != TPID_8021Q {
            return Err(WireError::Unsupported);
        }
        if frame.len() < TAG_AT + TAG_LEN + 2 {
            return Err(WireError::Truncated);
        }
        let tci = get_u16(frame, TAG_AT + 2);
        Ok(VlanRepr {
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
            vid: tci & 0x0fff,
            inner: EtherType(get_u16(frame, TAG_AT + 4)),
        })
    }

    /// Writes the tag into a frame that has room for it: bytes 12..18 become TPID, TCI
    /// and the inner ethertype. The caller makes room (see [`insert`]).
    pub fn emit(&self, frame: &mut [u8]) {
        put_u16(frame, TAG_AT, TPID_8021Q);
        put_u16(frame, TAG_AT + 2, self.tci());
        put_u16(frame, TAG_AT + 4, self.inner.0);
    }
}

/// The Ethernet header of a received frame, tags resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L2Header {
    pub dst: MacAddr,
    pub src: MacAddr,
    /// The 802.1Q tag, if the frame has one.
    pub vlan: Option<VlanRepr>,
    /// The ethertype of the payload (inside the tag for a tagged frame).
    pub ethertype: EtherType,
}

/// Why a frame's L2 header is not one RVS handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L2Error {
    /// Shorter than its headers.
    Truncated,
    /// Stacked tags (802.1ad outer tag, or 802.1Q inside 802.1Q): out of scope.
    QinQ,
}

impl L2Header {
    /// Parses the MACs and at most one 802.1Q tag.
    pub fn parse(frame: &[u8]) -> core::result::Result<L2Header, L2Error> {
        if frame.len() < 14 {
            return Err(L2Error::Truncated);
        }
        let mac = |at: usize| MacAddr(frame[at..at + 6].try_into().expect("6 bytes"));
        let (dst, src) = (mac(0), mac(6));
        let outer = get_u16(frame, TAG_AT);
        let (vlan, ethertype) = match outer {
            TPID_8021AD => return Err(L2Error::QinQ),
            TPID_8021Q => {
                let tag = VlanRepr::parse(frame).map_err(|_| L2Error::Truncated)?;
                if matches!(tag.inner.0, TPID_8021Q | TPID_8021AD) {
                    return Err(L2Error::QinQ);
                }
                (Some(tag), tag.inner)
            }
            t => (None, EtherType(t)),
        };
        Ok(L2Header { dst, src, vlan, ethertype })
    }

    /// Bytes of L2 header: 14, or 18 with a tag.
    #[inline]
    pub fn header_len(&self) -> usize {
        if self.vlan.is_some() {
            14 + TAG_LEN
        } else {
            14
        }
    }
}

/// Removes the tag of a tagged frame in place: the MACs move 4 bytes towards the payload,
/// so the untagged frame starts at offset [`TAG_LEN`] (the caller then drops the first 4
/// bytes). Returns false, changing nothing, for a frame too short to hold a tag.
pub fn strip(frame: &mut [u8]) -> bool {
    if frame.len() < TAG_AT + TAG_LEN + 2 {
        return false;
    }
    frame.copy_within(0..TAG_AT, TAG_LEN);
    true
}

/// Tags a frame in place: `frame` is an untagged frame preceded by [`TAG_LEN`] free bytes
/// (the caller grew the buffer at the front); the MACs move to the front and `tag` is
/// written after them (its `inner` is the untagged frame's ethertype, kept from the frame).
/// Returns false, changing nothing, when the buffer is too short.
pub fn insert(frame: &mut [u8], vid: u16, pcp: u8) -> bool {
    if frame.len() < TAG_LEN + 14 {
        return false;
    }
    frame.copy_within(TAG_LEN..TAG_LEN + TAG_AT, 0);
    put_u16(frame, TAG_AT, TPID_8021Q);
    put_u16(frame, TAG_AT + 2, (u16::from(pcp & 7) << 13) | (vid & 0x0fff));
    // Bytes 16..18 already hold the ethertype of the untagged frame.
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DST: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const SRC: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn untagged() -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&DST);
        f.extend_from_slice(&SRC);
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0x00, 0xaa]);
        f
    }

    fn tagged(vid: u16) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&DST);
        f.extend_from_slice(&SRC);
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&(0x6000 | vid).to_be_bytes()); // priority 3
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0x00, 0xaa]);
        f
    }

    #[test]
    fn parses_a_tag() {
        let f = tagged(20);
        let t = VlanRepr::parse(&f).unwrap();
        assert_eq!(t, VlanRepr { pcp: 3, dei: false, vid: 20, inner: EtherType::IPV4 });
        assert_eq!(t.tci(), 0x6014);
        let h = L2Header::parse(&f).unwrap();
        assert_eq!(h.vlan.map(|v| v.vid), Some(20));
        assert_eq!(h.ethertype, EtherType::IPV4);
        assert_eq!(h.header_len(), 18);
        assert_eq!((h.dst.0, h.src.0), (DST, SRC));
        let u = L2Header::parse(&untagged()).unwrap();
        assert_eq!((u.vlan, u.ethertype, u.header_len()), (None, EtherType::IPV4, 14));
    }

    #[test]
    fn emit_round_trips() {
        let t = VlanRepr { pcp: 5, dei: true, vid: 4094, inner: EtherType::ARP };
        let mut f = vec![0u8; 20];
        t.emit(&mut f);
        assert_eq!(&f[12..18], &[0x81, 0x00, 0xbf, 0xfe, 0x08, 0x06]);
        assert_eq!(VlanRepr::parse(&f), Ok(t));
    }

    #[test]
    fn qinq_and_truncation_are_refused() {
        let mut ad = tagged(10);
        ad[12..14].copy_from_slice(&TPID_8021AD.to_be_bytes());
        assert_eq!(L2Header::parse(&ad), Err(L2Error::QinQ));
        let mut double = tagged(10);
        double[16..18].copy_from_slice(&TPID_8021Q.to_be_bytes());
        assert_eq!(L2Header::parse(&double), Err(L2Error::QinQ));
        assert_eq!(L2Header::parse(&tagged(10)[..17]), Err(L2Error::Truncated));
        assert_eq!(L2Header::parse(&[0u8; 13]), Err(L2Error::Truncated));
        assert_eq!(VlanRepr::parse(&untagged()), Err(WireError::Unsupported));
    }

    #[test]
    fn strip_then_insert_gives_the_frame_back() {
        let orig = tagged(10);
        let mut f = orig.clone();
        assert!(strip(&mut f));
        assert_eq!(&f[TAG_LEN..], &untagged()[..], "untagged from offset 4");
        // Insert works on the same layout: 4 free bytes, then the untagged frame.
        assert!(insert(&mut f, 10, 3));
        assert_eq!(f, orig);
        assert!(!strip(&mut [0u8; 17]));
        assert!(!insert(&mut [0u8; 17], 1, 0));
    }

    proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(h) = L2Header::parse(&data) {
                prop_assert!(h.header_len() <= data.len());
            }
            let _ = VlanRepr::parse(&data);
        }

        #[test]
        fn emit_parse_round_trip(pcp in 0u8..8, dei: bool, vid in 0u16..4096, inner: u16) {
            let t = VlanRepr { pcp, dei, vid, inner: EtherType(inner) };
            let mut f = vec![0u8; 18];
            t.emit(&mut f);
            prop_assert_eq!(VlanRepr::parse(&f), Ok(t));
        }
    }
}
