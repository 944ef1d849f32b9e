//! A virtual service's traffic counters as the sum of its real servers'.
//!
//! A packet of a session counts towards its real server only (`RealCounters::traffic`):
//! one pair of counters a packet, not two. The worker folds what each real server
//! counted since the last fold into its service's counters on its timer (every
//! millisecond in rvsd), so that readers see service totals as before, a tick late. A
//! real server keeps folding into the service it was last given, after it is removed
//! too, while its sessions drain (IPVS counts those towards the service as well).

use super::{TrafficCounters, WorkerCounters};

/// No service.
const NONE: u16 = u16::MAX;

/// Which service each real server's traffic folds into, and how much of it has been.
#[derive(Debug, Default)]
pub struct ServiceFold {
    /// By real-server stat slot: its service's stat slot, or `NONE`.
    service_of: Vec<u16>,
    /// By real-server stat slot: in packets, in bytes, out packets, out bytes folded so far.
    folded: Vec<[u64; 4]>,
    /// The real-server slots with a service, in the order they got one.
    mapped: Vec<u32>,
}

/// The traffic part of a real server's counters, as `folded` holds it.
fn traffic(t: &TrafficCounters) -> [u64; 4] {
    [t.in_pkts.get(), t.in_bytes.get(), t.out_pkts.get(), t.out_bytes.get()]
}

impl ServiceFold {
    /// For `reals` real-server stat slots.
    pub fn new(reals: usize) -> Self {
        ServiceFold { service_of: vec![NONE; reals], folded: vec![[0; 4]; reals], mapped: Vec::new() }
    }

    /// Real server `real` belongs to service `service` from now on: what it counted while
    /// it belonged to another goes to that one first. Slots out of range are ignored.
    pub fn assign(&mut self, c: &WorkerCounters, real: u32, service: u32) {
        let r = real as usize;
        let (Some(&was), Ok(s)) = (self.service_of.get(r), u16::try_from(service)) else { return };
        if was == s || s == NONE {
            return;
        }
        if was == NONE {
            self.mapped.push(real);
        } else {
            self.fold_one(c, r);
        }
        self.service_of[r] = s;
    }

    /// `assign` for every real server of `snapshot`'s services, IPv4 and IPv6.
    pub fn assign_snapshot(&mut self, c: &WorkerCounters, snapshot: &crate::service::Snapshot) {
        for svc in &snapshot.services {
            for r in &svc.reals {
                self.assign(c, r.slot, svc.slot);
            }
        }
        for svc in &snapshot.v6.services {
            for r in &svc.reals {
                self.assign(c, r.slot, svc.slot);
            }
        }
    }

    /// Folds every real server's traffic since the last fold into its service.
    pub fn fold(&mut self, c: &WorkerCounters) {
        for i in 0..self.mapped.len() {
            self.fold_one(c, self.mapped[i] as usize);
        }
    }

    fn fold_one(&mut self, c: &WorkerCounters, r: usize) {
        let (Some(rc), Some(&s)) = (c.reals.get(r), self.service_of.get(r)) else { return };
        let Some(sv) = c.services.get(s as usize) else { return };
        let now = traffic(&rc.traffic);
        let was = std::mem::replace(&mut self.folded[r], now);
        if now == was {
            return;
        }
        sv.in_pkts.add(now[0].wrapping_sub(was[0]));
        sv.in_bytes.add(now[1].wrapping_sub(was[1]));
        sv.out_pkts.add(now[2].wrapping_sub(was[2]));
        sv.out_bytes.add(now[3].wrapping_sub(was[3]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(c: &WorkerCounters, real: usize, pkts: u64, bytes: u64) {
        let t = &c.reals[real].traffic;
        t.in_pkts.add(pkts);
        t.in_bytes.add(bytes);
        t.out_pkts.add(pkts * 2);
        t.out_bytes.add(bytes * 2);
    }

    fn service(c: &WorkerCounters, s: usize) -> [u64; 4] {
        traffic(&c.services[s])
    }

    /// A service's counters are the sum of what its real servers counted, folded.
    #[test]
    fn services_sum_their_real_servers() {
        let c = WorkerCounters::new(4, 8);
        let mut f = ServiceFold::new(8);
        f.assign(&c, 0, 1);
        f.assign(&c, 1, 1);
        f.assign(&c, 2, 3);
        count(&c, 0, 2, 100);
        count(&c, 1, 3, 50);
        count(&c, 2, 1, 10);
        assert_eq!(service(&c, 1), [0; 4], "not folded yet");
        f.fold(&c);
        assert_eq!(service(&c, 1), [5, 150, 10, 300]);
        assert_eq!(service(&c, 3), [1, 10, 2, 20]);
        f.fold(&c);
        assert_eq!(service(&c, 1), [5, 150, 10, 300], "nothing new: nothing added");
        count(&c, 1, 1, 1);
        f.fold(&c);
        assert_eq!(service(&c, 1), [6, 151, 12, 302]);
    }

    /// A real server moved to another service leaves what it counted before with the
    /// first; one never assigned again keeps folding into its last service (draining).
    #[test]
    fn a_moved_real_server_leaves_its_past_behind() {
        let c = WorkerCounters::new(4, 8);
        let mut f = ServiceFold::new(8);
        f.assign(&c, 5, 0);
        count(&c, 5, 4, 40);
        f.assign(&c, 5, 2);
        count(&c, 5, 1, 1);
        f.fold(&c);
        assert_eq!(service(&c, 0), [4, 40, 8, 80]);
        assert_eq!(service(&c, 2), [1, 1, 2, 2]);
        f.assign(&c, 5, 2);
        count(&c, 5, 1, 1);
        f.fold(&c);
        assert_eq!(service(&c, 2), [2, 2, 4, 4]);
    }

    /// Slots past the counters are ignored, not a panic.
    #[test]
    fn out_of_range_slots_are_ignored() {
        let c = WorkerCounters::new(2, 2);
        let mut f = ServiceFold::new(2);
        f.assign(&c, 7, 0);
        f.assign(&c, 1, 9);
        count(&c, 1, 1, 1);
        f.fold(&c);
        assert_eq!(service(&c, 0), [0; 4]);
        assert_eq!(service(&c, 1), [0; 4]);
    }
}
