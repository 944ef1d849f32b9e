//! The control thread: owns the service registry, serves the Unix control socket and
//! talks to workers only through messages (snapshots in, counters and session dumps
//! out). Nothing here runs on the packet path.

use crossbeam::channel::{bounded, Sender};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::neigh::Mac;
use crate::route::PortIndex;
use crate::service::{Registry, WorkerConfig};
use crate::stats::WorkerCounters;
use rvs_core::control::{ControlState, Workers};
use rvs_proto::{Command, ConnInfo, Reply};

mod server;
pub use server::{bind_socket, SocketGuard};

/// What the control thread needs of an ECMP cluster member (`[cluster]`).
pub struct ClusterHooks {
    pub status: Box<dyn Fn() -> rvs_proto::ClusterInfo>,
    /// Starts a graceful leave (withdraw, drain, stop); repeated calls do nothing more.
    pub leave: Box<dyn Fn()>,
}

/// A message to a worker, read between bursts.
pub enum WorkerMsg {
    /// A new configuration: services, timeouts and SYN-cookie secrets, swapped in
    /// together between bursts.
    Config(Arc<WorkerConfig>),
    /// Send back every session of the worker.
    DumpConns(Sender<Vec<ConnInfo>>),
    /// A neighbour another worker learned.
    Neigh(std::net::Ipv4Addr, Mac, PortIndex),
    /// An IPv6 neighbour another worker learned.
    Neigh6(std::net::Ipv6Addr, Mac, PortIndex),
    /// Send back the worker's neighbour table (`rvsadm --neigh`).
    DumpNeigh(Sender<Vec<rvs_core::neigh::NeighEntry>>),
    /// Pin a static neighbour on an interface; answers false when the table is full.
    NeighAdd(std::net::IpAddr, Mac, crate::route::IfIndex, Sender<bool>),
    /// Remove a neighbour's entries (on one interface, or all); answers how many went.
    NeighDel(std::net::IpAddr, Option<crate::route::IfIndex>, Sender<usize>),
    /// `rvsadm --neigh flush`: how many entries of the kind went, on the interface or all.
    NeighFlush(Option<crate::route::IfIndex>, rvs_proto::FlushStates, Sender<usize>),
    /// Send gratuitous ARPs (IPv4) and unsolicited Neighbor Advertisements (IPv6) for these
    /// addresses, just taken over (to one worker only).
    Announce(Vec<std::net::IpAddr>),
}

/// The IPv4 local addresses of every service in `registry` (the destinations of
/// replies, which flow rules match on).
pub fn lips_of(registry: &Registry) -> std::collections::BTreeSet<std::net::Ipv4Addr> {
    registry
        .list()
        .flat_map(|(spec, _, _)| spec.local_addrs.iter())
        .filter_map(|a| match a {
            std::net::IpAddr::V4(v4) => Some(*v4),
            std::net::IpAddr::V6(_) => None,
        })
        .collect()
}

/// What the control thread holds of one worker.
pub struct WorkerHandle {
    pub id: u16,
    /// The worker's EAL lcore, once it has registered.
    pub lcore: Arc<AtomicU32>,
    pub counters: Arc<WorkerCounters>,
    pub inbox: Sender<WorkerMsg>,
    /// The size of the worker's session table, for the Stats answer.
    pub session_capacity: u64,
}

/// The workers and the threads beside them, as the commands reach them.
struct Side {
    workers: Vec<WorkerHandle>,
    /// How replies reach their owner, as `rvsadm --workers` shows it.
    steering: Option<String>,
    /// The rte_flow rules of the ports that steer by them, kept in step with the LIPs.
    flow_rules: Option<crate::dpdk::FlowRules>,
    /// (port name, VLAN id) of each VLAN interface, naming the workers' VLAN counters.
    vlans: Vec<(String, u16)>,
    /// What `rvsadm --sync` shows (None: `[sync]` is off).
    sync_status: Option<Box<dyn Fn() -> rvs_proto::SyncInfo>>,
    /// `rvsadm --cluster`: the state, and the leave request (None: not a member).
    cluster: Option<ClusterHooks>,
    /// The ports whose NIC counters `Stats` reports, in configuration order.
    ports: Vec<NamedPort>,
    /// The ports as configured: where a neighbour given at run time may be, and the
    /// interfaces' names.
    port_config: Vec<rvs_core::config::PortConfig>,
}

/// A port as `rvsadm --workers` and `/metrics` name it.
pub struct NamedPort {
    /// Its name in rvsd's configuration.
    pub name: String,
    /// Its DPDK device.
    pub device: String,
    pub port: crate::dpdk::Port,
    /// An af_packet port's sockets, whose ring drops the driver does not count.
    pub kernel_drops: Option<crate::dpdk::af_packet::KernelDrops>,
}

impl Side {
    /// Sends each worker in turn the message `make` builds around a reply channel and
    /// waits for its answer: the answers in worker order.
    fn ask_each<T>(&self, make: impl Fn(Sender<T>) -> WorkerMsg) -> Result<Vec<T>, String> {
        let mut answers = Vec::with_capacity(self.workers.len());
        for w in &self.workers {
            let (tx, rx) = bounded(1);
            if w.inbox.send_timeout(make(tx), Duration::from_secs(1)).is_err() {
                return Err(format!("worker {} is not answering", w.id));
            }
            match rx.recv_timeout(Duration::from_secs(5)) {
                Ok(a) => answers.push(a),
                Err(_) => return Err(format!("worker {} is not answering", w.id)),
            }
        }
        Ok(answers)
    }

    fn broadcast(&self, make: impl Fn() -> WorkerMsg) {
        for w in &self.workers {
            if w.inbox.send_timeout(make(), Duration::from_secs(1)).is_err() {
                tracing::warn!(worker = w.id, "worker did not take a control message");
            }
        }
    }
}

impl Workers for Side {
    fn publish(&mut self, config: &Arc<WorkerConfig>) {
        self.broadcast(|| WorkerMsg::Config(config.clone()));
    }

    fn ownership_changed(
        &mut self,
        addrs: &[std::net::IpAddr],
        owned: bool,
        announce: Vec<std::net::IpAddr>,
    ) {
        tracing::info!(
            addresses = ?addrs,
            owned,
            announced = announce.len(),
            "{}",
            if owned { "VIPs/LIPs taken over" } else { "VIPs/LIPs released" }
        );
        if announce.is_empty() {
            return;
        }
        if let Some(w) = self.workers.first() {
            if w.inbox.send_timeout(WorkerMsg::Announce(announce), Duration::from_secs(1)).is_err() {
                tracing::warn!(worker = w.id, "worker did not take the gratuitous ARPs");
            }
        }
    }

    fn stats(&self) -> Vec<rvs_proto::WorkerStats> {
        self.workers
            .iter()
            .map(|w| {
                let mut s = w.counters.snapshot(w.id as u32, w.lcore.load(Ordering::Relaxed));
                s.steering.clone_from(&self.steering);
                s.vlans = w.counters.vlan_snapshot(&self.vlans);
                s.sessions_capacity = w.session_capacity;
                s
            })
            .collect()
    }

    /// Read from the control thread while the workers burst: DPDK's drivers keep these
    /// counters per queue in plain words, which a read sees whole on the 64-bit targets
    /// rvsd builds for (testpmd shows them the same way while it forwards).
    fn ports(&self) -> Vec<rvs_proto::PortStats> {
        self.ports
            .iter()
            .filter_map(|p| match p.port.stats() {
                Ok(s) => Some(rvs_proto::PortStats {
                    port: p.name.clone(),
                    device: p.device.clone(),
                    rx_packets: s.ipackets,
                    rx_bytes: s.ibytes,
                    tx_packets: s.opackets,
                    tx_bytes: s.obytes,
                    rx_missed: s.imissed + p.kernel_drops.as_ref().map_or(0, |k| k.read()),
                    rx_errors: s.ierrors,
                    tx_errors: s.oerrors,
                    rx_nombuf: s.rx_nombuf,
                }),
                Err(e) => {
                    tracing::warn!(port = %p.name, error = %e, "port counters unreadable");
                    None
                }
            })
            .collect()
    }

    fn conns(&mut self) -> Result<Vec<ConnInfo>, String> {
        Ok(self.ask_each(WorkerMsg::DumpConns)?.into_iter().flatten().collect())
    }

    fn neighbours(&mut self) -> Result<(Vec<String>, Vec<Vec<rvs_core::neigh::NeighEntry>>), String> {
        let tables = self.ask_each(WorkerMsg::DumpNeigh)?;
        Ok((rvs_core::config::interface_names(&self.port_config), tables))
    }

    fn neighbour_change(&mut self, change: &rvs_proto::NeighChange) -> Result<(), String> {
        let ports = &self.port_config;
        match change {
            rvs_proto::NeighChange::Add { addr, mac, dev } => {
                let (mac, iface) = rvs_core::config::runtime_neighbour(ports, *addr, mac, dev.as_deref())?;
                let iface = iface as crate::route::IfIndex;
                let added = self.ask_each(|tx| WorkerMsg::NeighAdd(*addr, mac, iface, tx))?;
                if let Some(w) = added.iter().position(|ok| !ok) {
                    // Those before it have it: a table full on one worker is full on all.
                    return Err(format!("worker {w}: the neighbour table is full"));
                }
                tracing::info!(%addr, mac = %crate::wire::MacAddr(mac), iface, "static neighbour added");
                Ok(())
            }
            rvs_proto::NeighChange::Del { addr, dev } => {
                let iface = match dev {
                    None => None,
                    Some(d) => Some(rvs_core::config::interface_named(ports, d)? as crate::route::IfIndex),
                };
                let removed: usize = self.ask_each(|tx| WorkerMsg::NeighDel(*addr, iface, tx))?.iter().sum();
                if removed == 0 {
                    let on = dev.as_ref().map_or(String::new(), |d| format!(" on {d}"));
                    return Err(format!("no neighbour {addr}{on}"));
                }
                tracing::info!(%addr, entries = removed, "neighbour deleted");
                Ok(())
            }
            rvs_proto::NeighChange::Flush { dev, nud } => {
                let iface = match dev {
                    None => None,
                    Some(d) => Some(rvs_core::config::interface_named(ports, d)? as crate::route::IfIndex),
                };
                // Nothing to flush is no error, as with `ip neigh flush`.
                let removed: usize = self.ask_each(|tx| WorkerMsg::NeighFlush(iface, *nud, tx))?.iter().sum();
                tracing::info!(
                    dev = dev.as_deref().unwrap_or("all"),
                    ?nud,
                    entries = removed,
                    "neighbours flushed"
                );
                Ok(())
            }
        }
    }

    fn sync_status(&self) -> rvs_proto::SyncInfo {
        self.sync_status.as_ref().map(|f| f()).unwrap_or_default()
    }

    fn cluster_status(&self) -> rvs_proto::ClusterInfo {
        self.cluster.as_ref().map(|c| (c.status)()).unwrap_or_default()
    }

    fn cluster_leave(&mut self) -> Result<rvs_proto::ClusterInfo, String> {
        let Some(c) = &self.cluster else { return Err("not a cluster member (no [cluster])".into()) };
        (c.leave)();
        // The sync thread turns the member leaving within a loop of its own; answer with
        // the state it then publishes (at most half a second later).
        let until = std::time::Instant::now() + Duration::from_millis(500);
        let mut cluster = (c.status)();
        while cluster.state != "leaving" && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
            cluster = (c.status)();
        }
        Ok(cluster)
    }

    /// Installs the rules of new LIPs and removes those of LIPs no service has any more.
    fn services_changed(&mut self, registry: &Registry) {
        let Some(rules) = self.flow_rules.as_mut() else { return };
        let lips = lips_of(registry);
        let r = rules.sync(&lips);
        if r.added + r.removed > 0 || !r.failed.is_empty() {
            tracing::info!(
                added = r.added,
                removed = r.removed,
                rules = rules.rule_count(),
                "flow rules for LIPs updated"
            );
        }
        for e in r.failed {
            tracing::warn!(error = %e, "flow rule refused: replies to this LIP are handed over in software");
        }
    }
}

/// rvsd's control thread: what commands do (`ControlState`, in the core) and what they
/// reach (the workers, flow rules, the sync and cluster threads), with the SYN-cookie
/// rotation.
pub struct Control {
    state: ControlState,
    side: Side,
    /// When the SYN-cookie secrets were last rotated (None: no rotation, e.g. shared
    /// secrets or tests).
    cookie_rotated: Option<std::time::Instant>,
    /// With sync: SYN-cookie secrets derived from the cluster key and the wall-clock time
    /// slot (the same on every member), and the slots the workers have.
    shared_cookies: Option<(rvs_core::sync::ClusterKey, (u64, u64))>,
}

/// How often SYN-cookie secrets rotate (cookies stay valid across one rotation).
const COOKIE_ROTATION: Duration = Duration::from_secs(300);

impl Control {
    /// `config`: what the workers started with (its services are `registry`'s snapshot).
    pub fn new(registry: Registry, workers: Vec<WorkerHandle>, config: WorkerConfig) -> Self {
        let counters = workers.iter().map(|w| w.counters.clone()).collect();
        Control {
            state: ControlState::new(registry, config, counters),
            side: Side {
                workers,
                steering: None,
                flow_rules: None,
                vlans: Vec::new(),
                sync_status: None,
                cluster: None,
                ports: Vec::new(),
                port_config: Vec::new(),
            },
            cookie_rotated: None,
            shared_cookies: None,
        }
    }

    /// The names of the workers' per-VLAN counters, in interface order.
    pub fn with_vlans(mut self, vlans: Vec<(String, u16)>) -> Self {
        self.side.vlans = vlans;
        self
    }

    /// The ports whose NIC counters `Stats` reports.
    pub fn with_ports(mut self, ports: Vec<NamedPort>) -> Self {
        self.side.ports = ports;
        self
    }

    /// The ports as configured, for `rvsadm --neigh`.
    pub fn with_port_config(mut self, ports: Vec<rvs_core::config::PortConfig>) -> Self {
        self.side.port_config = ports;
        self
    }

    /// Cookie secrets from the cluster key and the time slot instead of random ones
    /// (`slots`: those of the secrets the workers started with).
    pub fn with_shared_cookies(mut self, key: rvs_core::sync::ClusterKey, slots: (u64, u64)) -> Self {
        self.shared_cookies = Some((key, slots));
        self
    }

    /// How to read the sync thread's state for `rvsadm --sync`.
    pub fn with_cluster(mut self, hooks: ClusterHooks) -> Self {
        self.side.cluster = Some(hooks);
        self
    }

    pub fn with_sync_status(mut self, f: Box<dyn Fn() -> rvs_proto::SyncInfo>) -> Self {
        self.side.sync_status = Some(f);
        self
    }

    /// The reply steering to report, and the flow rules to keep in step with the
    /// services' LIPs (installed for the LIPs known at start by the caller).
    pub fn with_steering(mut self, steering: String, rules: Option<crate::dpdk::FlowRules>) -> Self {
        self.side.steering = Some(steering);
        self.side.flow_rules = rules.filter(|r| !r.is_empty());
        self
    }

    /// Each port's NIC counters, as `Stats` reports them.
    pub fn port_stats(&self) -> Vec<rvs_proto::PortStats> {
        self.side.ports()
    }

    /// Hands the flow rules back (to remove them before the ports close).
    pub fn take_flow_rules(&mut self) -> Option<crate::dpdk::FlowRules> {
        self.side.flow_rules.take()
    }

    /// Rotates the SYN-cookie secrets (those of the configuration) every
    /// `COOKIE_ROTATION` from now.
    pub fn with_cookie_rotation(mut self) -> Self {
        self.cookie_rotated = Some(std::time::Instant::now());
        self
    }

    fn rotate_cookie_secrets(&mut self) {
        if let Some((key, slots)) = self.shared_cookies.as_mut() {
            let s = shared_cookie_secrets(key);
            if (s.current, s.other) != *slots {
                *slots = (s.current, s.other);
                tracing::info!(slot = s.current, other = s.other, "SYN-cookie secrets of the new time slot");
                let config = self.state.config().with_cookie_secrets(s.secrets);
                self.state.set_config(config, &mut self.side);
            }
            return;
        }
        let Some(since) = self.cookie_rotated else { return };
        if since.elapsed() < COOKIE_ROTATION {
            return;
        }
        match crate::synproxy::SecretKey::generate() {
            Ok(key) => {
                let config = self.state.config();
                let config = config.with_cookie_secrets(config.cookie_secrets.rotate(key));
                self.state.set_config(config, &mut self.side);
                self.cookie_rotated = Some(std::time::Instant::now());
            }
            Err(e) => tracing::warn!(error = %e, "cannot read randomness for SYN-cookie secrets"),
        }
    }

    pub fn registry(&self) -> &Registry {
        self.state.registry()
    }

    /// Executes one control command (`ControlState::handle`).
    pub fn handle(&mut self, cmd: Command) -> Result<Reply, String> {
        self.state.handle(cmd, &mut self.side)
    }
}

/// Largest clock difference between sync members that shared SYN cookies allow for.
pub const COOKIE_CLOCK_SKEW_SECS: u64 = 10;

/// The SYN-cookie secrets every member of a sync group holds now (wall clock).
pub fn shared_cookie_secrets(key: &rvs_core::sync::ClusterKey) -> rvs_core::sync::SharedCookieSecrets {
    let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    rvs_core::sync::cookie_secrets_at(key, unix.as_secs(), COOKIE_CLOCK_SKEW_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam::channel::unbounded;
    use rvs_proto::{Protocol, ServiceKey, ServiceSpec};

    fn control() -> (Control, crossbeam::channel::Receiver<WorkerMsg>) {
        control_sized(8)
    }

    /// A control thread's state for the socket tests (no worker reads its messages).
    pub(super) fn control_for_server() -> Control {
        control().0
    }

    fn control_sized(n: usize) -> (Control, crossbeam::channel::Receiver<WorkerMsg>) {
        let (tx, rx) = unbounded();
        let w = WorkerHandle {
            id: 0,
            lcore: Arc::new(AtomicU32::new(3)),
            counters: Arc::new(WorkerCounters::new(n, n)),
            inbox: tx,
            session_capacity: 0,
        };
        let registry = Registry::new(n, n);
        let secrets = crate::synproxy::CookieSecrets::new(crate::synproxy::SecretKey::from_bytes([7; 16]));
        let config =
            WorkerConfig::new(Arc::new(registry.snapshot()), crate::config::DEFAULT_TIMEOUTS, secrets);
        (Control::new(registry, vec![w], config), rx)
    }

    #[test]
    fn takeover_publishes_then_announces_and_release_stops_owning() {
        let (mut c, rx) = control();
        let key = ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() };
        let spec = ServiceSpec {
            options: Default::default(),
            key,
            scheduler: "rr".into(),
            local_addrs: vec!["198.19.0.200".parse().unwrap()],
        };
        c.handle(Command::AddService { spec }).unwrap();
        let _ = rx.try_recv();
        let owned = |r: Reply| match r {
            Reply::Ownership { ownership } => {
                ownership.addresses.iter().filter(|a| a.owned).map(|a| a.addr.to_string()).collect::<Vec<_>>()
            }
            other => panic!("{other:?}"),
        };
        let r = c.handle(Command::Release { addrs: vec![] }).unwrap();
        assert!(owned(r).is_empty());
        assert!(
            matches!(rx.try_recv(), Ok(WorkerMsg::Config(c)) if !c.services.owns("198.18.0.100".parse().unwrap()))
        );
        assert!(rx.try_recv().is_err(), "a release sends no ARP");

        let r = c.handle(Command::Takeover { addrs: vec!["198.18.0.100".parse().unwrap()] }).unwrap();
        assert_eq!(owned(r), vec!["198.18.0.100"]);
        assert!(
            matches!(rx.try_recv(), Ok(WorkerMsg::Config(c)) if c.services.owns("198.18.0.100".parse().unwrap()))
        );
        assert!(
            matches!(rx.try_recv(), Ok(WorkerMsg::Announce(a)) if a == vec!["198.18.0.100".parse::<std::net::IpAddr>().unwrap()])
        );

        let r = c.handle(Command::Takeover { addrs: vec![] }).unwrap();
        assert_eq!(owned(r), vec!["198.18.0.100", "198.19.0.200"]);
        // IPv6 addresses are taken one by one too (this one is no service's yet).
        c.handle(Command::Release { addrs: vec![] }).unwrap();
        let _ = rx.try_recv();
        let r = c.handle(Command::Takeover { addrs: vec!["2001:db8::1".parse().unwrap()] }).unwrap();
        assert_eq!(owned(r), vec!["2001:db8::1"]);
        match c.handle(Command::Owned).unwrap() {
            Reply::Ownership { ownership } => {
                assert!(!ownership.owns_by_default);
                assert_eq!(
                    ownership.addresses.iter().find(|a| a.owned).map(|a| a.kind.as_str()),
                    Some("none")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stats_name_the_lcore() {
        let (mut c, _rx) = control();
        match c.handle(Command::Stats).unwrap() {
            Reply::Stats { workers, .. } => {
                assert_eq!(workers[0].lcore, 3);
                assert_eq!(workers[0].steering, None);
            }
            other => panic!("{other:?}"),
        }
        let (c, _rx) = control();
        let mut c = c.with_steering("handoff; client=handoff server=handoff".into(), None);
        match c.handle(Command::Stats).unwrap() {
            Reply::Stats { workers, .. } => {
                assert_eq!(workers[0].steering.as_deref(), Some("handoff; client=handoff server=handoff"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lips_of_lists_each_lip_once() {
        let (mut c, _rx) = control();
        let key = ServiceKey { protocol: Protocol::Udp, addr: "198.18.0.100:53".parse().unwrap() };
        let local_addrs = vec!["198.19.0.201".parse().unwrap(), "198.19.0.200".parse().unwrap()];
        let spec = ServiceSpec { options: Default::default(), key, scheduler: "rr".into(), local_addrs };
        c.handle(Command::AddService { spec }).unwrap();
        let key2 = ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:443".parse().unwrap() };
        let local_addrs = vec!["198.19.0.200".parse().unwrap()];
        let spec =
            ServiceSpec { options: Default::default(), key: key2, scheduler: "rr".into(), local_addrs };
        c.handle(Command::AddService { spec }).unwrap();
        let lips: Vec<String> = lips_of(c.registry()).iter().map(|a| a.to_string()).collect();
        assert_eq!(lips, ["198.19.0.200", "198.19.0.201"]);
    }
}
