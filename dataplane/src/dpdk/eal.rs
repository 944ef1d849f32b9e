//! The DPDK Environment Abstraction Layer: process-wide init/cleanup and lcore identity.

use std::ffi::{c_char, CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};

use dpdk_sys as sys;

use super::DpdkError;

/// Set by the first `Eal::init` call, success or not: DPDK cannot be initialised twice in
/// one process, and a failed `rte_eal_init` cannot be retried reliably either.
static INIT_CALLED: AtomicBool = AtomicBool::new(false);

/// Proof that EAL is initialised. Dropping it calls `rte_eal_cleanup`; after that no DPDK
/// object (Mempool, Mbuf, Port) may be used, so keep it alive until every worker has
/// been joined and the ports are stopped (the types do not borrow from it, by design:
/// workers get `'static` handles).
pub struct Eal {
    // rte_eal_init permutes argv and may keep pointers into it; both stay alive as long
    // as EAL does.
    _args: Vec<CString>,
    _argv: Vec<*mut c_char>,
}

// SAFETY: the pointers are only kept alive, never dereferenced by us; EAL itself is
// process-global.
unsafe impl Send for Eal {}
unsafe impl Sync for Eal {}

impl Eal {
    /// Runs `rte_eal_init` with `args` (without argv[0], which is added here).
    /// Succeeds at most once per process; a second call returns `EALREADY`.
    pub fn init(args: &[String]) -> Result<Eal, DpdkError> {
        if INIT_CALLED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::new("rte_eal_init (already called in this process)", libc_ealready()));
        }
        let mut owned = Vec::with_capacity(args.len() + 1);
        owned.push(CString::new("rvsd").unwrap());
        for a in args {
            owned.push(
                CString::new(a.as_str())
                    .map_err(|_| DpdkError::new(format!("rte_eal_init (NUL in argument {a:?})"), 22))?,
            );
        }
        let mut argv: Vec<*mut c_char> = owned.iter().map(|c| c.as_ptr() as *mut c_char).collect();
        // SAFETY: argv holds argc valid NUL-terminated strings that outlive EAL.
        let ret = unsafe { sys::rte_eal_init(argv.len() as i32, argv.as_mut_ptr()) };
        if ret < 0 {
            return Err(DpdkError::from_rte_errno(format!("rte_eal_init({})", args.join(" "))));
        }
        argv.push(std::ptr::null_mut());
        Ok(Eal { _args: owned, _argv: argv })
    }

    /// Makes the calling std thread an EAL thread (`rte_thread_register`) so it gets an
    /// lcore id and with it the mempool per-lcore caches; returns `rte_lcore_id()`.
    /// A thread that already has an lcore id (the main thread, or a second call) just
    /// gets it back. Needs a successful `Eal::init` and no multi-process use.
    pub fn register_thread() -> Result<u32, DpdkError> {
        // SAFETY: plain reads/updates of this thread's EAL per-lcore state.
        unsafe {
            let id = sys::rte_lcore_id();
            if id != sys::LCORE_ID_ANY {
                return Ok(id);
            }
            if sys::rte_thread_register() != 0 {
                return Err(DpdkError::from_rte_errno("rte_thread_register"));
            }
            Ok(sys::rte_lcore_id())
        }
    }

    /// Gives the calling thread's lcore id back (`rte_thread_unregister`). Call it before
    /// a registered thread exits, or the id stays taken until the process ends.
    pub fn unregister_thread() {
        // SAFETY: no-op for threads without a registered lcore.
        unsafe { sys::rte_thread_unregister() }
    }

    /// The calling thread's lcore id, `None` for an unregistered thread.
    #[inline]
    pub fn lcore_id() -> Option<u32> {
        // SAFETY: reads a thread-local.
        let id = unsafe { sys::rte_lcore_id() };
        (id != sys::LCORE_ID_ANY).then_some(id)
    }

    /// TSC ticks per second as calibrated by EAL (0 before `Eal::init`).
    pub fn tsc_hz() -> u64 {
        // SAFETY: reads a value set during init.
        unsafe { sys::rte_get_tsc_hz() }
    }

    /// The current TSC (what `rte_get_tsc_cycles` returns on x86), inlined.
    #[inline(always)]
    pub fn tsc() -> u64 {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: rdtsc is always available on x86_64.
            unsafe { core::arch::x86_64::_rdtsc() }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            // SAFETY: no preconditions.
            unsafe { sys::rte_get_tsc_cycles() }
        }
    }

    /// E.g. "DPDK 22.11.11".
    pub fn version() -> String {
        // SAFETY: rte_version returns a static string.
        unsafe { CStr::from_ptr(sys::rte_version()).to_string_lossy().into_owned() }
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: EAL was initialised by us; the owner guarantees no DPDK object is used
        // after this (see the type's docs).
        let ret = unsafe { sys::rte_eal_cleanup() };
        if ret != 0 {
            tracing::warn!(error = %DpdkError::new("rte_eal_cleanup", ret), "EAL cleanup failed");
        }
    }
}

const fn libc_ealready() -> i32 {
    114 // EALREADY on Linux
}
