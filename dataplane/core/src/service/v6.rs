//! IPv6 services as workers see them. They live in a list of their own beside the IPv4
//! services (`Snapshot::v6`), so the IPv4 snapshot's indexes and address table are the
//! same as before and the IPv4 packet path never looks at them.

use hashbrown::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use super::LocalKind;
use crate::sched::{Candidate, SchedFlags};

/// (IP protocol, VIP, vport) of an IPv6 service.
pub type VsKey6 = (u8, Ipv6Addr, u16);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Real6 {
    /// An IPv4 real server (NAT64) as its IPv4-mapped address (`::ffff:a.b.c.d`): the form
    /// its session keys it by.
    pub addr: SocketAddrV6,
    pub weight: u32,
    /// Stat slot: index into every worker's real-server counters (shared with IPv4).
    pub slot: u32,
    /// How packets reach it (a NAT64 real server is always FULLNAT).
    pub method: rvs_proto::ForwardMethod,
}

impl Candidate for Real6 {
    #[inline]
    fn weight(&self) -> u32 {
        self.weight
    }
    #[inline]
    fn id(&self) -> u64 {
        crate::sched::stable::addr_id(IpAddr::V6(*self.addr.ip()).to_canonical(), self.addr.port())
    }
}

impl Real6 {
    /// The real server's port for a client that asked for `dport`: its own, or `dport`
    /// when it has port 0 (IPVS's rule).
    #[inline]
    pub fn port_for(&self, dport: u16) -> u16 {
        match self.addr.port() {
            0 => dport,
            p => p,
        }
    }

    /// The IPv4 address of a NAT64 real server.
    #[inline]
    pub fn ipv4(&self) -> Option<SocketAddrV4> {
        self.addr.ip().to_ipv4_mapped().map(|a| SocketAddrV4::new(a, self.addr.port()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service6 {
    pub proto: u8,
    pub vip: Ipv6Addr,
    pub vport: u16,
    pub scheduler: String,
    pub sched_flags: SchedFlags,
    pub reals: Vec<Real6>,
    pub local_addrs: Vec<Ipv6Addr>,
    /// IPv4 local addresses: what its IPv4 real servers see (NAT64).
    pub local_addrs4: Vec<Ipv4Addr>,
    /// Insert the client's address as a TOA option (kind 254, 20 bytes for IPv6).
    pub toa: bool,
    /// Send the PROXY protocol header (TCP6 / AF_INET6: the client is IPv6) in front of
    /// the client's first data.
    pub proxy_protocol: Option<crate::proxyproto::Version>,
    /// Stat slot of the service (shared with IPv4).
    pub slot: u32,
    /// Which registry entry this is (`Service::id`).
    pub id: u64,
    /// `-p`/`-M`: the granularity's IPv6 prefix is the one that applies.
    pub persistence: Option<crate::persist::PersistParams>,
}

#[derive(Debug, Clone, Default)]
pub struct Snapshot6 {
    pub services: Vec<Service6>,
    index: HashMap<VsKey6, u32, ahash::RandomState>,
    local: HashMap<Ipv6Addr, LocalKind, ahash::RandomState>,
    /// Whether a service has port 0 (LVS's catch-all: `find`).
    catch_all: bool,
}

impl Snapshot6 {
    pub fn new(services: Vec<Service6>) -> Self {
        let mut index = HashMap::default();
        let mut local = HashMap::default();
        for (i, s) in services.iter().enumerate() {
            index.insert((s.proto, s.vip, s.vport), i as u32);
            local.insert(s.vip, LocalKind::Vip);
        }
        for s in &services {
            for &l in &s.local_addrs {
                local.entry(l).or_insert(LocalKind::Lip);
            }
        }
        let catch_all = services.iter().any(|s| s.vport == 0);
        Snapshot6 { services, index, local, catch_all }
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// The service of (protocol, VIP, port): its own, else the VIP's port-0 service.
    #[inline]
    pub fn find(&self, key: &VsKey6) -> Option<u32> {
        let exact = self.index.get(key).copied();
        if exact.is_some() || !self.catch_all {
            return exact;
        }
        self.index.get(&(key.0, key.1, 0)).copied()
    }

    #[inline]
    pub fn local_kind(&self, ip: Ipv6Addr) -> Option<LocalKind> {
        self.local.get(&ip).copied()
    }

    /// The IPv4 local addresses of NAT64 services (the IPv4 snapshot takes them as LIPs).
    pub fn local_addrs4(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.services.iter().flat_map(|s| s.local_addrs4.iter().copied())
    }

    /// Every IPv6 VIP and LIP.
    pub fn local_addrs(&self) -> impl Iterator<Item = (Ipv6Addr, LocalKind)> + '_ {
        self.local.iter().map(|(a, k)| (*a, *k))
    }
}
