//! rvsd's control path as the fuzz targets drive it: `rvs_core::control::ControlState`,
//! the very code of rvsd's control thread (which wraps it with the socket and the workers'
//! inboxes), and what must hold of its registry whatever was asked of it.
//!
//! Shared by the `control` and `control_decode` targets (`#[path]`, not a target).

use std::collections::HashSet;
use std::sync::Arc;

use rvs_core::control::{ControlState, Workers};
use rvs_core::service::{Registry, WorkerConfig};
use rvs_core::stats::WorkerCounters;
use rvs_core::synproxy::{CookieSecrets, SecretKey};
use rvs_proto::{ConnInfo, WorkerStats};

pub use rvs_core::config::DEFAULT_TIMEOUTS;
pub use rvs_core::control::MAX_REQUEST;

/// A control state as rvsd starts one: an empty registry, its snapshot and the default
/// timeouts in the workers' configuration, one worker's counters.
#[allow(dead_code)]
pub fn state(max_services: usize, max_reals: usize) -> (ControlState, Arc<WorkerCounters>) {
    let reg = Registry::new(max_services, max_reals);
    let secrets = CookieSecrets::new(SecretKey::from_bytes([7; 16]));
    let cfg = WorkerConfig::new(Arc::new(reg.snapshot()), DEFAULT_TIMEOUTS, secrets);
    let counters = Arc::new(WorkerCounters::new(max_services, max_reals));
    (ControlState::new(reg, cfg, vec![counters.clone()]), counters)
}

/// Workers that take nothing (`control_decode` has no pipeline).
#[allow(dead_code)]
pub struct NoWorkers;

impl Workers for NoWorkers {
    fn publish(&mut self, _config: &Arc<WorkerConfig>) {}
    fn ownership_changed(&mut self, _addrs: &[std::net::IpAddr], _owned: bool, _announce: Vec<std::net::IpAddr>) {}
    fn stats(&self) -> Vec<WorkerStats> {
        Vec::new()
    }
    fn conns(&mut self) -> Result<Vec<ConnInfo>, String> {
        Ok(Vec::new())
    }
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
