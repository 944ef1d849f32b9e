//! The sans-IO packet pipeline of one worker.
//!
//! `Pipeline::handle` takes a received frame and decides everything: ARP, ICMP echo,
//! FULLNAT in both directions, session creation and state, routing and neighbour
//! resolution. Results are placed in an `Output` (frames to send per port, frames to
//! hand to other workers, neighbour entries to share). The caller owns I/O and time:
//! this module never touches a NIC or reads a clock, so it runs the same in rvsd, in
//! unit tests and in the pcap golden tests.

mod arp;
mod ext;
mod icmp;
mod v6;
mod vlan;

mod config;

pub use config::{MemAdvice, PipelineConfig, PortInfo, SynProxyParams, VlanInfo};
pub use v6::V6Config;

use hashbrown::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::frame::{Frame, FrameAlloc};
use crate::laddr::{LaddrError, LaddrPools};
use crate::nat::{self, Endpoints};
use crate::neigh::{Hold, Mac, NeighTable, Probe};
use crate::persist::{PersistKey, PersistTable};
use crate::route::{IfIndex, PortIndex, RouteTable};
use crate::sched::{Overload, RealSet, SchedKey, SchedParams, Scheduler, Thresholds};
use crate::service::{LocalKind, Snapshot};
use crate::session::{
    Direction, FlowHash, FlowKey, Hop, LookupSide, Session, SessionId, SessionState, SessionTable,
    StateTimeouts, FLAG_EXT, FLAG_INPUT_ONLY, FLAG_NO_LADDR, FLAG_SYNCED, FLAG_TOA, FLAG_TOA_PENDING,
    PROTO_TCP, PROTO_UDP,
};
use crate::stats::{DropReason, WorkerCounters};
use crate::time::Time;
use crate::wire::ethernet::EthernetFrame;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::tcp::TcpPacket;
use crate::wire::udp::UdpPacket;
use crate::wire::{EtherType, IpProtocol, MacAddr};
use rvs_proto::Timeouts;

const ETH_LEN: usize = 14;
/// Frames classified together in one stage of `handle_burst`.
pub const BURST: usize = 32;

/// What one call of `handle`/`poll` produced. Vectors are reused across calls.
pub struct Output<P> {
    /// Frames to transmit, per port.
    pub tx: Vec<Vec<P>>,
    /// Frames for other workers, per worker: they own the sessions. Parsed already; the
    /// owner takes them with `Pipeline::handle_handoff`.
    pub redirect: Vec<Vec<Handoff<P>>>,
    /// Neighbour entries this worker learned (on an interface), to share with the other workers.
    pub learned: Vec<(Ipv4Addr, Mac, IfIndex)>,
    /// The same for IPv6 neighbours.
    pub learned6: Vec<(std::net::Ipv6Addr, Mac, IfIndex)>,
    /// Frames for the kernel interface of the interface (port, VLAN) they came in on
    /// (exception path), untagged: traffic to the host's own addresses, routing
    /// protocols, multicast, ARP that is not ours. The edge hands them to the exception
    /// thread, which rate-limits them.
    pub kernel: Vec<(IfIndex, P)>,
    /// Session records due for sync (only with sync on): the edge hands them to the sync
    /// thread.
    pub synced: Vec<crate::sync::ConnRecord>,
}

impl<P> Output<P> {
    pub fn new(ports: usize, workers: usize) -> Self {
        Output {
            tx: (0..ports).map(|_| Vec::with_capacity(64)).collect(),
            redirect: (0..workers).map(|_| Vec::new()).collect(),
            learned: Vec::new(),
            learned6: Vec::new(),
            kernel: Vec::new(),
            synced: Vec::new(),
        }
    }
}

/// Per-worker state of one service of the current snapshot.
struct ServiceState {
    slot: u32,
    /// The registry entry it is the state of (`Service::id`).
    id: u64,
    scheduler_name: String,
    sched_flags: crate::sched::SchedFlags,
    scheduler: Scheduler,
    laddr_cursor: usize,
    /// The LIPs to use towards each interface (empty without VLANs: the service's own),
    /// and the round-robin position in each.
    lips_by_iface: Vec<Vec<Ipv4Addr>>,
    iface_cursors: Vec<usize>,
}

/// The facts of a received TCP/UDP packet that the session logic needs: what burst
/// stage one extracts, and what travels with a frame handed to another worker so that
/// the owner does not parse it again.
#[derive(Debug, Clone, Copy)]
pub struct L4Info {
    /// The interface (port, VLAN) the packet came in on.
    port: IfIndex,
    key: FlowKey,
    tcp_flags: u8,
    ttl: u8,
    /// Bytes of IP packet (what IPVS counts).
    ip_len: usize,
    dest: Destination,
    hash: FlowHash,
}

impl L4Info {
    const EMPTY: L4Info = L4Info {
        port: 0,
        key: FlowKey { src: Ipv4Addr::UNSPECIFIED, dst: Ipv4Addr::UNSPECIFIED, sport: 0, dport: 0, proto: 0 },
        tcp_flags: 0,
        ttl: 0,
        ip_len: 0,
        dest: Destination::Former,
        hash: FlowHash::ZERO,
    };

    /// The interface (port, VLAN) the packet came in on.
    pub fn port(&self) -> IfIndex {
        self.port
    }
}

/// A parsed frame on its way to the worker that owns its session.
pub struct Handoff<P> {
    pub pkt: P,
    pub info: L4Info,
}

pub struct Pipeline<P> {
    worker: u16,
    workers: u16,
    /// The logical interfaces: the ports untagged (index = port), then their VLANs.
    ifaces: Vec<Iface>,
    nports: usize,
    /// Per port, its VLAN ids and their interfaces, sorted by id.
    vlan_ifaces: Vec<Vec<(u16, IfIndex)>>,
    /// Our addresses: the ports' own, VIPs and LIPs (one lookup classifies a packet).
    addrs: classify::AddrTable,
    routes: RouteTable,
    snapshot: Arc<Snapshot>,
    services: Vec<ServiceState>,
    sessions: SessionTable,
    laddrs: LaddrPools,
    neigh: NeighTable<P>,
    timeouts: StateTimeouts,
    counters: Arc<WorkerCounters>,
    /// Persistence templates of this worker.
    persist: PersistTable,
    /// Upper/lower threshold state per real-server slot, and this worker's share of
    /// each slot's thresholds.
    overload: Overload,
    thresholds: Vec<Thresholds>,
    /// SYN proxy and PROXY-protocol state of the sessions that need it (FLAG_EXT),
    /// by client flow.
    ext: HashMap<FlowKey, ext::SessionExt<P>, ahash::RandomState>,
    syn_cfg: crate::synproxy::SynProxyConfig,
    syn_params: SynProxyParams,
    /// With `[synproxy] auto`: until when ACKs without a session of services not
    /// SYN-proxied are checked as cookies (we answered SYNs with cookies until recently).
    auto_synproxy_until: Time,
    secrets: crate::synproxy::CookieSecrets,
    /// Token bucket of RSTs for bad cookies: (tokens, last refill).
    rst_bucket: (u32, Time),
    expire_nodest_conn: bool,
    exception_path: bool,
    /// Real-server slots present in the current snapshot.
    real_present: Vec<bool>,
    /// Service traffic counters as their real servers' sums (`stats::fold`).
    service_fold: crate::stats::ServiceFold,
    /// Per real-server slot: the next hop last resolved towards it (`xmit::RealHop`), so a
    /// new connection's first packet skips the route and neighbour lookups too.
    real_hops: Vec<xmit::RealHop>,
    /// Which worker owns NAT sessions (several workers only).
    nat: conn_direct::NatSteering,
    /// Per real-server slot: its GUE port when TUN goes over GUE (0: IPIP).
    gue_ports: Vec<u16>,
    /// SYN-proxied sessions waiting for their real server's SYN/ACK, by due time.
    syn_timers: std::collections::VecDeque<(Time, FlowKey)>,
    /// PROXY headers to send on their own, or to send again until acknowledged, by due time.
    proxy_timers: std::collections::VecDeque<(Time, FlowKey)>,
    /// Gratuitous ARPs still to send for addresses taken over (`announce`).
    garps: Vec<arp::Garp>,
    /// Session sync (None: off).
    sync: Option<Box<sync::SyncState>>,
    /// Advice on big regions before their first write (the sync marks', made at
    /// `enable_sync`; the session table took it at start).
    mem_advice: Option<MemAdvice>,
    /// Admission of new connections: the services' lists, rates and caps.
    limits: acl::Limits,
    /// Added to `now` for the SYN-cookie counter: wall-clock time when the members of a
    /// sync group share cookie secrets (0: the process clock).
    cookie_clock: u64,
    // Scratch space reused across calls (no allocation per packet).
    released: Vec<P>,
    /// A burst's per-frame state (`fastpath.rs`), kept from burst to burst rather than
    /// initialized for each (taken while a burst runs).
    burst: Option<Box<fastpath::BurstState>>,
    /// For each interface, where its packets' lookups look first (`fastpath::learn_sides`).
    lookup_sides: Vec<LookupSide>,
    /// Bursts each port has had, for `fastpath::learn_sides`.
    side_bursts: Vec<u32>,
    /// Workers an ICMP error handed over has already visited (`icmp_error::next_worker`);
    /// set while `handle_handoff` runs, 0 otherwise.
    handoff_hops: u8,
    failed: Vec<P>,
    expired: Vec<Session>,
    probes: Vec<Probe>,
    /// Everything IPv6 (`v6/`): kept apart so that the IPv4 path does not carry it.
    v6: Box<v6::V6State<P>>,
    /// IP fragments under way, both families (`frag.rs`).
    frag: Box<frag::FragTable<P>>,
    /// The smallest port MTU: bigger packets take the full path (`xmit_frag.rs`).
    max_fast_ip: usize,
}

impl<P: Frame> Pipeline<P> {
    pub fn new(
        cfg: PipelineConfig,
        snapshot: Arc<Snapshot>,
        counters: Arc<WorkerCounters>,
        now: Time,
    ) -> Self {
        let (ifaces, vlan_ifaces) = interfaces(&cfg.ports);
        let lookup_sides = vec![LookupSide::Both; ifaces.len()];
        let limits = acl::Limits::new(counters.services.len());
        // Per interface (the ports, then their VLANs): each may have IPv6 addresses.
        let macs: Vec<MacAddr> = ifaces.iter().map(|i| i.mac).collect();
        let v6 = Box::new(v6::V6State::new(
            &cfg.v6,
            &macs,
            v6::V6Params {
                worker: cfg.worker,
                workers: cfg.workers,
                max_sessions: cfg.max_sessions,
                hash_seed: cfg.cookie_secrets.table_seed() ^ 0x6666,
                local_port_range: cfg.local_port_range,
                neigh: cfg.neigh,
            },
        ));
        let mut p = Pipeline {
            worker: cfg.worker,
            workers: cfg.workers,
            nports: cfg.ports.len(),
            ifaces,
            vlan_ifaces,
            addrs: classify::AddrTable::default(),
            routes: cfg.routes,
            snapshot: Arc::new(Snapshot::default()),
            services: Vec::new(),
            sessions: SessionTable::with_advice(
                cfg.max_sessions,
                now,
                cfg.cookie_secrets.table_seed(),
                cfg.mem_advice,
            ),
            mem_advice: cfg.mem_advice,
            laddrs: LaddrPools::with_steering(cfg.worker, cfg.workers, cfg.local_port_range, cfg.steering),
            neigh: {
                let mut n = NeighTable::new(cfg.neigh);
                n.set_port_macs(macs.iter().map(|m| m.0).collect());
                n
            },
            timeouts: StateTimeouts::new(cfg.timeouts),
            persist: PersistTable::new(cfg.max_sessions),
            overload: Overload::new(counters.reals.len()),
            thresholds: vec![Thresholds::default(); counters.reals.len()],
            ext: HashMap::default(),
            syn_cfg: cfg.synproxy.handshake,
            syn_params: cfg.synproxy,
            auto_synproxy_until: Time::ZERO,
            rst_bucket: (cfg.synproxy.rst_per_sec, now),
            expire_nodest_conn: cfg.expire_nodest_conn,
            burst: Some(Box::default()),
            lookup_sides,
            side_bursts: vec![0; cfg.ports.len()],
            exception_path: cfg.exception_path,
            real_present: vec![false; counters.reals.len()],
            service_fold: crate::stats::ServiceFold::new(counters.reals.len()),
            real_hops: vec![xmit::RealHop::NONE; counters.reals.len()],
            nat: Default::default(),
            gue_ports: vec![0; counters.reals.len()],
            secrets: cfg.cookie_secrets,
            counters,
            syn_timers: std::collections::VecDeque::new(),
            proxy_timers: std::collections::VecDeque::new(),
            garps: Vec::new(),
            sync: None,
            limits,
            cookie_clock: 0,
            released: Vec::new(),
            handoff_hops: 0,
            failed: Vec::new(),
            expired: Vec::new(),
            probes: Vec::new(),
            v6,
            frag: Box::default(),
            max_fast_ip: cfg.ports.iter().map(|p| usize::from(p.mtu)).min().unwrap_or(1500),
        };
        p.set_snapshot(snapshot);
        p
    }

    pub fn worker(&self) -> u16 {
        self.worker
    }

    pub fn counters(&self) -> &Arc<WorkerCounters> {
        &self.counters
    }

    pub fn sessions(&self) -> &SessionTable {
        &self.sessions
    }

    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snapshot
    }

    /// Swaps in a new service snapshot. Scheduler state survives for services whose
    /// scheduler did not change. Sessions keep flowing: they carry everything their
    /// rewrite needs.
    pub fn set_snapshot(&mut self, snapshot: Arc<Snapshot>) {
        let mut old: HashMap<u32, ServiceState> = self.services.drain(..).map(|s| (s.slot, s)).collect();
        let worker = self.worker;
        // Slots whose service is another one now (its persistence templates go with it).
        let mut replaced = Vec::new();
        self.services = snapshot
            .services
            .iter()
            .map(|svc| match old.remove(&svc.slot) {
                Some(st)
                    if st.id == svc.id
                        && st.scheduler_name == svc.scheduler
                        && st.sched_flags == svc.sched_flags =>
                {
                    st
                }
                prev => {
                    if prev.is_some_and(|p| p.id != svc.id) {
                        replaced.push(svc.slot);
                    }
                    let params =
                        SchedParams { flags: svc.sched_flags, seed: worker as u64, ..Default::default() };
                    ServiceState {
                        slot: svc.slot,
                        id: svc.id,
                        scheduler_name: svc.scheduler.clone(),
                        sched_flags: svc.sched_flags,
                        scheduler: Scheduler::with_params(&svc.scheduler, &params).unwrap_or_else(|| {
                            Scheduler::new(crate::sched::DEFAULT).expect("default scheduler")
                        }),
                        laddr_cursor: worker as usize,
                        lips_by_iface: Vec::new(),
                        iface_cursors: Vec::new(),
                    }
                }
            })
            .collect();
        if self.ifaces.len() > self.nports {
            let pools: Vec<&[Ipv4Addr]> = self.ifaces.iter().map(|i| i.lips.as_slice()).collect();
            let routes = &self.routes;
            for (svc, st) in snapshot.services.iter().zip(self.services.iter_mut()) {
                st.lips_by_iface =
                    crate::laddr::lips_by_interface(&svc.local_addrs, &pools, |a| routes.connected_port(a));
                st.iface_cursors.resize(pools.len(), worker as usize);
            }
        }
        for slot in old.into_keys().chain(replaced) {
            self.persist.remove_service(slot);
        }
        // Thresholds: each worker enforces its share, on its own connection counts.
        let mut seen = vec![false; self.thresholds.len()];
        for svc in &snapshot.services {
            for r in &svc.reals {
                let slot = r.slot as usize;
                if slot >= self.thresholds.len() {
                    continue;
                }
                let share = r.thresholds.share(self.worker, self.workers, r.slot);
                self.thresholds[slot] = share;
                self.gue_ports[slot] = r.gue_port;
                seen[slot] = true;
                let c = &self.counters.reals[slot];
                self.overload.update(r.slot, c.active.get().wrapping_add(c.inactive.get()), share);
            }
        }
        if self.expire_nodest_conn && self.real_present != seen {
            // The fast path's checks of a session cover its real server's presence.
            self.neigh.invalidate_cached_hops();
        }
        self.real_present.clone_from(&seen);
        self.service_fold.assign_snapshot(&self.counters, &snapshot);
        for (slot, seen) in seen.into_iter().enumerate() {
            if !seen && self.thresholds[slot] != Thresholds::default() {
                self.thresholds[slot] = Thresholds::default();
                self.overload.clear(slot as u32);
            }
        }
        // Scheduler tables: Maglev's comes prebuilt in the snapshot; hash buckets and wrr
        // steps are rebuilt here, between bursts.
        for (svc, st) in snapshot.services.iter().zip(self.services.iter_mut()) {
            if let Some(t) = &svc.maglev {
                st.scheduler.install_maglev(t.clone());
            }
            st.scheduler.sync(&RealSet::new(&svc.reals, &self.counters.reals), snapshot.version);
        }
        self.limits.sync(&snapshot, self.worker, self.workers);
        let addrs = classify::AddrTable::new(&self.ifaces, &snapshot);
        if addrs != self.addrs {
            // The fast path trusts a cached next hop as proof that the full way forwarded
            // that direction with the addresses as they were (`fastpath::established`).
            self.neigh.invalidate_cached_hops();
        }
        self.addrs = addrs;
        self.nat = conn_direct::NatSteering::new(&snapshot);
        let gone = self.v6.set_snapshot(&snapshot.v6, self.worker, &self.counters.reals, snapshot.version);
        for slot in gone {
            self.persist.remove_service(slot);
        }
        self.snapshot = snapshot;
    }

    /// Swaps in a worker configuration from the control side (between bursts). The
    /// services are only rebuilt when they are not the ones already in place.
    pub fn set_config(&mut self, cfg: &crate::service::WorkerConfig) {
        if !Arc::ptr_eq(&self.snapshot, &cfg.services) {
            self.set_snapshot(cfg.services.clone());
        }
        self.set_timeouts(cfg.timeouts);
        self.set_cookie_secrets(cfg.cookie_secrets);
    }

    /// New SYN-cookie secrets (rotation keeps the previous key valid for a while).
    pub fn set_cookie_secrets(&mut self, s: crate::synproxy::CookieSecrets) {
        self.secrets = s;
    }

    pub fn set_timeouts(&mut self, t: Timeouts) {
        self.timeouts = StateTimeouts::new(t);
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts.knobs()
    }

    #[inline]
    pub(super) fn drop_pkt(&self, reason: DropReason, _pkt: P) {
        self.counters.count_drop(reason);
    }

    /// A frame the dataplane does not consume: to the port's kernel interface where
    /// there is one, else dropped and counted as `reason`.
    pub(super) fn to_kernel(&self, port: IfIndex, reason: DropReason, pkt: P, out: &mut Output<P>) {
        if self.exception_path {
            self.counters.event(crate::stats::Event::ToKernel);
            out.kernel.push((port, pkt));
        } else {
            self.drop_pkt(reason, pkt);
        }
    }

    /// Runs timers: session expiry and neighbour probes. Call it every millisecond or so.
    pub fn poll(&mut self, now: Time, alloc: &mut impl FrameAlloc<P>, out: &mut Output<P>) {
        let mut expired = std::mem::take(&mut self.expired);
        self.sessions.expire(now, self.neigh.generation(), &mut expired);
        for s in expired.drain(..) {
            self.retire(&s);
            self.counters.sessions_expired.inc();
        }
        self.expired = expired;
        self.persist.expire(now, 256);
        self.service_fold.fold(&self.counters);
        self.synproxy_timers(now, alloc, out);
        self.proxy_header_timers(now, alloc, out);
        if !self.garps.is_empty() {
            self.send_due_garps(now, alloc, out);
        }

        let mut probes = std::mem::take(&mut self.probes);
        let mut failed = std::mem::take(&mut self.failed);
        self.neigh.poll(now, &mut probes, &mut failed);
        for p in probes.drain(..) {
            self.send_arp_request(p.port, p.ip, alloc, out);
        }
        for pkt in failed.drain(..) {
            self.drop_pkt(DropReason::NeighTimeout, pkt);
        }
        self.probes = probes;
        self.failed = failed;
        self.poll_v6(now, alloc, out);
        if !self.frag.is_empty() {
            self.expire_fragments(now);
        }
    }

    /// A frame another worker parsed and handed over (`Output::redirect`): this worker
    /// owns its session.
    pub fn handle_handoff(
        &mut self,
        h: Handoff<P>,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        if h.info.dest == Destination::Ipv6 {
            // IPv6 is handed over unparsed (`v6/conn.rs`); an ICMPv6 error may be on its
            // way round the workers (`icmp_error::next_worker`).
            self.handoff_hops = h.info.ttl;
            self.handle_ipv6(h.info.port, h.pkt, now, alloc, out);
            self.handoff_hops = 0;
            return;
        }
        if h.info.key.proto == frag_v4::HANDOFF_FRAG {
            // An IPv4 fragment of a session of ours (`frag_v4`).
            return self.handle_ipv4(h.info.port, h.pkt, now, alloc, out);
        }
        if h.info.key.proto == icmp_error::PROTO_ICMP {
            // An ICMP error about a session another worker thought ours (`icmp_error`).
            self.handoff_hops = h.info.ttl;
            self.handle_icmp(h.info.port, h.pkt, now, alloc, out);
            self.handoff_hops = 0;
            return;
        }
        // Most hand-overs are plain packets of our established sessions (a reply the NIC
        // put on another worker's queue): the fast path, when the frame qualifies.
        let Err(pkt) = self.handoff_fast(h.pkt, h.info.port, now, out) else { return };
        let mut info = h.info;
        info.hash = self.sessions.hash(&info.key);
        self.dispatch(pkt, info, now, alloc, out)
    }

    /// A neighbour learned by another worker (on interface `port`).
    pub fn neigh_learned(&mut self, ip: Ipv4Addr, mac: Mac, port: IfIndex, now: Time, out: &mut Output<P>) {
        let mut released = std::mem::take(&mut self.released);
        self.neigh.learn(ip, mac, port, now, &mut released);
        self.flush_released(&mut released, mac, port, out);
        self.released = released;
    }

    pub(super) fn flush_released(&self, released: &mut Vec<P>, mac: Mac, port: IfIndex, out: &mut Output<P>) {
        for mut pkt in released.drain(..) {
            EthernetFrame::new_unchecked(pkt.data_mut()).set_dst_addr(MacAddr(mac));
            self.xmit(port, pkt, out);
        }
    }

    /// Every session, for `ipvsadm -Lnc`.
    pub fn dump_sessions(&self, now: Time) -> Vec<rvs_proto::ConnInfo> {
        let mut conns: Vec<rvs_proto::ConnInfo> = self
            .sessions
            .iter()
            .map(|s| rvs_proto::ConnInfo {
                protocol: if s.client.proto == PROTO_TCP {
                    rvs_proto::Protocol::Tcp
                } else {
                    rvs_proto::Protocol::Udp
                },
                expires_in: now.until(s.expires).as_secs() as u32,
                state: s.state.name().to_string(),
                client: s.client_addr().into(),
                virtual_addr: s.virtual_addr().into(),
                // NAT, DR and TUN sessions have no local address (ipvsadm shows none).
                local: if s.flags & FLAG_NO_LADDR == 0 {
                    s.local_addr().into()
                } else {
                    std::net::SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0).into()
                },
                real: s.real_addr().into(),
                worker: self.worker as u32,
            })
            .collect();
        self.dump_sessions_v6(now, &mut conns);
        conns
    }

    /// The source address to use on `port` towards `target`: the port address whose
    /// subnet holds it, else the port's first address.
    pub(super) fn source_addr_for(&self, port: IfIndex, target: Ipv4Addr) -> Option<Ipv4Addr> {
        let addrs = &self.ifaces[port as usize].addrs;
        addrs
            .iter()
            .find(|&&(a, len)| crate::route::Prefix::new(a, len).is_some_and(|p| p.contains(target)))
            .or(addrs.first())
            .map(|&(a, _)| a)
    }

    /// Whether we answer ARP for `ip` on `port`: the port's own addresses, and the
    /// VIPs/LIPs we own inside the port's connected subnets.
    pub(super) fn answers_arp_for(&self, ip: Ipv4Addr, port: IfIndex) -> bool {
        match self.addrs.get(ip) {
            Destination::Own(p) => p == port,
            Destination::Vip | Destination::Lip => {
                self.routes.connected_port(ip) == Some(port) && self.snapshot.owns(ip)
            }
            Destination::Former | Destination::Ipv6 => false,
        }
    }
}

const TCP_FIN: u8 = 0x01;

/// One logical interface: a port untagged, or one of its VLANs.
#[derive(Debug, Clone)]
pub(super) struct Iface {
    /// The port it is on.
    port: PortIndex,
    /// 802.1Q VLAN id; 0 for the port's untagged frames.
    vlan: u16,
    mac: MacAddr,
    addrs: Vec<(Ipv4Addr, u8)>,
    /// The VLAN's local-address pool.
    lips: Vec<Ipv4Addr>,
    /// The port's MTU (a tag does not take from it).
    mtu: u16,
}

/// The interfaces of `ports` in `IfIndex` order, and per port its (VLAN id, interface)
/// pairs sorted by id.
fn interfaces(ports: &[PortInfo]) -> (Vec<Iface>, Vec<Vec<(u16, IfIndex)>>) {
    let mut ifaces: Vec<Iface> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| Iface {
            port: i as PortIndex,
            vlan: 0,
            mac: p.mac,
            addrs: p.addrs.clone(),
            lips: Vec::new(),
            mtu: p.mtu,
        })
        .collect();
    let mut by_port = vec![Vec::new(); ports.len()];
    for (i, p) in ports.iter().enumerate() {
        for v in &p.vlans {
            by_port[i].push((v.id, ifaces.len() as IfIndex));
            ifaces.push(Iface {
                port: i as PortIndex,
                vlan: v.id,
                mac: p.mac,
                addrs: v.addrs.clone(),
                lips: v.lips.clone(),
                mtu: p.mtu,
            });
        }
        by_port[i].sort_unstable();
    }
    (ifaces, by_port)
}

const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;

mod acl;
mod classify;
mod cluster;
mod conn_direct;
mod conn_new;
mod fastpath;
mod frag;
mod frag_v4;
mod icmp_error;
mod proxyproto;
mod sync;
mod synproxy;
mod xmit;
mod xmit_dr;
mod xmit_frag;
mod xmit_tun;

pub use sync::{InstallError, Installed};

use classify::Destination;

#[cfg(test)]
mod acl_tests;
#[cfg(test)]
mod arp_tests;
#[cfg(test)]
mod catch_all_tests;
#[cfg(test)]
mod classify_tests;
#[cfg(test)]
mod client_addr_tests;
#[cfg(test)]
mod cluster_sim_tests;
#[cfg(test)]
mod direct_sync_tests;
#[cfg(test)]
mod expiry_tests;
#[cfg(test)]
mod ext_tests;
#[cfg(test)]
mod fast_path_tests;
#[cfg(test)]
mod frag_tests;
#[cfg(test)]
mod golden;
#[cfg(test)]
mod icmp_tests;
#[cfg(test)]
mod local_port_tests;
#[cfg(test)]
mod methods_tests;
#[cfg(test)]
mod nat_tests;
#[cfg(test)]
mod own_addr_tests;
#[cfg(test)]
mod ownership_tests;
#[cfg(test)]
mod pressure_tests;
#[cfg(test)]
mod reload_tests;
#[cfg(test)]
mod sched_tests;
#[cfg(test)]
mod sync_tests;
#[cfg(test)]
mod synproxy_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vlan_tests;
