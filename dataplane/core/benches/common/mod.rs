//! What several benches of rvs-core share (each includes this file with `mod common;`).

/// Asks for transparent huge pages on a region allocated and not written yet, as rvsd does
/// for its session tables (`PipelineConfig::mem_advice`).
pub fn advise_huge(addr: *const u8, len: usize) {
    // madvise wants a page-aligned start: the whole pages inside the region.
    let start = (addr as usize).next_multiple_of(4096);
    let end = (addr as usize + len) & !4095;
    if end > start {
        // SAFETY: advice on memory the caller owns; it changes no contents.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
    }
}

/// The median of `v` (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
