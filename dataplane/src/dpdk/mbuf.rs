//! An owned DPDK packet buffer.

use std::ptr::NonNull;

use dpdk_sys as sys;

use crate::frame::Frame;

/// Owns one mbuf (with its chain, if any) and frees it on drop.
///
/// `repr(transparent)` makes `Mbuf` the same as `*mut rte_mbuf` in memory, so a
/// `Vec<Mbuf>`'s buffer is passed straight to `rte_eth_rx_burst` / `rte_eth_tx_burst`
/// as the `struct rte_mbuf **` array, with no copying or per-burst allocation.
///
/// The data accessors see the first segment only (`data_len` bytes from `data_off`).
/// Every mbuf rvsd allocates or receives with a 2 KiB data room and an MTU of 1500 is
/// single-segment; `is_contiguous()` tells (the core should drop chained ones).
/// `Mbuf` assumes it is the only reference to the buffer (refcnt 1, not attached to
/// another mbuf's data), which holds for mbufs from `Mempool::alloc` and rx bursts.
#[repr(transparent)]
pub struct Mbuf(NonNull<sys::rte_mbuf>);

// SAFETY: an Mbuf is uniquely owned; mbufs may be freed from any thread (mempools are
// MT-safe, and unregistered threads just skip the per-lcore cache).
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `m` must be a valid mbuf that nobody else owns or frees (e.g. from
    /// `rte_pktmbuf_alloc`, an rx burst, or `Mbuf::into_raw`).
    #[inline]
    pub unsafe fn from_raw(m: NonNull<sys::rte_mbuf>) -> Mbuf {
        Mbuf(m)
    }

    /// Gives up ownership without freeing; the caller must free or hand it on.
    #[inline]
    pub fn into_raw(self) -> NonNull<sys::rte_mbuf> {
        let p = self.0;
        std::mem::forget(self);
        p
    }

    #[inline]
    pub fn as_ptr(&self) -> *mut sys::rte_mbuf {
        self.0.as_ptr()
    }

    #[inline]
    fn raw(&self) -> &sys::rte_mbuf {
        // SAFETY: we own a valid mbuf.
        unsafe { self.0.as_ref() }
    }

    #[inline]
    fn raw_mut(&mut self) -> &mut sys::rte_mbuf {
        // SAFETY: we own a valid mbuf.
        unsafe { self.0.as_mut() }
    }

    /// Bytes in the first segment (`data_len`).
    #[inline]
    pub fn len(&self) -> usize {
        self.raw().data_len as usize
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.raw().data_len == 0
    }

    /// Bytes in the whole chain (`pkt_len`); equals `len()` when contiguous.
    #[inline]
    pub fn pkt_len(&self) -> usize {
        self.raw().pkt_len as usize
    }

    /// True when the packet is one segment, i.e. `data()` is the whole packet.
    #[inline]
    pub fn is_contiguous(&self) -> bool {
        self.raw().nb_segs == 1
    }

    /// The port the mbuf was received on (as set by the PMD; not every PMD sets it).
    #[inline]
    pub fn port(&self) -> u16 {
        self.raw().port
    }

    #[inline]
    pub fn set_port(&mut self, port: u16) {
        self.raw_mut().port = port;
    }

    /// Free bytes before the data (for prepending headers).
    #[inline]
    pub fn headroom(&self) -> usize {
        self.raw().data_off as usize
    }

    /// Free bytes after the data in the first segment.
    #[inline]
    pub fn tailroom(&self) -> usize {
        let m = self.raw();
        m.buf_len as usize - m.data_off as usize - m.data_len as usize
    }

    /// The first segment's data.
    #[inline]
    pub fn data(&self) -> &[u8] {
        let m = self.raw();
        // SAFETY: buf_addr + data_off .. + data_len lies within the mbuf's buffer, and we
        // own the buffer (see the type's docs).
        unsafe {
            std::slice::from_raw_parts(
                (m.buf_addr as *const u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }

    /// The first segment's data, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let m = self.raw();
        // SAFETY: as in `data`, and `&mut self` makes the access exclusive.
        unsafe {
            std::slice::from_raw_parts_mut(
                (m.buf_addr as *mut u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }

    /// Sets the packet length at the tail; false (and unchanged) when it does not fit.
    /// A single-segment mbuf is adjusted in place (what `rte_pktmbuf_append` and
    /// `rte_pktmbuf_trim` do for one segment, without the out-of-line call); a chain goes
    /// through those DPDK functions, which only touch the last segment.
    #[inline]
    pub fn set_len(&mut self, len: usize) -> bool {
        let m = self.raw_mut();
        if m.nb_segs == 1 {
            if len > m.buf_len as usize - m.data_off as usize {
                return false;
            }
            m.data_len = len as u16;
            m.pkt_len = len as u32;
            return true;
        }
        self.set_len_chained(len)
    }

    /// Drops `n` bytes at the front of the first segment (`rte_pktmbuf_adj`).
    #[inline]
    pub fn pull_front(&mut self, n: usize) -> bool {
        let m = self.raw_mut();
        if n > m.data_len as usize {
            return false;
        }
        m.data_off += n as u16;
        m.data_len -= n as u16;
        m.pkt_len -= n as u32;
        true
    }

    /// Grows the first segment by `n` bytes at the front (`rte_pktmbuf_prepend`).
    #[inline]
    pub fn push_front(&mut self, n: usize) -> bool {
        let m = self.raw_mut();
        if n > m.data_off as usize {
            return false;
        }
        m.data_off -= n as u16;
        m.data_len += n as u16;
        m.pkt_len += n as u32;
        true
    }

    #[cold]
    fn set_len_chained(&mut self, len: usize) -> bool {
        let cur = self.pkt_len();
        // SAFETY: valid owned mbuf; both functions check room and leave it unchanged on
        // failure.
        unsafe {
            if len >= cur {
                let Ok(add) = u16::try_from(len - cur) else { return false };
                !sys::rte_pktmbuf_append(self.as_ptr(), add).is_null()
            } else {
                let Ok(cut) = u16::try_from(cur - len) else { return false };
                sys::rte_pktmbuf_trim(self.as_ptr(), cut) == 0
            }
        }
    }
}

impl Drop for Mbuf {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: we own the mbuf (and its chain); rte_pktmbuf_free frees all segments.
        unsafe { sys::rte_pktmbuf_free(self.0.as_ptr()) }
    }
}

impl std::fmt::Debug for Mbuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mbuf")
            .field("ptr", &self.0)
            .field("len", &self.len())
            .field("pkt_len", &self.pkt_len())
            .field("port", &self.port())
            .finish()
    }
}

impl Frame for Mbuf {
    #[inline]
    fn data(&self) -> &[u8] {
        Mbuf::data(self)
    }
    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        Mbuf::data_mut(self)
    }
    #[inline]
    fn set_len(&mut self, len: usize) -> bool {
        Mbuf::set_len(self, len)
    }
    #[inline]
    fn pull_front(&mut self, n: usize) -> bool {
        Mbuf::pull_front(self, n)
    }
    #[inline]
    fn push_front(&mut self, n: usize) -> bool {
        Mbuf::push_front(self, n)
    }
    /// From the PMD's rx flags. `*_CKSUM_NONE` ("the checksum field is not valid but the
    /// data is", e.g. a virtio peer's partial checksum) maps to None, like UNKNOWN.
    /// af_packet and net_ring set no flags: always None.
    #[inline]
    fn l4_checksum_ok(&self) -> Option<bool> {
        let f = self.raw().ol_flags & u64::from(sys::RTE_MBUF_F_RX_L4_CKSUM_MASK);
        match f as u32 {
            sys::RTE_MBUF_F_RX_L4_CKSUM_GOOD => Some(true),
            sys::RTE_MBUF_F_RX_L4_CKSUM_BAD => Some(false),
            _ => None,
        }
    }
    #[inline]
    fn ip_checksum_ok(&self) -> Option<bool> {
        let f = self.raw().ol_flags & u64::from(sys::RTE_MBUF_F_RX_IP_CKSUM_MASK);
        match f as u32 {
            sys::RTE_MBUF_F_RX_IP_CKSUM_GOOD => Some(true),
            sys::RTE_MBUF_F_RX_IP_CKSUM_BAD => Some(false),
            _ => None,
        }
    }
}
