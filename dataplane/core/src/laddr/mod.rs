//! Local addresses (LIPs) and their ports, the FULLNAT source towards real servers.
//!
//! Ports are partitioned between workers: worker `w` of `n` owns exactly the ports with
//! `port % n == w`. A reply from a real server therefore names its owning worker by its
//! destination port alone, which is what lets any worker hand a misdelivered reply to
//! the right core (and what a NIC flow rule would match on).
//!
//! A LIP's ports are shared by every service and real server that uses it, so (LIP,
//! lport) alone makes the reply key unique. Freed ports go to the back of a FIFO, so
//! a port is reused as late as possible (the real server may still hold it in
//! TIME_WAIT).

use hashbrown::HashMap;
use std::collections::VecDeque;
use std::net::Ipv4Addr;

/// The worker that owns local port `port` among `workers`.
#[inline]
pub fn owner_of_port(port: u16, workers: u16) -> u16 {
    port % workers
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LaddrError {
    #[error("the service has no local address")]
    NoLocalAddress,
    #[error("every local port of the service's local addresses is in use on this worker")]
    Exhausted,
}

/// The ports of one LIP that one worker owns.
#[derive(Debug)]
struct PortPool {
    free: VecDeque<u16>,
}

/// One worker's local ports, per LIP.
#[derive(Debug)]
pub struct LaddrPools {
    worker: u16,
    workers: u16,
    range: (u16, u16),
    pools: HashMap<Ipv4Addr, PortPool, ahash::RandomState>,
}

impl LaddrPools {
    pub fn new(worker: u16, workers: u16, range: (u16, u16)) -> Self {
        assert!(workers > 0 && worker < workers && range.0 <= range.1);
        LaddrPools { worker, workers, range, pools: HashMap::default() }
    }

    fn pool(&mut self, lip: Ipv4Addr) -> &mut PortPool {
        let (worker, workers, (lo, hi)) = (self.worker, self.workers, self.range);
        self.pools.entry(lip).or_insert_with(|| PortPool {
            free: (lo..=hi).filter(|&p| owner_of_port(p, workers) == worker).collect(),
        })
    }

    /// Takes a free (LIP, port), trying the LIPs from `*cursor` on (round robin across
    /// calls). `cursor` is the caller's per-service position.
    pub fn alloc(&mut self, lips: &[Ipv4Addr], cursor: &mut usize) -> Result<(Ipv4Addr, u16), LaddrError> {
        if lips.is_empty() {
            return Err(LaddrError::NoLocalAddress);
        }
        for i in 0..lips.len() {
            let lip = lips[(*cursor + i) % lips.len()];
            if let Some(port) = self.pool(lip).free.pop_front() {
                *cursor = (*cursor + i + 1) % lips.len();
                return Ok((lip, port));
            }
        }
        Err(LaddrError::Exhausted)
    }

    /// Returns a port taken by `alloc`.
    pub fn free(&mut self, lip: Ipv4Addr, port: u16) {
        debug_assert_eq!(owner_of_port(port, self.workers), self.worker);
        self.pool(lip).free.push_back(port);
    }

    /// Free ports of `lip` on this worker.
    pub fn available(&mut self, lip: Ipv4Addr) -> usize {
        self.pool(lip).free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const A: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 200);
    const B: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 201);

    #[test]
    fn round_robins_lips_and_owns_its_partition() {
        let mut p = LaddrPools::new(1, 2, (1025, 1100));
        let mut cur = 0;
        let (l1, p1) = p.alloc(&[A, B], &mut cur).unwrap();
        let (l2, p2) = p.alloc(&[A, B], &mut cur).unwrap();
        assert_eq!((l1, l2), (A, B));
        assert_eq!(owner_of_port(p1, 2), 1);
        assert_eq!(owner_of_port(p2, 2), 1);
    }

    #[test]
    fn exhaustion_is_a_clear_error_and_freeing_recovers() {
        let mut p = LaddrPools::new(0, 1, (2000, 2002));
        let mut cur = 0;
        let got: Vec<_> = (0..3).map(|_| p.alloc(&[A], &mut cur).unwrap().1).collect();
        assert_eq!(got, vec![2000, 2001, 2002]);
        assert_eq!(p.alloc(&[A], &mut cur), Err(LaddrError::Exhausted));
        p.free(A, 2001);
        assert_eq!(p.alloc(&[A], &mut cur), Ok((A, 2001)));
        assert_eq!(p.alloc(&[], &mut cur), Err(LaddrError::NoLocalAddress));
    }

    #[test]
    fn a_full_lip_falls_through_to_the_next() {
        let mut p = LaddrPools::new(0, 1, (2000, 2000));
        let mut cur = 0;
        assert_eq!(p.alloc(&[A, B], &mut cur).unwrap(), (A, 2000));
        assert_eq!(p.alloc(&[A, B], &mut cur).unwrap(), (B, 2000));
        assert_eq!(p.alloc(&[A, B], &mut cur), Err(LaddrError::Exhausted));
    }

    #[test]
    fn freed_ports_are_reused_last() {
        let mut p = LaddrPools::new(0, 1, (2000, 2003));
        let mut cur = 0;
        let first = p.alloc(&[A], &mut cur).unwrap().1;
        p.free(A, first);
        let next: Vec<_> = (0..4).map(|_| p.alloc(&[A], &mut cur).unwrap().1).collect();
        assert_eq!(next, vec![2001, 2002, 2003, 2000]);
    }

    proptest! {
        #[test]
        fn partitions_are_disjoint_and_cover_the_range(workers in 1u16..8, lo in 1u16..60000, width in 0u16..500) {
            let hi = lo.saturating_add(width);
            let mut all = Vec::new();
            for w in 0..workers {
                let mut p = LaddrPools::new(w, workers, (lo, hi));
                let mut cur = 0;
                while let Ok((_, port)) = p.alloc(&[A], &mut cur) {
                    prop_assert_eq!(owner_of_port(port, workers), w);
                    all.push(port);
                }
            }
            all.sort_unstable();
            let expected: Vec<u16> = (lo..=hi).collect();
            prop_assert_eq!(all, expected);
        }
    }
}
