//! 802.1Q tagged frames on the way in: which interface (port, VLAN) they belong to.
//!
//! A tagged frame is resolved to its VLAN's interface, counted there, stripped of its
//! tag and then handled like an untagged frame of that interface; everything after
//! this point sees untagged frames, and `Pipeline::xmit` tags what leaves by a VLAN.
//! Untagged frames never come here (the burst classification takes them on its own).

use super::*;
use crate::wire::vlan::{L2Error, L2Header, TPID_8021AD, TPID_8021Q};

/// Whether a frame carries a VLAN tag (802.1Q, or 802.1ad's QinQ outer tag).
#[inline]
pub(super) fn is_tagged(frame: &[u8]) -> bool {
    match frame.get(12..14) {
        Some(t) => matches!(u16::from_be_bytes([t[0], t[1]]), TPID_8021Q | TPID_8021AD),
        None => false,
    }
}

impl<P: Frame> Pipeline<P> {
    /// A tagged frame received on `port`. Unknown VLAN ids and stacked tags are dropped
    /// and counted (`unknown_vlan`, `vlan_qinq`); a priority tag (VLAN id 0) belongs to
    /// the port's untagged interface, as 802.1Q says.
    pub(super) fn handle_tagged(
        &mut self,
        port: PortIndex,
        mut pkt: P,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let vid = match L2Header::parse(pkt.data()) {
            Ok(h) => h.vlan.map_or(0, |v| v.vid),
            Err(L2Error::QinQ) => return self.drop_pkt(DropReason::VlanQinQ, pkt),
            Err(L2Error::Truncated) => return self.drop_pkt(DropReason::Truncated, pkt),
        };
        let iface = if vid == 0 {
            port
        } else {
            let vlans = &self.vlan_ifaces[port as usize];
            match vlans.binary_search_by_key(&vid, |&(id, _)| id) {
                Ok(k) => vlans[k].1,
                Err(_) => return self.drop_pkt(DropReason::UnknownVlan, pkt),
            }
        };
        let len = pkt.data().len() as u64;
        if !crate::frame::pop_vlan(&mut pkt) {
            return self.drop_pkt(DropReason::Truncated, pkt);
        }
        let vi = (iface as usize).checked_sub(self.nports).filter(|&v| v < self.counters.vlans.len());
        let Some(vi) = vi else {
            return self.handle_l2(iface, pkt, now, alloc, out);
        };
        let c = &self.counters.vlans[vi];
        c.rx_packets.inc();
        c.rx_bytes.add(len);
        // The VLAN's drops: whatever the worker dropped while handling this frame.
        let before = self.counters.dropped.get();
        self.handle_l2(iface, pkt, now, alloc, out);
        let dropped = self.counters.dropped.get().wrapping_sub(before);
        if dropped > 0 {
            self.counters.vlans[vi].drops.add(dropped);
        }
    }
}
