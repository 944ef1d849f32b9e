//! The sync thread: drains the workers' rings into MTU-sized authenticated datagrams,
//! receives the group's messages, hands received sessions to the worker owning their
//! local port, answers and asks for bulk syncs, and says hello once a second.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::link::{FromSync, ToSync, WorkerSyncCounters, INSTALL_ERRORS};
use crate::stats::WorkerCounters;
use crate::time::{Clock, Time};
use rvs_core::sync::{
    AfterBulk, Body, BulkAnswer, BulkEvent, Cluster, ClusterAction, Control, InitialState, MemberEvent,
    MemberState, Packer, Receiver, RefusalLog,
};
use rvs_proto::{SyncInfo, SyncPeer};

/// A partial datagram waits at most this long for more records (IPVS: 20 ms send delay;
/// shorter here, a failover should lose as little as possible).
const SEND_DELAY: Duration = Duration::from_millis(5);
pub(super) const HELLO_INTERVAL: Duration = Duration::from_secs(1);
/// A member is gone after this long without a hello (`[cluster]` sets its own timers).
pub(super) const HOLD: Duration = Duration::from_millis(3500);
/// A bulk sync asked for and not finished in this long is asked for again.
pub(super) const BULK_TIMEOUT: Duration = Duration::from_secs(5);
/// A finished bulk is judged this long after the workers' rings are empty (they install
/// what they popped in the same loop).
const JUDGE_SETTLE: Duration = Duration::from_millis(50);
/// An incomplete start-up bulk sync is asked for again after this long.
const REASK_AFTER: Duration = Duration::from_secs(1);
/// Datagrams read per loop before the rings get their turn.
const RECV_BUDGET: usize = 64;

/// What the control thread reads for `rvsadm --sync`.
pub struct SyncShared {
    pub info: Mutex<SyncInfo>,
    pub workers: Vec<Arc<WorkerSyncCounters>>,
    /// `rvsadm --cluster` (None: not a cluster member).
    pub cluster: Option<Mutex<rvs_proto::ClusterInfo>>,
    /// Set by `rvsadm --cluster --leave` or SIGTERM: the sync thread turns the member
    /// `Leaving`.
    pub leave: AtomicBool,
    /// When the sync thread last published (ns of `clock`): a thread that stopped
    /// publishing shows as a growing lag.
    pub published: std::sync::atomic::AtomicU64,
    pub clock: Arc<Clock>,
}

/// A publish older than this means the sync thread is stuck: its age counts as lag.
const STUCK_AFTER: Duration = Duration::from_millis(500);

impl SyncShared {
    /// The sync thread's last published state plus the workers' counters now.
    pub fn status(&self) -> SyncInfo {
        let mut s = self.info.lock().map(|i| i.clone()).unwrap_or_default();
        let age = self.clock.now() - Time(self.published.load(Ordering::Relaxed));
        if age >= STUCK_AFTER {
            s.lag_ms += age.as_millis() as u64;
        }
        s.ring_full = self.workers.iter().map(|w| w.ring_full.get()).sum();
        s.installed = self.workers.iter().map(|w| w.installed.get() + w.refreshed.get()).sum();
        for (i, name) in INSTALL_ERRORS.iter().enumerate() {
            let n: u64 = self.workers.iter().map(|w| w.install_failed[i].get()).sum();
            if n > 0 {
                s.install_failed.push((name.to_string(), n));
            }
        }
        s
    }
}

/// One bulk answer under way: the workers export their tables, we pack what they send.
struct Answering {
    answer: BulkAnswer,
    workers_done: usize,
}

pub struct SyncThread {
    pub(super) socket: socket2::Socket,
    pub(super) destinations: Vec<SocketAddr>,
    pub(super) packer: Packer,
    pub(super) receiver: Receiver,
    /// The group as hellos tell it, our bulk transfer and start-up sync, and (with
    /// `[cluster]`) our lifecycle.
    pub(super) cluster: Cluster,
    pub(super) hello_interval: Duration,
    /// What `rvsadm --cluster` shows besides the live state (None: plain `[sync]`).
    pub(super) cluster_base: Option<rvs_proto::ClusterInfo>,
    pub(super) me: u32,
    pub(super) from_workers: Vec<rtrb::Consumer<ToSync>>,
    pub(super) to_workers: Vec<rtrb::Producer<FromSync>>,
    pub(super) worker_counters: Vec<Arc<WorkerCounters>>,
    pub(super) shared: Arc<SyncShared>,
    pub(super) base_info: SyncInfo,
    pub(super) clock: Arc<Clock>,
    pub(super) stop: Arc<AtomicBool>,
    /// How replies reach workers here: names the worker that owns a received session.
    pub(super) steering: rvs_core::laddr::Steering,
}

/// Counters only this thread writes.
#[derive(Default)]
pub(super) struct Stats {
    recv_msgs: u64,
    recv_records: u64,
    send_errors: u64,
    bulk_answered: u64,
    bulk_requested: u64,
    ring_full_to_workers: u64,
    pub(super) per_peer: HashMap<u32, (SocketAddr, u64)>,
    /// `ring_full_to_workers` when our transfer started.
    ring_full_at_start: u64,
    /// Records the workers could not install (all reasons) when our transfer started.
    failed_at_start: u64,
    /// A finished transfer of ours, judged once the workers have installed its records.
    judging: Option<(rvs_core::sync::BulkOutcome, Time)>,
    /// The start-up bulk sync to ask for again, of whom and when.
    reask: Option<(u32, Time)>,
    bulk_records: u64,
}

impl SyncThread {
    pub fn run(mut self) {
        tracing::info!(member = self.me, destinations = ?self.destinations, "sync thread running");
        let mut stats = Stats::default();
        let mut log = RefusalLog::new(Duration::from_secs(10));
        let mut buf = vec![std::mem::MaybeUninit::<u8>::uninit(); 65536];
        let mut last_hello = Time::ZERO;
        let mut last_publish = Time::ZERO;
        let mut pending_since: Option<Time> = None;
        let mut answering: Option<Answering> = None;
        let mut queued: VecDeque<BulkAnswer> = VecDeque::new();
        while !self.stop.load(Ordering::Relaxed) {
            let now = self.clock.now();
            let mut work = 0usize;

            // Workers' records: incremental first, then those of a bulk answer.
            for w in 0..self.from_workers.len() {
                while let Ok(m) = self.from_workers[w].pop() {
                    work += 1;
                    match m {
                        ToSync::Record(r) => {
                            self.send_record(&r, false, &mut stats);
                        }
                        ToSync::Bulk(r) => {
                            if let Some(a) = answering.as_mut() {
                                a.answer.sent_one();
                                self.send_record(&r, true, &mut stats);
                            }
                        }
                        ToSync::BulkDone => {
                            if let Some(a) = answering.as_mut() {
                                a.workers_done += 1;
                            }
                        }
                    }
                    if pending_since.is_none() && self.packer.pending() > 0 {
                        pending_since = Some(now);
                    }
                }
            }
            if let Some(a) = answering.as_ref() {
                if a.workers_done >= self.to_workers.len() {
                    let end = a.answer.end(0);
                    self.control(&end, &mut stats);
                    tracing::info!(
                        requester = a.answer.requester,
                        sessions = a.answer.sent,
                        "bulk sync answered"
                    );
                    stats.bulk_answered += 1;
                    answering = None;
                }
            }
            if answering.is_none() {
                if let Some(a) = queued.pop_front() {
                    answering = Some(self.start_answer(a, &mut stats));
                }
            }
            if pending_since.is_some_and(|t| now - t >= SEND_DELAY) || answering.is_none() && work == 0 {
                self.flush(&mut stats);
                pending_since = None;
            }

            // The group's messages.
            for _ in 0..RECV_BUDGET {
                let (n, from) = match self.socket.recv_from(&mut buf) {
                    Ok((n, a)) => (n, a.as_socket()),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        tracing::debug!(error = %e, "sync socket receive");
                        break;
                    }
                };
                work += 1;
                // SAFETY: recv_from initialised the first n bytes.
                let data: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr() as *const u8, n) };
                let msg = match self.receiver.receive(data, now) {
                    Ok(m) => m,
                    Err(r) => {
                        if let Some(silent) = log.should_log(&r, now) {
                            tracing::warn!(from = ?from, reason = %r, since_last_log = silent, "sync message refused");
                        }
                        continue;
                    }
                };
                stats.recv_msgs += 1;
                let sender = msg.header.sender;
                if let Some(a) = from {
                    stats.per_peer.entry(sender).or_insert((a, 0)).0 = a;
                }
                let (event, bulk, action) = self.cluster.on_message(&msg, now);
                if let Some(MemberEvent::Joined(m) | MemberEvent::Restarted(m)) = event {
                    tracing::info!(
                        member = m,
                        epoch = msg.header.epoch,
                        generation = self.cluster.generation(),
                        asking = matches!(action, ClusterAction::Request(_)),
                        "sync member joined"
                    );
                }
                if let ClusterAction::Request(req) = action {
                    // A member (re)joined while we are not past our start-up sync (or a
                    // plain sync peer): ask it for its table (it asks us for ours).
                    self.control(&req, &mut stats);
                    stats.bulk_requested += 1;
                }
                match bulk {
                    BulkEvent::Started { from, announced } => {
                        stats.ring_full_at_start = stats.ring_full_to_workers;
                        stats.failed_at_start = self.install_failures();
                        tracing::info!(member = from, sessions = announced, "bulk sync started")
                    }
                    BulkEvent::Records(n) => stats.bulk_records += n,
                    BulkEvent::Finished(o) => {
                        tracing::info!(
                            member = o.from,
                            announced = o.announced,
                            sent = o.sent,
                            received = o.received,
                            complete = o.complete(),
                            state = self.cluster.state().name(),
                            "bulk sync received"
                        );
                        stats.judging = Some((o, now));
                    }
                    _ => {}
                }
                match msg.body {
                    Body::Conns(conns) => {
                        let workers = self.to_workers.len();
                        for rec in conns {
                            stats.recv_records += 1;
                            stats.per_peer.entry(sender).and_modify(|p| p.1 += 1);
                            let w = rec.owner_worker_steered(workers, &self.steering);
                            if self.to_workers[w].push(FromSync::Install(rec)).is_err() {
                                stats.ring_full_to_workers += 1;
                            }
                        }
                    }
                    Body::Control(_) => {
                        if let Some(a) = BulkAnswer::for_request(&msg, self.me) {
                            queued.retain(|q| q.requester != a.requester);
                            queued.push_back(a);
                        }
                    }
                }
            }

            self.judge_bulk(now, &mut stats);
            if let Some((from, at)) = stats.reask {
                if now >= at {
                    stats.reask = None;
                    self.ask_bulk(from, now, &mut stats);
                }
            }

            let leaving = self.shared.leave.load(Ordering::Relaxed)
                && !matches!(self.cluster.state(), MemberState::Leaving | MemberState::Sync);
            if leaving {
                self.cluster.leave(now);
                tracing::info!(member = self.me, "leaving the cluster: routes withdrawn, draining");
            }
            if leaving || now - last_hello >= self.hello_interval {
                let (was, was_ready) = (self.cluster.state(), self.cluster.ready());
                let sessions = self.worker_counters.iter().map(|c| c.sessions_live.get()).sum();
                let hello = self.cluster.hello(sessions, self.digest().0);
                self.control(&hello, &mut stats);
                last_hello = now;
                let action = self.cluster.tick(now, |m| {
                    tracing::warn!(member = m, "sync member gone (no hello within its hold time)");
                });
                if let ClusterAction::Request(req) = action {
                    self.control(&req, &mut stats);
                    stats.bulk_requested += 1;
                }
                if self.cluster.ready() && !was_ready {
                    Self::log_initial(self.cluster.initial().state(), &stats);
                }
                if self.cluster.state() != was {
                    tracing::info!(member = self.me, state = self.cluster.state().name(), "cluster state");
                }
            }
            if now - last_publish >= Duration::from_millis(100) {
                self.publish(&stats, pending_since.map_or(0, |t| (now - t).as_millis() as u64), now);
                last_publish = now;
            }
            if work == 0 {
                std::thread::sleep(Duration::from_micros(500));
            }
        }
        self.flush(&mut stats);
        tracing::info!("sync thread stopped");
    }

    /// Our table digest (the workers' summed: each is a sum) and the sessions in it.
    pub(super) fn digest(&self) -> (u64, u64) {
        self.shared
            .workers
            .iter()
            .fold((0u64, 0u64), |(d, n), w| (d.wrapping_add(w.digest.get()), n + w.digest_sessions.get()))
    }

    /// Records the workers could not install so far, all reasons.
    fn install_failures(&self) -> u64 {
        self.shared.workers.iter().flat_map(|w| w.install_failed.iter()).map(|c| c.get()).sum()
    }

    /// Judges a finished transfer of ours once the workers have taken every record from
    /// their rings (and a moment to install the last ones): records that did not fit in a
    /// ring, or that a worker could not install (typically `no_service`: rvs-ctrl has not
    /// loaded the table into a restarted rvsd yet), make the start-up sync ask again a
    /// little later.
    fn judge_bulk(&mut self, now: Time, stats: &mut Stats) {
        let Some((o, at)) = stats.judging else { return };
        let drained = self.to_workers.iter().all(|p| p.slots() == p.buffer().capacity());
        if !drained || now - at < JUDGE_SETTLE {
            return;
        }
        stats.judging = None;
        let lost_ring = stats.ring_full_to_workers - stats.ring_full_at_start;
        let not_installed = self.install_failures() - stats.failed_at_start;
        let (was, was_ready) = (self.cluster.state(), self.cluster.ready());
        match self.cluster.judged(&o, lost_ring + not_installed > 0, now) {
            AfterBulk::AskAgain { from } => {
                tracing::warn!(
                    member = from,
                    sent = o.sent,
                    received = o.received,
                    lost_ring,
                    not_installed,
                    "start-up bulk sync incomplete: asking again in a second"
                );
                stats.reask = Some((from, now + REASK_AFTER));
            }
            AfterBulk::Done if self.cluster.ready() && !was_ready => {
                Self::log_initial(self.cluster.initial().state(), stats)
            }
            AfterBulk::Done => {}
        }
        if self.cluster.state() != was {
            tracing::info!(member = self.me, state = self.cluster.state().name(), "cluster state");
        }
    }

    /// Asks `member` (0: any) for its table.
    fn ask_bulk(&mut self, member: u32, now: Time, stats: &mut Stats) {
        let req = self.cluster.request(member, now);
        self.control(&req, stats);
        stats.bulk_requested += 1;
    }

    fn log_initial(st: InitialState, stats: &Stats) {
        match st {
            InitialState::Complete { from, records } => {
                tracing::info!(member = from, records, "start-up bulk sync complete: ready to serve")
            }
            InitialState::Incomplete { from, records, sent } => tracing::warn!(
                member = from,
                records,
                sent,
                ring_full = stats.ring_full_to_workers,
                "start-up bulk sync still incomplete after retries: ready anyway, incremental sync fills in"
            ),
            InitialState::Alone => tracing::info!("no sync peer answered: ready, with our own table"),
            _ => {}
        }
    }

    fn start_answer(&mut self, answer: BulkAnswer, stats: &mut Stats) -> Answering {
        let sessions = self.worker_counters.iter().map(|c| c.sessions_live.get()).sum();
        let start = answer.start(sessions, 0);
        self.control(&start, stats);
        for w in &mut self.to_workers {
            // A full ring: that worker's sessions are missing from this bulk sync; the
            // requester sees the shortfall in the end marker and asks again.
            if w.push(FromSync::BulkExport).is_err() {
                stats.ring_full_to_workers += 1;
            }
        }
        tracing::info!(requester = answer.requester, sessions, "answering a bulk sync");
        Answering { answer, workers_done: 0 }
    }

    fn send_datagram(socket: &socket2::Socket, to: &[SocketAddr], data: &[u8], errors: &mut u64) {
        for d in to {
            if let Err(e) = socket.send_to(data, &(*d).into()) {
                *errors += 1;
                tracing::debug!(error = %e, to = %d, "sync send");
            }
        }
    }

    fn send_record(&mut self, r: &rvs_core::sync::ConnRecord, bulk: bool, stats: &mut Stats) {
        let (sock, to, errs) = (&self.socket, &self.destinations, &mut stats.send_errors);
        let res = self
            .packer
            .set_bulk(bulk, |d| Self::send_datagram(sock, to, d, errs))
            .and_then(|_| self.packer.push(r, |d| Self::send_datagram(sock, to, d, errs)));
        if let Err(e) = res {
            tracing::warn!(error = %e, "sync record not sent");
        }
    }

    fn flush(&mut self, stats: &mut Stats) {
        let (sock, to, errs) = (&self.socket, &self.destinations, &mut stats.send_errors);
        if let Err(e) = self.packer.flush(|d| Self::send_datagram(sock, to, d, errs)) {
            tracing::warn!(error = %e, "sync flush");
        }
    }

    fn control(&mut self, c: &Control, stats: &mut Stats) {
        let (sock, to, errs) = (&self.socket, &self.destinations, &mut stats.send_errors);
        if let Err(e) = self.packer.control(c, |d| Self::send_datagram(sock, to, d, errs)) {
            tracing::warn!(error = %e, "sync control message not sent");
        }
    }

    fn publish(&self, stats: &Stats, lag_ms: u64, now: Time) {
        let (msgs, records, bytes) = self.packer.sent();
        let mut s = self.base_info.clone();
        s.sent_msgs = msgs;
        s.sent_records = records;
        s.sent_bytes = bytes;
        s.recv_msgs = stats.recv_msgs;
        s.recv_records = stats.recv_records;
        s.send_errors = stats.send_errors;
        s.bulk_answered = stats.bulk_answered;
        s.bulk_requested = stats.bulk_requested;
        s.lag_ms = lag_ms;
        let ours: u64 = self.worker_counters.iter().map(|c| c.sessions_live.get()).sum();
        s.sessions = ours;
        s.bulk_records = stats.bulk_records;
        {
            let i = self.cluster.initial();
            let st = i.state();
            s.initial_sync = st.name().to_string();
            s.initial_sync_ready = i.ready();
            s.initial_sync_ms = i.elapsed(now).as_millis() as u64;
            (s.initial_sync_from, s.initial_sync_records) = match st {
                InitialState::Syncing { from, .. } => (from, 0),
                InitialState::Complete { from, records } | InitialState::Incomplete { from, records, .. } => {
                    (from, records)
                }
                _ => (0, 0),
            };
        }
        s.refused = self.receiver.refused().iter().map(|(n, c)| (n.to_string(), c)).collect();
        if stats.ring_full_to_workers > 0 {
            s.install_failed.push(("worker_ring_full".into(), stats.ring_full_to_workers));
        }
        self.publish_cluster(stats, lag_ms, now);
        s.peers = self
            .cluster
            .members()
            .iter()
            .map(|(id, m)| {
                let (addr, recs) =
                    stats.per_peer.get(&id).map_or((String::new(), 0), |(a, n)| (a.to_string(), *n));
                SyncPeer {
                    member: id,
                    addr,
                    epoch: m.epoch,
                    sessions: m.hello.sessions,
                    last_heard_ms: (now - m.last_hello).as_millis() as u64,
                    recv_records: recs,
                    behind: m.hello.sessions as i64 - ours as i64,
                }
            })
            .collect();
        if let Ok(mut i) = self.shared.info.lock() {
            *i = s;
        }
        self.shared.published.store(now.as_nanos(), Ordering::Relaxed);
    }
}
