//! The sans-IO core of RVS: everything that decides what happens to a packet, as plain
//! Rust over byte slices, with time passed in. No DPDK, no I/O, no unsafe: it builds,
//! tests, benches and fuzzes on a machine without libdpdk. `rvsd` (the `rvs-dataplane`
//! crate) feeds it frames from DPDK ports.
#![forbid(unsafe_code)]

pub mod acl;
pub mod config;
pub mod control;
pub mod frame;
pub mod laddr;
pub mod nat;
pub mod nat64;
pub mod neigh;
pub mod open_index;
pub mod pcap;
pub mod persist;
pub mod pipeline;
pub mod proxyproto;
pub mod route;
pub mod sched;
pub mod service;
pub mod session;
pub mod stats;
pub mod sync;
pub mod synproxy;
pub mod testkit;
pub mod time;
pub mod toa;
pub mod wire;
