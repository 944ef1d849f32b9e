//! rvsd: the DPDK edge of RVS (EAL, ports, mbufs, pinned workers, the control socket)
//! around the sans-IO core in `rvs-core`, whose modules are re-exported here.

pub use rvs_core::{
    config, frame, laddr, nat, neigh, pcap, persist, pipeline, proxyproto, route, sched, service, session,
    stats, synproxy, testkit, time, toa, wire,
};

pub mod cli;
pub mod control;
pub mod dpdk;
pub mod exception;
pub mod hugepage;
pub mod sync;
pub mod worker;
