//! A worker's end of session sync: records due for sync go to the sync thread over a
//! single-producer ring (never waiting: a full ring drops the record and counts it);
//! records received from other directors come back over another ring and are installed
//! by the worker that owns their local port; a bulk sync walks the worker's table a
//! slice at a time between bursts.

use std::sync::Arc;

use crate::pipeline::{InstallError, Installed, Pipeline};
use crate::stats::Counter;
use crate::time::Time;
use rvs_core::sync::ConnRecord;

/// Worker → sync thread.
pub enum ToSync {
    /// A session due for incremental sync.
    Record(ConnRecord),
    /// One session of a bulk sync.
    Bulk(ConnRecord),
    /// This worker's part of the bulk sync is complete.
    BulkDone,
}

/// Sync thread → worker.
pub enum FromSync {
    /// A session another director synced: this worker owns its local port.
    Install(ConnRecord),
    /// Export every session for a bulk sync.
    BulkExport,
}

/// Per-worker counters, written by the worker only, read by `rvsadm --sync`.
#[derive(Debug, Default)]
pub struct WorkerSyncCounters {
    pub ring_full: Counter,
    pub installed: Counter,
    pub refreshed: Counter,
    /// By `InstallError::name`, in `INSTALL_ERRORS` order.
    pub install_failed: [Counter; INSTALL_ERRORS.len()],
    /// The worker's table digest and the sessions in it (`Pipeline::sync_digest`), as of
    /// its last poll.
    pub digest: Counter,
    pub digest_sessions: Counter,
}

/// The names of install failures as `rvsadm --sync` shows them.
pub const INSTALL_ERRORS: [&str; 7] =
    ["unsupported", "no_service", "no_real", "no_local", "method", "port_in_use", "table_full"];

fn error_index(e: &InstallError) -> usize {
    INSTALL_ERRORS.iter().position(|n| *n == e.name()).unwrap_or(0)
}

/// Sessions a worker exports per loop during a bulk sync (bounded so rx is not starved).
const BULK_SLICE: usize = 256;
/// Received records a worker installs per loop.
const INSTALL_BUDGET: usize = 256;

pub struct WorkerSyncLink {
    pub(super) to_sync: rtrb::Producer<ToSync>,
    pub(super) from_sync: rtrb::Consumer<FromSync>,
    pub counters: Arc<WorkerSyncCounters>,
    /// Where the bulk export goes on (None: none under way); `done_pending`: the
    /// BulkDone marker did not fit in the ring yet.
    bulk_cursor: Option<usize>,
    done_pending: bool,
}

impl WorkerSyncLink {
    pub(super) fn new(
        to_sync: rtrb::Producer<ToSync>,
        from_sync: rtrb::Consumer<FromSync>,
        counters: Arc<WorkerSyncCounters>,
    ) -> Self {
        WorkerSyncLink { to_sync, from_sync, counters, bulk_cursor: None, done_pending: false }
    }

    /// Hands the records the pipeline produced to the sync thread, installs received
    /// ones, and moves a bulk export on. Returns the work done (for the idle policy).
    pub fn poll<P: crate::frame::Frame>(
        &mut self,
        pipeline: &mut Pipeline<P>,
        synced: &mut Vec<ConnRecord>,
        now: Time,
    ) -> usize {
        let mut work = synced.len();
        for rec in synced.drain(..) {
            if self.to_sync.push(ToSync::Record(rec)).is_err() {
                self.counters.ring_full.inc();
            }
        }
        for _ in 0..INSTALL_BUDGET {
            let Ok(msg) = self.from_sync.pop() else { break };
            work += 1;
            match msg {
                FromSync::Install(rec) => match pipeline.install_synced(&rec, now) {
                    Ok(Installed::New) => self.counters.installed.inc(),
                    Ok(Installed::Refreshed) => self.counters.refreshed.inc(),
                    Err(e) => self.counters.install_failed[error_index(&e)].inc(),
                },
                FromSync::BulkExport => {
                    self.bulk_cursor = Some(0);
                    self.done_pending = false;
                }
            }
        }
        let (digest, n) = pipeline.sync_digest();
        self.counters.digest.set(digest);
        self.counters.digest_sessions.set(n);
        work + self.bulk_step(pipeline, now)
    }

    fn bulk_step<P: crate::frame::Frame>(&mut self, pipeline: &Pipeline<P>, now: Time) -> usize {
        if let Some(from) = self.bulk_cursor {
            // Leave room for incremental records and the done marker.
            let room = self.to_sync.slots().saturating_sub(64).min(BULK_SLICE);
            if room == 0 {
                return 0;
            }
            let ring = &mut self.to_sync;
            let mut n = 0;
            let next = pipeline.export_sessions(from, room, now, |rec| {
                let _ = ring.push(ToSync::Bulk(rec));
                n += 1;
            });
            self.bulk_cursor = next;
            if next.is_none() {
                self.done_pending = true;
            }
            if !self.done_pending {
                return n;
            }
        }
        if self.done_pending && self.to_sync.push(ToSync::BulkDone).is_ok() {
            self.done_pending = false;
            return 1;
        }
        0
    }
}
