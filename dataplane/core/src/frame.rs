//! The packet-buffer abstraction between the sans-IO core and the edge.
//!
//! The core never sees an mbuf: it works on anything that lends it the frame bytes.
//! In rvsd that is a DPDK mbuf; in unit and golden tests it is a `Vec<u8>`.

/// A received or built Ethernet frame, owned by whoever holds the value.
pub trait Frame {
    /// The frame, from the Ethernet header to the end of the packet.
    fn data(&self) -> &[u8];
    fn data_mut(&mut self) -> &mut [u8];
    /// Sets the frame length, growing or shrinking at the tail. Returns false when the
    /// buffer has no room; the frame is then unchanged.
    fn set_len(&mut self, len: usize) -> bool;
    /// Drops `n` bytes at the front (an mbuf's `rte_pktmbuf_adj`). Returns false, changing
    /// nothing, when the frame is shorter.
    fn pull_front(&mut self, n: usize) -> bool;
    /// Grows the frame by `n` bytes at the front, contents unspecified (an mbuf's
    /// `rte_pktmbuf_prepend`). Returns false, changing nothing, without the headroom.
    fn push_front(&mut self, n: usize) -> bool;
    /// What the NIC found of the L4 checksum: Some(true) good, Some(false) bad, None when
    /// it did not check (then the core verifies in software).
    #[inline]
    fn l4_checksum_ok(&self) -> Option<bool> {
        None
    }
    /// Likewise for the IPv4 header checksum.
    #[inline]
    fn ip_checksum_ok(&self) -> Option<bool> {
        None
    }
    /// Starts loading the frame's first bytes into the cache (burst stage 0, as l3fwd
    /// prefetches each packet before parsing it): a frame another core wrote, a
    /// generator's or a NIC's, is a cache miss otherwise taken one packet at a time.
    #[inline(always)]
    fn prefetch(&self) {
        rvs_cpu::prefetch(self.data().as_ptr());
    }
}

/// A source of new frames (ARP requests, ICMP errors, RSTs).
pub trait FrameAlloc<F: Frame> {
    /// A frame of `len` bytes with unspecified contents, or None when the pool is empty.
    fn alloc(&mut self, len: usize) -> Option<F>;
}

impl Frame for Vec<u8> {
    fn data(&self) -> &[u8] {
        self
    }
    fn data_mut(&mut self) -> &mut [u8] {
        self
    }
    fn set_len(&mut self, len: usize) -> bool {
        self.resize(len, 0);
        true
    }
    fn pull_front(&mut self, n: usize) -> bool {
        if n > self.len() {
            return false;
        }
        self.drain(..n);
        true
    }
    fn push_front(&mut self, n: usize) -> bool {
        self.splice(0..0, std::iter::repeat_n(0, n));
        true
    }
}

/// Removes the 802.1Q tag of a tagged frame (software VLAN strip). False, frame
/// unchanged, when it is too short to hold one.
pub fn pop_vlan<P: Frame>(pkt: &mut P) -> bool {
    crate::wire::vlan::strip(pkt.data_mut()) && pkt.pull_front(crate::wire::vlan::TAG_LEN)
}

/// Tags an untagged frame with `vid`, priority 0 (software VLAN insert). False, frame
/// unchanged, without the headroom.
pub fn push_vlan<P: Frame>(pkt: &mut P, vid: u16) -> bool {
    if pkt.data().len() < 14 || !pkt.push_front(crate::wire::vlan::TAG_LEN) {
        return false;
    }
    crate::wire::vlan::insert(pkt.data_mut(), vid, 0)
}

/// Allocates plain vectors; used by tests and the golden-pcap harness.
#[derive(Debug, Default)]
pub struct VecAlloc;

impl FrameAlloc<Vec<u8>> for VecAlloc {
    fn alloc(&mut self, len: usize) -> Option<Vec<u8>> {
        Some(vec![0; len])
    }
}
