//! Session sync in rvsd (`[sync]`): the sync thread and its rings to the workers, over a
//! kernel UDP socket (multicast group or unicast peers, bound to a kernel interface or
//! address — typically a dedicated sync link). The protocol itself is the sans-IO
//! `rvs_core::sync`; see `docs/sync.md`.

mod cluster;
mod link;
mod socket;
mod thread;

pub use cluster::leave_on_request;
pub use link::{FromSync, ToSync, WorkerSyncCounters, WorkerSyncLink};
pub use thread::{SyncShared, SyncThread};

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use crate::config::{Config, SyncConfig};
use crate::stats::WorkerCounters;
use crate::time::Clock;
use rvs_core::sync::{
    max_message_len, Cluster, ClusterKey, Packer, Receiver, ReceiverConfig, Sender, SenderConfig,
};

/// What `setup` makes: the thread to start, each worker's link, the state
/// `rvsadm --sync` reads, and the cluster key (the SYN-cookie secrets derive from it).
pub struct Sync {
    pub thread: SyncThread,
    pub links: Vec<WorkerSyncLink>,
    pub shared: Arc<SyncShared>,
    pub key: ClusterKey,
    pub params: rvs_core::sync::SyncParams,
}

/// Reads the cluster key from `path`, refusing a file that group or others can read.
pub fn read_key(path: &std::path::Path) -> Result<ClusterKey, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("key_file {}: {e}", path.display()))?;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "key_file {} is readable or writable by group or others (mode {:03o}); chmod 600 it",
            path.display(),
            mode & 0o777
        ));
    }
    ClusterKey::from_file(path).map_err(|e| format!("key_file {}: {e}", path.display()))
}

/// The time of the SYN-cookie counter: the process clock plus this offset is wall-clock
/// time, so cookies made by one member have the right age on another.
pub fn wall_clock_offset(clock: &Clock) -> u64 {
    let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (unix.as_nanos() as u64).saturating_sub(clock.now().as_nanos())
}

/// Sets up sync when `[sync]` is present and enabled. Errors name the config line.
pub fn setup(
    cfg: &Config,
    worker_counters: &[Arc<WorkerCounters>],
    clock: Arc<Clock>,
    stop: Arc<AtomicBool>,
    steering: rvs_core::laddr::Steering,
) -> Result<Option<Sync>, String> {
    let Some(sc) = cfg.sync.as_ref().filter(|s| s.enabled) else { return Ok(None) };
    let at = |line: usize, e: String| format!("{}:{line}: [sync] {e}", cfg.path.display());
    let key = read_key(&sc.key_file).map_err(|e| at(sc.key_line, e))?;
    let (socket, destinations, interface) = socket::open(sc).map_err(|e| at(sc.line, e))?;
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(1)
        .max(1);
    let mut scfg = SenderConfig::new(sc.sync_id, sc.member_id, epoch);
    scfg.max_message = max_message_len(sc.mtu, false);
    let sender = Sender::new(scfg, &key).map_err(|e| at(sc.line, e.to_string()))?;
    let receiver = Receiver::new(ReceiverConfig::new(sc.sync_id, sc.member_id), &key);

    let n = worker_counters.len();
    let mut links = Vec::with_capacity(n);
    let mut from_workers = Vec::with_capacity(n);
    let mut to_workers = Vec::with_capacity(n);
    let mut counters = Vec::with_capacity(n);
    for _ in 0..n {
        let (to_sync, from_w) = rtrb::RingBuffer::new(sc.ring_size);
        let (to_w, from_sync) = rtrb::RingBuffer::new(sc.ring_size);
        let c = Arc::new(WorkerSyncCounters::default());
        links.push(WorkerSyncLink::new(to_sync, from_sync, c.clone()));
        from_workers.push(from_w);
        to_workers.push(to_w);
        counters.push(c);
    }
    let base_info = rvs_proto::SyncInfo {
        enabled: true,
        sync_id: sc.sync_id,
        member: sc.member_id,
        epoch,
        interface,
        destinations: destinations.iter().map(|d| d.to_string()).collect(),
        ..Default::default()
    };
    let now = clock.now();
    let (cluster, hello_interval, cluster_base) = match &cfg.cluster {
        None => (
            Cluster::new(sc.member_id, epoch, false, 0, thread::HOLD, now)
                .with_bulk_timeout(thread::BULK_TIMEOUT),
            thread::HELLO_INTERVAL,
            None,
        ),
        Some(c) => {
            let (lo, hi) = cfg.dataplane.local_port_range;
            let info = rvs_proto::ClusterInfo {
                enabled: true,
                member: c.member_id,
                epoch,
                port_slices: c.members,
                port_range: rvs_core::laddr::member_slice((lo, hi), c.member_id as u16 - 1, c.members.into()),
                placement: match c.placement {
                    rvs_core::config::Placement::Maglev => "maglev".into(),
                    rvs_core::config::Placement::Scheduler => "scheduler".into(),
                },
                local_addresses: c.local_addresses.iter().map(|a| a.to_string()).collect(),
                hello_ms: c.hello_interval.as_millis() as u64,
                hold_ms: c.hold.as_millis() as u64,
                alone_after_ms: c.alone_after.map_or(0, |d| d.as_millis() as u64),
                state: "joining".into(),
                ..Default::default()
            };
            let cluster = Cluster::new(sc.member_id, epoch, true, c.members, c.hold, now)
                .with_alone_after(c.alone_after);
            (cluster, c.hello_interval, Some(info))
        }
    };
    let shared = Arc::new(SyncShared {
        info: Mutex::new(base_info.clone()),
        workers: counters,
        cluster: cluster_base.clone().map(Mutex::new),
        leave: AtomicBool::new(false),
        published: now.as_nanos().into(),
        clock: clock.clone(),
    });
    let thread = SyncThread {
        socket,
        destinations,
        packer: Packer::new(sender),
        receiver,
        cluster,
        hello_interval,
        cluster_base,
        me: sc.member_id,
        from_workers,
        to_workers,
        worker_counters: worker_counters.to_vec(),
        shared: shared.clone(),
        base_info,
        clock,
        stop,
        steering,
    };
    log_config(sc, epoch);
    Ok(Some(Sync { thread, links, shared, key, params: sc.params }))
}

fn log_config(sc: &SyncConfig, epoch: u32) {
    tracing::info!(
        sync_id = sc.sync_id,
        member = sc.member_id,
        epoch,
        interface = ?sc.interface,
        source = ?sc.source,
        group = %sc.group,
        peers = ?sc.peers,
        threshold = sc.params.threshold,
        period = sc.params.period,
        refresh_s = sc.params.refresh_period.as_secs(),
        "session sync on"
    );
}
