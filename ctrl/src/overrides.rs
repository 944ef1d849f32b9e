//! Changes made through rvs-ctrl's JSON API, held in memory on top of the file config.
//!
//! The configuration file stays the source of truth for what exists; the API adds a layer
//! of per-real-server overrides that the daemon applies to the table the health checks
//! call for, every time it computes it:
//!
//! * `Added(w, m)`: a real server the file does not name, with weight `w` and forwarding
//!   method `m` (the service's `lb_kind` unless the API named one). It has no health
//!   checker, so it is always alive (as a keepalived real server without a checker);
//! * `Weight(w)`: the weight of a real server of the file while it is alive (drain is
//!   `Weight(0)`); a dead server stays removed (or at weight 0 with inhibit_on_failure);
//! * `Removed`: a real server of the file that is taken out whatever its checks say.
//!
//! Overrides survive a reload (SIGHUP, `rvsadm --reload`) as long as their service is still
//! in the file; an `Added` server that the file now names is dropped (the file wins). They
//! are lost when rvs-ctrl restarts. Quorum is computed from the file's weights and the
//! checks, before overrides; while a service serves from its sorry server, added servers
//! are left out too.

use crate::check::state::Table;
use crate::keepalived::Config;
use rvs_proto::{ForwardMethod, ServiceKey};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// The largest weight ipvsadm accepts.
pub const MAX_WEIGHT: u32 = 65535;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Override {
    Added(u32, ForwardMethod),
    Weight(u32),
    Removed,
}

impl Override {
    /// How the API shows it.
    pub fn describe(self) -> String {
        match self {
            Override::Added(w, _) => format!("added (weight {w})"),
            Override::Weight(0) => "drained".into(),
            Override::Weight(w) => format!("weight {w}"),
            Override::Removed => "removed".into(),
        }
    }
}

pub type Overrides = BTreeMap<(ServiceKey, SocketAddr), Override>;

mod services;
pub use services::{
    apply_service_op, effective_config, prune_services, ServiceDef, ServiceOp, ServiceOverrides,
};

/// A change asked for through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Add {
        service: ServiceKey,
        addr: SocketAddr,
        weight: u32,
        /// None: the service's `lb_kind`.
        method: Option<ForwardMethod>,
    },
    Edit {
        service: ServiceKey,
        addr: SocketAddr,
        weight: u32,
    },
    Drain {
        service: ServiceKey,
        addr: SocketAddr,
    },
    Delete {
        service: ServiceKey,
        addr: SocketAddr,
    },
    /// Services: see [`services`].
    Service(ServiceOp),
}

/// Why a change was refused; each maps to an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("rvs-ctrl is not taking changes: {0}")]
    Unavailable(String),
}

impl OpError {
    pub fn http_status(&self) -> u16 {
        match self {
            OpError::NotFound(_) => 404,
            OpError::Conflict(_) => 409,
            OpError::Invalid(_) => 400,
            OpError::Unavailable(_) => 503,
        }
    }
}

fn in_file(config: &Config, service: &ServiceKey, addr: SocketAddr) -> Option<u32> {
    config
        .virtual_servers
        .iter()
        .find(|v| v.serves(service))
        .and_then(|v| v.reals.iter().find(|r| r.addr == addr))
        .map(|r| r.weight)
}

/// How the file forwards to `addr` in `service`: its real server's method, else (a server
/// the file does not name) the service's `lb_kind`.
fn file_method(config: &Config, service: &ServiceKey, addr: SocketAddr) -> Option<ForwardMethod> {
    let vs = config.virtual_servers.iter().find(|v| v.serves(service))?;
    Some(match vs.reals.iter().find(|r| r.addr == addr) {
        Some(rs) => vs.real_method(rs).0,
        None => vs.method,
    })
}

/// Applies `op` to `ov`, checked against the file config.
pub fn apply_op(config: &Config, ov: &mut Overrides, op: Op) -> Result<(), OpError> {
    let (service, addr) = match op {
        Op::Add { service, addr, .. }
        | Op::Edit { service, addr, .. }
        | Op::Drain { service, addr }
        | Op::Delete { service, addr } => (service, addr),
        Op::Service(_) => {
            return Err(OpError::Invalid("a service change is not a real-server change".into()))
        }
    };
    let name = |k: &ServiceKey| format!("{} {}", k.protocol.as_str(), k.addr);
    if !config.virtual_servers.iter().any(|v| v.serves(&service)) {
        return Err(OpError::NotFound(format!("no virtual server {} in the configuration", name(&service))));
    }
    if let Op::Add { weight, .. } | Op::Edit { weight, .. } = &op {
        let weight = *weight;
        if weight > MAX_WEIGHT {
            return Err(OpError::Invalid(format!("weight {weight} is out of range 0..{MAX_WEIGHT}")));
        }
    }
    if addr.is_ipv6() && service.addr.is_ipv4() {
        return Err(OpError::Invalid(format!(
            "real server {addr} and virtual server {} address families differ",
            service.addr
        )));
    }
    if let Op::Add { method, .. } = &op {
        let method = method.or_else(|| file_method(config, &service, addr)).unwrap_or_default();
        let spec =
            rvs_proto::RealSpec { addr, weight: 0, method, thresholds: Default::default(), tunnel: None };
        // NAT64 (an IPv4 real server behind an IPv6 service) is FULLNAT only.
        rvs_proto::check::check_real_family(service.addr, &spec).map_err(OpError::Invalid)?;
    }
    if addr.port() == 0 {
        return Err(OpError::Invalid(format!("real server {addr} has no port")));
    }
    let file = in_file(config, &service, addr);
    let key = (service, addr);
    let cur = ov.get(&key).copied();
    let exists = match (file, cur) {
        (_, Some(Override::Removed)) => false,
        (Some(_), _) | (None, Some(Override::Added(..))) => true,
        (None, _) => false,
    };
    // The method of a server added here, kept across weight changes.
    let default_method = file_method(config, &service, addr).unwrap_or_default();
    let added_method = match cur {
        Some(Override::Added(_, m)) => m,
        _ => default_method,
    };
    let missing = || OpError::NotFound(format!("no real server {addr} in {}", name(&service)));
    match op {
        Op::Add { weight, method, .. } => {
            if exists {
                return Err(OpError::Conflict(format!("real server {addr} already in {}", name(&service))));
            }
            if let (Some(_), Some(m)) = (file, method) {
                if m != default_method {
                    return Err(OpError::Invalid(format!(
                        "real server {addr} is {} in the configuration, not {}",
                        default_method.name(),
                        m.name()
                    )));
                }
            }
            match file {
                Some(w) if w == weight => ov.remove(&key),
                Some(_) => ov.insert(key, Override::Weight(weight)),
                None => ov.insert(key, Override::Added(weight, method.unwrap_or(default_method))),
            };
        }
        Op::Edit { .. } | Op::Drain { .. } => {
            if !exists {
                return Err(missing());
            }
            let weight = if let Op::Edit { weight, .. } = op { weight } else { 0 };
            match file {
                Some(w) if w == weight => ov.remove(&key),
                Some(_) => ov.insert(key, Override::Weight(weight)),
                None => ov.insert(key, Override::Added(weight, added_method)),
            };
        }
        Op::Delete { .. } => {
            if !exists {
                return Err(missing());
            }
            match file {
                Some(_) => ov.insert(key, Override::Removed),
                None => ov.remove(&key),
            };
        }
        Op::Service(_) => unreachable!("returned above"),
    }
    Ok(())
}

/// Drops the overrides a new file config makes meaningless: those of services it no longer
/// has, `Added` servers it now names and `Weight`/`Removed` of servers it no longer names.
/// Returns how many were dropped.
pub fn prune(config: &Config, ov: &mut Overrides) -> usize {
    let before = ov.len();
    ov.retain(|(service, addr), o| {
        if !config.virtual_servers.iter().any(|v| v.serves(service)) {
            return false;
        }
        let file = in_file(config, service, *addr).is_some();
        matches!(o, Override::Added(..)) != file
    });
    before - ov.len()
}

/// Applies the overrides to the table the health checks call for. `sorry` tells whether a
/// service is serving from its sorry server now (then nothing is added to it).
pub fn apply(table: &mut Table, ov: &Overrides, sorry: &dyn Fn(&ServiceKey) -> bool) {
    for ((service, addr), o) in ov {
        let Some(s) = table.get_mut(service) else { continue };
        match *o {
            Override::Added(w, m) => {
                if !sorry(service) {
                    s.reals.insert(*addr, w);
                    if m == ForwardMethod::FullNat {
                        s.methods.remove(addr);
                    } else {
                        s.methods.insert(*addr, (m, None));
                    }
                }
            }
            Override::Weight(w) => {
                if let Some(cur) = s.reals.get_mut(addr) {
                    // An inhibited dead server stays at 0.
                    if *cur > 0 || w == 0 {
                        *cur = w;
                    }
                }
            }
            Override::Removed => {
                s.reals.remove(addr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keepalived;

    const CONF: &str = "local_address_group g {\n 198.19.0.200\n}\n\
        virtual_server 198.18.0.100 80 {\n lb_algo rr\n lb_kind FNAT\n laddr_group_name g\n\
        real_server 198.19.0.11 80 {\n weight 1\n }\n real_server 198.19.0.12 80 {\n weight 2\n }\n}\n";

    fn config(text: &str) -> Config {
        keepalived::load_str("k.conf", text).unwrap().config
    }

    fn key() -> ServiceKey {
        config(CONF).virtual_servers[0].key
    }

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn table(c: &Config) -> Table {
        crate::check::state::Health::new(c.clone(), std::time::Instant::now(), &mut || 0.0).desired()
    }

    #[test]
    fn add_edit_drain_delete_round_trip() {
        let c = config(CONF);
        let mut ov = Overrides::new();
        let k = key();
        let new = a("198.19.0.13:80");
        apply_op(&c, &mut ov, Op::Add { service: k, addr: new, weight: 3, method: None }).unwrap();
        assert_eq!(
            apply_op(&c, &mut ov, Op::Add { service: k, addr: new, weight: 3, method: None })
                .unwrap_err()
                .http_status(),
            409
        );
        apply_op(&c, &mut ov, Op::Edit { service: k, addr: new, weight: 5 }).unwrap();
        apply_op(&c, &mut ov, Op::Drain { service: k, addr: a("198.19.0.11:80") }).unwrap();
        apply_op(&c, &mut ov, Op::Edit { service: k, addr: a("198.19.0.12:80"), weight: 7 }).unwrap();
        let mut t = table(&c);
        apply(&mut t, &ov, &|_| false);
        let reals: Vec<(SocketAddr, u32)> = t[&k].reals.iter().map(|(a, w)| (*a, *w)).collect();
        assert_eq!(reals, vec![(a("198.19.0.11:80"), 0), (a("198.19.0.12:80"), 7), (new, 5)]);

        // Back to the file's weight: no override left.
        apply_op(&c, &mut ov, Op::Edit { service: k, addr: a("198.19.0.12:80"), weight: 2 }).unwrap();
        assert!(!ov.contains_key(&(k, a("198.19.0.12:80"))));
        // Delete: an added server goes, a file server is marked removed and can come back.
        apply_op(&c, &mut ov, Op::Delete { service: k, addr: new }).unwrap();
        assert!(!ov.contains_key(&(k, new)));
        apply_op(&c, &mut ov, Op::Delete { service: k, addr: a("198.19.0.12:80") }).unwrap();
        assert_eq!(
            apply_op(&c, &mut ov, Op::Delete { service: k, addr: a("198.19.0.12:80") })
                .unwrap_err()
                .http_status(),
            404
        );
        let mut t = table(&c);
        apply(&mut t, &ov, &|_| false);
        assert!(!t[&k].reals.contains_key(&a("198.19.0.12:80")));
        apply_op(&c, &mut ov, Op::Add { service: k, addr: a("198.19.0.12:80"), weight: 2, method: None })
            .unwrap();
        assert_eq!(ov.get(&(k, a("198.19.0.11:80"))), Some(&Override::Weight(0)));
        assert_eq!(ov.len(), 1);
    }

    /// A server added to an `lb_kind DR` service is DR unless the API names a method; its
    /// method stays through weight changes; a file server keeps the file's.
    #[test]
    fn added_servers_take_the_services_method_or_their_own() {
        let c = config(&CONF.replace("lb_kind FNAT", "lb_kind DR"));
        let mut ov = Overrides::new();
        let k = key();
        let (dr, nat) = (a("198.19.0.13:80"), a("198.19.0.14:80"));
        apply_op(&c, &mut ov, Op::Add { service: k, addr: dr, weight: 1, method: None }).unwrap();
        let m = Some(ForwardMethod::Nat);
        apply_op(&c, &mut ov, Op::Add { service: k, addr: nat, weight: 1, method: m }).unwrap();
        apply_op(&c, &mut ov, Op::Edit { service: k, addr: nat, weight: 4 }).unwrap();
        assert_eq!(ov[&(k, nat)], Override::Added(4, ForwardMethod::Nat));
        let mut t = table(&c);
        apply(&mut t, &ov, &|_| false);
        assert_eq!(t[&k].method_of(&dr), (ForwardMethod::DirectRoute, None));
        assert_eq!(t[&k].method_of(&nat), (ForwardMethod::Nat, None));
        assert_eq!(t[&k].method_of(&a("198.19.0.11:80")), (ForwardMethod::DirectRoute, None));
        // A file server comes back only as the file has it.
        apply_op(&c, &mut ov, Op::Delete { service: k, addr: a("198.19.0.12:80") }).unwrap();
        let back = Op::Add { service: k, addr: a("198.19.0.12:80"), weight: 2, method: m };
        let e = apply_op(&c, &mut ov, back).unwrap_err();
        assert_eq!(
            (e.http_status(), e.to_string().as_str()),
            (400, "real server 198.19.0.12:80 is dr in the configuration, not nat")
        );
    }

    #[test]
    fn refusals() {
        let c = config(CONF);
        let mut ov = Overrides::new();
        let k = key();
        let other = ServiceKey { protocol: rvs_proto::Protocol::Udp, addr: k.addr };
        let e = apply_op(
            &c,
            &mut ov,
            Op::Add { service: other, addr: a("198.19.0.13:80"), weight: 1, method: None },
        );
        assert_eq!(e.unwrap_err().http_status(), 404);
        let e = apply_op(
            &c,
            &mut ov,
            Op::Add { service: k, addr: a("198.19.0.13:80"), weight: 70000, method: None },
        );
        assert_eq!(e.unwrap_err().http_status(), 400);
        let e = apply_op(&c, &mut ov, Op::Add { service: k, addr: a("[::1]:80"), weight: 1, method: None });
        assert_eq!(e.unwrap_err().http_status(), 400);
        let e = apply_op(&c, &mut ov, Op::Edit { service: k, addr: a("198.19.0.99:80"), weight: 1 });
        assert_eq!(e.unwrap_err().http_status(), 404);
        assert!(ov.is_empty());
    }

    #[test]
    fn nat64_servers_are_fullnat_only() {
        // An IPv6 virtual server with IPv4 local addresses and real servers (NAT64).
        let c = config(&CONF.replace("virtual_server 198.18.0.100 80", "virtual_server 2001:db8:1::100 80"));
        let mut ov = Overrides::new();
        let k = c.virtual_servers[0].key;
        assert!(k.addr.is_ipv6());
        apply_op(&c, &mut ov, Op::Add { service: k, addr: a("198.19.0.13:80"), weight: 1, method: None })
            .unwrap();
        let dr = Some(ForwardMethod::DirectRoute);
        let e =
            apply_op(&c, &mut ov, Op::Add { service: k, addr: a("198.19.0.14:80"), weight: 1, method: dr })
                .unwrap_err();
        assert_eq!(e.http_status(), 400);
        assert!(e.to_string().contains("NAT64"), "{e}");
        assert_eq!(ov.len(), 1);
    }

    #[test]
    fn prune_after_reload_and_sorry_mode() {
        let c = config(CONF);
        let mut ov = Overrides::new();
        let k = key();
        apply_op(&c, &mut ov, Op::Add { service: k, addr: a("198.19.0.13:80"), weight: 1, method: None })
            .unwrap();
        apply_op(&c, &mut ov, Op::Drain { service: k, addr: a("198.19.0.11:80") }).unwrap();
        // While serving from the sorry server, added servers stay out.
        let mut t = table(&c);
        apply(&mut t, &ov, &|_| true);
        assert!(!t[&k].reals.contains_key(&a("198.19.0.13:80")));
        // The new file names .13 itself and drops .11: both overrides go.
        let c2 = config(&CONF.replace("198.19.0.11 80", "198.19.0.13 80"));
        assert_eq!(prune(&c2, &mut ov), 2);
        assert!(ov.is_empty());
        apply_op(&c, &mut ov, Op::Drain { service: k, addr: a("198.19.0.11:80") }).unwrap();
        assert_eq!(prune(&config("global_defs {\n router_id x\n}\n"), &mut ov), 1);
    }
}
