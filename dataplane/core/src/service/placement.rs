//! How an ECMP cluster member (#11) turns the services' configuration into the workers'
//! view so that every member places a new flow on the same real server and never takes
//! another member's local address and port.

use std::net::Ipv4Addr;

use crate::sched::SchedFlags;

/// Schedulers whose choice is already a function of the flow and the real servers' ids
/// (the same on every member with the same servers).
const CONSISTENT: [&str; 3] = ["mh", "sh", "dh"];

/// A cluster member's placement rules (`[cluster] placement`, `local_addresses`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterPlacement {
    /// Place flows of services with another scheduler by Maglev over the client's
    /// address and port (`mh` with `mh-port` and `mh-fallback`).
    pub maglev: bool,
    /// The LIPs this member takes ports from (empty: every LIP of the service).
    pub own_lips: Vec<Ipv4Addr>,
}

impl ClusterPlacement {
    /// The scheduler (and flags) the workers run for a service configured with `name`.
    pub fn scheduler(&self, name: String, flags: SchedFlags) -> (String, SchedFlags) {
        if !self.maglev || CONSISTENT.contains(&name.as_str()) {
            return (name, flags);
        }
        let flags = SchedFlags { mh_port: true, mh_fallback: true, ..flags };
        ("mh".to_string(), flags)
    }

    /// The LIPs of a service this member allocates from: its own among them, or all of
    /// them when it has none there (a service whose LIPs are shared by port slices).
    pub fn alloc_addrs(&self, service_lips: &[Ipv4Addr]) -> Vec<Ipv4Addr> {
        let own: Vec<Ipv4Addr> = service_lips.iter().copied().filter(|l| self.own_lips.contains(l)).collect();
        if own.is_empty() {
            service_lips.to_vec()
        } else {
            own
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::{Candidate, SchedKey, Scheduler};
    use crate::service::Registry;
    use crate::time::Time;
    use rvs_proto::{Protocol, RealSpec, ServiceKey, ServiceSpec};

    fn registry(order: &[u8], placement: Option<ClusterPlacement>) -> Registry {
        let mut r = Registry::new(8, 64);
        r.set_cluster(placement);
        let key = ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() };
        let spec = ServiceSpec {
            key,
            scheduler: "wlc".into(),
            options: Default::default(),
            local_addrs: vec!["198.19.0.201".parse().unwrap(), "198.19.0.202".parse().unwrap()],
        };
        r.add_service(spec).unwrap();
        for &i in order {
            let real = RealSpec {
                addr: format!("198.19.0.{i}:80").parse().unwrap(),
                weight: 1,
                method: Default::default(),
                thresholds: Default::default(),
                tunnel: None,
            };
            r.add_real(&key, real).unwrap();
        }
        r
    }

    /// Two members that learnt their real servers in different orders (different stat
    /// slots) place every flow on the same real server.
    #[test]
    fn members_with_the_same_servers_pick_the_same_one_per_flow() {
        let c = ClusterPlacement { maglev: true, own_lips: vec!["198.19.0.202".parse().unwrap()] };
        let a = registry(&[11, 12, 13], Some(c.clone())).snapshot();
        let b = registry(&[13, 11, 12], Some(c)).snapshot();
        let (sa, sb) = (&a.services[0], &b.services[0]);
        assert_eq!(sa.scheduler, "mh");
        assert!(sa.sched_flags.mh_port && sa.maglev.is_some());
        assert_eq!(sa.alloc_addrs, ["198.19.0.202".parse::<Ipv4Addr>().unwrap()]);
        assert_eq!(sa.local_addrs.len(), 2, "synced sessions may use every LIP");
        let mut s1 = Scheduler::new("mh").unwrap();
        let mut s2 = Scheduler::new("mh").unwrap();
        s1.install_maglev(sa.maglev.clone().unwrap());
        s2.install_maglev(sb.maglev.clone().unwrap());
        let mut seen = std::collections::HashSet::new();
        for n in 0..10_000u32 {
            let k = SchedKey::v4(
                Ipv4Addr::from(0xc612_0200 + (n % 200)),
                1024 + (n / 200) as u16,
                "198.18.0.100".parse().unwrap(),
                80,
            );
            let i = s1.pick(&sa.reals[..], &k, Time::ZERO).unwrap();
            let j = s2.pick(&sb.reals[..], &k, Time::ZERO).unwrap();
            assert_eq!(sa.reals[i].addr, sb.reals[j].addr);
            assert_eq!(sa.reals[i].id(), sb.reals[j].id());
            seen.insert(sa.reals[i].addr);
        }
        assert_eq!(seen.len(), 3, "and the flows are spread");
        // Without cluster placement, the service keeps its scheduler.
        let plain = registry(&[11], None).snapshot();
        assert_eq!(plain.services[0].scheduler, "wlc");
        assert_eq!(plain.services[0].alloc_addrs.len(), 2);
    }
}
