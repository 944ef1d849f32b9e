//! Raw bindings to the system DPDK, generated at build time by `build.rs`.
//!
//! DPDK's `static inline` functions (`rte_eth_rx_burst`, `rte_pktmbuf_alloc`, ...) are
//! reachable through C wrappers compiled by `build.rs`; the `rvs_*` functions are our own
//! shims for DPDK macros (`rte_errno`, `rte_pktmbuf_mtod`, ...), see `src/helpers.h`.
//! No safe wrappers here: see `rvs_dataplane::dpdk`.

#![allow(non_upper_case_globals)]
#![allow(non_camel_case_types)]
#![allow(non_snake_case)]
#![allow(dead_code)]
#![allow(improper_ctypes)]
#![allow(clippy::all)]
#![allow(rustdoc::all)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
