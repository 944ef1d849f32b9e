//! The pipeline's view of a service's real servers: the snapshot's `Real`s paired, by
//! stat slot, with this worker's connection gauges, optionally the other workers'
//! published sum, and this worker's overload flags. Nothing is copied or allocated per
//! pick; every counter read is a Relaxed load of a gauge only this worker writes (or,
//! for the peer sum, only the control thread writes).

use std::sync::Arc;

use super::{Candidates, Overload};
use crate::service::Real;
use crate::stats::{RealCounters, WorkerCounters};

/// The other workers' connections to one real server, summed by the control thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerLoad {
    pub active: u64,
    pub inactive: u64,
}

/// Fills `out[slot]` with the sum over all workers but `me` of their gauges: what the
/// control thread publishes to worker `me` every period (e.g. 100 ms, swapped in as an
/// `Arc<[PeerLoad]>` like the snapshot). Gauges are read with Relaxed loads.
pub fn sum_peers(workers: &[Arc<WorkerCounters>], me: usize, out: &mut [PeerLoad]) {
    out.fill(PeerLoad::default());
    for (w, c) in workers.iter().enumerate() {
        if w == me {
            continue;
        }
        for (p, r) in out.iter_mut().zip(c.reals.iter()) {
            p.active = p.active.wrapping_add(r.active.get());
            p.inactive = p.inactive.wrapping_add(r.inactive.get());
        }
    }
}

#[derive(Clone, Copy)]
pub struct RealSet<'a> {
    reals: &'a [Real],
    counters: &'a [RealCounters],
    peers: &'a [PeerLoad],
    overload: Option<&'a Overload>,
}

impl<'a> RealSet<'a> {
    /// `counters`: this worker's real-server counters, indexed by stat slot.
    pub fn new(reals: &'a [Real], counters: &'a [RealCounters]) -> Self {
        RealSet { reals, counters, peers: &[], overload: None }
    }

    /// Adds the other workers' published sum (indexed by stat slot) to this worker's
    /// counts.
    pub fn with_peers(self, peers: &'a [PeerLoad]) -> Self {
        RealSet { peers, ..self }
    }

    /// This worker's threshold flags.
    pub fn with_overload(self, overload: &'a Overload) -> Self {
        RealSet { overload: Some(overload), ..self }
    }

    #[inline]
    fn slot(&self, i: usize) -> usize {
        self.reals[i].slot as usize
    }

    /// Connections (active + inactive) of real `i` as the scheduler sees them: what to
    /// feed `Overload::on_bind`/`on_unbind`.
    pub fn conns(&self, i: usize) -> u64 {
        self.active(i).saturating_add(self.inactive(i))
    }
}

impl Candidates for RealSet<'_> {
    #[inline]
    fn len(&self) -> usize {
        self.reals.len()
    }
    #[inline]
    fn weight(&self, i: usize) -> u32 {
        self.reals[i].weight
    }
    #[inline]
    fn active(&self, i: usize) -> u64 {
        let s = self.slot(i);
        let own = self.counters.get(s).map_or(0, |c| c.active.get());
        own.saturating_add(self.peers.get(s).map_or(0, |p| p.active))
    }
    #[inline]
    fn inactive(&self, i: usize) -> u64 {
        let s = self.slot(i);
        let own = self.counters.get(s).map_or(0, |c| c.inactive.get());
        own.saturating_add(self.peers.get(s).map_or(0, |p| p.inactive))
    }
    #[inline]
    fn overloaded(&self, i: usize) -> bool {
        self.overload.is_some_and(|o| o.is_overloaded(self.reals[i].slot))
    }
    #[inline]
    fn id(&self, i: usize) -> u64 {
        super::Candidate::id(&self.reals[i])
    }
    /// One slot lookup for both gauges (the hot loop of lc/wlc).
    #[inline]
    fn overhead(&self, i: usize) -> u64 {
        let s = self.slot(i);
        let (mut a, mut n) = self.counters.get(s).map_or((0, 0), |c| (c.active.get(), c.inactive.get()));
        if let Some(p) = self.peers.get(s) {
            a = a.saturating_add(p.active);
            n = n.saturating_add(p.inactive);
        }
        a.saturating_mul(256).saturating_add(n)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Scheduler, Thresholds};
    use super::*;
    use crate::time::Time;
    use std::net::{Ipv4Addr, SocketAddrV4};

    fn real(n: u8, weight: u32, slot: u32) -> Real {
        Real {
            addr: SocketAddrV4::new(Ipv4Addr::new(198, 19, 1, n), 80),
            weight,
            slot,
            thresholds: Default::default(),
            method: Default::default(),
            gue_port: 0,
        }
    }

    #[test]
    fn reads_this_workers_gauges_by_slot() {
        let c = WorkerCounters::new(1, 8);
        let reals = vec![real(1, 1, 5), real(2, 1, 2)];
        c.reals[5].active.set(3);
        c.reals[2].inactive.set(7);
        let v = RealSet::new(&reals, &c.reals);
        assert_eq!((v.active(0), v.inactive(0), v.active(1), v.inactive(1)), (3, 0, 0, 7));
        assert_eq!(v.overhead(0), 768);
        assert_eq!(v.conns(1), 7);
        let mut s = Scheduler::new("wlc").unwrap();
        assert_eq!(s.pick(&v, &Default::default(), Time::ZERO), Some(1));
    }

    #[test]
    fn peers_and_overload() {
        let workers: Vec<_> = (0..3).map(|_| Arc::new(WorkerCounters::new(1, 4))).collect();
        workers[0].reals[1].active.set(1);
        workers[1].reals[1].active.set(10);
        workers[2].reals[1].inactive.set(4);
        workers[2].reals[0].active.set(2);
        let mut peers = vec![PeerLoad::default(); 4];
        sum_peers(&workers, 0, &mut peers);
        assert_eq!(peers[1], PeerLoad { active: 10, inactive: 4 });
        assert_eq!(peers[0], PeerLoad { active: 2, inactive: 0 });
        let reals = vec![real(1, 1, 0), real(2, 1, 1)];
        let v = RealSet::new(&reals, &workers[0].reals).with_peers(&peers);
        assert_eq!(v.active(1), 11);
        assert_eq!(v.inactive(1), 4);
        assert_eq!(super::super::lc::lc(&v), Some(0));

        let mut o = Overload::new(4);
        o.on_bind(0, v.conns(0), Thresholds::new(2, 1));
        let v = v.with_overload(&o);
        assert!(v.overloaded(0) && !v.overloaded(1));
        assert_eq!(super::super::lc::lc(&v), Some(1));
    }

    #[test]
    fn ids_come_from_addresses() {
        let a = vec![real(1, 1, 0), real(2, 1, 1)];
        let b = vec![real(1, 9, 3)];
        let c = WorkerCounters::new(1, 4);
        let (va, vb) = (RealSet::new(&a, &c.reals), RealSet::new(&b, &c.reals));
        assert_eq!(va.id(0), vb.id(0));
        assert_ne!(va.id(0), va.id(1));
    }
}
