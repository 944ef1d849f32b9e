//! The ECMP cluster as `rvsadm --cluster` shows it: this member (state, port slice,
//! placement, timers, table digest) and the members it hears.

use serde::{Deserialize, Serialize};

/// An ECMP cluster member as `rvsadm --cluster` shows it (`Reply::Cluster`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// False without `[cluster]`; nothing else is then meaningful.
    pub enabled: bool,
    pub member: u32,
    pub epoch: u32,
    /// "joining", "active" or "leaving".
    pub state: String,
    /// Milliseconds in that state.
    pub state_ms: u64,
    /// Our view generation (moves with every change of the membership we see).
    pub generation: u64,
    /// Port slices (`members`) and ours, as a range of local ports.
    pub port_slices: u8,
    pub port_range: (u16, u16),
    /// "maglev" or "scheduler".
    pub placement: String,
    /// The member's own LIPs (`[cluster] local_addresses`): announced (with the VIPs) only
    /// while it is active.
    #[serde(default)]
    pub local_addresses: Vec<String>,
    pub hello_ms: u64,
    pub hold_ms: u64,
    /// A joiner that hears no member serves alone after this long (0: never).
    #[serde(default)]
    pub alone_after_ms: u64,
    /// Sessions in our table, and the send lag of the sync thread (ms).
    pub sessions: u64,
    pub lag_ms: u64,
    /// The bulk sync that made us active (or the last one): member and records.
    pub bulk_from: u32,
    pub bulk_records: u64,
    /// Our table digest (of the synced sessions, as our last hello said it) and how many
    /// sessions it covers.
    #[serde(default)]
    pub digest: u64,
    #[serde(default)]
    pub digest_sessions: u64,
    pub members: Vec<ClusterMember>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterMember {
    pub member: u32,
    pub addr: String,
    /// "sync" (a plain sync peer), "joining", "active", "leaving"; "gone" is never shown
    /// (a member whose hold time passed is dropped).
    pub state: String,
    pub epoch: u32,
    pub generation: u64,
    /// Sessions it announced, its table digest, its port slices.
    pub sessions: u64,
    pub digest: u64,
    pub port_slices: u8,
    pub last_heard_ms: u64,
    /// Records received from it.
    pub recv_records: u64,
    /// How long its digest has differed from ours (every hello in a row); None: its last
    /// hello agreed.
    #[serde(default)]
    pub digest_differs_ms: Option<u64>,
}
