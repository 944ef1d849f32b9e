//! rvsd's control thread, for what it does with a request in the DPDK-free core.
//!
//! `Control::respond` and `Control::handle` live in the DPDK crate
//! (`dataplane/src/control/`), which the fuzz crate cannot link (it needs libdpdk). What
//! they do with a command is repeated here with the same calls: the version check, the
//! `Registry` method each command maps to, the workers' `WorkerConfig` made from its
//! snapshot after every accepted change (`with_services`) or timeout change
//! (`with_timeouts`, a zero field left as it was), the stat slots a new service or real
//! server is given a baseline for, the addresses a takeover announces, the ownership
//! listing. Keep this in step with `handle` there.
//!
//! Shared by the `control` and `control_decode` targets (`#[path]`, not a target).

use std::collections::HashSet;
use std::hint::black_box;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rvs_core::service::{LocalKind, Registry, WorkerConfig};
use rvs_proto::{Command, Request, ServiceKey, PROTO_VERSION};

/// rvsd's `MAX_REQUEST` (`dataplane/src/control/server.rs`): the longest request line read.
pub const MAX_REQUEST: usize = 1 << 20;

/// rvsd's default timeouts (`[dataplane]` without `timeouts`).
pub const DEFAULT_TIMEOUTS: rvs_proto::Timeouts = rvs_proto::Timeouts { tcp: 900, tcp_fin: 120, udp: 300 };

/// What the workers are sent after a command was accepted (`control_decode` has no
/// worker to send it to).
#[derive(Debug, Default)]
#[allow(dead_code)]
pub struct Effect {
    /// A new configuration (services, timeouts) for every worker.
    pub publish: bool,
    /// Addresses just taken over: one worker sends gratuitous ARPs / unsolicited NAs.
    pub announce: Vec<IpAddr>,
    /// `ListConns`: every worker dumps its sessions.
    pub dump: bool,
}

fn published() -> Effect {
    Effect { publish: true, ..Default::default() }
}

/// `Control::respond`: a request of another protocol version is refused, else `handle`.
pub fn respond(reg: &mut Registry, cfg: &mut WorkerConfig, req: Request) -> Result<Effect, String> {
    if req.version != PROTO_VERSION {
        return Err(format!(
            "protocol version {} is not supported (rvsd speaks {PROTO_VERSION})",
            req.version
        ));
    }
    // rvsd logs a refused command with its Debug form.
    black_box(format!("{:?}", req.command));
    handle(reg, cfg, req.command)
}

/// `Control::handle` for one command.
pub fn handle(reg: &mut Registry, cfg: &mut WorkerConfig, cmd: Command) -> Result<Effect, String> {
    let fresh = match &cmd {
        Command::AddService { spec } => Some((spec.key, None)),
        Command::AddReal { service, real } => Some((*service, Some(real.addr))),
        _ => None,
    };
    let r = &mut *reg;
    let changed = match cmd {
        Command::Ping => return Ok(Effect::default()),
        Command::AddService { spec } => r.add_service(spec),
        Command::EditService { spec } => r.edit_service(spec),
        Command::DelService { key } => r.del_service(&key),
        Command::AddReal { service, real } => r.add_real(&service, real),
        Command::EditReal { service, real } => r.edit_real(&service, real),
        Command::DelReal { service, addr } => r.del_real(&service, addr),
        Command::AddLocalAddr { service, addr } => r.add_laddr(&service, addr),
        Command::DelLocalAddr { service, addr } => r.del_laddr(&service, addr),
        Command::Clear => {
            r.clear();
            Ok(())
        }
        Command::ListServices => {
            list_services(r);
            return Ok(Effect::default());
        }
        Command::ListConns => return Ok(Effect { dump: true, ..Default::default() }),
        Command::SetTimeouts { timeouts } => {
            let mut t = cfg.timeouts;
            for (cur, new) in
                [(&mut t.tcp, timeouts.tcp), (&mut t.tcp_fin, timeouts.tcp_fin), (&mut t.udp, timeouts.udp)]
            {
                if new != 0 {
                    *cur = new;
                }
            }
            *cfg = cfg.with_timeouts(t);
            return Ok(published());
        }
        Command::GetTimeouts => return Ok(Effect::default()),
        // The workers' counters, the sync thread's and the cluster's state: not the registry's.
        Command::Stats | Command::SyncStatus | Command::ClusterStatus => return Ok(Effect::default()),
        Command::ClusterLeave => return Err("not a cluster member (no [cluster])".into()),
        Command::Zero { service } => {
            if let Some(k) = service {
                if !r.list().any(|(spec, _, _)| spec.key == k) {
                    return Err("No such service".into());
                }
            }
            black_box(slots(r, service, None));
            return Ok(Effect::default());
        }
        Command::Takeover { addrs } => return Ok(set_ownership(r, cfg, &addrs, true)),
        Command::Release { addrs } => return Ok(set_ownership(r, cfg, &addrs, false)),
        Command::Owned => {
            ownership(r);
            return Ok(Effect::default());
        }
    };
    changed.map_err(|e| e.to_string())?;
    if let Some((key, real)) = fresh {
        black_box(slots(reg, Some(key), real));
    }
    *cfg = cfg.with_services(Arc::new(reg.snapshot()));
    // `sync_flow_rules`: the IPv4 LIPs of every service.
    black_box(
        reg.list()
            .flat_map(|(spec, _, _)| spec.local_addrs.iter())
            .filter(|a| a.is_ipv4())
            .collect::<std::collections::BTreeSet<_>>(),
    );
    Ok(published())
}

/// `Control::set_ownership`: published, then (a takeover) the addresses to announce.
fn set_ownership(reg: &mut Registry, cfg: &mut WorkerConfig, addrs: &[IpAddr], owned: bool) -> Effect {
    reg.set_ownership(addrs, owned);
    *cfg = cfg.with_services(Arc::new(reg.snapshot()));
    let announce: Vec<IpAddr> = reg
        .addresses()
        .keys()
        .copied()
        .filter(|a| addrs.is_empty() || addrs.contains(a))
        .filter(|a| reg.ownership().owns_ip(*a))
        .collect();
    ownership(reg);
    Effect { publish: true, announce: if owned { announce } else { Vec::new() }, dump: false }
}

/// `Control::ownership`: every VIP/LIP with its kind and whether it is owned, then the
/// addresses a takeover/release named that no service has.
fn ownership(reg: &Registry) {
    let o = reg.ownership();
    let known = reg.addresses();
    let mut listed: Vec<(IpAddr, &str, bool)> = known
        .iter()
        .map(|(a, k)| (*a, if *k == LocalKind::Vip { "vip" } else { "lip" }, o.owns_ip(*a)))
        .collect();
    for a in o.exceptions().filter(|a| !known.contains_key(a)) {
        listed.push((a, "none", o.owns_ip(a)));
    }
    black_box((o.owns_by_default(), listed));
}

/// `Control::slots`: the stat slots of a service (all if None) and its real servers (only
/// `real` when given).
fn slots(reg: &Registry, service: Option<ServiceKey>, real: Option<SocketAddr>) -> Vec<(bool, u32)> {
    let mut out = Vec::new();
    for (spec, slot, reals) in reg.list() {
        if service.is_some_and(|k| k != spec.key) {
            continue;
        }
        if real.is_none() {
            out.push((false, slot));
        }
        for (r, rslot) in reals {
            if real.is_none_or(|a| a == r.addr) {
                out.push((true, rslot));
            }
        }
    }
    out
}

/// `Control::list_services`, without the counters.
fn list_services(reg: &Registry) {
    let services: Vec<_> = reg
        .list()
        .map(|(spec, slot, reals)| {
            (spec.clone(), slot, reals.into_iter().map(|(r, s)| (r.clone(), s)).collect::<Vec<_>>())
        })
        .collect();
    black_box(services);
}

/// What must hold of a registry whatever was asked of it: one entry per service key and
/// per real server of a service; stat slots in range and never shared (the workers'
/// counters are indexed by them); what was accepted passes the checks `rvs-ctrl -t`
/// shares with rvsd; the snapshot holds every service once, findable by its key.
pub fn check(reg: &Registry, max_services: usize, max_reals: usize) {
    use rvs_proto::check::{check_real, check_real_family, check_real_in_service, check_service};
    let (mut keys, mut service_slots, mut real_slots) = (HashSet::new(), HashSet::new(), HashSet::new());
    let (mut n4, mut n6) = (0, 0);
    for (spec, slot, reals) in reg.list() {
        assert!(keys.insert(spec.key), "service {:?} listed twice", spec.key);
        assert!((slot as usize) < max_services, "service slot {slot} out of range");
        assert!(service_slots.insert(slot), "service slot {slot} given twice");
        assert_eq!(check_service(spec), Ok(()), "an accepted service fails the checks");
        let mut addrs = HashSet::new();
        for (r, rslot) in reals {
            assert!(addrs.insert(r.addr), "real server {} listed twice", r.addr);
            assert!((rslot as usize) < max_reals, "real server slot {rslot} out of range");
            assert!(real_slots.insert(rslot), "real server slot {rslot} given twice");
            assert_eq!(check_real(r), Ok(()), "an accepted real server fails the checks");
            assert_eq!(check_real_family(spec.key.addr, r), Ok(()));
            assert_eq!(check_real_in_service(&spec.options, r), Ok(()));
        }
        if spec.key.addr.is_ipv4() {
            n4 += 1;
        } else {
            n6 += 1;
        }
    }
    let snap = reg.snapshot();
    assert_eq!(snap.version, reg.version());
    assert_eq!(snap.services.len(), n4, "every IPv4 service in the snapshot");
    assert_eq!(snap.v6.services.len(), n6, "every IPv6 service in the snapshot");
    for (i, s) in snap.services.iter().enumerate() {
        assert_eq!(
            snap.find(&(s.proto, s.vip, s.vport)),
            Some(i as u32),
            "IPv4 service {i} found by its key"
        );
    }
    for (i, s) in snap.v6.services.iter().enumerate() {
        assert_eq!(
            snap.v6.find(&(s.proto, s.vip, s.vport)),
            Some(i as u32),
            "IPv6 service {i} found by its key"
        );
    }
}
