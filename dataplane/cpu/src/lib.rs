//! What the burst stages need of the CPU beyond plain Rust, as safe, always-inlined
//! functions: the prefetch hint and two vector compares (a bucket's tags, a frame's
//! first 16 bytes).
//!
//! `rvs-core` forbids unsafe code, and both intrinsics are unsafe calls (the compare
//! because it loads through a pointer). A function pointer handed in by the edge (what
//! the core used for the prefetch before) costs an indirect call and the register
//! spills around it on every packet; this crate holds the unsafe lines instead, so the
//! core's calls inline to an instruction or four. Elsewhere than x86-64 the prefetch is
//! nothing and the compare a plain loop with the same result.
#![no_std]

/// Hints the CPU to bring the cache line at `p` into all cache levels. A hint: it never
/// faults and has no effect on program state, whatever the address (dangling, null).
#[inline(always)]
pub fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint; it does not fault on any address and changes no
    // architectural state. SSE is part of the x86_64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The lanes of `lanes` equal to `x`, two mask bits each (lane `i`: bits `2i` and
/// `2i + 1`, the byte mask of one SSE2 compare): `trailing_zeros() / 2` is the first.
#[inline(always)]
pub fn eq_u16x8(lanes: &[u16; 8], x: u16) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{
            __m128i, _mm_cmpeq_epi16, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi16,
        };
        // SAFETY: an unaligned 16-byte load of a 16-byte array the borrow keeps alive;
        // SSE2 is part of the x86_64 baseline.
        unsafe {
            let v = _mm_loadu_si128(lanes.as_ptr() as *const __m128i);
            _mm_movemask_epi8(_mm_cmpeq_epi16(v, _mm_set1_epi16(x as i16))) as u32
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        eq_u16x8_plain(lanes, x)
    }
}

/// Whether `bytes & mask == want`, the 16 bytes read as a little-endian word: one SSE2
/// byte compare and its mask (`want` and `mask` are loop constants, kept in registers).
#[inline(always)]
pub fn eq_under_mask(bytes: &[u8; 16], mask: u128, want: u128) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{
            __m128i, _mm_and_si128, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set_epi64x,
        };
        // SAFETY: an unaligned 16-byte load of a 16-byte array the borrow keeps alive;
        // SSE2 is part of the x86_64 baseline.
        unsafe {
            let word = |w: u128| _mm_set_epi64x((w >> 64) as i64, w as i64);
            let v = _mm_and_si128(_mm_loadu_si128(bytes.as_ptr() as *const __m128i), word(mask));
            _mm_movemask_epi8(_mm_cmpeq_epi8(v, word(want))) == 0xffff
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        u128::from_le_bytes(*bytes) & mask == want
    }
}

/// `eq_u16x8` as a plain loop: the other architectures' version, and the tests' model.
#[inline(always)]
pub fn eq_u16x8_plain(lanes: &[u16; 8], x: u16) -> u32 {
    lanes.iter().enumerate().fold(0, |m, (i, &l)| m | ((l == x) as u32 * 3) << (2 * i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_address_is_fine() {
        let v = [1u8; 64];
        prefetch(v.as_ptr());
        prefetch(core::ptr::null());
        prefetch(usize::MAX as *const u8);
        assert_eq!(v[0], 1);
    }

    #[test]
    fn the_masked_compare_is_the_word_compare() {
        let bytes: [u8; 16] = core::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0xa5);
        let word = u128::from_le_bytes(bytes);
        for mask in [0u128, u128::MAX, 0xff, 0xff << 120, 0x00ff_ff00_0000_ffff_ffff_ffff_0000_ffff] {
            assert!(eq_under_mask(&bytes, mask, word & mask));
            // Any one bit of difference inside the mask is seen; outside it, never.
            for bit in 0..128 {
                let want = (word & mask) ^ (1 << bit);
                assert!(!eq_under_mask(&bytes, mask, want), "mask {mask:#x} bit {bit}");
                let mut other = bytes;
                other[bit / 8] ^= 1 << (bit % 8);
                assert_eq!(eq_under_mask(&other, mask, word & mask), mask >> bit & 1 == 0, "bit {bit}");
            }
        }
    }

    #[test]
    fn the_compare_agrees_with_the_plain_loop() {
        // Every lane pattern of matches, for values that differ in either byte or sign.
        for x in [0u16, 1, 0x00ff, 0x0100, 0x7fff, 0x8000, 0xfffe, 0xffff] {
            for other in [x ^ 1, x ^ 0x100, x ^ 0x8000, !x] {
                for pattern in 0u32..256 {
                    let lanes: [u16; 8] =
                        core::array::from_fn(|i| if pattern >> i & 1 == 1 { x } else { other });
                    let want = eq_u16x8_plain(&lanes, x);
                    assert_eq!(eq_u16x8(&lanes, x), want, "x {x:#x} other {other:#x} pattern {pattern:#b}");
                    assert_eq!(want.count_ones(), 2 * pattern.count_ones());
                }
            }
        }
    }
}
