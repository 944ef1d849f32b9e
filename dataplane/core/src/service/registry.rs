//! The editable list of services, with ipvsadm's rules and error messages.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use super::snapshot::{LocalKind, Real, Service, Snapshot};
use crate::persist::{Granularity, PersistParams};
use crate::sched::{SchedFlags, Thresholds};
use crate::session::{PROTO_TCP, PROTO_UDP};
use rvs_proto::{Protocol, RealSpec, ServiceKey, ServiceOptions, ServiceSpec};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("Service already exists")]
    ServiceExists,
    #[error("Service not defined")]
    NoService,
    #[error("Destination already exists")]
    RealExists,
    #[error("No such destination")]
    NoReal,
    #[error("Scheduler not found: {0} (available: {list})", list = crate::sched::NAMES.join(", "))]
    UnknownScheduler(String),
    #[error("local address already exists")]
    LaddrExists,
    #[error("no such local address")]
    NoLaddr,
    #[error("too many {0} (the limit is {1}; raise max_{0} in the config)")]
    Full(&'static str, usize),
    #[error("{0}")]
    SchedFlags(String),
    /// A value rvs_proto::check refuses (the checks rvs-ctrl -t shares).
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone)]
struct RealEntry {
    spec: RealSpec,
    slot: u32,
}

#[derive(Debug, Clone)]
struct ServiceEntry {
    spec: ServiceSpec,
    reals: Vec<RealEntry>,
    slot: u32,
    /// Unique among the registry's services, ever (`Service::id`).
    id: u64,
}

/// Hands out stat slots. Freed slots are reused only after the fresh ones run out, so
/// counters of a deleted server rarely leak into a new one.
#[derive(Debug, Clone)]
struct Slots {
    next: u32,
    max: usize,
    free: std::collections::VecDeque<u32>,
}

impl Slots {
    fn new(max: usize) -> Self {
        Slots { next: 0, max, free: Default::default() }
    }
    fn take(&mut self, what: &'static str) -> Result<u32, RegistryError> {
        if (self.next as usize) < self.max {
            self.next += 1;
            return Ok(self.next - 1);
        }
        self.free.pop_front().ok_or(RegistryError::Full(what, self.max))
    }
    fn give(&mut self, slot: u32) {
        self.free.push_back(slot);
    }
}

#[derive(Debug, Clone)]
pub struct Registry {
    services: Vec<ServiceEntry>,
    service_slots: Slots,
    real_slots: Slots,
    version: u64,
    /// The id the next service added gets.
    next_id: u64,
    /// Which VIPs/LIPs this director owns (`[ha]`, `rvsadm --takeover/--release`).
    ownership: super::Ownership,
    /// As an ECMP cluster member (`[cluster]`): how new flows are placed and which LIPs
    /// this member takes ports from.
    cluster: Option<super::ClusterPlacement>,
}

fn v4(addr: SocketAddr) -> Option<SocketAddrV4> {
    match addr {
        SocketAddr::V4(a) => Some(a),
        SocketAddr::V6(_) => None,
    }
}

fn v4_ip(addr: IpAddr) -> Option<Ipv4Addr> {
    match addr {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    }
}

/// The dataplane knows a service or real server by protocol, address and port alone: an
/// IPv6 address with a scope id or flow label (`[2001:db8::1%2]:80`) would be a second
/// registry entry for what is one on the wire.
fn no_scope(a: SocketAddr, what: &str) -> Result<(), RegistryError> {
    match a {
        SocketAddr::V6(v6) if v6.scope_id() != 0 || v6.flowinfo() != 0 => Err(RegistryError::Invalid(
            format!("{what} {a}: IPv6 scope ids and flow labels are not supported"),
        )),
        _ => Ok(()),
    }
}

fn check_real(vip: SocketAddr, r: &RealSpec) -> Result<(), RegistryError> {
    no_scope(r.addr, "real server")?;
    rvs_proto::check::check_real_family(vip, r).map_err(RegistryError::Invalid)?;
    // The value checks rvs-ctrl's `-t` applies too: one copy, in the protocol crate.
    rvs_proto::check::check_real(r).map_err(RegistryError::Invalid)
}

fn check_service(s: &ServiceSpec) -> Result<(), RegistryError> {
    if !crate::sched::is_known(&s.scheduler) {
        return Err(RegistryError::UnknownScheduler(s.scheduler.clone()));
    }
    sched_flags(&s.options)?;
    no_scope(s.key.addr, "virtual service")?;
    rvs_proto::check::check_service(s).map_err(RegistryError::Invalid)
}

/// A service's options and its real servers' methods must agree (SYN proxy, TOA and
/// PROXY protocol are FULLNAT's).
fn check_methods<'a>(
    o: &ServiceOptions,
    reals: impl IntoIterator<Item = &'a RealSpec>,
) -> Result<(), RegistryError> {
    for r in reals {
        rvs_proto::check::check_real_in_service(o, r).map_err(RegistryError::Invalid)?;
    }
    Ok(())
}

fn sched_flags(o: &ServiceOptions) -> Result<SchedFlags, RegistryError> {
    SchedFlags::parse(&o.sched_flags.join(",")).map_err(RegistryError::SchedFlags)
}

/// `-p`/`-M` as the dataplane applies them (`-M`: a netmask for IPv4, a prefix length
/// for IPv6, both held as a prefix length).
fn persist_params(o: &ServiceOptions) -> Option<PersistParams> {
    o.persistence.map(|p| {
        let mask = if p.prefix_len == 0 { 0 } else { u32::MAX << (32 - u32::from(p.prefix_len.min(32))) };
        PersistParams {
            timeout: std::time::Duration::from_secs(u64::from(p.timeout)),
            granularity: Granularity::v4(Ipv4Addr::from(mask)),
            expire_quiescent_template: o.expire_quiescent_template,
        }
    })
}

/// `-p`/`-M` of an IPv6 service: `-M` is the client prefix length.
fn persist_params6(o: &ServiceOptions) -> Option<PersistParams> {
    persist_params(o).map(|mut p| {
        p.granularity =
            Granularity { v6_prefix: o.persistence.map_or(128, |p| p.prefix_len.min(128)), ..p.granularity };
        p
    })
}

impl Registry {
    pub fn new(max_services: usize, max_reals: usize) -> Self {
        Registry {
            services: Vec::new(),
            service_slots: Slots::new(max_services),
            real_slots: Slots::new(max_reals),
            version: 0,
            next_id: 1,
            ownership: super::Ownership::default(),
            cluster: None,
        }
    }

    /// Makes this director an ECMP cluster member: snapshots place new flows the same way
    /// on every member (see `ClusterPlacement`).
    pub fn set_cluster(&mut self, c: Option<super::ClusterPlacement>) {
        self.cluster = c;
        self.changed();
    }

    fn find(&self, key: &ServiceKey) -> Result<usize, RegistryError> {
        self.services.iter().position(|s| s.spec.key == *key).ok_or(RegistryError::NoService)
    }

    fn changed(&mut self) {
        self.version += 1;
    }

    /// An address is a VIP or a LIP, never both: the pipeline tells client traffic from
    /// replies by the destination address, so replies to a LIP that is also a VIP would
    /// be taken for new connections to it (and a VIP's clients for replies). Checks
    /// `vip` and `laddrs` against every service but `except`.
    fn check_roles(
        &self,
        vip: IpAddr,
        laddrs: &[IpAddr],
        except: Option<usize>,
    ) -> Result<(), RegistryError> {
        if let Some(a) = laddrs.iter().find(|a| **a == vip) {
            return Err(RegistryError::Invalid(format!(
                "local address {a} is the service's own virtual address"
            )));
        }
        let others = self.services.iter().enumerate().filter(|(i, _)| Some(*i) != except);
        for s in others.map(|(_, s)| s) {
            let key = &s.spec.key;
            if let Some(a) = laddrs.iter().find(|a| **a == key.addr.ip()) {
                return Err(RegistryError::Invalid(format!(
                    "local address {a} is the virtual address of service {} {}: an address is a VIP or a LIP, not both",
                    key.protocol.as_str(),
                    key.addr
                )));
            }
            if s.spec.local_addrs.contains(&vip) {
                return Err(RegistryError::Invalid(format!(
                    "virtual address {vip} is a local address of service {} {}: an address is a VIP or a LIP, not both",
                    key.protocol.as_str(),
                    key.addr
                )));
            }
        }
        Ok(())
    }

    pub fn add_service(&mut self, spec: ServiceSpec) -> Result<(), RegistryError> {
        check_service(&spec)?;
        if self.find(&spec.key).is_ok() {
            return Err(RegistryError::ServiceExists);
        }
        self.check_roles(spec.key.addr.ip(), &spec.local_addrs, None)?;
        let mut laddrs = spec.local_addrs.clone();
        laddrs.dedup();
        let slot = self.service_slots.take("services")?;
        self.services.push(ServiceEntry {
            spec: ServiceSpec { local_addrs: laddrs, ..spec },
            reals: Vec::new(),
            slot,
            id: self.next_id,
        });
        self.next_id += 1;
        self.changed();
        Ok(())
    }

    /// `ipvsadm -E`: changes the scheduler (and, when given, the local addresses).
    pub fn edit_service(&mut self, spec: ServiceSpec) -> Result<(), RegistryError> {
        check_service(&spec)?;
        let i = self.find(&spec.key)?;
        check_methods(&spec.options, self.services[i].reals.iter().map(|r| &r.spec))?;
        self.check_roles(spec.key.addr.ip(), &spec.local_addrs, Some(i))?;
        let e = &mut self.services[i];
        e.spec.scheduler = spec.scheduler;
        e.spec.options = spec.options;
        if !spec.local_addrs.is_empty() {
            e.spec.local_addrs = spec.local_addrs;
        }
        self.changed();
        Ok(())
    }

    pub fn del_service(&mut self, key: &ServiceKey) -> Result<(), RegistryError> {
        let i = self.find(key)?;
        let e = self.services.remove(i);
        self.service_slots.give(e.slot);
        for r in e.reals {
            self.real_slots.give(r.slot);
        }
        self.changed();
        Ok(())
    }

    pub fn clear(&mut self) {
        for e in std::mem::take(&mut self.services) {
            self.service_slots.give(e.slot);
            for r in e.reals {
                self.real_slots.give(r.slot);
            }
        }
        self.changed();
    }

    pub fn add_real(&mut self, key: &ServiceKey, real: RealSpec) -> Result<(), RegistryError> {
        let i = self.find(key)?;
        check_real(key.addr, &real)?;
        check_methods(&self.services[i].spec.options, [&real])?;
        if self.services[i].reals.iter().any(|r| r.spec.addr == real.addr) {
            return Err(RegistryError::RealExists);
        }
        let slot = self.real_slots.take("reals")?;
        self.services[i].reals.push(RealEntry { spec: real, slot });
        self.changed();
        Ok(())
    }

    pub fn edit_real(&mut self, key: &ServiceKey, real: RealSpec) -> Result<(), RegistryError> {
        let i = self.find(key)?;
        check_real(key.addr, &real)?;
        check_methods(&self.services[i].spec.options, [&real])?;
        let r = self.services[i]
            .reals
            .iter_mut()
            .find(|r| r.spec.addr == real.addr)
            .ok_or(RegistryError::NoReal)?;
        r.spec = real;
        self.changed();
        Ok(())
    }

    pub fn del_real(&mut self, key: &ServiceKey, addr: SocketAddr) -> Result<(), RegistryError> {
        let i = self.find(key)?;
        let at =
            self.services[i].reals.iter().position(|r| r.spec.addr == addr).ok_or(RegistryError::NoReal)?;
        let r = self.services[i].reals.remove(at);
        self.real_slots.give(r.slot);
        self.changed();
        Ok(())
    }

    pub fn add_laddr(&mut self, key: &ServiceKey, addr: IpAddr) -> Result<(), RegistryError> {
        let i = self.find(key)?;
        if addr.is_ipv6() && key.addr.is_ipv4() {
            // An IPv6 service takes IPv4 local addresses for its IPv4 real servers (NAT64).
            return Err(RegistryError::Invalid(format!(
                "local address {addr} is not of the same address family as the virtual address {}",
                key.addr
            )));
        }
        if self.services[i].spec.local_addrs.contains(&addr) {
            return Err(RegistryError::LaddrExists);
        }
        self.check_roles(key.addr.ip(), &[addr], Some(i))?;
        let l = &mut self.services[i].spec.local_addrs;
        l.push(addr);
        self.changed();
        Ok(())
    }

    pub fn del_laddr(&mut self, key: &ServiceKey, addr: IpAddr) -> Result<(), RegistryError> {
        let i = self.find(key)?;
        let l = &mut self.services[i].spec.local_addrs;
        let at = l.iter().position(|a| *a == addr).ok_or(RegistryError::NoLaddr)?;
        l.remove(at);
        self.changed();
        Ok(())
    }

    /// Services in insertion order with their stat slots: (spec, slot, [(real, slot)]).
    pub fn list(&self) -> impl Iterator<Item = (&ServiceSpec, u32, Vec<(&RealSpec, u32)>)> {
        self.services.iter().map(|s| (&s.spec, s.slot, s.reals.iter().map(|r| (&r.spec, r.slot)).collect()))
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// Takes (`owned`) or releases VIPs/LIPs; none given: all of them, including those
    /// of services added later. Addresses no service has yet are recorded as well (a
    /// cluster manager may move an address before its service is configured).
    pub fn set_ownership(&mut self, addrs: &[IpAddr], owned: bool) {
        self.ownership.set(addrs, owned);
        self.changed();
    }

    pub fn ownership(&self) -> &super::Ownership {
        &self.ownership
    }

    /// Every VIP and LIP of the services, each once (an address that is both is a VIP).
    pub fn addresses(&self) -> std::collections::BTreeMap<IpAddr, LocalKind> {
        let mut out = std::collections::BTreeMap::new();
        for e in &self.services {
            out.insert(e.spec.key.addr.ip(), LocalKind::Vip);
        }
        for e in &self.services {
            for &a in &e.spec.local_addrs {
                out.entry(a).or_insert(LocalKind::Lip);
            }
        }
        out
    }

    /// The worker view of the current list.
    pub fn snapshot(&self) -> Snapshot {
        let services = self
            .services
            .iter()
            .filter_map(|e| Some((e, v4(e.spec.key.addr)?)))
            .map(|(e, addr)| {
                let reals: Vec<Real> = e
                    .reals
                    .iter()
                    .filter_map(|r| Some((r, v4(r.spec.addr)?)))
                    .map(|(r, addr)| Real {
                        addr,
                        weight: r.spec.weight,
                        slot: r.slot,
                        thresholds: Thresholds::new(r.spec.thresholds.upper, r.spec.thresholds.lower),
                        method: r.spec.method,
                        gue_port: r.spec.tunnel.map_or(0, |t| t.port),
                    })
                    .collect();
                let mut scheduler = e.spec.scheduler.clone();
                let mut flags = sched_flags(&e.spec.options).expect("checked");
                if let Some(c) = &self.cluster {
                    (scheduler, flags) = c.scheduler(scheduler, flags);
                }
                let local_addrs: Vec<Ipv4Addr> =
                    e.spec.local_addrs.iter().filter_map(|a| v4_ip(*a)).collect();
                let alloc_addrs = match &self.cluster {
                    Some(c) => c.alloc_addrs(&local_addrs),
                    None => local_addrs.clone(),
                };
                // mh: the table is built here, on the control thread, once per snapshot;
                // the workers share it read-only.
                let maglev = (scheduler == "mh").then(|| {
                    let m = e.spec.options.mh_table_size.unwrap_or(crate::sched::maglev::DEFAULT_SIZE);
                    std::sync::Arc::new(crate::sched::maglev::MaglevTable::build(&reals[..], m))
                });
                Service {
                    proto: match e.spec.key.protocol {
                        Protocol::Tcp => PROTO_TCP,
                        Protocol::Udp => PROTO_UDP,
                    },
                    vip: *addr.ip(),
                    vport: addr.port(),
                    scheduler,
                    reals,
                    local_addrs,
                    alloc_addrs,
                    slot: e.slot,
                    id: e.id,
                    sched_flags: flags,
                    persistence: persist_params(&e.spec.options),
                    syn_proxy: e.spec.options.syn_proxy && e.spec.key.protocol == Protocol::Tcp,
                    toa: e.spec.options.toa && e.spec.key.protocol == Protocol::Tcp,
                    proxy_protocol: match e.spec.options.proxy_protocol {
                        Some(1) if e.spec.key.protocol == Protocol::Tcp => {
                            Some(crate::proxyproto::Version::V1)
                        }
                        Some(2) if e.spec.key.protocol == Protocol::Tcp => {
                            Some(crate::proxyproto::Version::V2)
                        }
                        _ => None,
                    },
                    proxy_on_connect: e.spec.options.proxy_on_connect,
                    maglev,
                    limits: crate::acl::ServiceLimits::from_options(&e.spec.options).map(std::sync::Arc::new),
                }
            })
            .collect();
        Snapshot::new(self.version, services).with_ownership(self.ownership.clone()).with_v6(self.snapshot6())
    }

    /// The IPv6 services of the worker view.
    fn snapshot6(&self) -> super::Snapshot6 {
        let services = self
            .services
            .iter()
            .filter_map(|e| match e.spec.key.addr {
                SocketAddr::V6(vip) => Some((e, vip)),
                SocketAddr::V4(_) => None,
            })
            .map(|(e, vip)| super::Service6 {
                proto: match e.spec.key.protocol {
                    Protocol::Tcp => PROTO_TCP,
                    Protocol::Udp => PROTO_UDP,
                },
                vip: *vip.ip(),
                vport: vip.port(),
                scheduler: e.spec.scheduler.clone(),
                sched_flags: sched_flags(&e.spec.options).expect("checked"),
                reals: e
                    .reals
                    .iter()
                    .map(|r| super::Real6 {
                        addr: match r.spec.addr {
                            SocketAddr::V6(addr) => addr,
                            // NAT64: keyed by its IPv4-mapped address.
                            SocketAddr::V4(a) => {
                                std::net::SocketAddrV6::new(a.ip().to_ipv6_mapped(), a.port(), 0, 0)
                            }
                        },
                        weight: r.spec.weight,
                        slot: r.slot,
                        method: r.spec.method,
                    })
                    .collect(),
                local_addrs: e
                    .spec
                    .local_addrs
                    .iter()
                    .filter_map(|a| match a {
                        IpAddr::V6(a) => Some(*a),
                        IpAddr::V4(_) => None,
                    })
                    .collect(),
                local_addrs4: e.spec.local_addrs.iter().filter_map(|a| v4_ip(*a)).collect(),
                persistence: persist_params6(&e.spec.options),
                toa: e.spec.options.toa,
                proxy_protocol: match e.spec.options.proxy_protocol {
                    Some(1) => Some(crate::proxyproto::Version::V1),
                    Some(2) => Some(crate::proxyproto::Version::V2),
                    _ => None,
                },
                slot: e.slot,
                id: e.id,
            })
            .collect();
        super::Snapshot6::new(services)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_proto::ForwardMethod;

    fn key(s: &str) -> ServiceKey {
        ServiceKey { protocol: Protocol::Tcp, addr: s.parse().unwrap() }
    }
    fn spec(s: &str, sched: &str) -> ServiceSpec {
        ServiceSpec {
            options: Default::default(),
            key: key(s),
            scheduler: sched.into(),
            local_addrs: vec!["198.19.0.200".parse().unwrap()],
        }
    }
    fn real(s: &str, w: u32) -> RealSpec {
        RealSpec {
            thresholds: Default::default(),
            addr: s.parse().unwrap(),
            weight: w,
            method: ForwardMethod::FullNat,
            tunnel: None,
        }
    }

    #[test]
    fn ipvsadm_errors() {
        let mut r = Registry::new(4, 4);
        r.add_service(spec("198.18.0.100:80", "rr")).unwrap();
        assert_eq!(r.add_service(spec("198.18.0.100:80", "rr")), Err(RegistryError::ServiceExists));
        assert_eq!(
            r.add_service(spec("198.18.0.100:81", "wlcx")),
            Err(RegistryError::UnknownScheduler("wlcx".into()))
        );
        assert_eq!(
            r.add_real(&key("198.18.0.100:81"), real("198.19.0.11:80", 1)),
            Err(RegistryError::NoService)
        );
        r.add_real(&key("198.18.0.100:80"), real("198.19.0.11:80", 1)).unwrap();
        assert_eq!(
            r.add_real(&key("198.18.0.100:80"), real("198.19.0.11:80", 2)),
            Err(RegistryError::RealExists)
        );
        assert_eq!(
            r.edit_real(&key("198.18.0.100:80"), real("198.19.0.12:80", 2)),
            Err(RegistryError::NoReal)
        );
        let mut dr = real("198.19.0.12:80", 1);
        dr.method = ForwardMethod::DirectRoute;
        r.add_real(&key("198.18.0.100:80"), dr.clone()).unwrap();
        // FULLNAT-only options refuse other methods, both ways round.
        let mut toa = spec("198.18.0.100:80", "rr");
        toa.options.toa = true;
        assert_eq!(
            r.edit_service(toa.clone()),
            Err(RegistryError::Invalid(
                "toa works with FULLNAT real servers only; 198.19.0.12:80 is Route".into()
            ))
        );
        r.del_real(&key("198.18.0.100:80"), dr.addr).unwrap();
        r.edit_service(toa).unwrap();
        assert!(matches!(r.add_real(&key("198.18.0.100:80"), dr), Err(RegistryError::Invalid(_))));
        // An IPv6 service may have IPv4 local addresses (NAT64); an IPv4 one no IPv6 ones.
        r.add_service(spec("[2001:db8::1]:80", "rr")).unwrap();
        assert_eq!(r.snapshot().v6.services[0].local_addrs4, vec![std::net::Ipv4Addr::new(198, 19, 0, 200)]);
        let mut v4 = spec("198.18.0.101:80", "rr");
        v4.local_addrs = vec!["2001:db8::2".parse().unwrap()];
        assert!(matches!(r.add_service(v4), Err(RegistryError::Invalid(_))));
    }

    /// A LIP that is also a VIP would have its replies taken for new connections: refused
    /// whichever comes first and however it comes (-A, -E, -P), and nothing changes.
    #[test]
    fn an_address_is_a_vip_or_a_lip_not_both() {
        let mut r = Registry::new(8, 4);
        r.add_service(spec("198.18.0.100:80", "rr")).unwrap();
        let before = r.version();
        let lip_is_vip = ServiceSpec {
            local_addrs: vec!["198.18.0.100".parse().unwrap()],
            ..spec("198.18.0.101:80", "rr")
        };
        let e = r.add_service(lip_is_vip).unwrap_err().to_string();
        assert_eq!(
            e,
            "local address 198.18.0.100 is the virtual address of service TCP 198.18.0.100:80: an address is a VIP or a LIP, not both"
        );
        let vip_is_lip = ServiceSpec {
            local_addrs: vec!["198.19.0.201".parse().unwrap()],
            ..spec("198.19.0.200:443", "rr")
        };
        let e = r.add_service(vip_is_lip).unwrap_err().to_string();
        assert!(
            e.starts_with("virtual address 198.19.0.200 is a local address of service TCP 198.18.0.100:80"),
            "{e}"
        );
        let own = ServiceSpec {
            local_addrs: vec!["198.18.0.102".parse().unwrap()],
            ..spec("198.18.0.102:80", "rr")
        };
        assert!(matches!(r.add_service(own), Err(RegistryError::Invalid(_))));
        r.add_service(spec("198.18.0.101:80", "rr")).unwrap();
        let e = r.add_laddr(&key("198.18.0.101:80"), "198.18.0.100".parse().unwrap()).unwrap_err();
        assert!(e.to_string().contains("an address is a VIP or a LIP"), "{e}");
        let edit = ServiceSpec {
            local_addrs: vec!["198.18.0.101".parse().unwrap()],
            ..spec("198.18.0.100:80", "wrr")
        };
        assert!(matches!(r.edit_service(edit), Err(RegistryError::Invalid(_))));
        // Refused with nothing changed; the same VIP on another port, and a LIP shared by
        // two services, stay fine.
        assert_eq!(r.list().map(|(s, _, _)| s.scheduler.clone()).collect::<Vec<_>>(), ["rr", "rr"]);
        assert_eq!(r.version(), before + 1);
        r.add_service(spec("198.18.0.100:443", "rr")).unwrap();
        r.add_laddr(&key("198.18.0.101:80"), "198.19.0.201".parse().unwrap()).unwrap();
    }

    #[test]
    fn snapshot_reflects_edits_and_slots_are_stable() {
        let mut r = Registry::new(4, 4);
        r.add_service(spec("198.18.0.100:80", "rr")).unwrap();
        r.add_real(&key("198.18.0.100:80"), real("198.19.0.11:80", 1)).unwrap();
        r.add_real(&key("198.18.0.100:80"), real("198.19.0.12:80", 1)).unwrap();
        let s1 = r.snapshot();
        r.edit_real(&key("198.18.0.100:80"), real("198.19.0.12:80", 5)).unwrap();
        r.edit_service(ServiceSpec { local_addrs: vec![], ..spec("198.18.0.100:80", "wrr") }).unwrap();
        let s2 = r.snapshot();
        assert!(s2.version > s1.version);
        assert_eq!(s2.services[0].scheduler, "wrr");
        assert_eq!(s2.services[0].local_addrs, vec![Ipv4Addr::new(198, 19, 0, 200)], "kept when not given");
        assert_eq!(s2.services[0].reals[1].weight, 5);
        assert_eq!(s1.services[0].reals[1].slot, s2.services[0].reals[1].slot);
        assert_eq!(s2.find(&(PROTO_TCP, Ipv4Addr::new(198, 18, 0, 100), 80)), Some(0));
        assert_eq!(s2.local_kind(Ipv4Addr::new(198, 19, 0, 200)), Some(super::super::LocalKind::Lip));
    }

    #[test]
    fn slot_limits_and_reuse() {
        let mut r = Registry::new(1, 2);
        r.add_service(spec("198.18.0.100:80", "rr")).unwrap();
        assert_eq!(r.add_service(spec("198.18.0.100:81", "rr")), Err(RegistryError::Full("services", 1)));
        r.add_real(&key("198.18.0.100:80"), real("198.19.0.11:80", 1)).unwrap();
        r.add_real(&key("198.18.0.100:80"), real("198.19.0.12:80", 1)).unwrap();
        assert!(r.add_real(&key("198.18.0.100:80"), real("198.19.0.13:80", 1)).is_err());
        r.del_real(&key("198.18.0.100:80"), "198.19.0.11:80".parse().unwrap()).unwrap();
        r.add_real(&key("198.18.0.100:80"), real("198.19.0.13:80", 1)).unwrap();
        r.clear();
        assert!(r.snapshot().services.is_empty());
        r.add_service(spec("198.18.0.100:81", "rr")).unwrap();
    }

    /// Found by the `control` fuzz target: `[::1%3]:5353` was taken beside `[::1]:5353` as a
    /// second service (and a scoped real server beside its plain self), though the
    /// dataplane knows a service or real server by protocol, address and port alone: the
    /// snapshot held both and found one of them only.
    #[test]
    fn ipv6_scope_ids_and_flow_labels_are_refused() {
        let mut r = Registry::new(4, 4);
        r.add_service(spec("[2001:db8::1]:80", "rr")).unwrap();
        assert!(matches!(r.add_service(spec("[2001:db8::1%3]:80", "rr")), Err(RegistryError::Invalid(_))));
        let k = key("[2001:db8::1]:80");
        r.add_real(&k, real("[2001:db8:2::11]:80", 1)).unwrap();
        assert!(matches!(r.add_real(&k, real("[2001:db8:2::11%1]:80", 1)), Err(RegistryError::Invalid(_))));
        let mut flow = real("[2001:db8:2::12]:80", 1);
        if let SocketAddr::V6(a) = &mut flow.addr {
            a.set_flowinfo(7);
        }
        assert!(matches!(r.add_real(&k, flow), Err(RegistryError::Invalid(_))));
        let s = r.snapshot();
        assert_eq!(s.v6.services.len(), 1);
        assert_eq!(s.v6.services[0].reals.len(), 1);
    }

    #[test]
    fn local_addresses_add_and_remove() {
        let mut r = Registry::new(2, 2);
        r.add_service(spec("198.18.0.100:80", "rr")).unwrap();
        let k = key("198.18.0.100:80");
        assert_eq!(r.add_laddr(&k, "198.19.0.200".parse().unwrap()), Err(RegistryError::LaddrExists));
        r.add_laddr(&k, "198.19.0.201".parse().unwrap()).unwrap();
        r.del_laddr(&k, "198.19.0.200".parse().unwrap()).unwrap();
        assert_eq!(r.del_laddr(&k, "198.19.0.200".parse().unwrap()), Err(RegistryError::NoLaddr));
        assert_eq!(r.snapshot().services[0].local_addrs, vec![Ipv4Addr::new(198, 19, 0, 201)]);
    }
}

#[cfg(test)]
mod ownership_tests {
    use super::*;

    #[test]
    fn ownership_reaches_the_snapshot_and_addresses_are_listed() {
        let mut r = Registry::new(4, 4);
        let spec = ServiceSpec {
            options: Default::default(),
            key: ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() },
            scheduler: "rr".into(),
            local_addrs: vec!["198.19.0.200".parse().unwrap()],
        };
        r.add_service(spec).unwrap();
        let vip = Ipv4Addr::new(198, 18, 0, 100);
        let lip = Ipv4Addr::new(198, 19, 0, 200);
        assert_eq!(
            r.addresses().into_iter().collect::<Vec<_>>(),
            vec![(vip.into(), LocalKind::Vip), (lip.into(), LocalKind::Lip)]
        );
        assert!(r.snapshot().owns(vip));
        let v = r.version();
        r.set_ownership(&[], false);
        assert!(r.version() > v, "a new snapshot version for the workers");
        let s = r.snapshot();
        assert!(!s.owns(vip) && !s.owns(lip));
        r.set_ownership(&[lip.into()], true);
        let s = r.snapshot();
        assert!(!s.owns(vip) && s.owns(lip));
    }
}
