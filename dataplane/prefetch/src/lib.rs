//! The CPU's prefetch hint as a safe, always-inlined function.
//!
//! `rvs-core` forbids unsafe code, and the intrinsic is an unsafe call. A function
//! pointer handed in by the edge (what the core used before) costs an indirect call
//! and the register spills around it on every prefetch of the burst stages; this crate
//! holds the one unsafe line instead, so the core's call inlines to one instruction.
#![no_std]

/// Hints the CPU to bring the cache line at `p` into all cache levels. A hint: it never
/// faults and has no effect on program state, whatever the address (dangling, null).
#[inline(always)]
pub fn read(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint; it does not fault on any address and changes no
    // architectural state. SSE is part of the x86_64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    #[test]
    fn any_address_is_fine() {
        let v = [1u8; 64];
        super::read(v.as_ptr());
        super::read(core::ptr::null());
        super::read(usize::MAX as *const u8);
        assert_eq!(v[0], 1);
    }
}
