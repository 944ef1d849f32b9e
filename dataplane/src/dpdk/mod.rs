//! The safe edge between rvsd and DPDK (the raw API is the `dpdk-sys` crate).
//!
//! Lifetimes are by convention, not by borrow: `Mempool`, `Mbuf` and `Port` are
//! `'static` handles so that worker threads can own them; the `Eal` value must outlive
//! them all (drop it last, after joining workers and closing ports).

pub mod af_packet;
mod eal;
mod error;
mod ethdev;
pub mod flow;
mod mbuf;
mod mempool;

pub use eal::Eal;
pub use error::DpdkError;
pub use ethdev::{Port, PortInfo, PortStats, RssHashConf};
pub use flow::{FlowError, FlowRules, PortSteering};
pub use mbuf::Mbuf;
pub use mempool::{Mempool, DEFAULT_DATA_ROOM, HEADROOM, SOCKET_ANY};
