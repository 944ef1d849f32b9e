//! What rvsd's control thread does with a command: the registry edit it maps to, the
//! workers' configuration made from the registry's snapshot after every accepted change,
//! `-Z` baselines and the counters listed, timeouts, VIP/LIP ownership. The thread itself
//! (the socket, the workers' inboxes, flow rules, sync and cluster hooks) is rvsd's, behind
//! [`Workers`]; this part is plain Rust, so that the fuzz targets drive the very code rvsd
//! runs (`fuzz/fuzz_targets/control.rs`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

mod neigh;
pub use neigh::neighbour_rows;

use crate::neigh::NeighEntry;
use crate::service::{LocalKind, Registry, WorkerConfig};
use crate::stats::WorkerCounters;
use rvs_proto::{
    AddrOwnership, ClusterInfo, Command, ConnInfo, OwnershipInfo, PortStats, RealInfo, Reply, Request,
    ResponseResult, ServiceInfo, ServiceKey, SyncInfo, TrafficStats, WorkerStats, PROTO_VERSION,
};

/// The longest request line rvsd reads from a control client (the largest real one, a
/// service with many local addresses, is a few KB; a bigger one is answered with an error
/// and the connection closed).
pub const MAX_REQUEST: usize = 1 << 20;

/// What a command needs of the workers and of the threads beside them.
pub trait Workers {
    /// Every worker takes `config` (between two bursts).
    fn publish(&mut self, config: &Arc<WorkerConfig>);
    /// A takeover (`owned`) or release of `addrs` (empty: all) is published; on a
    /// takeover, one worker is to send gratuitous ARPs / unsolicited NAs for `announce`
    /// (the VIPs/LIPs now owned among them).
    fn ownership_changed(&mut self, addrs: &[IpAddr], owned: bool, announce: Vec<IpAddr>);
    /// Each worker's counters, for `Stats`.
    fn stats(&self) -> Vec<WorkerStats>;
    /// Each port's NIC counters, for `Stats` (the default: no ports to ask).
    fn ports(&self) -> Vec<PortStats> {
        Vec::new()
    }
    /// Every worker's sessions.
    fn conns(&mut self) -> Result<Vec<ConnInfo>, String>;
    /// `rvsadm --sync` (the default: `[sync]` is off).
    fn sync_status(&self) -> SyncInfo {
        SyncInfo::default()
    }
    /// `rvsadm --cluster` (the default: not a member).
    fn cluster_status(&self) -> ClusterInfo {
        ClusterInfo::default()
    }
    /// Starts a graceful leave; Err when this is no cluster member.
    fn cluster_leave(&mut self) -> Result<ClusterInfo, String> {
        Err("not a cluster member (no [cluster])".into())
    }
    /// `rvsadm --neigh`: the interfaces' names by number, and each worker's neighbour
    /// table (the default: no tables here).
    fn neighbours(&mut self) -> Result<(Vec<String>, Vec<Vec<NeighEntry>>), String> {
        Err("this daemon has no neighbour tables".into())
    }
    /// `rvsadm --neigh add|del`, on every worker; refused as a whole when wrong.
    fn neighbour_change(&mut self, _change: &rvs_proto::NeighChange) -> Result<(), String> {
        Err("this daemon has no neighbour tables".into())
    }
    /// The services changed (what follows their local addresses: rvsd's flow rules).
    fn services_changed(&mut self, _registry: &Registry) {}
}

/// What accepted table changes touched, to be sent to the workers.
#[derive(Debug, Default, Clone, Copy)]
struct Changed {
    services: bool,
    timeouts: bool,
}

/// Which counter table a stat slot indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlotKind {
    Service,
    Real,
}

/// The registry, the configuration the workers have, and what `-Z` left.
pub struct ControlState {
    registry: Registry,
    /// The configuration the workers have (or are about to take): every change makes a
    /// new one and sends it whole.
    config: WorkerConfig,
    /// Each worker's counters (the workers are their only writers).
    counters: Vec<Arc<WorkerCounters>>,
    /// `-Z` baselines: what a slot's counters read when they were last zeroed (or when
    /// the slot was given to a new service or real server). What is reported is the
    /// current sum minus this.
    baselines: HashMap<(SlotKind, u32), TrafficStats>,
}

impl ControlState {
    /// `config`: what the workers started with (its services are `registry`'s snapshot).
    pub fn new(registry: Registry, config: WorkerConfig, counters: Vec<Arc<WorkerCounters>>) -> Self {
        ControlState { registry, config, counters, baselines: HashMap::new() }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    /// Replaces the configuration (new cookie secrets) and sends it.
    pub fn set_config(&mut self, config: WorkerConfig, w: &mut impl Workers) {
        self.config = config;
        w.publish(&Arc::new(self.config.clone()));
    }

    /// A request as the socket read it: one of another protocol version is refused.
    pub fn respond(&mut self, req: Request, w: &mut impl Workers) -> Result<Reply, String> {
        if req.version != PROTO_VERSION {
            return Err(format!(
                "protocol version {} is not supported (rvsd speaks {PROTO_VERSION})",
                req.version
            ));
        }
        self.handle(req.command, w)
    }

    /// Executes one control command. A refused one changes nothing.
    pub fn handle(&mut self, cmd: Command, w: &mut impl Workers) -> Result<Reply, String> {
        if cmd.is_table_change() {
            let what = self.change(cmd)?;
            self.publish_changes(what, w);
            return Ok(Reply::Ok);
        }
        match cmd {
            Command::Ping => Ok(Reply::Pong { daemon: "rvsd".into(), version: PROTO_VERSION }),
            Command::Batch { commands, stop_at_error } => Ok(self.batch(commands, stop_at_error, w)),
            Command::ListServices => Ok(self.list_services()),
            Command::ListConns => Ok(Reply::Conns { conns: w.conns()? }),
            Command::GetTimeouts => Ok(Reply::Timeouts { timeouts: self.config.timeouts }),
            Command::Stats => Ok(Reply::Stats { workers: w.stats(), ports: w.ports() }),
            Command::Zero { service } => self.zero(service),
            Command::Takeover { addrs } => Ok(self.set_ownership(&addrs, true, w)),
            Command::Release { addrs } => Ok(self.set_ownership(&addrs, false, w)),
            Command::Owned => Ok(self.ownership()),
            Command::SyncStatus => Ok(Reply::Sync { sync: Box::new(w.sync_status()) }),
            Command::ClusterStatus => Ok(Reply::Cluster { cluster: w.cluster_status() }),
            Command::ClusterLeave => Ok(Reply::Cluster { cluster: w.cluster_leave()? }),
            Command::ListNeighbours => Self::neighbours(w, None),
            Command::Neighbour { change } => {
                w.neighbour_change(&change)?;
                // An addition or deletion answers with that address's entries, a flush
                // with what is left.
                Self::neighbours(w, change.addr())
            }
            // Every table change was taken above.
            other => Err(format!("{other:?} is not a command rvsd executes")),
        }
    }

    /// The workers' neighbour tables as one listing (of `only`'s entries when given).
    fn neighbours(w: &mut impl Workers, only: Option<IpAddr>) -> Result<Reply, String> {
        let (names, tables) = w.neighbours()?;
        let workers = tables.len() as u16;
        Ok(Reply::Neighbours { workers, neighbours: neighbour_rows(&names, &tables, only) })
    }

    /// `Batch`: each command applied on its own, in order; the workers get one new
    /// configuration at the end (rather than one per command, which a burst of failed
    /// checks would otherwise cost them, each rebuilt between two bursts). `stop_at_error`:
    /// none after the first refused one is applied.
    fn batch(&mut self, commands: Vec<Command>, stop_at_error: bool, w: &mut impl Workers) -> Reply {
        let mut what = Changed::default();
        let mut refused = false;
        let results = commands
            .into_iter()
            .map(|cmd| {
                if refused && stop_at_error {
                    return ResponseResult::Error(rvs_proto::NOT_APPLIED.into());
                }
                let done = if cmd.is_table_change() {
                    self.change(cmd)
                } else {
                    Err(format!("a batch holds table changes only, not {}", cmd.op()))
                };
                match done {
                    Ok(c) => {
                        what.services |= c.services;
                        what.timeouts |= c.timeouts;
                        ResponseResult::Ok(Reply::Ok)
                    }
                    Err(e) => {
                        refused = true;
                        ResponseResult::Error(e)
                    }
                }
            })
            .collect();
        self.publish_changes(what, w);
        Reply::Batch { results }
    }

    /// Applies one table change (`Command::is_table_change`) to the registry or the
    /// timeouts, without sending anything yet; a refused one changes nothing.
    fn change(&mut self, cmd: Command) -> Result<Changed, String> {
        // A new service or real server takes a slot that may have been used before: it
        // starts from zero.
        let fresh = match &cmd {
            Command::AddService { spec } => Some((spec.key, None)),
            Command::AddReal { service, real } => Some((*service, Some(real.addr))),
            _ => None,
        };
        let r = &mut self.registry;
        let changed = match cmd {
            Command::AddService { spec } => r.add_service(spec),
            Command::EditService { spec } => r.edit_service(spec),
            Command::DelService { key } => r.del_service(&key),
            Command::AddReal { service, real } => r.add_real(&service, real),
            Command::EditReal { service, real } => r.edit_real(&service, real),
            Command::DelReal { service, addr } => r.del_real(&service, addr),
            Command::AddLocalAddr { service, addr } => r.add_laddr(&service, addr),
            Command::DelLocalAddr { service, addr } => r.del_laddr(&service, addr),
            Command::Clear => {
                r.clear();
                Ok(())
            }
            Command::SetTimeouts { timeouts } => {
                // A zero field keeps what it was (ipvsadm --set 0 ...).
                let mut t = self.config.timeouts;
                for (cur, new) in [
                    (&mut t.tcp, timeouts.tcp),
                    (&mut t.tcp_fin, timeouts.tcp_fin),
                    (&mut t.udp, timeouts.udp),
                ] {
                    if new != 0 {
                        *cur = new;
                    }
                }
                self.config = self.config.with_timeouts(t);
                return Ok(Changed { services: false, timeouts: true });
            }
            other => return Err(format!("{} is no table change", other.op())),
        };
        changed.map_err(|e| e.to_string())?;
        if let Some((key, real)) = fresh {
            for slot in self.slots(Some(key), real) {
                let now = self.sum_traffic(slot);
                self.baselines.insert(slot, now);
            }
        }
        Ok(Changed { services: true, timeouts: false })
    }

    /// Sends what `change` did: a configuration with the registry's services when they
    /// changed (and tells the threads that follow them), the timeouts alone otherwise.
    fn publish_changes(&mut self, what: Changed, w: &mut impl Workers) {
        if what.services {
            self.publish(w);
            w.services_changed(&self.registry);
        } else if what.timeouts {
            w.publish(&Arc::new(self.config.clone()));
        }
    }

    /// A new configuration with the registry's services, sent.
    fn publish(&mut self, w: &mut impl Workers) {
        self.set_config(self.config.with_services(Arc::new(self.registry.snapshot())), w);
    }

    /// `--takeover` / `--release`: the new ownership reaches the workers in a snapshot;
    /// a takeover then has one worker announce the VIPs/LIPs taken (its inbox is ordered,
    /// so it already runs the snapshot that owns them).
    fn set_ownership(&mut self, addrs: &[IpAddr], owned: bool, w: &mut impl Workers) -> Reply {
        self.registry.set_ownership(addrs, owned);
        self.publish(w);
        let announce: Vec<IpAddr> = self
            .registry
            .addresses()
            .keys()
            .copied()
            .filter(|a| addrs.is_empty() || addrs.contains(a))
            .filter(|a| self.registry.ownership().owns_ip(*a))
            .collect();
        w.ownership_changed(addrs, owned, if owned { announce } else { Vec::new() });
        self.ownership()
    }

    /// Every VIP/LIP with its kind and whether it is owned, then the addresses a
    /// takeover/release named that no service has.
    fn ownership(&self) -> Reply {
        let o = self.registry.ownership();
        let known = self.registry.addresses();
        let mut addresses: Vec<AddrOwnership> = known
            .iter()
            .map(|(a, k)| AddrOwnership {
                addr: *a,
                kind: match k {
                    LocalKind::Vip => "vip",
                    LocalKind::Lip => "lip",
                }
                .into(),
                owned: o.owns_ip(*a),
            })
            .collect();
        for a in o.exceptions().filter(|a| !known.contains_key(a)) {
            addresses.push(AddrOwnership { addr: a, kind: "none".into(), owned: o.owns_ip(a) });
        }
        Reply::Ownership { ownership: OwnershipInfo { owns_by_default: o.owns_by_default(), addresses } }
    }

    /// The stat slots of `service` (all services if None) and of its real servers; only
    /// the real server `real` (not the service) when given.
    fn slots(&self, service: Option<ServiceKey>, real: Option<SocketAddr>) -> Vec<(SlotKind, u32)> {
        let mut out = Vec::new();
        for (spec, slot, reals) in self.registry.list() {
            if service.is_some_and(|k| k != spec.key) {
                continue;
            }
            if real.is_none() {
                out.push((SlotKind::Service, slot));
            }
            for (r, rslot) in reals {
                if real.is_none_or(|a| a == r.addr) {
                    out.push((SlotKind::Real, rslot));
                }
            }
        }
        out
    }

    /// `-Z`: takes the current counters of the selected slots as their new zero.
    fn zero(&mut self, service: Option<ServiceKey>) -> Result<Reply, String> {
        if let Some(k) = service {
            if !self.registry.list().any(|(spec, _, _)| spec.key == k) {
                return Err("No such service".into());
            }
        }
        for slot in self.slots(service, None) {
            let now = self.sum_traffic(slot);
            self.baselines.insert(slot, now);
        }
        Ok(Reply::Ok)
    }

    /// A slot's counters summed over the workers, from when they were started.
    fn sum_traffic(&self, (kind, slot): (SlotKind, u32)) -> TrafficStats {
        let mut t = TrafficStats::default();
        for c in &self.counters {
            let c = match kind {
                SlotKind::Real => c.reals.get(slot as usize).map(|r| &r.traffic),
                SlotKind::Service => c.services.get(slot as usize),
            };
            if let Some(c) = c {
                t.add(&c.read());
            }
        }
        t
    }

    /// A slot's counters as reported: since the last `-Z` (or since the slot was taken).
    pub fn reported(&self, slot: (SlotKind, u32)) -> TrafficStats {
        let now = self.sum_traffic(slot);
        match self.baselines.get(&slot) {
            Some(base) => now.since(base),
            None => now,
        }
    }

    fn list_services(&self) -> Reply {
        let services = self
            .registry
            .list()
            .map(|(spec, slot, reals)| ServiceInfo {
                spec: spec.clone(),
                stats: self.reported((SlotKind::Service, slot)),
                reals: reals
                    .into_iter()
                    .map(|(r, rslot)| {
                        let (mut active, mut inactive) = (0u64, 0u64);
                        for c in &self.counters {
                            if let Some(c) = c.reals.get(rslot as usize) {
                                active = active.wrapping_add(c.active.get());
                                inactive = inactive.wrapping_add(c.inactive.get());
                            }
                        }
                        // Gauges are kept per worker; a session that moved between
                        // workers' views can make one transiently negative.
                        let clamp = |v: u64| if v > u64::MAX / 2 { 0 } else { v };
                        RealInfo {
                            spec: r.clone(),
                            active_conns: clamp(active),
                            inactive_conns: clamp(inactive),
                            stats: self.reported((SlotKind::Real, rslot)),
                        }
                    })
                    .collect(),
            })
            .collect();
        Reply::Services { services }
    }
}

#[cfg(test)]
mod tests;
