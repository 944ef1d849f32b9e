//! The switch's decisions on one frame, as pure functions over bytes.
//!
//! Linux moves a received frame's 802.1Q tag out of the data into the packet's metadata
//! before AF_PACKET sees it (`skb_vlan_untag`), and hands it back as `PACKET_AUXDATA`
//! (`tp_vlan_tci` with `TP_STATUS_VLAN_VALID`); a tag may also still be in the data. Both
//! are handled: `Rx::tag` is the metadata's, and an in-data tag is found here.

/// The 802.1Q tag protocol identifier.
pub const TPID_8021Q: u16 = 0x8100;
/// 802.1ad (QinQ outer tag): not switched (out of scope), dropped and counted.
pub const TPID_8021AD: u16 = 0x88a8;
const ETH_HDR: usize = 14;

/// What one frame on one port becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send on the trunk with this VLAN id.
    ToTrunk(u16),
    /// Send untagged on the access ports of this VLAN id.
    ToAccess(u16),
    /// A trunk frame without a tag (no native VLAN here).
    UntaggedOnTrunk,
    /// A tagged (or QinQ) frame on an access port.
    TaggedOnAccess,
    /// A QinQ frame on the trunk.
    Qinq,
    /// Shorter than an Ethernet header.
    Runt,
}

/// The VLAN id (if any) of a received frame: from the metadata, else from an in-data tag
/// (which [`untag`] removes).
pub fn tag_of(data: &[u8], meta_tci: Option<u16>) -> Result<Option<u16>, Decision> {
    if data.len() < ETH_HDR {
        return Err(Decision::Runt);
    }
    let ethertype = u16::from_be_bytes([data[12], data[13]]);
    if ethertype == TPID_8021AD || meta_tci.is_some() && ethertype == TPID_8021Q {
        // A second tag behind the first: QinQ.
        return Err(Decision::Qinq);
    }
    if let Some(tci) = meta_tci {
        return Ok(Some(tci & 0x0fff));
    }
    if ethertype == TPID_8021Q {
        if data.len() < ETH_HDR + 4 {
            return Err(Decision::Runt);
        }
        return Ok(Some(u16::from_be_bytes([data[14], data[15]]) & 0x0fff));
    }
    Ok(None)
}

/// Where a frame received on the trunk (`from_trunk`) or on an access port of `access_vid`
/// goes.
pub fn decide(data: &[u8], meta_tci: Option<u16>, from_trunk: bool, access_vid: u16) -> Decision {
    let tag = match tag_of(data, meta_tci) {
        Ok(t) => t,
        Err(d) => return if from_trunk { d } else { Decision::TaggedOnAccess },
    };
    match (from_trunk, tag) {
        (true, Some(vid)) => Decision::ToAccess(vid),
        (true, None) => Decision::UntaggedOnTrunk,
        (false, None) => Decision::ToTrunk(access_vid),
        (false, Some(_)) => Decision::TaggedOnAccess,
    }
}

/// `data` with an 802.1Q tag of `vid` (priority 0) after the MAC addresses, into `out`.
pub fn tag(data: &[u8], vid: u16, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&data[..12]);
    out.extend_from_slice(&TPID_8021Q.to_be_bytes());
    out.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
    out.extend_from_slice(&data[12..]);
}

/// `data` without its in-data tag when it has one (the metadata case needs nothing).
pub fn untag<'a>(data: &'a [u8], out: &'a mut Vec<u8>) -> &'a [u8] {
    if data.len() >= ETH_HDR + 4 && u16::from_be_bytes([data[12], data[13]]) == TPID_8021Q {
        out.clear();
        out.extend_from_slice(&data[..12]);
        out.extend_from_slice(&data[16..]);
        out
    } else {
        data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ethertype: u16) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(&[0x45, 0, 0, 20]);
        f
    }

    #[test]
    fn access_frames_are_tagged_with_their_vlan() {
        let f = frame(0x0800);
        assert_eq!(decide(&f, None, false, 10), Decision::ToTrunk(10));
        let mut out = Vec::new();
        tag(&f, 10, &mut out);
        assert_eq!(&out[12..18], &[0x81, 0x00, 0x00, 0x0a, 0x08, 0x00]);
        assert_eq!(out.len(), f.len() + 4);
        assert_eq!(&out[18..], &f[14..]);
    }

    #[test]
    fn trunk_frames_go_to_their_vlan_from_metadata_or_data() {
        let plain = frame(0x0800);
        assert_eq!(decide(&plain, Some(0x2014), true, 0), Decision::ToAccess(20), "priority bits ignored");
        let mut tagged = Vec::new();
        tag(&plain, 30, &mut tagged);
        assert_eq!(decide(&tagged, None, true, 0), Decision::ToAccess(30));
        let mut buf = Vec::new();
        assert_eq!(untag(&tagged, &mut buf), &plain[..]);
        let mut buf2 = Vec::new();
        assert_eq!(untag(&plain, &mut buf2), &plain[..]);
    }

    #[test]
    fn what_is_not_switched() {
        let plain = frame(0x0800);
        assert_eq!(decide(&plain, None, true, 0), Decision::UntaggedOnTrunk);
        assert_eq!(decide(&plain, Some(10), false, 10), Decision::TaggedOnAccess);
        assert_eq!(decide(&frame(0x88a8), None, true, 0), Decision::Qinq);
        assert_eq!(
            decide(&frame(0x8100), Some(10), true, 0),
            Decision::Qinq,
            "inner tag behind the stripped one"
        );
        assert_eq!(decide(&[0u8; 10], None, true, 0), Decision::Runt);
    }
}
