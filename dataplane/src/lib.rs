//! RVS dataplane: a sans-IO FULLNAT core (wire, session, sched, laddr, nat, neigh, route,
//! service, pipeline) and the DPDK edge that feeds it (dpdk, worker, control).

pub mod config;
pub mod control;
pub mod dpdk;
pub mod frame;
pub mod laddr;
pub mod nat;
pub mod neigh;
pub mod pcap;
pub mod persist;
pub mod pipeline;
pub mod proxyproto;
pub mod route;
pub mod sched;
pub mod service;
pub mod session;
pub mod stats;
pub mod synproxy;
pub mod time;
pub mod toa;
pub mod wire;
pub mod worker;
