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

use hashbrown::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::frame::{Frame, FrameAlloc};
use crate::laddr::{owner_of_port, LaddrError, LaddrPools};
use crate::nat::{self, Endpoints};
use crate::neigh::{Hold, Mac, NeighParams, NeighTable, Probe};
use crate::persist::{PersistKey, PersistTable};
use crate::route::{PortIndex, RouteTable};
use crate::sched::{Overload, RealSet, SchedKey, SchedParams, Scheduler, Thresholds};
use crate::service::{LocalKind, Snapshot};
use crate::session::{
    Direction, FlowKey, Session, SessionId, SessionState, SessionTable, StateTimeouts, FLAG_EXT, FLAG_TOA,
    FLAG_TOA_PENDING, PROTO_TCP, PROTO_UDP,
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

/// One DPDK port as the pipeline sees it.
#[derive(Debug, Clone)]
pub struct PortInfo {
    pub mac: MacAddr,
    /// The port's own addresses with their prefix lengths.
    pub addrs: Vec<(Ipv4Addr, u8)>,
}

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub worker: u16,
    pub workers: u16,
    pub ports: Vec<PortInfo>,
    pub routes: RouteTable,
    pub max_sessions: usize,
    pub local_port_range: (u16, u16),
    pub timeouts: Timeouts,
    pub neigh: NeighParams,
    /// SYN-cookie secrets, the same on every worker so any of them validates any cookie.
    pub cookie_secrets: crate::synproxy::CookieSecrets,
    pub synproxy: SynProxyParams,
    /// End sessions of removed real servers at their next packet (IPVS expire_nodest_conn).
    pub expire_nodest_conn: bool,
    /// Each port has a kernel interface (the exception path): frames the dataplane does
    /// not consume go to `Output::kernel` instead of being dropped.
    pub exception_path: bool,
}

/// SYN-proxy settings of the dataplane (the `[synproxy]` config section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynProxyParams {
    /// What our SYN/ACKs offer (MSS, window scale, SACK, timestamps, TTL).
    pub handshake: crate::synproxy::SynProxyConfig,
    /// Client segments kept while the real server's handshake is under way.
    pub max_held: usize,
    /// The server SYN is sent again (at most this often) when the client retransmits
    /// before the server answered; then the client gets a RST.
    pub syn_retries: u8,
    /// RSTs per second a worker sends for ACKs with bad cookies; beyond that an ACK storm
    /// is dropped in silence (counted), so rvsd does not become a reflector.
    pub rst_per_sec: u32,
}

impl Default for SynProxyParams {
    fn default() -> Self {
        SynProxyParams {
            handshake: crate::synproxy::SynProxyConfig::default(),
            max_held: 4,
            syn_retries: 3,
            rst_per_sec: 1000,
        }
    }
}

/// What one call of `handle`/`poll` produced. Vectors are reused across calls.
pub struct Output<P> {
    /// Frames to transmit, per port.
    pub tx: Vec<Vec<P>>,
    /// Frames for other workers, per worker: they own the sessions.
    pub redirect: Vec<Vec<P>>,
    /// Neighbour entries this worker learned, to share with the other workers.
    pub learned: Vec<(Ipv4Addr, Mac, PortIndex)>,
    /// Frames for the kernel interface of the port they came in on (exception path):
    /// traffic to the host's own addresses, routing protocols, multicast, ARP that is not
    /// ours. The edge hands them to the exception thread, which rate-limits them.
    pub kernel: Vec<(PortIndex, P)>,
}

impl<P> Output<P> {
    pub fn new(ports: usize, workers: usize) -> Self {
        Output {
            tx: (0..ports).map(|_| Vec::with_capacity(64)).collect(),
            redirect: (0..workers).map(|_| Vec::new()).collect(),
            learned: Vec::new(),
            kernel: Vec::new(),
        }
    }
}

/// Per-worker state of one service of the current snapshot.
struct ServiceState {
    slot: u32,
    scheduler_name: String,
    sched_flags: crate::sched::SchedFlags,
    scheduler: Scheduler,
    laddr_cursor: usize,
}

/// The facts of a received TCP/UDP packet that the session logic needs.
#[derive(Debug, Clone, Copy)]
struct L4Info {
    /// The port the packet came in on.
    port: PortIndex,
    key: FlowKey,
    tcp_flags: u8,
    ttl: u8,
    /// Bytes of IP packet (what IPVS counts).
    ip_len: usize,
}

pub struct Pipeline<P> {
    worker: u16,
    workers: u16,
    ports: Vec<PortInfo>,
    /// Our own addresses → the port that carries them.
    own: HashMap<Ipv4Addr, PortIndex, ahash::RandomState>,
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
    secrets: crate::synproxy::CookieSecrets,
    /// Token bucket of RSTs for bad cookies: (tokens, last refill).
    rst_bucket: (u32, Time),
    expire_nodest_conn: bool,
    exception_path: bool,
    /// Real-server slots present in the current snapshot.
    real_present: Vec<bool>,
    // Scratch space reused across calls (no allocation per packet).
    released: Vec<P>,
    failed: Vec<P>,
    expired: Vec<Session>,
    probes: Vec<Probe>,
}

impl<P: Frame> Pipeline<P> {
    pub fn new(
        cfg: PipelineConfig,
        snapshot: Arc<Snapshot>,
        counters: Arc<WorkerCounters>,
        now: Time,
    ) -> Self {
        let mut own = HashMap::default();
        for (i, p) in cfg.ports.iter().enumerate() {
            for &(a, _) in &p.addrs {
                own.insert(a, i as PortIndex);
            }
        }
        let mut p = Pipeline {
            worker: cfg.worker,
            workers: cfg.workers,
            ports: cfg.ports,
            own,
            routes: cfg.routes,
            snapshot: Arc::new(Snapshot::default()),
            services: Vec::new(),
            sessions: SessionTable::new(cfg.max_sessions, now),
            laddrs: LaddrPools::new(cfg.worker, cfg.workers, cfg.local_port_range),
            neigh: NeighTable::new(cfg.neigh),
            timeouts: StateTimeouts::new(cfg.timeouts),
            persist: PersistTable::new(cfg.max_sessions),
            overload: Overload::new(counters.reals.len()),
            thresholds: vec![Thresholds::default(); counters.reals.len()],
            ext: HashMap::default(),
            syn_cfg: cfg.synproxy.handshake,
            syn_params: cfg.synproxy,
            rst_bucket: (cfg.synproxy.rst_per_sec, now),
            expire_nodest_conn: cfg.expire_nodest_conn,
            exception_path: cfg.exception_path,
            real_present: vec![false; counters.reals.len()],
            secrets: cfg.cookie_secrets,
            counters,
            released: Vec::new(),
            failed: Vec::new(),
            expired: Vec::new(),
            probes: Vec::new(),
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
        self.services = snapshot
            .services
            .iter()
            .map(|svc| match old.remove(&svc.slot) {
                Some(st) if st.scheduler_name == svc.scheduler && st.sched_flags == svc.sched_flags => st,
                _ => {
                    let params =
                        SchedParams { flags: svc.sched_flags, seed: worker as u64, ..Default::default() };
                    ServiceState {
                        slot: svc.slot,
                        scheduler_name: svc.scheduler.clone(),
                        sched_flags: svc.sched_flags,
                        scheduler: Scheduler::with_params(&svc.scheduler, &params).unwrap_or_else(|| {
                            Scheduler::new(crate::sched::DEFAULT).expect("default scheduler")
                        }),
                        laddr_cursor: worker as usize,
                    }
                }
            })
            .collect();
        for (slot, _) in old {
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
                let share = r.thresholds.per_worker(self.workers);
                self.thresholds[slot] = share;
                seen[slot] = true;
                let c = &self.counters.reals[slot];
                self.overload.update(r.slot, c.active.get().wrapping_add(c.inactive.get()), share);
            }
        }
        self.real_present.clone_from(&seen);
        for (slot, seen) in seen.into_iter().enumerate() {
            if !seen && self.thresholds[slot] != Thresholds::default() {
                self.thresholds[slot] = Thresholds::default();
                self.overload.clear(slot as u32);
            }
        }
        // Rebuild scheduler tables (Maglev, hash buckets) here, off the packet path.
        for (svc, st) in snapshot.services.iter().zip(self.services.iter_mut()) {
            st.scheduler.sync(&RealSet::new(&svc.reals, &self.counters.reals), snapshot.version);
        }
        self.snapshot = snapshot;
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
    fn drop_pkt(&self, reason: DropReason, _pkt: P) {
        self.counters.count_drop(reason);
    }

    /// A frame the dataplane does not consume: to the port's kernel interface where
    /// there is one, else dropped and counted as `reason`.
    fn to_kernel(&self, port: PortIndex, reason: DropReason, pkt: P, out: &mut Output<P>) {
        if self.exception_path {
            self.counters.event(crate::stats::Event::ToKernel);
            out.kernel.push((port, pkt));
        } else {
            self.drop_pkt(reason, pkt);
        }
    }

    /// Handles one received frame from `port`.
    pub fn handle(
        &mut self,
        port: PortIndex,
        pkt: P,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let data = pkt.data();
        let Ok(eth) = EthernetFrame::new_checked(data) else {
            return self.drop_pkt(DropReason::Truncated, pkt);
        };
        let dst = eth.dst_addr();
        if dst != self.ports[port as usize].mac && !dst.is_broadcast() {
            // Multicast (OSPF, VRRP, IPv6 ND) is the kernel's; unicast to another MAC is
            // nobody's.
            if dst.is_multicast() {
                return self.to_kernel(port, DropReason::NotForUs, pkt, out);
            }
            return self.drop_pkt(DropReason::NotForUs, pkt);
        }
        // 802.1Q tags will be stripped here (or by the NIC) when VLANs arrive.
        match eth.ethertype() {
            EtherType::IPV4 => self.handle_ipv4(port, pkt, now, alloc, out),
            EtherType::ARP => self.handle_arp(port, pkt, now, alloc, out),
            _ => self.to_kernel(port, DropReason::UnknownEthertype, pkt, out),
        }
    }

    fn handle_ipv4(
        &mut self,
        port: PortIndex,
        pkt: P,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let data = &pkt.data()[ETH_LEN..];
        let Ok(ip) = Ipv4Packet::new_checked(data) else {
            // Too short for any IPv4 header is truncation; anything else is a bad header.
            let reason = if data.len() < 20 { DropReason::Truncated } else { DropReason::BadIpHeader };
            return self.drop_pkt(reason, pkt);
        };
        let ip_ok = match pkt.ip_checksum_ok() {
            Some(ok) => ok,
            None => ip.verify_checksum(),
        };
        if !ip_ok {
            return self.drop_pkt(DropReason::BadIpChecksum, pkt);
        }
        if ip.is_fragment() {
            return self.drop_pkt(DropReason::Fragment, pkt);
        }
        let dst = ip.dst_addr();
        let kind = if self.own.contains_key(&dst) { None } else { Some(self.snapshot.local_kind(dst)) };
        let kind = match kind {
            None => Destination::Own,
            Some(Some(LocalKind::Vip)) => Destination::Vip,
            Some(Some(LocalKind::Lip)) => Destination::Lip,
            // Not (or no longer) configured: sessions of a removed service or local
            // address still flow until they expire.
            Some(None) => Destination::Former,
        };
        let proto = ip.protocol();
        if proto == IpProtocol::ICMP {
            if kind == Destination::Former {
                // Not ours: maybe the kernel's own address.
                return self.to_kernel(port, DropReason::NotLocal, pkt, out);
            }
            return self.handle_icmp(port, pkt, out);
        }
        if proto != IpProtocol::TCP && proto != IpProtocol::UDP {
            // OSPF, VRRP, GRE...: the kernel's business.
            return self.to_kernel(port, DropReason::UnsupportedProtocol, pkt, out);
        }
        if kind == Destination::Former && self.sessions.is_empty() {
            return self.to_kernel(port, DropReason::NotLocal, pkt, out);
        }
        if kind == Destination::Own {
            // ssh, BGP and friends to our own addresses: the host's.
            return self.to_kernel(port, DropReason::ToHost, pkt, out);
        }
        let Some(mut info) = self.parse_l4(&pkt, &ip) else {
            return;
        };
        info.port = port;
        match kind {
            Destination::Vip => self.client_packet(pkt, info, now, alloc, out),
            Destination::Lip => self.server_packet(pkt, info, now, alloc, out),
            Destination::Former => {
                if let Some(id) = self.sessions.find_client(&info.key) {
                    self.forward(id, Direction::FromClient, pkt, info, now, alloc, out)
                } else if let Some(id) = self.sessions.find_reply(&info.key) {
                    self.forward(id, Direction::FromServer, pkt, info, now, alloc, out)
                } else {
                    self.to_kernel(port, DropReason::NotLocal, pkt, out)
                }
            }
            Destination::Own => self.drop_pkt(DropReason::ToHost, pkt),
        }
    }

    /// Validates the TCP/UDP header and checksum; counts and returns None when bad.
    fn parse_l4(&self, pkt: &P, ip: &Ipv4Packet<&[u8]>) -> Option<L4Info> {
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let verify = pkt.l4_checksum_ok();
        let (sport, dport, flags, proto, csum_ok) = if ip.protocol() == IpProtocol::TCP {
            let Ok(tcp) = TcpPacket::new_checked(ip.payload()) else {
                self.counters.count_drop(DropReason::BadL4Header);
                return None;
            };
            let ok = verify.unwrap_or_else(|| tcp.verify_checksum(src, dst));
            (tcp.src_port(), tcp.dst_port(), tcp.flags().bits(), PROTO_TCP, ok)
        } else {
            let Ok(udp) = UdpPacket::new_checked(ip.payload()) else {
                self.counters.count_drop(DropReason::BadL4Header);
                return None;
            };
            let ok = verify.unwrap_or_else(|| udp.verify_checksum(src, dst));
            (udp.src_port(), udp.dst_port(), 0, PROTO_UDP, ok)
        };
        if !csum_ok {
            self.counters.count_drop(DropReason::BadL4Checksum);
            return None;
        }
        Some(L4Info {
            port: 0,
            key: FlowKey { src, dst, sport, dport, proto },
            tcp_flags: flags,
            ttl: ip.ttl(),
            ip_len: ip.total_len() as usize,
        })
    }

    fn client_packet(
        &mut self,
        pkt: P,
        info: L4Info,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let is_syn = info.key.proto == PROTO_TCP && info.tcp_flags & (TCP_SYN | TCP_ACK | TCP_RST) == TCP_SYN;
        if let Some(id) = self.sessions.find_client(&info.key) {
            if !(is_syn && self.sessions.get(id).state.allows_reuse()) {
                return self.forward(id, Direction::FromClient, pkt, info, now, alloc, out);
            }
            // A new connection on the ports of one that is closing: start afresh.
            let old = self.sessions.remove(id);
            self.retire(&old);
        }
        if info.key.proto == PROTO_TCP {
            if let Some(svc_idx) = self.snapshot.find(&(info.key.proto, info.key.dst, info.key.dport)) {
                if self.snapshot.services[svc_idx as usize].syn_proxy {
                    return self.synproxy_no_session(svc_idx as usize, pkt, info, is_syn, now, alloc, out);
                }
            }
        }
        if info.key.proto == PROTO_TCP && !is_syn {
            return self.drop_pkt(DropReason::NoSession, pkt);
        }
        if info.ttl <= 1 {
            return self.drop_pkt(DropReason::TtlExceeded, pkt);
        }
        let Some(svc_idx) = self.snapshot.find(&(info.key.proto, info.key.dst, info.key.dport)) else {
            return self.drop_pkt(DropReason::NoService, pkt);
        };
        match self.new_session(svc_idx as usize, &info, now) {
            Ok(id) => {
                self.attach_proxy_header(id, svc_idx as usize, &pkt);
                self.forward(id, Direction::FromClient, pkt, info, now, alloc, out)
            }
            Err(reason) => self.drop_pkt(reason, pkt),
        }
    }

    /// Schedules a real server, takes a local port and creates the session.
    fn new_session(&mut self, svc_idx: usize, info: &L4Info, now: Time) -> Result<SessionId, DropReason> {
        let svc = &self.snapshot.services[svc_idx];
        let st = &mut self.services[svc_idx];
        let view = RealSet::new(&svc.reals, &self.counters.reals).with_overload(&self.overload);
        // No-op unless the snapshot changed since the last call (set_snapshot synced it).
        st.scheduler.sync(&view, self.snapshot.version);
        let key = SchedKey::v4(info.key.src, info.key.sport, info.key.dst, info.key.dport);
        let (idx, persist_client) = match &svc.persistence {
            None => (st.scheduler.pick(&view, &key, now).ok_or(DropReason::NoRealServer)?, None),
            Some(p) => {
                let pk = PersistKey::new(svc.slot, info.key.src.into(), &p.granularity);
                // A client new to this worker is placed by rendezvous hashing of its
                // (masked) address, so every worker, and every cluster member, pins it
                // to the same real server without sharing templates.
                let (i, _hit) = self
                    .persist
                    .pick(pk, &view, now, p, || crate::persist::rendezvous(&view, &pk))
                    .ok_or(DropReason::NoRealServer)?;
                self.persist.attach(&pk);
                let client = match pk.client {
                    std::net::IpAddr::V4(a) => Some(a),
                    std::net::IpAddr::V6(_) => None,
                };
                (i, client)
            }
        };
        let real = &svc.reals[idx];
        let (lip, lport) = match self.laddrs.alloc(&svc.local_addrs, &mut st.laddr_cursor) {
            Ok(l) => l,
            Err(LaddrError::NoLocalAddress | LaddrError::Exhausted) => {
                if let Some(c) = persist_client {
                    self.persist.detach(&PersistKey { service: svc.slot, client: c.into() });
                }
                return Err(DropReason::NoLocalAddr);
            }
        };
        let state = if info.key.proto == PROTO_TCP { SessionState::SynRecv } else { SessionState::Udp };
        let session = Session {
            client: info.key,
            reply: FlowKey {
                src: *real.addr.ip(),
                dst: lip,
                sport: real.addr.port(),
                dport: lport,
                proto: info.key.proto,
            },
            state,
            service_slot: svc.slot as u16,
            real_slot: real.slot,
            expires: now + self.timeouts.get(state),
            persist_client: persist_client.into(),
            flags: if svc.toa { FLAG_TOA | FLAG_TOA_PENDING } else { 0 },
        };
        let id = match self.sessions.insert(session) {
            Ok(id) => id,
            Err(_) => {
                self.laddrs.free(lip, lport);
                if let Some(c) = persist_client {
                    self.persist.detach(&PersistKey { service: svc.slot, client: c.into() });
                }
                return Err(DropReason::SessionTableFull);
            }
        };
        let c = &self.counters;
        c.sessions_created.inc();
        c.sessions_live.set(self.sessions.len() as u64);
        if let Some(s) = c.services.get(svc.slot as usize) {
            s.conns.inc();
        }
        if let Some(r) = c.reals.get(real.slot as usize) {
            r.traffic.conns.inc();
            r.inactive.inc();
            let conns = r.active.get().wrapping_add(r.inactive.get());
            self.overload.on_bind(real.slot, conns, self.thresholds[real.slot as usize]);
        }
        Ok(id)
    }

    fn server_packet(
        &mut self,
        pkt: P,
        info: L4Info,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        if let Some(id) = self.sessions.find_reply(&info.key) {
            return self.forward(id, Direction::FromServer, pkt, info, now, alloc, out);
        }
        let owner = owner_of_port(info.key.dport, self.workers);
        if owner != self.worker {
            self.counters.redirected_out.inc();
            out.redirect[owner as usize].push(pkt);
            return;
        }
        self.drop_pkt(DropReason::NoSession, pkt)
    }

    /// Rewrites a packet of a session and sends it on.
    #[allow(clippy::too_many_arguments)]
    fn forward(
        &mut self,
        id: SessionId,
        dir: Direction,
        mut pkt: P,
        info: L4Info,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        if info.ttl <= 1 {
            return self.drop_pkt(DropReason::TtlExceeded, pkt);
        }
        if self.expire_nodest_conn
            && !self.real_present.get(self.sessions.get(id).real_slot as usize).copied().unwrap_or(true)
        {
            return self.expire_nodest(id, dir, pkt, info, now, alloc, out);
        }
        let mut info = info;
        if info.key.proto == PROTO_TCP
            && self.sessions.get(id).flags & (FLAG_EXT | FLAG_TOA | FLAG_TOA_PENDING) != 0
        {
            match self.tcp_extensions(id, dir, pkt, &mut info, now, alloc, out) {
                Some(p) => pkt = p,
                None => return,
            }
        }
        let timeouts = self.timeouts;
        let s = self.sessions.get_mut(id);
        if info.key.proto == PROTO_TCP {
            let next = s.state.next_tcp(dir, info.tcp_flags);
            if next != s.state {
                if let Some(r) = self.counters.reals.get(s.real_slot as usize) {
                    match (s.state.is_active(), next.is_active()) {
                        (false, true) => {
                            r.inactive.sub(1);
                            r.active.inc();
                        }
                        (true, false) => {
                            r.active.sub(1);
                            r.inactive.inc();
                        }
                        _ => {}
                    }
                }
                s.state = next;
            }
        }
        s.expires = now + timeouts.get(s.state);
        let (to, inbound) = (Endpoints::towards(s, dir), dir == Direction::FromClient);
        let (svc_slot, real_slot) = (s.service_slot as usize, s.real_slot as usize);
        self.sessions.rearm(id);
        let bytes = info.ip_len as u64;
        let c = &self.counters;
        if let (Some(sv), Some(r)) = (c.services.get(svc_slot), c.reals.get(real_slot)) {
            if inbound {
                sv.in_pkts.inc();
                sv.in_bytes.add(bytes);
                r.traffic.in_pkts.inc();
                r.traffic.in_bytes.add(bytes);
            } else {
                sv.out_pkts.inc();
                sv.out_bytes.add(bytes);
                r.traffic.out_pkts.inc();
                r.traffic.out_bytes.add(bytes);
            }
        }
        let end = ETH_LEN + info.ip_len;
        nat::rewrite(&mut pkt.data_mut()[ETH_LEN..end], to);
        self.send_ip(pkt, to.dst, now, alloc, out);
    }

    /// Routes an IPv4 frame (IP header already final) and fills in its Ethernet header,
    /// or parks it until the next hop is resolved.
    fn send_ip(
        &mut self,
        mut pkt: P,
        dst: Ipv4Addr,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let Some(hop) = self.routes.lookup(dst) else {
            return self.drop_pkt(DropReason::NoRoute, pkt);
        };
        let port = hop.port as usize;
        {
            let mut eth = EthernetFrame::new_unchecked(pkt.data_mut());
            eth.set_src_addr(self.ports[port].mac);
            eth.set_ethertype(EtherType::IPV4);
        }
        if let Some(mac) = self.neigh.lookup(hop.next_hop) {
            EthernetFrame::new_unchecked(pkt.data_mut()).set_dst_addr(MacAddr(mac));
            out.tx[port].push(pkt);
            return;
        }
        match self.neigh.hold(hop.next_hop, hop.port, pkt, now) {
            Hold::Queued => {}
            Hold::QueuedSendRequest => self.send_arp_request(hop.port, hop.next_hop, alloc, out),
            Hold::Full(pkt) => self.drop_pkt(DropReason::NeighQueueFull, pkt),
        }
    }

    /// Undoes what a session holds: its local port and its gauges.
    fn retire(&mut self, s: &Session) {
        self.laddrs.free(s.reply.dst, s.reply.dport);
        let c = &self.counters;
        if let Some(r) = c.reals.get(s.real_slot as usize) {
            if s.state.is_active() {
                r.active.sub(1);
            } else {
                r.inactive.sub(1);
            }
            let conns = r.active.get().wrapping_add(r.inactive.get());
            self.overload.on_unbind(s.real_slot, conns, self.thresholds[s.real_slot as usize]);
        }
        if let Some(client) = s.persist_client.get() {
            self.persist.detach(&PersistKey { service: s.service_slot as u32, client: client.into() });
        }
        if s.flags & FLAG_EXT != 0 {
            self.ext.remove(&s.client); // frees any held segments
        }
        c.sessions_live.set(self.sessions.len() as u64);
    }

    /// Runs timers: session expiry and neighbour probes. Call it every millisecond or so.
    pub fn poll(&mut self, now: Time, alloc: &mut impl FrameAlloc<P>, out: &mut Output<P>) {
        let mut expired = std::mem::take(&mut self.expired);
        self.sessions.expire(now, &mut expired);
        for s in expired.drain(..) {
            self.retire(&s);
            self.counters.sessions_expired.inc();
        }
        self.expired = expired;
        self.persist.expire(now, 256);

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
    }

    /// A neighbour learned by another worker.
    pub fn neigh_learned(&mut self, ip: Ipv4Addr, mac: Mac, port: PortIndex, now: Time, out: &mut Output<P>) {
        let mut released = std::mem::take(&mut self.released);
        self.neigh.learn(ip, mac, port, now, &mut released);
        self.flush_released(&mut released, mac, port, out);
        self.released = released;
    }

    fn flush_released(&self, released: &mut Vec<P>, mac: Mac, port: PortIndex, out: &mut Output<P>) {
        for mut pkt in released.drain(..) {
            EthernetFrame::new_unchecked(pkt.data_mut()).set_dst_addr(MacAddr(mac));
            out.tx[port as usize].push(pkt);
        }
    }

    /// Every session, for `ipvsadm -Lnc`.
    pub fn dump_sessions(&self, now: Time) -> Vec<rvs_proto::ConnInfo> {
        self.sessions
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
                local: s.local_addr().into(),
                real: s.real_addr().into(),
                worker: self.worker as u32,
            })
            .collect()
    }

    /// The source address to use on `port` towards `target`: the port address whose
    /// subnet holds it, else the port's first address.
    fn source_addr_for(&self, port: PortIndex, target: Ipv4Addr) -> Option<Ipv4Addr> {
        let addrs = &self.ports[port as usize].addrs;
        addrs
            .iter()
            .find(|&&(a, len)| crate::route::Prefix::new(a, len).is_some_and(|p| p.contains(target)))
            .or(addrs.first())
            .map(|&(a, _)| a)
    }

    /// Whether we answer ARP for `ip` on `port`: the port's own addresses, and VIPs/LIPs
    /// inside the port's connected subnets.
    fn answers_arp_for(&self, ip: Ipv4Addr, port: PortIndex) -> bool {
        match self.own.get(&ip) {
            Some(&p) => p == port,
            None => self.snapshot.local_kind(ip).is_some() && self.routes.connected_port(ip) == Some(port),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Destination {
    Own,
    Vip,
    Lip,
    /// None of ours now; maybe a VIP or LIP that was removed while sessions live.
    Former,
}

const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_ACK: u8 = 0x10;

#[cfg(test)]
mod golden;
#[cfg(test)]
mod tests;
