//! Packet-buffer pools.

use std::ffi::{CStr, CString};
use std::ptr::NonNull;

use dpdk_sys as sys;

use super::{DpdkError, Mbuf};
use crate::frame::FrameAlloc;

/// The default mbuf data room: 2048 bytes of data after the 128-byte headroom.
pub const DEFAULT_DATA_ROOM: u16 = sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16;

/// The headroom DPDK keeps in front of every mbuf's frame (part of the data room).
pub const HEADROOM: u16 = sys::RTE_PKTMBUF_HEADROOM as u16;

/// "Any NUMA socket", for `Mempool::new`.
pub const SOCKET_ANY: i32 = sys::SOCKET_ID_ANY;

/// A handle to an mbuf pool (`rte_pktmbuf_pool_create`).
///
/// The pool lives until the process ends (or `rte_eal_cleanup`): dropping a handle does
/// not free it, because mbufs from it may still be in flight (in a `Vec<Mbuf>`, in a
/// port's rx ring or tx queue), and an `Mbuf` does not borrow its pool. So the handle is
/// `Copy`; give each worker its own. `free` exists for the rare case it is wanted.
/// DPDK mempools are MT-safe: any thread may alloc and free; threads with an lcore id
/// (the main thread, `Eal::register_thread`) also use the per-lcore cache.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Mempool(NonNull<sys::rte_mempool>);

// SAFETY: rte_mempool get/put are MT-safe (the default ring ops are multi-producer,
// multi-consumer); the handle holds no thread-affine state.
unsafe impl Send for Mempool {}
unsafe impl Sync for Mempool {}

impl Mempool {
    /// `rte_pktmbuf_pool_create(name, n_mbufs, cache_size, 0, data_room, socket)`.
    /// `data_room` includes the 128-byte headroom (use `DEFAULT_DATA_ROOM`);
    /// `cache_size` is per lcore, at most 512 and at most n_mbufs / 1.5;
    /// `socket` is a NUMA node or `SOCKET_ANY`. Names are process-unique (EEXIST).
    pub fn new(
        name: &str,
        n_mbufs: u32,
        cache_size: u32,
        data_room: u16,
        socket: i32,
    ) -> Result<Mempool, DpdkError> {
        let call = || {
            format!("rte_pktmbuf_pool_create({name:?}, n={n_mbufs}, cache={cache_size}, room={data_room})")
        };
        let cname = CString::new(name).map_err(|_| DpdkError::new(call(), 22))?;
        // SAFETY: valid C string; EAL initialised (otherwise DPDK returns an error).
        let p = unsafe {
            sys::rte_pktmbuf_pool_create(cname.as_ptr(), n_mbufs, cache_size, 0, data_room, socket)
        };
        NonNull::new(p).map(Mempool).ok_or_else(|| DpdkError::from_rte_errno(call()))
    }

    /// One mbuf with an empty data area (length 0, headroom reset), or None when the pool
    /// is exhausted.
    #[inline]
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: valid pool; the new mbuf is ours.
        unsafe { NonNull::new(sys::rte_pktmbuf_alloc(self.0.as_ptr())).map(|m| Mbuf::from_raw(m)) }
    }

    /// Appends exactly `n` fresh mbufs to `out`, or none (returns false) when the pool
    /// has fewer than `n` available.
    pub fn alloc_bulk(&self, out: &mut Vec<Mbuf>, n: usize) -> bool {
        let Ok(count) = u32::try_from(n) else { return false };
        out.reserve(n);
        // SAFETY: the spare capacity holds n pointer-sized slots, and Mbuf is
        // repr(transparent) over a non-null mbuf pointer; on success all n are written.
        unsafe {
            let dst = out.as_mut_ptr().add(out.len()) as *mut *mut sys::rte_mbuf;
            if sys::rte_pktmbuf_alloc_bulk(self.0.as_ptr(), dst, count) != 0 {
                return false;
            }
            out.set_len(out.len() + n);
        }
        true
    }

    /// Mbufs currently available (in the ring and the per-lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: valid pool.
        unsafe { sys::rte_mempool_avail_count(self.0.as_ptr()) }
    }

    /// Mbufs currently allocated.
    pub fn in_use(&self) -> u32 {
        // SAFETY: valid pool.
        unsafe { sys::rte_mempool_in_use_count(self.0.as_ptr()) }
    }

    pub fn name(&self) -> String {
        // SAFETY: the name is a NUL-terminated array inside the pool.
        unsafe { CStr::from_ptr(self.0.as_ref().name.as_ptr()).to_string_lossy().into_owned() }
    }

    #[inline]
    pub fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.0.as_ptr()
    }

    /// Frees the pool (`rte_mempool_free`).
    ///
    /// # Safety
    /// No mbuf of this pool may exist anywhere (no `Mbuf`, nothing in a port's queues:
    /// the ports using it must be stopped and closed), and no other handle may be used
    /// afterwards.
    pub unsafe fn free(self) {
        sys::rte_mempool_free(self.0.as_ptr())
    }
}

impl std::fmt::Debug for Mempool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mempool").field("name", &self.name()).field("available", &self.available()).finish()
    }
}

/// New frames for the core come straight from the pool.
impl FrameAlloc<Mbuf> for Mempool {
    #[inline]
    fn alloc(&mut self, len: usize) -> Option<Mbuf> {
        let mut m = Mempool::alloc(self)?;
        m.set_len(len).then_some(m)
    }
}
