//! The two-director state as rvsadm shows it: which VIPs/LIPs this director owns
//! (`--owned`), and the session sync thread with its peers (`--sync`).

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// What a director owns (`Reply::Ownership`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnershipInfo {
    /// Whether an address named by no takeover/release since the last bulk one is owned
    /// (a master: true; a backup: false).
    pub owns_by_default: bool,
    /// Every VIP and LIP of the services, and any other address a takeover/release named.
    pub addresses: Vec<AddrOwnership>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddrOwnership {
    pub addr: IpAddr,
    /// "vip", "lip", or "none" (named by a takeover/release, in no service).
    pub kind: String,
    pub owned: bool,
}

/// The sync thread as `rvsadm --sync` shows it (`Reply::Sync`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncInfo {
    /// False when `[sync]` is off; nothing else is then meaningful.
    pub enabled: bool,
    pub sync_id: u8,
    /// Our member id and incarnation (epoch).
    pub member: u32,
    pub epoch: u32,
    /// The interface or address sent from, and where to ("224.0.0.81:8848" or peers).
    pub interface: String,
    pub destinations: Vec<String>,
    pub peers: Vec<SyncPeer>,
    /// Messages and connection records sent and received (accepted).
    pub sent_msgs: u64,
    pub sent_records: u64,
    pub sent_bytes: u64,
    pub recv_msgs: u64,
    pub recv_records: u64,
    /// Records installed into a worker, and those that could not be (no such service,
    /// real or local address here; the worker's ring full; table full), by reason.
    pub installed: u64,
    pub install_failed: Vec<(String, u64)>,
    /// Messages refused, by reason (`truncated`, `bad_tag`, `replayed`, ...).
    pub refused: Vec<(String, u64)>,
    /// Records a worker could not hand over because its ring to the sync thread was full.
    pub ring_full: u64,
    /// Send errors of the socket.
    pub send_errors: u64,
    /// Bulk syncs answered and requested.
    pub bulk_answered: u64,
    pub bulk_requested: u64,
    /// Milliseconds the oldest record waiting in the sync thread has waited (send lag;
    /// it grows while the sync thread is stuck).
    pub lag_ms: u64,
    /// Our live sessions (what our hellos announce).
    #[serde(default)]
    pub sessions: u64,
    /// The bulk sync this rvsd asked its peers for when it started: "waiting" (for a
    /// peer), "syncing", "complete", "alone" (no peer) or "incomplete" (records still
    /// missing after three transfers).
    #[serde(default)]
    pub initial_sync: String,
    /// Whether that start-up sync is over: rvs-ctrl holds its VRRP instances back until
    /// it is. An rvsd that does not report it counts as ready.
    #[serde(default = "ready_by_default")]
    pub initial_sync_ready: bool,
    /// The member it synced from, the records received, and how long it took (or has
    /// been going on).
    #[serde(default)]
    pub initial_sync_from: u32,
    #[serde(default)]
    pub initial_sync_records: u64,
    #[serde(default)]
    pub initial_sync_ms: u64,
    /// Records received in answer to our bulk requests (all of them).
    #[serde(default)]
    pub bulk_records: u64,
}

fn ready_by_default() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncPeer {
    pub member: u32,
    pub addr: String,
    pub epoch: u32,
    /// Sessions the peer says it has, and milliseconds since its last message.
    pub sessions: u64,
    pub last_heard_ms: u64,
    /// Records received from it.
    pub recv_records: u64,
    /// Its sessions less ours (as its last hello and our table say): how far our table
    /// is behind the peer's (negative: the peer's is behind ours).
    #[serde(default)]
    pub behind: i64,
}
