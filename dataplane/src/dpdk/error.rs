//! Errors from DPDK calls.

use std::ffi::CStr;

use dpdk_sys as sys;

/// A failed DPDK call: which call, its errno (positive) and DPDK's text for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{call} failed: {message} (errno {errno})")]
pub struct DpdkError {
    /// The DPDK function (and, where useful, its argument), e.g. `rte_eth_dev_start(port 0)`.
    pub call: String,
    /// The positive errno value (DPDK returns `-errno` or sets `rte_errno`).
    pub errno: i32,
    /// `rte_strerror(errno)`, which also knows DPDK's own codes (E_RTE_SECONDARY, ...).
    pub message: String,
}

impl DpdkError {
    /// An error with an explicit errno (sign ignored).
    pub fn new(call: impl Into<String>, errno: i32) -> Self {
        let errno = errno.unsigned_abs() as i32;
        // SAFETY: rte_strerror returns a pointer to a static or thread-local string and
        // works before rte_eal_init.
        let message = unsafe {
            let p = sys::rte_strerror(errno);
            if p.is_null() {
                String::new()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        DpdkError { call: call.into(), errno, message }
    }

    /// For calls that return -1 (or NULL) and set `rte_errno`.
    pub fn from_rte_errno(call: impl Into<String>) -> Self {
        // SAFETY: reads the calling thread's rte_errno.
        let e = unsafe { sys::rvs_rte_errno() };
        Self::new(call, e)
    }
}

/// Maps a DPDK "0 or -errno" return value to a Result; returns the value when >= 0.
#[inline]
pub(crate) fn check(call: impl FnOnce() -> String, ret: i32) -> Result<i32, DpdkError> {
    if ret < 0 {
        Err(DpdkError::new(call(), ret))
    } else {
        Ok(ret)
    }
}
