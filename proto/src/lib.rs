//! The control-socket protocol between `rvsd` and its clients (`rvsadm`, `rvs-ctrl`).
//!
//! Framing: one JSON object per line over a Unix stream socket. Every request carries
//! the protocol version; rvsd answers a request of another major version with an error
//! instead of guessing, so old and new tools fail loudly rather than misbehave.
//!
//! One module per part of the protocol, all re-exported here: the services and real
//! servers (`service`), the requests (`command`) and responses (`reply`), the counters
//! (`stats`), the two-director (`ha`) and cluster (`cluster`) state, the neighbour
//! tables (`neigh`), the framing
//! (`framing`) and a blocking client (`client`).

pub mod check;
pub mod limits;

mod client;
mod cluster;
mod command;
mod framing;
mod ha;
mod neigh;
mod reply;
mod service;
mod stats;

pub use client::Client;
pub use cluster::{ClusterInfo, ClusterMember};
pub use command::{Command, Request, NOT_APPLIED};
pub use framing::{read_msg, read_msg_limited, write_msg, ProtoError};
pub use ha::{AddrOwnership, OwnershipInfo, SyncInfo, SyncPeer};
pub use limits::{Cidr, RateLimit};
pub use neigh::{FlushStates, NeighChange, NeighInfo};
pub use reply::{ConnInfo, RealInfo, Reply, Response, ResponseResult, ServiceInfo};
pub use service::{
    ForwardMethod, Persistence, Protocol, RealSpec, ServiceKey, ServiceOptions, ServiceSpec, Thresholds,
    Timeouts, TunnelEncap,
};
pub use stats::{PortStats, TrafficStats, VlanStats, WorkerStats};

/// Bumped on any incompatible change of the protocol's types.
pub const PROTO_VERSION: u32 = 1;

/// Where rvsd listens unless its config says otherwise.
pub const DEFAULT_SOCKET: &str = "/run/rvsd/rvsd.sock";
