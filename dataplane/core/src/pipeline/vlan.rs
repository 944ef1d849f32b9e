//! 802.1Q tagged frames on the way in: which interface (port, VLAN) they belong to.
//!
//! A tagged frame is resolved to its VLAN's interface, counted there, stripped of its
//! tag and then handled like an untagged frame of that interface; everything after
//! this point sees untagged frames, and `Pipeline::xmit` tags what leaves by a VLAN.
//! The burst path strips the tag in its first stage (`fastpath.rs`), so that the frames
//! of a VLAN take the established fast path too.

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
        let iface = match self.vlan_iface(port, pkt.data()) {
            Ok(i) => i,
            Err(reason) => return self.drop_pkt(reason, pkt),
        };
        let len = pkt.data().len();
        if !crate::frame::pop_vlan(&mut pkt) {
            return self.drop_pkt(DropReason::Truncated, pkt);
        }
        self.handle_untagged_of(iface, len, pkt, now, alloc, out)
    }

    /// The interface a tagged frame received on `port` belongs to, or why it is dropped.
    #[inline]
    pub(super) fn vlan_iface(&self, port: PortIndex, frame: &[u8]) -> Result<IfIndex, DropReason> {
        let vid = match L2Header::parse(frame) {
            Ok(h) => h.vlan.map_or(0, |v| v.vid),
            Err(L2Error::QinQ) => return Err(DropReason::VlanQinQ),
            Err(L2Error::Truncated) => return Err(DropReason::Truncated),
        };
        if vid == 0 {
            return Ok(port);
        }
        let vlans = &self.vlan_ifaces[port as usize];
        match vlans.binary_search_by_key(&vid, |&(id, _)| id) {
            Ok(k) => Ok(vlans[k].1),
            Err(_) => Err(DropReason::UnknownVlan),
        }
    }

    /// The VLAN counter slot of interface `iface`, if it is a VLAN's.
    #[inline]
    pub(super) fn vlan_slot(&self, iface: IfIndex) -> Option<usize> {
        (iface as usize).checked_sub(self.nports).filter(|&v| v < self.counters.vlans.len())
    }

    /// Handles `pkt`, a frame of interface `iface` whose tag is stripped (`len` bytes
    /// with it), with the VLAN's counters: the frame received, and whatever the worker
    /// dropped while handling it.
    pub(super) fn handle_untagged_of(
        &mut self,
        iface: IfIndex,
        len: usize,
        pkt: P,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        self.with_vlan_counters(iface, len, |p| p.handle_l2(iface, pkt, now, alloc, out));
    }

    /// Runs `f` on a frame of interface `iface` (`len` bytes with its tag) and keeps the
    /// VLAN's counters: the frame received, and the drops `f` made.
    #[inline]
    pub(super) fn with_vlan_counters(&mut self, iface: IfIndex, len: usize, f: impl FnOnce(&mut Self)) {
        let Some(vi) = self.vlan_slot(iface) else {
            return f(self);
        };
        let c = &self.counters.vlans[vi];
        c.rx_packets.inc();
        c.rx_bytes.add(len as u64);
        let before = self.counters.dropped.get();
        f(self);
        let dropped = self.counters.dropped.get().wrapping_sub(before);
        if dropped > 0 {
            self.counters.vlans[vi].drops.add(dropped);
        }
    }
}
