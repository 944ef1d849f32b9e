//! IPv6 for the director's own addresses: the ports' IPv6 addresses (and the link-local
//! address each port's MAC implies), Neighbor Discovery for them and for next hops, echo,
//! and IPv6 routes.
//!
//! Everything IPv6 lives here, reached by one branch on the ethertype in `classify.rs`:
//! the IPv4 fast path neither sees nor pays for it. Router Advertisements configure
//! nothing: with an exception path they go to the port's kernel interface (where the host
//! may use them), otherwise they are dropped and counted (`icmp_ignored`).

mod conn;
mod direct;
mod ext;
mod frag;
mod icmp_error;
mod nat64;
mod nd;
mod own;
mod sync;

use hashbrown::HashMap;
use std::net::Ipv6Addr;

use super::{Output, Pipeline, ETH_LEN};
use crate::frame::{Frame, FrameAlloc};
use crate::neigh::{Hold, Mac, NeighParams, NeighTable, Probe};
use crate::route::v6::{Prefix6, Route6, RouteTable6};
use crate::route::IfIndex;
use crate::service::{LocalKind, Snapshot6};
use crate::session::v6::{PortPool6, Session6, SessionTable6};
use crate::stats::DropReason;
use crate::stats::RealCounters;
use crate::time::Time;
use crate::wire::ethernet::EthernetFrame;
use crate::wire::icmpv6;
use crate::wire::ipv6::{self, Ipv6Packet, NH_ICMPV6};
use crate::wire::{EtherType, MacAddr, WireError};

/// The IPv6 side of a pipeline's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V6Config {
    /// Per interface (by index: the ports untagged, then their VLANs), its IPv6 addresses
    /// with prefix lengths. An interface without any takes no IPv6: its IPv6 frames go to
    /// the kernel or are dropped as before.
    pub addrs: Vec<Vec<(Ipv6Addr, u8)>>,
    /// Static IPv6 routes; connected ones come from `addrs`.
    pub routes: Vec<Route6>,
}

impl V6Config {
    pub fn is_empty(&self) -> bool {
        self.addrs.iter().all(|a| a.is_empty())
    }
}

/// What an IPv6 destination is to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dest6 {
    /// One of a port's own addresses (its global ones and its link-local).
    Own(IfIndex),
    Vip,
    Lip,
}

/// A worker's IPv6 state.
pub(super) struct V6State<P> {
    enabled: bool,
    /// Per port: its addresses, the link-local one last.
    own: Vec<Vec<(Ipv6Addr, u8)>>,
    addrs: HashMap<Ipv6Addr, Dest6, ahash::RandomState>,
    routes: RouteTable6,
    neigh: NeighTable<P, Ipv6Addr>,
    probes: Vec<Probe<Ipv6Addr>>,
    failed: Vec<P>,
    released: Vec<P>,
    /// The ports' own addresses alone (`addrs` adds the VIPs and LIPs of the snapshot).
    own_addrs: HashMap<Ipv6Addr, Dest6, ahash::RandomState>,
    services: Vec<conn::Svc6State>,
    /// The NAT real servers of the snapshot and their services (`direct.rs`).
    nat: direct::NatSteering6,
    sessions: SessionTable6,
    ports: PortPool6,
    expired: Vec<Session6>,
    /// The next IPv4 identification of NAT64 packets (steps by the worker count, so the
    /// workers never share one).
    ident4: u16,
    /// Unsolicited advertisements still to send for addresses taken over (`own.rs`).
    unsolicited: Vec<own::Unsolicited>,
}

/// What sizes a worker's IPv6 state.
pub(super) struct V6Params {
    pub worker: u16,
    pub workers: u16,
    pub max_sessions: usize,
    /// Keys the session table's flow hash (secret: `CookieSecrets::table_seed`).
    pub hash_seed: u64,
    pub local_port_range: (u16, u16),
    pub neigh: NeighParams,
}

/// Sessions the expiry sweep looks at per `poll`.
const EXPIRE_BUDGET: usize = 1024;

impl<P> V6State<P> {
    pub(super) fn new(cfg: &V6Config, macs: &[MacAddr], p: V6Params) -> Self {
        let enabled = !cfg.is_empty();
        let mut own = Vec::new();
        let mut addrs: HashMap<Ipv6Addr, Dest6, ahash::RandomState> = HashMap::default();
        let mut routes = RouteTable6::default();
        for (i, mac) in macs.iter().enumerate() {
            let mut mine: Vec<(Ipv6Addr, u8)> = cfg.addrs.get(i).cloned().unwrap_or_default();
            if !mine.is_empty() {
                mine.push((ipv6::link_local(*mac), 64));
            }
            for &(a, len) in &mine {
                addrs.insert(a, Dest6::Own(i as IfIndex));
                if !a.is_unicast_link_local() {
                    if let Some(prefix) = Prefix6::new(a, len) {
                        routes.add(Route6 { prefix, port: i as IfIndex, gateway: None });
                    }
                }
            }
            own.push(mine);
        }
        for r in &cfg.routes {
            routes.add(*r);
        }
        V6State {
            enabled,
            own,
            routes,
            neigh: NeighTable::new(p.neigh),
            probes: Vec::new(),
            failed: Vec::new(),
            released: Vec::new(),
            own_addrs: addrs.clone(),
            addrs,
            services: Vec::new(),
            nat: direct::NatSteering6::default(),
            sessions: SessionTable6::new(p.max_sessions, p.hash_seed),
            ports: PortPool6::new(p.worker, p.workers, p.local_port_range),
            expired: Vec::new(),
            ident4: p.worker,
            unsolicited: Vec::new(),
        }
    }

    /// The IPv6 services of a new snapshot: scheduler state kept where the scheduler is
    /// the same, the VIPs and LIPs added to our addresses. Returns the stat slots of the
    /// services that left (their persistence templates go).
    pub(super) fn set_snapshot(
        &mut self,
        snap: &Snapshot6,
        worker: u16,
        reals: &[RealCounters],
        version: u64,
    ) -> Vec<u32> {
        let mut old: HashMap<u32, conn::Svc6State> = self.services.drain(..).map(|s| (s.slot(), s)).collect();
        // Slots whose service is another one now (its persistence templates go with it).
        let mut gone = Vec::new();
        self.services = snap
            .services
            .iter()
            .map(|svc| {
                let prev = old.remove(&svc.slot);
                if prev.as_ref().is_some_and(|p| !p.is_of(svc)) {
                    gone.push(svc.slot);
                }
                let mut st = conn::Svc6State::new(svc, worker, prev);
                st.sync(svc, reals, version);
                st
            })
            .collect();
        self.nat = direct::NatSteering6::new(snap);
        self.addrs = self.own_addrs.clone();
        for (a, k) in snap.local_addrs() {
            self.addrs.entry(a).or_insert(match k {
                LocalKind::Vip => Dest6::Vip,
                LocalKind::Lip => Dest6::Lip,
            });
            if k == LocalKind::Lip {
                self.ports.prepare(a);
            }
        }
        // Sized here, between bursts, once IPv6 is in use: the packet path never allocates.
        if !snap.services.is_empty() {
            self.sessions.reserve();
        }
        gone.extend(old.into_keys());
        gone
    }

    pub(super) fn enabled(&self) -> bool {
        self.enabled
    }

    fn get(&self, a: Ipv6Addr) -> Option<Dest6> {
        self.addrs.get(&a).copied()
    }

    /// The source address to use on `port` towards `target`: a global address whose prefix
    /// holds it, else the link-local one for a link-local target, else the first.
    fn source_for(&self, port: IfIndex, target: Ipv6Addr) -> Option<Ipv6Addr> {
        let own = self.own.get(port as usize)?;
        if target.is_unicast_link_local() {
            return own.last().map(|&(a, _)| a);
        }
        own.iter()
            .find(|&&(a, len)| Prefix6::new(a, len).is_some_and(|p| p.contains(target)))
            .or(own.first())
            .map(|&(a, _)| a)
    }
}

impl<P: Frame> Pipeline<P> {
    /// An IPv6 frame for our MAC or a multicast one, on interface `port`.
    pub(super) fn handle_ipv6(
        &mut self,
        port: IfIndex,
        pkt: P,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        if !self.v6.enabled() || (port as usize) >= self.ifaces.len() {
            return self.to_kernel(port, DropReason::UnknownEthertype, pkt, out);
        }
        let data = &pkt.data()[ETH_LEN..];
        let ip = match Ipv6Packet::new_checked(data) {
            Ok(ip) => ip,
            Err(WireError::Truncated) if data.len() < ipv6::HEADER_LEN => {
                return self.drop_pkt(DropReason::Truncated, pkt)
            }
            Err(_) => return self.drop_pkt(DropReason::BadIpv6Header, pkt),
        };
        let Ok(chain) = ip.ext_chain() else {
            return self.drop_pkt(DropReason::Ipv6ExtChain, pkt);
        };
        let dst = ip.dst_addr();
        let icmp_type = (chain.upper.0 == NH_ICMPV6 && chain.fragment.is_none())
            .then(|| ip.payload().get(chain.offset).copied())
            .flatten();
        if dst.is_multicast() {
            // Neighbor solicitations for our addresses are ours; the rest (router
            // advertisements, MLD, routing protocols, others' solicitations) the kernel's.
            if icmp_type == Some(icmpv6::NEIGHBOR_SOLICIT) {
                return self.handle_icmpv6(port, pkt, chain.offset, now, alloc, out);
            }
            let reason = match icmp_type {
                Some(icmpv6::ROUTER_ADVERT) => DropReason::IcmpIgnored,
                _ => DropReason::NotLocal,
            };
            return self.to_kernel(port, reason, pkt, out);
        }
        match self.v6.get(dst) {
            Some(d @ (Dest6::Vip | Dest6::Lip)) => {
                if chain.fragment.is_some() {
                    return self.handle_fragment_v6(port, pkt, chain, d, now, alloc, out);
                }
                match chain.upper.0 {
                    NH_ICMPV6 => self.handle_icmpv6(port, pkt, chain.offset, now, alloc, out),
                    6 | 17 => self.handle_l4_v6(port, pkt, chain.offset, d, now, alloc, out),
                    _ => self.to_kernel(port, DropReason::UnsupportedProtocol, pkt, out),
                }
            }
            Some(Dest6::Own(_)) => {
                if icmp_type.is_some() {
                    return self.handle_icmpv6(port, pkt, chain.offset, now, alloc, out);
                }
                if chain.fragment.is_some() && chain.upper.0 == NH_ICMPV6 {
                    return self.drop_pkt(DropReason::Fragment, pkt);
                }
                // A virtual service's port on one of our own addresses is the service's, as
                // for IPv4 (`serves_own`).
                let service = chain.fragment.is_none()
                    && matches!(chain.upper.0, 6 | 17)
                    && ip.payload().get(chain.offset + 2..chain.offset + 4).is_some_and(|p| {
                        self.snapshot
                            .v6
                            .find(&(chain.upper.0, dst, u16::from_be_bytes([p[0], p[1]])))
                            .is_some()
                    });
                if service {
                    return self.handle_l4_v6(port, pkt, chain.offset, Dest6::Vip, now, alloc, out);
                }
                // ssh, BGP and friends: the host's.
                self.to_kernel(port, DropReason::ToHost, pkt, out)
            }
            // Maybe a NAT real server's reply to a client.
            None => self.not_local_v6(port, pkt, &chain, now, alloc, out),
        }
    }

    /// Sends an IPv6 packet whose Ethernet header is still to be written (`pkt` from the
    /// Ethernet header on) towards `dst`: routed, its next hop resolved by Neighbor
    /// Discovery (the packet waits in the neighbour's queue meanwhile).
    pub(super) fn send_ipv6(
        &mut self,
        mut pkt: P,
        dst: Ipv6Addr,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let Some(nh) = self.v6.routes.lookup(dst) else {
            return self.drop_pkt(DropReason::NoRoute, pkt);
        };
        let mac = self.ifaces[nh.port as usize].mac;
        {
            let mut eth = EthernetFrame::new_unchecked(pkt.data_mut());
            eth.set_src_addr(mac);
            eth.set_ethertype(EtherType::IPV6);
        }
        if let Some(m) = self.v6.neigh.lookup(nh.port, nh.next_hop) {
            EthernetFrame::new_unchecked(pkt.data_mut()).set_dst_addr(MacAddr(m));
            return self.xmit(nh.port, pkt, out);
        }
        match self.v6.neigh.hold(nh.next_hop, nh.port, pkt, now) {
            Hold::QueuedSendRequest => self.send_ns(nh.port, nh.next_hop, alloc, out),
            Hold::Queued => {}
            Hold::Full(p) => self.drop_pkt(DropReason::NeighQueueFull, p),
        }
    }

    /// IPv6 timers: neighbour probes and resolutions that failed. Called from `poll`.
    pub(super) fn poll_v6(&mut self, now: Time, alloc: &mut impl FrameAlloc<P>, out: &mut Output<P>) {
        if !self.v6.enabled() {
            return;
        }
        let mut probes = std::mem::take(&mut self.v6.probes);
        let mut failed = std::mem::take(&mut self.v6.failed);
        self.v6.neigh.poll(now, &mut probes, &mut failed);
        for p in probes.drain(..) {
            self.send_ns(p.port, p.ip, alloc, out);
        }
        for pkt in failed.drain(..) {
            self.drop_pkt(DropReason::NeighTimeout, pkt);
        }
        self.v6.probes = probes;
        self.v6.failed = failed;
        if !self.v6.unsolicited.is_empty() {
            self.send_due_nas(now, alloc, out);
        }
        let mut expired = std::mem::take(&mut self.v6.expired);
        self.v6.sessions.expire(now, EXPIRE_BUDGET, &mut expired);
        for s in expired.drain(..) {
            self.retire_v6(&s);
            self.counters.sessions_expired.inc();
        }
        self.v6.expired = expired;
    }

    /// An IPv6 neighbour learned by another worker (on interface `port`).
    pub fn neigh6_learned(&mut self, ip: Ipv6Addr, mac: Mac, port: IfIndex, now: Time, out: &mut Output<P>) {
        if !self.v6.enabled() {
            return;
        }
        let mut released = std::mem::take(&mut self.v6.released);
        self.v6.neigh.learn(ip, mac, port, now, &mut released);
        self.flush_released(&mut released, mac, port, out);
        self.v6.released = released;
    }

    /// A configured IPv6 neighbour; false without IPv6 or with a full table.
    pub(in crate::pipeline) fn add_static_neighbour6(
        &mut self,
        ip: Ipv6Addr,
        mac: Mac,
        iface: IfIndex,
    ) -> bool {
        self.v6.enabled() && self.v6.neigh.add_permanent(ip, mac, iface)
    }

    /// The IPv6 half of `neighbours`.
    pub(in crate::pipeline) fn neighbours6(&self) -> impl Iterator<Item = crate::neigh::NeighEntry> + '_ {
        self.v6.neigh.entries()
    }

    /// The IPv6 half of `del_neighbour`.
    pub(in crate::pipeline) fn del_neighbour6(
        &mut self,
        ip: Ipv6Addr,
        iface: IfIndex,
        dropped: &mut Vec<P>,
    ) -> bool {
        self.v6.neigh.remove(iface, ip, dropped)
    }

    /// The MAC this worker knows for `ip` on `port` (tests and diagnostics).
    pub fn neigh6_lookup(&self, port: IfIndex, ip: Ipv6Addr) -> Option<Mac> {
        self.v6.neigh.lookup(port, ip)
    }
}

#[cfg(test)]
mod conn_tests;
#[cfg(test)]
mod direct_golden;
#[cfg(test)]
mod direct_tests;
#[cfg(test)]
mod golden;
#[cfg(test)]
mod nat64_tests;
#[cfg(test)]
mod sync_tests;
#[cfg(test)]
mod tests;
