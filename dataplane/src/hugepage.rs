//! Transparent huge pages for large heap regions (the session table's slots), so that
//! session lookups at millions of sessions miss the TLB less (issue 18).

use std::io;

/// Bytes of an x86-64 transparent huge page.
pub const HUGE_PAGE: usize = 2 << 20;

/// The page-aligned part of `[addr, addr + len)` (`page` a power of two): the range
/// `madvise` may be given. None when it holds no whole page.
pub fn aligned_inner(addr: usize, len: usize, page: usize) -> Option<(usize, usize)> {
    debug_assert!(page.is_power_of_two());
    let start = addr.checked_add(page - 1)? & !(page - 1);
    let end = addr.checked_add(len)? & !(page - 1);
    (end > start).then(|| (start, end - start))
}

/// What `advise` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advised {
    /// Bytes given to `madvise(MADV_HUGEPAGE)` (the page-aligned inner range).
    pub bytes: usize,
    /// Whole 2 MiB pages in that range: what the kernel can back with huge pages.
    pub huge_pages: usize,
}

/// Asks the kernel to back the heap region `[addr, addr + len)` with transparent huge
/// pages (`madvise(MADV_HUGEPAGE)`); pages already faulted in are collapsed later by
/// khugepaged. Only the page-aligned inner part is advised (heap allocations are rarely
/// page aligned). Not fatal to fail: the region stays on 4 KiB pages.
pub fn advise(addr: *const u8, len: usize) -> io::Result<Advised> {
    // SAFETY: sysconf has no memory effects.
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        p if p > 0 => p as usize,
        _ => 4096,
    };
    let Some((start, bytes)) = aligned_inner(addr as usize, len, page) else {
        return Ok(Advised { bytes: 0, huge_pages: 0 });
    };
    // SAFETY: MADV_HUGEPAGE only changes how the kernel backs the pages, never their
    // contents; the range lies inside the caller's live allocation and is page aligned.
    let ret = unsafe { libc::madvise(start as *mut libc::c_void, bytes, libc::MADV_HUGEPAGE) };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    let huge_pages = aligned_inner(start, bytes, HUGE_PAGE).map_or(0, |(_, b)| b / HUGE_PAGE);
    Ok(Advised { bytes, huge_pages })
}

/// The kernel's transparent huge page mode (`always`, `madvise` or `never`), if it says.
pub fn thp_mode() -> Option<String> {
    let s = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").ok()?;
    let start = s.find('[')? + 1;
    let end = start + s[start..].find(']')?;
    Some(s[start..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_ranges_are_page_aligned() {
        assert_eq!(aligned_inner(4096, 8192, 4096), Some((4096, 8192)));
        assert_eq!(aligned_inner(4096 + 16, 8192, 4096), Some((8192, 4096)));
        assert_eq!(aligned_inner(4096 + 16, 4096, 4096), None);
        assert_eq!(aligned_inner(16, 3 * HUGE_PAGE, HUGE_PAGE), Some((HUGE_PAGE, 2 * HUGE_PAGE)));
        assert_eq!(aligned_inner(16, 3 * HUGE_PAGE - 32, HUGE_PAGE), Some((HUGE_PAGE, HUGE_PAGE)));
        assert_eq!(aligned_inner(usize::MAX - 10, 100, 4096), None);
    }

    /// On a kernel with transparent huge pages, advising a heap region succeeds and
    /// covers its whole 2 MiB pages.
    #[test]
    fn advises_a_heap_region() {
        if thp_mode().is_none() {
            eprintln!("no transparent huge pages in this kernel: nothing to check");
            return;
        }
        let v = vec![0u64; (3 * HUGE_PAGE) / 8];
        let a = advise(v.as_ptr() as *const u8, v.len() * 8).expect("madvise(MADV_HUGEPAGE)");
        assert!(a.bytes >= 3 * HUGE_PAGE - 8192, "{a:?}");
        assert!(a.huge_pages >= 1, "{a:?}");
        assert_eq!(advise(v.as_ptr() as *const u8, 100).unwrap().bytes, 0);
    }
}
