//! What the sync thread publishes for `rvsadm --cluster` when rvsd is an ECMP cluster
//! member (`[cluster]`): our state, generation and port slice, and every member we hear
//! with what its hellos said.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rvs_core::sync::MemberState;
use rvs_proto::{ClusterInfo, ClusterMember};

use super::thread::{Stats, SyncShared, SyncThread};
use crate::time::Time;

impl SyncShared {
    /// `rvsadm --cluster` (the default, `enabled: false`, without `[cluster]`).
    pub fn cluster_status(&self) -> ClusterInfo {
        let Some(c) = &self.cluster else { return ClusterInfo::default() };
        let mut info = c.lock().map(|i| i.clone()).unwrap_or_default();
        info.lag_ms = self.info.lock().map(|i| i.lag_ms).unwrap_or(info.lag_ms);
        info
    }
}

/// The graceful leave (`rvsadm --cluster --leave`, or SIGTERM setting `term`): the sync
/// thread turns the member `Leaving` (its hellos say so; rvs-ctrl's BIRD gate withdraws
/// the routes), rvsd keeps serving for `drain` while the router moves the flows to
/// members that already hold them, then stops. Returns when rvsd stops for any reason.
pub fn leave_on_request(shared: &SyncShared, term: &AtomicBool, stop: &AtomicBool, drain: Duration) {
    while !stop.load(Ordering::Relaxed) {
        if term.load(Ordering::Relaxed) || shared.leave.load(Ordering::Relaxed) {
            shared.leave.store(true, Ordering::Relaxed);
            tracing::info!(drain_ms = drain.as_millis() as u64, "cluster leave: draining, then stopping");
            let until = std::time::Instant::now() + drain;
            while std::time::Instant::now() < until && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
            stop.store(true, Ordering::Relaxed);
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl SyncThread {
    pub(super) fn publish_cluster(&self, stats: &Stats, lag_ms: u64, now: Time) {
        let (Some(base), Some(shared)) = (&self.cluster_base, &self.shared.cluster) else { return };
        let c = &self.cluster;
        let mut info = base.clone();
        info.state = c.state().name().to_string();
        info.state_ms = (now - c.since()).as_millis() as u64;
        info.generation = c.generation();
        info.sessions = self.worker_counters.iter().map(|w| w.sessions_live.get()).sum();
        info.lag_ms = lag_ms;
        info.digest = c.digest();
        info.digest_sessions = self.digest().1;
        if let Some((from, n)) = c.last_bulk {
            (info.bulk_from, info.bulk_records) = (from, n);
        }
        info.members = c
            .members()
            .iter()
            .map(|(id, m)| {
                let (addr, recs) =
                    stats.per_peer.get(&id).map_or((String::new(), 0), |(a, n)| (a.to_string(), *n));
                ClusterMember {
                    member: id,
                    addr,
                    state: MemberState::name_of(m.hello.state).to_string(),
                    epoch: m.epoch,
                    generation: m.hello.generation,
                    sessions: m.hello.sessions,
                    digest: m.hello.digest,
                    port_slices: m.hello.port_slices,
                    last_heard_ms: (now - m.last_hello).as_millis() as u64,
                    recv_records: recs,
                    digest_differs_ms: c.digest_differs(id, now).map(|d| d.as_millis() as u64),
                }
            })
            .collect();
        for m in c.slice_mismatch(now) {
            tracing::warn!(member = m, ours = c.port_slices(), "a member partitions local ports differently");
        }
        if let Ok(mut i) = shared.lock() {
            *i = info;
        }
    }
}
