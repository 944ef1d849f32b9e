//! Keeping rvsd's table equal to the desired one, without disturbing traffic.
//!
//! rvsd keeps forwarding whatever it was last told, so rvs-ctrl may restart at any time.
//! Each round (a new desired table, or every [`RELIST_EVERY`] to catch changes made behind
//! its back: an rvsadm session, an rvsd restart) connects, reads `ListServices` and sends
//! only the commands that turn that table into the desired one: [`diff`]. It never clears.
//! The connection is closed after each round: rvsd serves one control client at a time,
//! and a connection held open would keep rvsadm (and rvs-ctrl's own scrapes) waiting.
//!
//! Order of the commands, so that a service never goes without servers needlessly: new
//! services and their servers first, then in each kept service local addresses added,
//! scheduler or options changed, servers added, reweighted or given new thresholds, servers removed, local addresses
//! removed; services that are no longer wanted go first (they free their addresses).
//!
//! The connection timeouts of `global_defs { lvs_timeouts }` are owned the same way: read
//! with each listing and set again when they differ.

use crate::adm::Transport;
use crate::check::state::{DesiredService, Table};
use rvs_proto::{
    Client, Command, ForwardMethod, ProtoError, Reply, ResponseResult, ServiceInfo, Thresholds, Timeouts,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the syncer re-reads rvsd's table when nothing else made it.
pub const RELIST_EVERY: Duration = Duration::from_secs(10);

/// Commands per `Batch`, at most.
pub const BATCH: usize = 256;
/// Bytes of commands per `Batch`, at most (as JSON): a quarter of rvsd's request limit
/// (`MAX_REQUEST`, 1 MiB), whatever the services' local addresses make of each.
pub const BATCH_BYTES: usize = 256 << 10;

/// `cmds` cut into runs for one `Batch` each: at most [`BATCH`] commands and
/// [`BATCH_BYTES`] of JSON (a single bigger command goes alone).
pub(crate) fn batches(cmds: &[Command]) -> Vec<&[Command]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, c) in cmds.iter().enumerate() {
        let size = serde_json::to_vec(c).map_or(0, |v| v.len());
        if i > start && (i - start == BATCH || bytes + size > BATCH_BYTES) {
            out.push(&cmds[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < cmds.len() {
        out.push(&cmds[start..]);
    }
    out
}

/// What rvs-ctrl owns in rvsd: the table, and the connection timeouts when
/// `global_defs { lvs_timeouts ... }` names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    pub table: Table,
    pub timeouts: Option<Timeouts>,
}

/// `want` over `have`: a zero in `want` keeps what rvsd has (as `ipvsadm --set`).
pub fn merge_timeouts(want: &Timeouts, have: &Timeouts) -> Timeouts {
    let pick = |w: u32, h: u32| if w == 0 { h } else { w };
    Timeouts {
        tcp: pick(want.tcp, have.tcp),
        tcp_fin: pick(want.tcp_fin, have.tcp_fin),
        udp: pick(want.udp, have.udp),
    }
}

/// rvsd's table in the shape of a desired one.
pub fn table_of(services: &[ServiceInfo]) -> Table {
    services
        .iter()
        .map(|s| {
            (
                s.spec.key,
                DesiredService {
                    scheduler: s.spec.scheduler.clone(),
                    local_addrs: s.spec.local_addrs.clone(),
                    options: s.spec.options.clone(),
                    reals: s.reals.iter().map(|r| (r.spec.addr, r.spec.weight)).collect(),
                    thresholds: s
                        .reals
                        .iter()
                        .filter(|r| r.spec.thresholds != Thresholds::default())
                        .map(|r| (r.spec.addr, r.spec.thresholds))
                        .collect(),
                    methods: s
                        .reals
                        .iter()
                        .filter(|r| (r.spec.method, r.spec.tunnel) != (ForwardMethod::FullNat, None))
                        .map(|r| (r.spec.addr, (r.spec.method, r.spec.tunnel)))
                        .collect(),
                },
            )
        })
        .collect()
}

/// The commands that turn `actual` into `desired`.
pub fn diff(desired: &Table, actual: &Table) -> Vec<Command> {
    let mut out = Vec::new();
    for key in actual.keys().filter(|k| !desired.contains_key(k)) {
        out.push(Command::DelService { key: *key });
    }
    for (key, want) in desired {
        let Some(have) = actual.get(key) else {
            out.push(Command::AddService { spec: want.spec(*key) });
            for (addr, w) in &want.reals {
                out.push(Command::AddReal { service: *key, real: want.real(*addr, *w) });
            }
            continue;
        };
        for a in want.local_addrs.iter().filter(|a| !have.local_addrs.contains(a)) {
            out.push(Command::AddLocalAddr { service: *key, addr: *a });
        }
        if want.scheduler != have.scheduler || want.options != have.options {
            // rvsd replaces the local addresses given with an edit: give it the list as it
            // is at this point (the removals come last), so the edit changes the scheduler
            // and the options only.
            let mut spec = want.spec(*key);
            spec.local_addrs = have.local_addrs.clone();
            spec.local_addrs.extend(want.local_addrs.iter().filter(|a| !have.local_addrs.contains(a)));
            out.push(Command::EditService { spec });
        }
        for (addr, w) in &want.reals {
            match have.reals.get(addr) {
                None => out.push(Command::AddReal { service: *key, real: want.real(*addr, *w) }),
                Some(hw)
                    if hw != w
                        || have.thresholds_of(addr) != want.thresholds_of(addr)
                        || have.method_of(addr) != want.method_of(addr) =>
                {
                    out.push(Command::EditReal { service: *key, real: want.real(*addr, *w) })
                }
                Some(_) => {}
            }
        }
        for addr in have.reals.keys().filter(|a| !want.reals.contains_key(a)) {
            out.push(Command::DelReal { service: *key, addr: *addr });
        }
        for a in have.local_addrs.iter().filter(|a| !want.local_addrs.contains(a)) {
            out.push(Command::DelLocalAddr { service: *key, addr: *a });
        }
    }
    out
}

/// What an accepted command does to rvsd's table (as rvsd's registry does it).
pub fn apply(t: &mut Table, cmd: &Command) {
    match cmd {
        Command::AddService { spec } => {
            let mut local_addrs = spec.local_addrs.clone();
            local_addrs.dedup();
            t.insert(
                spec.key,
                DesiredService {
                    scheduler: spec.scheduler.clone(),
                    local_addrs,
                    options: spec.options.clone(),
                    reals: BTreeMap::new(),
                    thresholds: BTreeMap::new(),
                    methods: BTreeMap::new(),
                },
            );
        }
        Command::EditService { spec } => {
            if let Some(s) = t.get_mut(&spec.key) {
                s.scheduler = spec.scheduler.clone();
                s.options = spec.options.clone();
                if !spec.local_addrs.is_empty() {
                    s.local_addrs = spec.local_addrs.clone();
                }
            }
        }
        Command::DelService { key } => {
            t.remove(key);
        }
        Command::AddReal { service, real } | Command::EditReal { service, real } => {
            if let Some(s) = t.get_mut(service) {
                s.reals.insert(real.addr, real.weight);
                if real.thresholds == Thresholds::default() {
                    s.thresholds.remove(&real.addr);
                } else {
                    s.thresholds.insert(real.addr, real.thresholds);
                }
                if (real.method, real.tunnel) == (ForwardMethod::FullNat, None) {
                    s.methods.remove(&real.addr);
                } else {
                    s.methods.insert(real.addr, (real.method, real.tunnel));
                }
            }
        }
        Command::DelReal { service, addr } => {
            if let Some(s) = t.get_mut(service) {
                s.reals.remove(addr);
                s.thresholds.remove(addr);
                s.methods.remove(addr);
            }
        }
        Command::AddLocalAddr { service, addr } => {
            if let Some(s) = t.get_mut(service) {
                if !s.local_addrs.contains(addr) {
                    s.local_addrs.push(*addr);
                }
            }
        }
        Command::DelLocalAddr { service, addr } => {
            if let Some(s) = t.get_mut(service) {
                s.local_addrs.retain(|a| a != addr);
            }
        }
        Command::Clear => t.clear(),
        _ => {}
    }
}

/// Makes rvsd's timeouts `want` (zero fields left alone); whether a change was sent.
pub fn sync_timeouts(t: &mut dyn Transport, want: &Timeouts) -> Result<bool, SyncError> {
    let have = match t.call(Command::GetTimeouts)? {
        Ok(Reply::Timeouts { timeouts }) => timeouts,
        Ok(other) => return Err(SyncError::UnexpectedReply(Box::new(other))),
        Err(e) => return Err(SyncError::List(e)),
    };
    let merged = merge_timeouts(want, &have);
    if merged == have {
        return Ok(false);
    }
    match t.call(Command::SetTimeouts { timeouts: merged })? {
        Ok(_) => {
            tracing::info!(
                tcp = merged.tcp,
                tcpfin = merged.tcp_fin,
                udp = merged.udp,
                "lvs_timeouts applied"
            );
            Ok(true)
        }
        Err(e) => {
            tracing::error!(error = %e, "rvsd refused lvs_timeouts");
            Ok(false)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    Transport(#[from] ProtoError),
    #[error("rvsd refused to list: {0}")]
    List(String),
    #[error("rvsd answered with {0:?}")]
    UnexpectedReply(Box<Reply>),
    #[error("rvsd does not take batches of commands ({0}); sending them one at a time")]
    NoBatch(String),
}

/// What one round did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub listed: bool,
    pub applied: usize,
    pub refused: usize,
}

/// Converges rvsd towards desired tables, one round at a time.
#[derive(Default)]
pub struct Syncer {
    /// rvsd's table as last listed and then changed by accepted commands; None: relist.
    actual: Option<Table>,
    /// Refusals already logged at error level (so a permanent one is not logged every round).
    reported: BTreeSet<String>,
    /// rvsd refused a `Batch` (one older than them): commands go one by one.
    no_batch: bool,
}

impl Syncer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends `cmds`, in one `Batch` when there are several (one round trip and one new
    /// configuration for the workers, whatever their number); their results in order.
    fn send(
        &mut self,
        t: &mut dyn Transport,
        cmds: &[Command],
    ) -> Result<Vec<Result<Reply, String>>, SyncError> {
        if cmds.len() == 1 || self.no_batch {
            return cmds.iter().map(|c| t.call(c.clone()).map_err(SyncError::from)).collect();
        }
        match t.call(Command::Batch { commands: cmds.to_vec(), stop_at_error: false })? {
            Ok(Reply::Batch { results }) if results.len() == cmds.len() => Ok(results
                .into_iter()
                .map(|r| match r {
                    ResponseResult::Ok(reply) => Ok(reply),
                    ResponseResult::Error(e) => Err(e),
                })
                .collect()),
            Ok(other) => Err(SyncError::UnexpectedReply(Box::new(other))),
            // An rvsd older than batches answers "malformed request" and closes: from
            // now on, one command at a time.
            Err(e) => {
                self.no_batch = true;
                Err(SyncError::NoBatch(e))
            }
        }
    }

    /// Forget rvsd's table: the next round lists it again.
    pub fn invalidate(&mut self) {
        self.actual = None;
    }

    /// A new desired state: refusals are worth reporting again.
    pub fn new_generation(&mut self) {
        self.reported.clear();
    }

    pub fn round(&mut self, t: &mut dyn Transport, desired: &Table) -> Result<Round, SyncError> {
        let mut round = Round::default();
        let mut actual = match self.actual.take() {
            Some(a) => a,
            None => {
                round.listed = true;
                match t.call(Command::ListServices)? {
                    Ok(Reply::Services { services }) => table_of(&services),
                    Ok(other) => return Err(SyncError::UnexpectedReply(Box::new(other))),
                    Err(e) => return Err(SyncError::List(e)),
                }
            }
        };
        let cmds = diff(desired, &actual);
        let mut stale = false;
        for chunk in batches(&cmds) {
            for (cmd, result) in chunk.iter().zip(self.send(t, chunk)?) {
                match result {
                    Ok(_) => {
                        tracing::info!(command = ?cmd, "applied");
                        apply(&mut actual, cmd);
                        round.applied += 1;
                    }
                    Err(msg) => {
                        round.refused += 1;
                        // The table may not be what we think: list it again next time.
                        stale = true;
                        let what = format!("{cmd:?}: {msg}");
                        if self.reported.insert(what) {
                            tracing::error!(command = ?cmd, error = %msg, "rvsd refused");
                        } else {
                            tracing::debug!(command = ?cmd, error = %msg, "rvsd refused again");
                        }
                    }
                }
            }
        }
        if !stale {
            self.actual = Some(actual);
        }
        Ok(round)
    }
}

/// The syncer's thread: takes desired tables from `rx` (the latest wins), keeps a
/// connection to rvsd at `socket` (reconnecting with backoff) and converges. Returns when
/// the sender is dropped.
pub fn run(socket: &str, rx: &Receiver<Arc<Wanted>>) {
    let mut syncer = Syncer::new();
    let mut client: Option<Client> = None;
    let mut desired: Option<Arc<Wanted>> = None;
    // The timeouts are checked with each listing and each new desired state.
    let mut check_timeouts = false;
    let mut backoff = Duration::from_millis(250);
    let mut last_list = Instant::now();
    let mut warned_down = false;
    let mut connected_once = false;
    let mut need_round = false;
    loop {
        let wait = if need_round && client.is_none() { backoff } else { RELIST_EVERY };
        match rx.recv_timeout(wait) {
            Ok(mut d) => {
                while let Ok(newer) = rx.try_recv() {
                    d = newer;
                }
                desired = Some(d);
                syncer.new_generation();
                check_timeouts = true;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let Some(want) = desired.clone() else { continue };
        need_round = true;
        if client.is_none() {
            match Client::connect(socket) {
                Ok(c) => {
                    if warned_down || !connected_once {
                        tracing::info!(socket, "connected to rvsd; resyncing");
                    }
                    connected_once = true;
                    client = Some(c);
                    // Each connection starts from rvsd's own table: it may have restarted.
                    syncer.invalidate();
                    warned_down = false;
                    backoff = Duration::from_millis(250);
                }
                Err(e) => {
                    if !warned_down {
                        tracing::warn!(socket, error = %e, "cannot reach rvsd; retrying");
                        warned_down = true;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            }
        }
        if last_list.elapsed() >= RELIST_EVERY {
            syncer.invalidate();
        }
        let c = client.as_mut().expect("connected above");
        let result = syncer.round(c, &want.table).and_then(|r| {
            if let Some(to) = want.timeouts.filter(|_| check_timeouts || r.listed) {
                sync_timeouts(c, &to)?;
            }
            check_timeouts = false;
            Ok(r)
        });
        match result {
            Ok(r) => {
                if r.listed {
                    last_list = Instant::now();
                }
                if r.applied > 0 || r.refused > 0 {
                    tracing::debug!(applied = r.applied, refused = r.refused, "sync round");
                }
                need_round = false;
                // Free rvsd's control socket for others until the next round.
                client = None;
            }
            Err(SyncError::Transport(e)) => {
                tracing::warn!(error = %e, "lost rvsd; reconnecting");
                client = None;
                syncer.invalidate();
            }
            Err(e @ SyncError::NoBatch(_)) => {
                // rvsd closed the connection after its answer: again, command by command.
                tracing::info!("{e}");
                client = None;
                syncer.invalidate();
            }
            Err(e) => {
                tracing::error!(error = %e, "sync failed");
                syncer.invalidate();
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod tests;
