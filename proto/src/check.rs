//! The checks a service or real-server spec must pass to be accepted, with rvsd's wording,
//! so that a client (`rvs-ctrl -t`, a reload) can tell before sending what rvsd would refuse.

use crate::{ForwardMethod, Protocol, RealSpec, ServiceOptions, ServiceSpec};
use std::net::{IpAddr, SocketAddr};

/// The schedulers rvsd implements, as ipvsadm names them.
pub const SCHEDULERS: &[&str] =
    &["rr", "wrr", "lc", "wlc", "sed", "nq", "fo", "ovf", "lblc", "lblcr", "dh", "sh", "mh", "twos"];

/// The scheduler flags rvsd takes (IPVS's generic `flag-1`/`flag-2` are the fallback and
/// port flags of sh and mh).
pub const SCHED_FLAGS: &[&str] = &["sh-fallback", "sh-port", "mh-fallback", "mh-port", "flag-1", "flag-2"];

/// Largest Maglev table size rvsd builds (16 Mi entries, 64 MiB).
pub const MH_TABLE_MAX: u32 = 1 << 24;

/// Whether `n` is prime (trial division: at most 2,048 steps for `MH_TABLE_MAX`).
pub fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    if n.is_multiple_of(2) {
        return n == 2;
    }
    let n = u64::from(n);
    let mut d = 3;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

/// A local address must be of its virtual address's family, except that an IPv6 service
/// may have IPv4 local addresses too: its IPv4 real servers are reached through them
/// (NAT64). IPv4 services take no IPv6 (NAT46 is not supported).
fn same_family(vip: SocketAddr, a: IpAddr, what: &str) -> Result<(), String> {
    if vip.is_ipv4() && a.is_ipv6() {
        return Err(format!(
            "{what} {a} is not of the same address family as the virtual address {vip} \
             (an IPv4 service takes no IPv6 {what}s)"
        ));
    }
    Ok(())
}

/// What IPv6 services do not take yet: SYN proxy, the PROXY header on connect, the mh
/// scheduler.
fn check_v6_service(s: &ServiceSpec) -> Result<(), String> {
    let o = &s.options;
    let unsupported = if o.syn_proxy {
        "synproxy"
    } else if o.proxy_on_connect {
        "proxy-protocol-send on-connect"
    } else if s.scheduler == "mh" {
        "the mh scheduler"
    } else {
        return Ok(());
    };
    Err(format!("{unsupported} is not supported for IPv6 services yet: {}", s.key.addr))
}

/// A real server must be of its service's address family, or IPv4 behind an IPv6 service
/// (NAT64, by FULLNAT only: the one method that rewrites both ends, so a NAT64 real server
/// sees one of our IPv4 local addresses). IPv6 real servers of IPv6 services take every
/// method; a TUN one is reached by IPv6-in-IPv6, not GUE.
pub fn check_real_family(vip: SocketAddr, r: &RealSpec) -> Result<(), String> {
    if vip.is_ipv4() && r.addr.is_ipv6() {
        return Err(format!(
            "real server {} and virtual service {vip}: address families differ (an IPv4 \
             service takes no IPv6 real servers)",
            r.addr
        ));
    }
    if let SocketAddr::V6(a) = r.addr {
        // The dataplane keys a NAT64 real server by its IPv4-mapped address: one given in
        // that form would be a second entry for the same server, run as NAT64 whatever
        // its method.
        if let Some(v4) = a.ip().to_ipv4_mapped() {
            return Err(format!(
                "real server {}: an IPv4-mapped IPv6 address; give the IPv4 address {v4} \
                 (behind an IPv6 virtual service that is NAT64, FULLNAT only)",
                r.addr
            ));
        }
    }
    if vip.is_ipv6() && r.addr.is_ipv4() && r.method != ForwardMethod::FullNat {
        return Err(format!(
            "real server {} and virtual service {vip}: address families differ; NAT64 (IPv4 \
             real servers behind an IPv6 virtual service) is FULLNAT only, {} cannot translate",
            r.addr,
            r.method.as_ipvsadm()
        ));
    }
    if vip.is_ipv6() && r.tunnel.is_some() {
        return Err(format!(
            "GUE tunnels to IPv6 real servers are not supported; {} takes IPv6-in-IPv6 \
             (leave out the tunnel type)",
            r.addr
        ));
    }
    Ok(())
}

/// What rvsd checks of a service before adding or editing it.
pub fn check_service(s: &ServiceSpec) -> Result<(), String> {
    // Port 0 is LVS's catch-all service: every port of the VIP that no service of its own
    // takes, one client's ports together on one real server (ipvsadm insists on `-p`).
    if s.key.addr.port() == 0 && s.options.persistence.is_none() {
        return Err("Zero port specified for non-persistent service".into());
    }
    if !SCHEDULERS.contains(&s.scheduler.as_str()) {
        return Err(format!("Scheduler not found: {} (available: {})", s.scheduler, SCHEDULERS.join(", ")));
    }
    for a in &s.local_addrs {
        same_family(s.key.addr, *a, "local address")?;
    }
    if s.key.addr.is_ipv6() {
        check_v6_service(s)?;
    }
    let o = &s.options;
    if let Some(f) = o.sched_flags.iter().find(|f| !SCHED_FLAGS.contains(&f.as_str())) {
        return Err(format!("unknown scheduler flag `{f}` (available: {})", SCHED_FLAGS.join(", ")));
    }
    if s.key.protocol != Protocol::Tcp && (o.syn_proxy || o.toa || o.proxy_protocol.is_some()) {
        return Err("SYN proxy, TOA and PROXY protocol apply to TCP services only".into());
    }
    if !matches!(o.proxy_protocol, None | Some(1) | Some(2)) {
        return Err("PROXY protocol version must be 1 or 2".into());
    }
    if o.proxy_on_connect && o.proxy_protocol.is_none() {
        return Err("sending the PROXY header on connect needs a PROXY protocol version (1 or 2)".into());
    }
    if let Some(m) = o.mh_table_size {
        if !(3..=MH_TABLE_MAX).contains(&m) || !is_prime(m) {
            return Err(format!(
                "mh table size {m} is not a prime between 3 and {MH_TABLE_MAX} \
                 (e.g. 251, 1021, 4093, 16381, 65521, 65537, 131071, 1048573)"
            ));
        }
    }
    check_limits(o)?;
    if let Some(p) = o.persistence {
        if p.timeout == 0 {
            return Err("persistence: timeout must be at least 1 second".into());
        }
        // ipvsadm's `-M`: a netmask for IPv4, a prefix length (up to 128) for IPv6.
        if s.key.addr.is_ipv4() && p.prefix_len > 32 {
            return Err("persistence: netmask must be a prefix of at most 32 bits".into());
        }
        if p.prefix_len > 128 {
            return Err("persistence: an IPv6 prefix length is at most 128".into());
        }
    }
    Ok(())
}

/// Access lists and admission limits: IPv4 prefixes (the dataplane's family), lists of
/// a bounded length, rates within range.
pub fn check_limits(o: &ServiceOptions) -> Result<(), String> {
    for (what, list) in [("allow", &o.allow), ("deny", &o.deny)] {
        if list.len() > crate::limits::ACL_MAX {
            return Err(format!("{what}: at most {} prefixes", crate::limits::ACL_MAX));
        }
        if let Some(c) = list.iter().find(|c| !c.addr().is_ipv4()) {
            return Err(format!("{what} {c}: IPv6 is not supported by the dataplane yet"));
        }
    }
    for (what, r) in [("source connection rate", o.source_conn_rate), ("connection rate", o.conn_rate)] {
        if let Some(r) = r {
            r.check().map_err(|e| format!("{what}: {e}"))?;
        }
    }
    Ok(())
}

/// What rvsd checks of a real server before adding or editing it.
/// A real server's port 0 is the port the client asked for, as in IPVS (a port-0
/// service's real servers usually have it).
pub fn check_real(r: &RealSpec) -> Result<(), String> {
    // Traffic sent to these would go nowhere (a route lookup that fails, counted, for a
    // share of the clients): refused where the operator wrote them.
    let ip = r.addr.ip().to_canonical();
    if ip.is_loopback() {
        return Err(format!(
            "real server {}: a loopback address is IPVS's delivery to the director's own stack, \
             which rvsd does not do (it forwards to other hosts); serve it from another host",
            r.addr
        ));
    }
    if ip.is_unspecified() || ip.is_multicast() || ip == std::net::IpAddr::V4(std::net::Ipv4Addr::BROADCAST) {
        return Err(format!("real server {}: not a unicast address", r.addr));
    }
    if r.weight > 65535 {
        return Err(format!("weight {} out of range (0..=65535)", r.weight));
    }
    let t = r.thresholds;
    if t.upper != 0 && t.lower > t.upper {
        return Err(format!("lower threshold {} is above the upper threshold {}", t.lower, t.upper));
    }
    if r.tunnel.is_some() && r.method != ForwardMethod::Tunnel {
        return Err(format!(
            "a tunnel type applies to TUN real servers only; {} is {}",
            r.addr,
            r.method.as_ipvsadm()
        ));
    }
    if r.tunnel.is_some_and(|t| t.port == 0) {
        return Err(format!("GUE tunnel to {} needs a UDP port", r.addr));
    }
    Ok(())
}

/// What rvsd checks of a real server within its service: SYN proxy, TOA and the PROXY
/// protocol need the director in both directions and its own sequence space, which only
/// FULLNAT gives.
pub fn check_real_in_service(o: &ServiceOptions, r: &RealSpec) -> Result<(), String> {
    if r.method == ForwardMethod::FullNat {
        return Ok(());
    }
    let opt = if o.syn_proxy {
        "synproxy"
    } else if o.toa {
        "toa"
    } else if o.proxy_protocol.is_some() {
        "proxy-protocol"
    } else {
        return Ok(());
    };
    Err(format!("{opt} works with FULLNAT real servers only; {} is {}", r.addr, r.method.as_ipvsadm()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Persistence, ServiceKey, ServiceOptions, Thresholds};

    fn svc(addr: &str, protocol: Protocol, scheduler: &str, options: ServiceOptions) -> ServiceSpec {
        ServiceSpec {
            key: ServiceKey { protocol, addr: addr.parse().unwrap() },
            scheduler: scheduler.into(),
            local_addrs: vec!["198.19.0.200".parse().unwrap()],
            options,
        }
    }

    #[test]
    fn services() {
        let ok = svc("198.18.0.100:80", Protocol::Tcp, "wlc", ServiceOptions::default());
        assert_eq!(check_service(&ok), Ok(()));
        // IPv6: local addresses of both families (IPv4 ones for NAT64), FULLNAT with TOA.
        let mut v6 = svc("[2001:db8::1]:80", Protocol::Tcp, "wlc", ServiceOptions::default());
        assert_eq!(check_service(&v6), Ok(()));
        v6.local_addrs = vec!["2001:db8:2::200".parse().unwrap()];
        assert_eq!(check_service(&v6), Ok(()));
        let mut v4 = ok.clone();
        v4.local_addrs = vec!["2001:db8:2::200".parse().unwrap()];
        assert!(check_service(&v4).unwrap_err().contains("not of the same address family"));
        v6.options.toa = true;
        assert_eq!(check_service(&v6), Ok(()));
        v6.options.toa = false;
        v6.options.syn_proxy = true;
        assert_eq!(
            check_service(&v6),
            Err("synproxy is not supported for IPv6 services yet: [2001:db8::1]:80".into())
        );
        v6.options.syn_proxy = false;
        v6.options.proxy_protocol = Some(2);
        assert_eq!(check_service(&v6), Ok(()));
        v6.options.proxy_on_connect = true;
        assert!(check_service(&v6).unwrap_err().contains("on-connect"));
        v6.options.proxy_on_connect = false;
        v6.options.proxy_protocol = None;
        // Persistence: the client prefix length up to 128 (ipvsadm's -M for IPv6).
        v6.options.persistence = Some(Persistence { timeout: 60, prefix_len: 64 });
        assert_eq!(check_service(&v6), Ok(()));
        v6.options.persistence = Some(Persistence { timeout: 60, prefix_len: 129 });
        assert!(check_service(&v6).unwrap_err().contains("at most 128"));
        v6.options.persistence = None;
        v6.scheduler = "mh".into();
        assert!(check_service(&v6).is_err());
        let r6 = RealSpec {
            addr: "[2001:db8:2::11]:80".parse().unwrap(),
            weight: 1,
            method: ForwardMethod::FullNat,
            thresholds: Default::default(),
            tunnel: None,
        };
        assert_eq!(check_real_family(v6.key.addr, &r6), Ok(()));
        assert!(check_real_family("198.18.0.100:80".parse().unwrap(), &r6).is_err());
        // IPv6 real servers take every method; TUN by IPv6-in-IPv6 only.
        for m in [ForwardMethod::DirectRoute, ForwardMethod::Tunnel, ForwardMethod::Nat] {
            assert_eq!(check_real_family(v6.key.addr, &RealSpec { method: m, ..r6.clone() }), Ok(()));
        }
        let gue6 = RealSpec {
            method: ForwardMethod::Tunnel,
            tunnel: Some(crate::TunnelEncap { port: 6080 }),
            ..r6.clone()
        };
        assert!(check_real_family(v6.key.addr, &gue6).unwrap_err().contains("IPv6-in-IPv6"));
        // NAT64: an IPv4 real server behind an IPv6 service, by FULLNAT only.
        let r4 = RealSpec { addr: "198.19.0.11:80".parse().unwrap(), ..r6.clone() };
        assert_eq!(check_real_family(v6.key.addr, &r4), Ok(()));
        for m in [ForwardMethod::DirectRoute, ForwardMethod::Tunnel, ForwardMethod::Nat] {
            let e = check_real_family(v6.key.addr, &RealSpec { method: m, ..r4.clone() }).unwrap_err();
            assert!(e.contains("address families differ") && e.contains("NAT64"), "{e}");
        }
        // An IPv4-mapped IPv6 address is the NAT64 key of an IPv4 one: refused in any
        // method, behind either family, pointing at the IPv4 form.
        let mapped = RealSpec { addr: "[::ffff:198.19.0.11]:80".parse().unwrap(), ..r6.clone() };
        for m in [ForwardMethod::FullNat, ForwardMethod::DirectRoute, ForwardMethod::Nat] {
            let e = check_real_family(v6.key.addr, &RealSpec { method: m, ..mapped.clone() }).unwrap_err();
            assert!(e.contains("IPv4-mapped") && e.contains("198.19.0.11"), "{e}");
        }
        assert!(check_real_family("198.18.0.100:80".parse().unwrap(), &mapped).is_err());
        let bad = svc("198.18.0.100:80", Protocol::Tcp, "xx", ServiceOptions::default());
        assert!(check_service(&bad).unwrap_err().starts_with("Scheduler not found: xx"));
        let udp_toa =
            svc("198.18.0.100:53", Protocol::Udp, "rr", ServiceOptions { toa: true, ..Default::default() });
        assert_eq!(
            check_service(&udp_toa),
            Err("SYN proxy, TOA and PROXY protocol apply to TCP services only".into())
        );
        let flag = ServiceOptions { sched_flags: vec!["sh-pot".into()], ..Default::default() };
        assert!(check_service(&svc("198.18.0.100:80", Protocol::Tcp, "sh", flag)).is_err());
        let p0 = ServiceOptions {
            persistence: Some(Persistence { timeout: 0, prefix_len: 32 }),
            ..Default::default()
        };
        assert!(check_service(&svc("198.18.0.100:80", Protocol::Tcp, "rr", p0)).is_err());
    }

    #[test]
    fn reals() {
        let mut r = RealSpec {
            addr: "198.19.0.11:80".parse().unwrap(),
            weight: 1,
            method: ForwardMethod::FullNat,
            tunnel: None,
            thresholds: Thresholds { upper: 10, lower: 5 },
        };
        assert_eq!(check_real(&r), Ok(()));
        // ldirectord's `fallback=127.0.0.1:80`, CTDB's "add localhost too": IPVS's local
        // delivery, which would be a black hole here.
        for bad in ["127.0.0.1:80", "[::1]:80", "[::ffff:127.0.0.1]:80"] {
            let l = RealSpec { addr: bad.parse().unwrap(), ..r.clone() };
            assert!(check_real(&l).unwrap_err().contains("loopback address"), "{bad}");
        }
        for bad in ["0.0.0.0:80", "224.0.0.1:80", "255.255.255.255:80", "[::]:80", "[ff02::1]:80"] {
            let l = RealSpec { addr: bad.parse().unwrap(), ..r.clone() };
            assert!(check_real(&l).unwrap_err().ends_with("not a unicast address"), "{bad}");
        }
        r.thresholds = Thresholds { upper: 5, lower: 10 };
        assert_eq!(check_real(&r), Err("lower threshold 10 is above the upper threshold 5".into()));
        r.thresholds = Thresholds::default();
        r.method = ForwardMethod::DirectRoute;
        assert_eq!(check_real(&r), Ok(()));
        r.tunnel = Some(crate::TunnelEncap { port: 6080 });
        assert!(check_real(&r).unwrap_err().contains("TUN real servers only"));
        r.method = ForwardMethod::Tunnel;
        assert_eq!(check_real(&r), Ok(()), "GUE to port 6080");
        r.tunnel = Some(crate::TunnelEncap { port: 0 });
        assert!(check_real(&r).unwrap_err().contains("needs a UDP port"));
        r.method = ForwardMethod::DirectRoute;
        r.tunnel = None;
        let toa = ServiceOptions { toa: true, ..Default::default() };
        assert_eq!(
            check_real_in_service(&toa, &r),
            Err("toa works with FULLNAT real servers only; 198.19.0.11:80 is Route".into())
        );
        assert_eq!(check_real_in_service(&ServiceOptions::default(), &r), Ok(()));
    }
}
