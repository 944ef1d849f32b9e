//! Services added, edited or removed through the JSON API, held on top of the file's.
//!
//! The daemon runs the *effective* configuration: the file's virtual servers with the API's
//! edits (scheduler, options) and removals applied, then the services the API added (no real
//! servers and no checkers of their own; real servers come through the real-server API). A
//! reload keeps these changes while their service is still meaningful: an edit or removal of
//! a service the file no longer has is dropped, and so is an added service the file now has.
//! A member of a `virtual_server_group` is changed in the file, not here. Adding back a
//! service of the file that the API removed restores the file's (its real servers, checks
//! and local addresses) with the scheduler and options given.

use super::OpError;
use crate::keepalived::{Config, Loc, VirtualServer};
use rvs_proto::{ForwardMethod, ServiceKey, ServiceOptions, ServiceSpec};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

/// A service the API adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDef {
    pub key: ServiceKey,
    pub scheduler: String,
    pub local_addrs: Vec<IpAddr>,
    pub options: ServiceOptions,
}

/// A change of services asked for through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceOp {
    Add(ServiceDef),
    /// New scheduler and/or options (None: unchanged).
    Edit {
        key: ServiceKey,
        scheduler: Option<String>,
        options: Option<ServiceOptions>,
    },
    Delete(ServiceKey),
}

impl ServiceOp {
    pub fn key(&self) -> ServiceKey {
        match self {
            ServiceOp::Add(d) => d.key,
            ServiceOp::Edit { key, .. } | ServiceOp::Delete(key) => *key,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceOverrides {
    pub added: BTreeMap<ServiceKey, ServiceDef>,
    /// Edits of the file's services: scheduler, options.
    pub edited: BTreeMap<ServiceKey, (Option<String>, Option<ServiceOptions>)>,
    pub removed: BTreeSet<ServiceKey>,
}

/// Sets `o` on a virtual server, in keepalived's terms.
fn set_options(vs: &mut VirtualServer, o: &ServiceOptions) {
    let host = if vs.key.addr.is_ipv4() { 32 } else { 128 };
    vs.persistence_timeout = o.persistence.map(|p| p.timeout);
    vs.persistence_granularity = o.persistence.map(|p| p.prefix_len).filter(|&l| l != host);
    vs.sched_flags = o.sched_flags.clone();
    vs.syn_proxy = o.syn_proxy;
    vs.toa = o.toa;
    vs.proxy_protocol = o.proxy_protocol;
    vs.proxy_on_connect = o.proxy_on_connect;
    vs.expire_quiescent_template = o.expire_quiescent_template;
    vs.mh_table_size = o.mh_table_size;
    vs.limits = crate::keepalived::model::VsLimits {
        allow: o.allow.clone(),
        deny: o.deny.clone(),
        source_conn_rate: o.source_conn_rate,
        conn_rate: o.conn_rate,
        max_conns: o.max_conns,
    };
}

fn api_loc() -> Loc {
    Loc { file: Path::new("(api)").into(), line: 0 }
}

fn virtual_server(d: &ServiceDef) -> VirtualServer {
    let mut vs = VirtualServer {
        loc: api_loc(),
        key: d.key,
        members: vec![d.key],
        group: None,
        delay_loop: crate::keepalived::model::DEFAULT_DELAY_LOOP,
        scheduler: d.scheduler.clone(),
        method: ForwardMethod::FullNat,
        tunnel: None,
        sorry_method: None,
        persistence_timeout: None,
        persistence_granularity: None,
        sched_flags: Vec::new(),
        quorum: 0,
        hysteresis: 0,
        quorum_up: None,
        quorum_down: None,
        sorry_server: None,
        sorry_server_inhibit: false,
        inhibit_on_failure: false,
        alpha: false,
        omega: false,
        ha_suspend: false,
        virtualhost: None,
        laddr_group: None,
        local_addrs: d.local_addrs.clone(),
        syn_proxy: false,
        toa: false,
        proxy_protocol: None,
        proxy_on_connect: false,
        expire_quiescent_template: false,
        mh_table_size: None,
        limits: Default::default(),
        reals: Vec::new(),
    };
    set_options(&mut vs, &d.options);
    vs
}

/// The configuration the daemon runs: the file's, with the API's service changes.
pub fn effective_config(file: &Config, so: &ServiceOverrides) -> Config {
    let mut c = file.clone();
    c.virtual_servers.retain(|v| !(v.members.len() == 1 && so.removed.contains(&v.key)));
    for vs in c.virtual_servers.iter_mut() {
        if let Some((sched, opts)) = so.edited.get(&vs.key).filter(|_| vs.members.len() == 1) {
            if let Some(s) = sched {
                vs.scheduler = s.clone();
            }
            if let Some(o) = opts {
                set_options(vs, o);
            }
        }
    }
    c.virtual_servers.extend(so.added.values().map(virtual_server));
    c
}

fn name(k: &ServiceKey) -> String {
    format!("{} {}", k.protocol.as_str(), k.addr)
}

fn check(spec: &ServiceSpec) -> Result<(), OpError> {
    if spec.local_addrs.is_empty() {
        return Err(OpError::Invalid("FULLNAT needs local addresses: give \"local_addresses\"".into()));
    }
    rvs_proto::check::check_service(spec).map_err(OpError::Invalid)
}

/// Applies `op` to `so`, checked against the file and with rvsd's checks.
pub fn apply_service_op(file: &Config, so: &mut ServiceOverrides, op: ServiceOp) -> Result<(), OpError> {
    let key = op.key();
    let eff = effective_config(file, so);
    let current = eff.virtual_servers.iter().find(|v| v.serves(&key));
    if let Some(g) = current.and_then(|v| v.group.as_ref()) {
        if !matches!(op, ServiceOp::Add(_)) {
            return Err(OpError::Invalid(format!(
                "{} is a member of virtual_server_group {g}: change it in the configuration file",
                name(&key)
            )));
        }
    }
    match op {
        ServiceOp::Add(d) => {
            if current.is_some() {
                return Err(OpError::Conflict(format!("virtual server {} already exists", name(&key))));
            }
            let in_file = file.virtual_servers.iter().find(|v| v.serves(&key));
            let local_addrs = in_file.map_or_else(|| d.local_addrs.clone(), |v| v.local_addrs.clone());
            check(&ServiceSpec {
                key,
                scheduler: d.scheduler.clone(),
                local_addrs,
                options: d.options.clone(),
            })?;
            if in_file.is_some() {
                // The file's, removed through the API: back with its real servers and checks
                // (and its local addresses), with the scheduler and options given.
                so.removed.remove(&key);
                so.edited.insert(key, (Some(d.scheduler), Some(d.options)));
            } else {
                so.added.insert(key, d);
            }
        }
        ServiceOp::Edit { scheduler, options, .. } => {
            let Some(v) = current else {
                return Err(OpError::NotFound(format!("no virtual server {}", name(&key))));
            };
            check(&ServiceSpec {
                key,
                scheduler: scheduler.clone().unwrap_or_else(|| v.scheduler.clone()),
                local_addrs: v.local_addrs.clone(),
                options: options.clone().unwrap_or_else(|| v.options()),
            })?;
            if let Some(d) = so.added.get_mut(&key) {
                if let Some(s) = scheduler {
                    d.scheduler = s;
                }
                if let Some(o) = options {
                    d.options = o;
                }
            } else {
                let e = so.edited.entry(key).or_default();
                if scheduler.is_some() {
                    e.0 = scheduler;
                }
                if options.is_some() {
                    e.1 = options;
                }
            }
        }
        ServiceOp::Delete(_) => {
            if current.is_none() {
                return Err(OpError::NotFound(format!("no virtual server {}", name(&key))));
            }
            if so.added.remove(&key).is_none() {
                so.edited.remove(&key);
                so.removed.insert(key);
            }
        }
    }
    Ok(())
}

/// Drops the service changes a new file makes moot; how many.
pub fn prune_services(file: &Config, so: &mut ServiceOverrides) -> usize {
    let in_file = |k: &ServiceKey| file.virtual_servers.iter().any(|v| v.members.len() == 1 && v.key == *k);
    let before = so.added.len() + so.edited.len() + so.removed.len();
    so.added.retain(|k, _| !file.virtual_servers.iter().any(|v| v.serves(k)));
    so.edited.retain(|k, _| in_file(k));
    so.removed.retain(|k| in_file(k));
    before - (so.added.len() + so.edited.len() + so.removed.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::state::Health;
    use rvs_proto::{Persistence, Protocol};
    use std::time::Instant;

    const CONF: &str = "local_address_group g {\n 198.19.0.200\n}\n\
        virtual_server 198.18.0.100 80 {\n lb_algo rr\n laddr_group_name g\n\
        real_server 198.19.0.11 80 {\n weight 1\n }\n}\n\
        virtual_server_group vg {\n 198.18.1.1-2 80\n}\n\
        virtual_server group vg {\n lb_algo rr\n laddr_group_name g\n}\n";

    fn file() -> Config {
        crate::keepalived::load_str("k.conf", CONF).unwrap().config
    }

    fn key(a: &str) -> ServiceKey {
        ServiceKey { protocol: Protocol::Tcp, addr: a.parse().unwrap() }
    }

    fn def(a: &str) -> ServiceDef {
        ServiceDef {
            key: key(a),
            scheduler: "wlc".into(),
            local_addrs: vec!["198.19.0.201".parse().unwrap()],
            options: ServiceOptions {
                persistence: Some(Persistence { timeout: 60, prefix_len: 32 }),
                ..Default::default()
            },
        }
    }

    #[test]
    fn add_edit_delete_and_the_table_they_give() {
        let f = file();
        let mut so = ServiceOverrides::default();
        apply_service_op(&f, &mut so, ServiceOp::Add(def("198.18.0.100:8080"))).unwrap();
        let t = Health::new(effective_config(&f, &so), Instant::now(), &mut || 0.0).desired();
        let added = &t[&key("198.18.0.100:8080")];
        assert_eq!((added.scheduler.as_str(), added.reals.len()), ("wlc", 0));
        assert_eq!(added.options.persistence.unwrap().timeout, 60);
        // Edit a file service's options; its real servers stay.
        let toa = ServiceOptions { toa: true, ..Default::default() };
        let edit =
            ServiceOp::Edit { key: key("198.18.0.100:80"), scheduler: Some("sh".into()), options: Some(toa) };
        apply_service_op(&f, &mut so, edit).unwrap();
        let t = Health::new(effective_config(&f, &so), Instant::now(), &mut || 0.0).desired();
        let web = &t[&key("198.18.0.100:80")];
        assert_eq!((web.scheduler.as_str(), web.options.toa, web.reals.len()), ("sh", true, 1));
        // Delete both: the file's is marked removed, the API's forgotten.
        apply_service_op(&f, &mut so, ServiceOp::Delete(key("198.18.0.100:80"))).unwrap();
        apply_service_op(&f, &mut so, ServiceOp::Delete(key("198.18.0.100:8080"))).unwrap();
        let c = effective_config(&f, &so);
        assert!(!c.virtual_servers.iter().any(|v| v.serves(&key("198.18.0.100:80"))));
        assert!(so.added.is_empty() && so.edited.is_empty());
        assert_eq!(so.removed.len(), 1);
        // Added back: the file's real server returns, with the options given.
        apply_service_op(&f, &mut so, ServiceOp::Add(def("198.18.0.100:80"))).unwrap();
        let t = Health::new(effective_config(&f, &so), Instant::now(), &mut || 0.0).desired();
        let web = &t[&key("198.18.0.100:80")];
        assert_eq!((web.scheduler.as_str(), web.reals.len()), ("wlc", 1));
        assert_eq!(
            web.local_addrs,
            ["198.19.0.200".parse::<IpAddr>().unwrap()],
            "the file's local addresses"
        );
        assert!(so.removed.is_empty());
    }

    #[test]
    fn refusals() {
        let f = file();
        let mut so = ServiceOverrides::default();
        let e = apply_service_op(&f, &mut so, ServiceOp::Add(def("198.18.0.100:80"))).unwrap_err();
        assert!(matches!(e, OpError::Conflict(_)), "{e}");
        // An IPv4 service with IPv6 local addresses would be NAT46.
        let mut v4 = def("198.18.0.100:82");
        v4.local_addrs = vec!["2001:db8::2".parse().unwrap()];
        let e = apply_service_op(&f, &mut so, ServiceOp::Add(v4)).unwrap_err();
        assert!(matches!(&e, OpError::Invalid(m) if m.contains("same address family")), "{e}");
        let mut nolip = def("198.18.0.100:81");
        nolip.local_addrs.clear();
        assert!(matches!(apply_service_op(&f, &mut so, ServiceOp::Add(nolip)), Err(OpError::Invalid(_))));
        let bad =
            ServiceOp::Edit { key: key("198.18.0.100:80"), scheduler: Some("xyz".into()), options: None };
        assert!(matches!(apply_service_op(&f, &mut so, bad), Err(OpError::Invalid(_))));
        let e = apply_service_op(&f, &mut so, ServiceOp::Delete(key("198.18.1.2:80"))).unwrap_err();
        assert!(e.to_string().contains("member of virtual_server_group vg"), "{e}");
        let e = apply_service_op(&f, &mut so, ServiceOp::Delete(key("198.18.0.100:9"))).unwrap_err();
        assert!(matches!(e, OpError::NotFound(_)));
        assert_eq!(so, ServiceOverrides::default(), "nothing changed by refused requests");
    }

    #[test]
    fn prune_after_reload() {
        let f = file();
        let mut so = ServiceOverrides::default();
        apply_service_op(&f, &mut so, ServiceOp::Add(def("198.18.0.100:8080"))).unwrap();
        apply_service_op(&f, &mut so, ServiceOp::Delete(key("198.18.0.100:80"))).unwrap();
        // The new file has 8080 and no longer 80: both changes are moot.
        let text = CONF.replace("198.18.0.100 80", "198.18.0.100 8080");
        let f2 = crate::keepalived::load_str("k.conf", &text).unwrap().config;
        assert_eq!(prune_services(&f2, &mut so), 2);
        assert_eq!(so, ServiceOverrides::default());
    }
}
