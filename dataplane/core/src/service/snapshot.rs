//! The immutable view of the services that workers read.

use hashbrown::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::persist::PersistParams;
use crate::sched::{Candidate, SchedFlags, Thresholds};

/// (IP protocol, VIP, vport): how a packet names a service.
pub type VsKey = (u8, Ipv4Addr, u16);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Real {
    pub addr: SocketAddrV4,
    pub weight: u32,
    /// Stat slot: index into every worker's real-server counters.
    pub slot: u32,
    /// `-x`/`-y` for the whole dataplane; workers apply their share.
    pub thresholds: Thresholds,
    /// How packets reach this real server.
    pub method: rvs_proto::ForwardMethod,
    /// TUN over GUE: the server's UDP port (0: IPIP).
    pub gue_port: u16,
}

impl Real {
    /// The real server's port for a client that asked for `dport`: its own, or `dport`
    /// when it has port 0 (IPVS's rule; a port-0 service's real servers have it).
    #[inline]
    pub fn port_for(&self, dport: u16) -> u16 {
        match self.addr.port() {
            0 => dport,
            p => p,
        }
    }
}

impl Candidate for Real {
    #[inline]
    fn weight(&self) -> u32 {
        self.weight
    }
    /// From address and port: the same on every cluster member and across snapshots.
    #[inline]
    fn id(&self) -> u64 {
        crate::sched::stable::addr_id((*self.addr.ip()).into(), self.addr.port())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub proto: u8,
    pub vip: Ipv4Addr,
    pub vport: u16,
    pub scheduler: String,
    pub reals: Vec<Real>,
    pub local_addrs: Vec<Ipv4Addr>,
    /// The LIPs new sessions take ports from: `local_addrs`, or a cluster member's own
    /// among them (`[cluster] local_addresses`).
    pub alloc_addrs: Vec<Ipv4Addr>,
    pub slot: u32,
    /// Which registry entry this is (`Registry::add_service`): another service given this
    /// one's slot in the same configuration (a batch at the registry's capacity), or this
    /// one deleted and added again, has another, and so starts without its state.
    pub id: u64,
    pub sched_flags: SchedFlags,
    /// `-p`/`-M`: None when the service is not persistent.
    pub persistence: Option<PersistParams>,
    /// Answer SYNs with cookies; open the server side after the client's ACK.
    pub syn_proxy: bool,
    /// Insert the client's address (TCP option 254) towards the real server.
    pub toa: bool,
    /// Send a PROXY protocol header ahead of the client's first byte.
    pub proxy_protocol: Option<crate::proxyproto::Version>,
    /// Send the PROXY header as a segment of its own as soon as the server's handshake is
    /// done (`proxy_protocol_send = "on-connect"`), not in front of the client's first byte.
    pub proxy_on_connect: bool,
    /// mh: the Maglev table, built once by whoever made the snapshot (the control thread)
    /// and shared read-only by every worker, so no packet thread builds one.
    pub maglev: Option<std::sync::Arc<crate::sched::maglev::MaglevTable>>,
    /// Source allow/deny lists and admission limits (None: the service has none).
    pub limits: Option<std::sync::Arc<crate::acl::ServiceLimits>>,
}

/// What one of our addresses is, beyond the ports' own addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalKind {
    Vip,
    Lip,
}

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Increases with every change; lets a worker tell which snapshot it runs.
    pub version: u64,
    pub services: Vec<Service>,
    index: super::vs_index::VsIndex,
    local: HashMap<Ipv4Addr, LocalKind, ahash::RandomState>,
    /// Whether a service has port 0 (LVS's catch-all: `find`).
    catch_all: bool,
    /// Which VIPs/LIPs we answer ARP and ping for and accept new connections to.
    ownership: super::Ownership,
    /// The IPv6 services (`pipeline/v6/`), apart from the IPv4 ones.
    pub v6: std::sync::Arc<super::Snapshot6>,
}

impl Snapshot {
    pub fn new(version: u64, services: Vec<Service>) -> Self {
        let keys: Vec<VsKey> = services.iter().map(|s| (s.proto, s.vip, s.vport)).collect();
        let index = super::vs_index::VsIndex::new(keys.iter());
        let mut local = HashMap::default();
        for s in &services {
            local.insert(s.vip, LocalKind::Vip);
        }
        for s in &services {
            for &l in &s.local_addrs {
                local.entry(l).or_insert(LocalKind::Lip);
            }
        }
        let catch_all = services.iter().any(|s| s.vport == 0);
        Snapshot {
            version,
            services,
            index,
            local,
            catch_all,
            ownership: Default::default(),
            v6: Default::default(),
        }
    }

    /// The same services with this ownership of their addresses.
    pub fn with_ownership(mut self, ownership: super::Ownership) -> Self {
        self.ownership = ownership;
        self
    }

    /// Whether we own `ip` (a VIP or LIP): answer ARP and ping, accept new connections.
    #[inline]
    pub fn owns(&self, ip: Ipv4Addr) -> bool {
        self.ownership.owns(ip)
    }

    /// Whether we own IPv6 VIP/LIP `ip` (as `owns`).
    #[inline]
    pub fn owns6(&self, ip: std::net::Ipv6Addr) -> bool {
        self.ownership.owns6(ip)
    }

    /// The same snapshot with these IPv6 services.
    pub fn with_v6(mut self, v6: super::Snapshot6) -> Self {
        // NAT64 services' IPv4 LIPs are LIPs of ours: ARP answered, replies taken.
        for a in v6.local_addrs4() {
            self.local.entry(a).or_insert(LocalKind::Lip);
        }
        self.v6 = std::sync::Arc::new(v6);
        self
    }

    pub fn ownership(&self) -> &super::Ownership {
        &self.ownership
    }

    /// The service of (protocol, VIP, port): its own, else the VIP's port-0 service
    /// (LVS's catch-all, for the ports no service of their own takes).
    #[inline]
    pub fn find(&self, key: &VsKey) -> Option<u32> {
        let exact = self.index.get(key);
        if exact.is_some() || !self.catch_all {
            return exact;
        }
        self.index.get(&(key.0, key.1, 0))
    }

    #[inline]
    pub fn local_kind(&self, ip: Ipv4Addr) -> Option<LocalKind> {
        self.local.get(&ip).copied()
    }

    /// Every VIP and LIP, for ARP.
    pub fn local_addrs(&self) -> impl Iterator<Item = (Ipv4Addr, LocalKind)> + '_ {
        self.local.iter().map(|(a, k)| (*a, *k))
    }
}
