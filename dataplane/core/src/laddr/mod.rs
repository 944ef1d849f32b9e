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

mod addr_map;
pub mod rss;

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::Arc;

use addr_map::AddrMap;
use rss::Rss;

/// The worker that owns local port `port` among `workers`.
#[inline]
pub fn owner_of_port(port: u16, workers: u16) -> u16 {
    port % workers
}

/// The worker that owns the NAT-method sessions of client CIP:cport among `workers`: a
/// multiplicative hash of the endpoint both directions carry (a NAT reply holds no local
/// port of ours), the same on every worker and every director.
#[inline]
pub fn owner_of_client(cip: Ipv4Addr, cport: u16, workers: u16) -> u16 {
    let x = (u64::from(u32::from(cip)) << 16 | u64::from(cport)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ((x >> 32) % u64::from(workers.max(1))) as u16
}

/// `owner_of_client` for an IPv6 client (its address folded to 64 bits).
#[inline]
pub fn owner_of_client6(cip: std::net::Ipv6Addr, cport: u16, workers: u16) -> u16 {
    let a = u128::from(cip);
    let folded = (a as u64) ^ ((a >> 64) as u64);
    let x = (folded ^ u64::from(cport)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ((x >> 32) % u64::from(workers.max(1))) as u16
}

/// The ports of member slice `index` (0-based) of `slices` in `range`: contiguous
/// blocks, so the member id sits in the high bits of the port's offset in the range and
/// the workers' partition (`port % workers`, or RSS) still applies within each block.
/// Members of an ECMP cluster with the same range and slice count never take the same
/// port, and a port names the member that chose it.
pub fn member_slice(range: (u16, u16), index: u16, slices: u16) -> (u16, u16) {
    let (lo, hi) = (u32::from(range.0), u32::from(range.1));
    let (n, i) = (u32::from(slices.max(1)), u32::from(index.min(slices.max(1) - 1)));
    let span = hi - lo + 1;
    let start = lo + span * i / n;
    let end = lo + span * (i + 1) / n - 1;
    (start as u16, end.max(start) as u16)
}

/// The member slice (0-based) that `port` of `range` falls in, or None outside the range.
pub fn slice_of_port(range: (u16, u16), port: u16, slices: u16) -> Option<u16> {
    if port < range.0 || port > range.1 {
        return None;
    }
    let span = u32::from(range.1 - range.0) + 1;
    let off = u32::from(port - range.0);
    // The i with start(i) <= port <= end(i): the inverse of member_slice's rounding.
    let n = u32::from(slices.max(1));
    let mut i = off * n / span;
    while i + 1 < n && span * (i + 1) / n <= off {
        i += 1;
    }
    while i > 0 && span * i / n > off {
        i -= 1;
    }
    Some(i as u16)
}

/// How a real server's reply reaches the worker that owns its session.
#[derive(Debug, Clone, Default)]
pub enum Steering {
    /// Worker `w` owns the local ports with `port % workers == w`. Replies that land on
    /// another worker are handed over by their destination port (the fallback), or the
    /// NIC steers them itself with one flow rule per worker matching that partition
    /// (`rte_flow`, DPVS's sa_pool approach); either way ownership is the same.
    #[default]
    Partition,
    /// No flow API, but the NIC spreads replies by RSS: a worker picks local ports whose
    /// reply hashes to its own RX queue (queue `w` is worker `w`'s).
    Rss(Arc<Rss>),
}

impl Steering {
    /// The worker of `workers` whose RX queue a real server's reply from `rip:rport` to
    /// `lip:lport` reaches: the one that must own the session.
    #[inline]
    pub fn owner_of_reply(&self, workers: u16, rip: Ipv4Addr, rport: u16, lip: Ipv4Addr, lport: u16) -> u16 {
        match self {
            Steering::Partition => owner_of_port(lport, workers),
            Steering::Rss(rss) => rss.queue(rss.hash_v4(rip, lip, rport, lport)),
        }
    }
}

/// Candidate ports tried for one RSS-steered allocation before giving up: enough for
/// any balanced RETA (about one in `queues` ports fits), bounded so that a nearly full
/// pool cannot make every SYN scan the whole range.
const RSS_SCAN_LIMIT: usize = 4096;

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
    /// Ports in use: those `alloc` handed out and those `reserve` took for sessions
    /// synced from another director. A reserved port stays in `free` until it comes up
    /// and is skipped (so `reserve` is O(1)); a port may then be queued twice, and the
    /// bit keeps it from being handed out twice.
    used: PortBits,
}

/// The ports of one LIP in use by one worker under RSS steering (any port may be this
/// worker's for some real server), and where the next scan starts.
#[derive(Debug)]
struct PortBits {
    /// One bit per port: a fixed-size array, so indexing by port needs no bounds check.
    used: Box<[u64; 1024]>,
    cursor: u16,
}

impl PortBits {
    fn new() -> Self {
        PortBits { used: Box::new([0; 1024]), cursor: 0 }
    }
    fn get(&self, p: u16) -> bool {
        self.used[p as usize / 64] & (1 << (p % 64)) != 0
    }
    fn set(&mut self, p: u16, v: bool) {
        let w = &mut self.used[p as usize / 64];
        if v {
            *w |= 1 << (p % 64);
        } else {
            *w &= !(1 << (p % 64));
        }
    }
}

/// One worker's local ports, per LIP.
#[derive(Debug)]
pub struct LaddrPools {
    worker: u16,
    workers: u16,
    /// The ports new sessions take (a cluster member's slice of `reserve_range`).
    range: (u16, u16),
    /// The ports sessions synced from other members may hold.
    reserve_range: (u16, u16),
    pools: AddrMap<PortPool>,
    steering: Steering,
    bits: AddrMap<PortBits>,
}

impl LaddrPools {
    pub fn new(worker: u16, workers: u16, range: (u16, u16)) -> Self {
        Self::with_steering(worker, workers, range, Steering::Partition)
    }

    pub fn with_steering(worker: u16, workers: u16, range: (u16, u16), steering: Steering) -> Self {
        assert!(workers > 0 && worker < workers && range.0 <= range.1);
        LaddrPools {
            worker,
            workers,
            range,
            reserve_range: range,
            pools: AddrMap::default(),
            steering,
            bits: AddrMap::default(),
        }
    }

    /// As a member of an ECMP cluster: new sessions take ports of slice `index` of
    /// `slices` only (`member_slice`), synced sessions may hold any port of the range.
    pub fn with_member_slice(mut self, index: u16, slices: u16) -> Self {
        self.set_member_slice(index, slices);
        self
    }

    /// `with_member_slice` on a pool set in use: ports already queued outside the new
    /// slice are dropped from the free lists (those in use stay until freed).
    pub fn set_member_slice(&mut self, index: u16, slices: u16) {
        let (lo, hi) = member_slice(self.reserve_range, index, slices);
        self.range = (lo, hi);
        for pool in self.pools.values_mut() {
            pool.free.retain(|p| (lo..=hi).contains(p));
        }
    }

    pub fn steering(&self) -> &Steering {
        &self.steering
    }

    /// The worker whose session a reply from `rip:rport` to `lip:lport` belongs to.
    #[inline]
    pub fn owner_of_reply(&self, rip: Ipv4Addr, rport: u16, lip: Ipv4Addr, lport: u16) -> u16 {
        self.steering.owner_of_reply(self.workers, rip, rport, lip, lport)
    }

    /// Takes a free (LIP, port) for a session to `rip:rport`: under RSS steering, one
    /// whose reply lands on this worker's queue.
    pub fn alloc_for(
        &mut self,
        lips: &[Ipv4Addr],
        cursor: &mut usize,
        rip: Ipv4Addr,
        rport: u16,
    ) -> Result<(Ipv4Addr, u16), LaddrError> {
        let Steering::Rss(rss) = &self.steering else {
            return self.alloc(lips, cursor);
        };
        if lips.is_empty() {
            return Err(LaddrError::NoLocalAddress);
        }
        let (lo, hi) = self.range;
        let span = (hi - lo) as usize + 1;
        for i in 0..lips.len() {
            let lip = lips[(*cursor + i) % lips.len()];
            let base = rss.reply_base(rip, lip, rport);
            let bits = self.bits.get_or_insert_with(lip, PortBits::new);
            let start = bits.cursor.clamp(lo, hi);
            for k in 0..span.min(RSS_SCAN_LIMIT) {
                let p = lo + ((start - lo) as usize + k) as u16 % span as u16;
                if !bits.get(p) && rss.reply_queue(base, p) == self.worker {
                    bits.set(p, true);
                    // Scanning on from here reuses a freed port as late as possible.
                    bits.cursor = if p == hi { lo } else { p + 1 };
                    *cursor = (*cursor + i + 1) % lips.len();
                    return Ok((lip, p));
                }
            }
        }
        Err(LaddrError::Exhausted)
    }

    fn pool(&mut self, lip: Ipv4Addr) -> &mut PortPool {
        let v = self.pool_number(lip);
        self.pools.value_mut(v)
    }

    /// Where `lip`'s pool is in `pools`, made on first use.
    #[inline]
    fn pool_number(&mut self, lip: Ipv4Addr) -> u32 {
        match self.pools.find(lip) {
            Some(v) => v,
            None => self.new_pool(lip),
        }
    }

    #[cold]
    #[inline(never)]
    fn new_pool(&mut self, lip: Ipv4Addr) -> u32 {
        let (worker, workers, (lo, hi)) = (self.worker, self.workers, self.range);
        let pool = PortPool {
            free: (lo..=hi).filter(|&p| owner_of_port(p, workers) == worker).collect(),
            used: PortBits::new(),
        };
        self.pools.insert(lip, pool)
    }

    /// Takes a free (LIP, port), trying the LIPs from `*cursor` on (round robin across
    /// calls). `cursor` is the caller's per-service position.
    #[inline]
    pub fn alloc(&mut self, lips: &[Ipv4Addr], cursor: &mut usize) -> Result<(Ipv4Addr, u16), LaddrError> {
        if lips.is_empty() {
            return Err(LaddrError::NoLocalAddress);
        }
        let n = lips.len();
        // `(*cursor + i) % n` for the i-th LIP tried, with a division only for a cursor
        // not yet in range (a new service's starts at the worker's number).
        let mut k = if *cursor < n { *cursor } else { *cursor % n };
        for _ in 0..n {
            let lip = lips[k];
            k = if k + 1 == n { 0 } else { k + 1 };
            let v = self.pool_number(lip);
            let pool = self.pools.value_mut(v);
            while let Some(port) = pool.free.pop_front() {
                if pool.used.get(port) {
                    continue; // reserved by a synced session (or a second copy)
                }
                pool.used.set(port, true);
                *cursor = k;
                return Ok((lip, port));
            }
        }
        Err(LaddrError::Exhausted)
    }

    /// Returns a port taken by `alloc` or `alloc_for`.
    pub fn free(&mut self, lip: Ipv4Addr, port: u16) {
        if let Steering::Rss(_) = self.steering {
            if let Some(b) = self.bits.get_mut(lip) {
                b.set(port, false);
            }
            return;
        }
        debug_assert_eq!(owner_of_port(port, self.workers), self.worker);
        let in_slice = (self.range.0..=self.range.1).contains(&port);
        let pool = self.pool(lip);
        pool.used.set(port, false);
        // A port of another member's slice (a synced session) is never handed out here.
        if in_slice {
            pool.free.push_back(port);
        }
    }

    /// Takes (LIP, port) for a session another director created and synced to us, so
    /// that no new session here uses it; false when it is in use already. `free` returns
    /// it like any other.
    pub fn reserve(&mut self, lip: Ipv4Addr, port: u16) -> bool {
        if let Steering::Rss(_) = self.steering {
            let b = self.bits.get_or_insert_with(lip, PortBits::new);
            if b.get(port) {
                return false;
            }
            b.set(port, true);
            return true;
        }
        let (lo, hi) = self.reserve_range;
        if port < lo || port > hi || owner_of_port(port, self.workers) != self.worker {
            return false;
        }
        let pool = self.pool(lip);
        if pool.used.get(port) {
            return false;
        }
        pool.used.set(port, true);
        true
    }

    /// Free ports of `lip` on this worker.
    pub fn available(&mut self, lip: Ipv4Addr) -> usize {
        let pool = self.pool(lip);
        let mut queued: Vec<u16> = pool.free.iter().copied().filter(|&p| !pool.used.get(p)).collect();
        queued.sort_unstable();
        queued.dedup();
        queued.len()
    }
}

/// Per-VLAN local-address pools: the LIPs a service uses towards each interface (the
/// one its real server is routed through), so that each VLAN's real servers see LIPs of
/// their own subnet. For interface `i`: the service's LIPs on `i` (`iface_of` says where
/// a LIP is connected); else the interface's own pool `pools[i]` (a `[[port.vlan]]`'s
/// `local_addresses`); else all of the service's LIPs, as without VLANs.
pub fn lips_by_interface(
    service_lips: &[Ipv4Addr],
    pools: &[&[Ipv4Addr]],
    iface_of: impl Fn(Ipv4Addr) -> Option<u16>,
) -> Vec<Vec<Ipv4Addr>> {
    let on: Vec<Option<u16>> = service_lips.iter().map(|&l| iface_of(l)).collect();
    pools
        .iter()
        .enumerate()
        .map(|(i, pool)| {
            let own: Vec<Ipv4Addr> = service_lips
                .iter()
                .zip(&on)
                .filter(|(_, o)| **o == Some(i as u16))
                .map(|(l, _)| *l)
                .collect();
            if !own.is_empty() {
                own
            } else if !pool.is_empty() {
                pool.to_vec()
            } else {
                service_lips.to_vec()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reserved_ports_are_never_handed_out_until_freed() {
        let lip = Ipv4Addr::new(198, 19, 0, 200);
        let mut p = LaddrPools::new(1, 2, (1025, 1035));
        assert!(!p.reserve(lip, 1026), "worker 0's port");
        assert!(p.reserve(lip, 1027));
        assert!(!p.reserve(lip, 1027), "already in use");
        let mut cur = 0;
        let mut got = Vec::new();
        while let Ok((_, port)) = p.alloc(&[lip], &mut cur) {
            got.push(port);
        }
        assert_eq!(got, vec![1025, 1029, 1031, 1033, 1035]);
        p.free(lip, 1027);
        p.free(lip, 1031);
        assert_eq!(p.available(lip), 2);
        assert_eq!(p.alloc(&[lip], &mut cur).unwrap().1, 1027);
        assert_eq!(p.alloc(&[lip], &mut cur).unwrap().1, 1031);
        assert!(p.alloc(&[lip], &mut cur).is_err());
    }

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

    /// The NICs' common RETA sizes and queue counts, default and symmetric keys: every
    /// reply to a port a worker chose lands on that worker's queue, and the workers
    /// between them use their share of the ports.
    #[test]
    fn rss_port_choice_lands_every_reply_on_its_owner() {
        for key in [rss::DEFAULT_KEY, rss::SYMMETRIC_KEY] {
            for (queues, reta) in [(2u16, 128), (4, 128), (8, 512), (16, 512)] {
                let rss = Arc::new(Rss::round_robin(&key, reta, queues).unwrap());
                let rips = [Ipv4Addr::new(198, 19, 0, 11), Ipv4Addr::new(198, 19, 0, 12)];
                for w in 0..queues {
                    let mut p =
                        LaddrPools::with_steering(w, queues, (1025, 65535), Steering::Rss(rss.clone()));
                    let mut cur = 0;
                    for n in 0..300 {
                        let rip = rips[n % 2];
                        let (lip, lport) = p.alloc_for(&[A, B], &mut cur, rip, 80).unwrap();
                        let q = rss.queue(rss.hash_v4(rip, lip, 80, lport));
                        assert_eq!(q, w, "key {:02x}, {queues} queues, reta {reta}", key[2]);
                        assert_eq!(p.owner_of_reply(rip, 80, lip, lport), w);
                    }
                }
            }
        }
    }

    #[test]
    fn rss_ports_are_unique_until_freed() {
        let rss = Arc::new(Rss::round_robin(&rss::DEFAULT_KEY, 128, 4).unwrap());
        let mut p = LaddrPools::with_steering(1, 4, (2000, 2400), Steering::Rss(rss));
        let rip = Ipv4Addr::new(198, 19, 0, 11);
        let mut cur = 0;
        let mut got = std::collections::HashSet::new();
        while let Ok((_, port)) = p.alloc_for(&[A], &mut cur, rip, 80) {
            assert!(got.insert(port), "port {port} given twice");
        }
        assert!(got.len() > 50 && got.len() < 200, "about a quarter of 401 ports: {}", got.len());
        let one = *got.iter().next().unwrap();
        p.free(A, one);
        assert_eq!(p.alloc_for(&[A], &mut cur, rip, 80), Ok((A, one)));
    }

    #[test]
    fn each_vlan_gets_its_own_pool() {
        let v10 = [Ipv4Addr::new(198, 19, 10, 200), Ipv4Addr::new(198, 19, 10, 201)];
        let v20 = [Ipv4Addr::new(198, 19, 20, 200)];
        let pools: [&[Ipv4Addr]; 4] = [&[], &[], &v10, &v20];
        let iface = |a: Ipv4Addr| match a.octets()[2] {
            0 => Some(1),
            10 => Some(2),
            20 => Some(3),
            _ => None,
        };
        // A service naming no LIP on the VLANs: the VLANs' pools, its own elsewhere.
        let by = lips_by_interface(&[A], &pools, iface);
        assert_eq!(by[1], vec![A]);
        assert_eq!(by[2], v10.to_vec());
        assert_eq!(by[3], v20.to_vec());
        assert_eq!(by[0], vec![A], "no LIP on that interface: all of the service's");
        // A service naming one of VLAN 20's addresses uses it there, the pool on VLAN 10.
        let mine = Ipv4Addr::new(198, 19, 20, 250);
        let by = lips_by_interface(&[A, mine], &pools, iface);
        assert_eq!(by[3], vec![mine]);
        assert_eq!(by[2], v10.to_vec());
        assert_eq!(by[1], vec![A]);
    }

    #[test]
    fn member_slices_split_the_range_and_synced_ports_stay_out_of_ours() {
        let range = (1024, 65535);
        let mut next = range.0;
        for i in 0..3 {
            let (lo, hi) = member_slice(range, i, 3);
            assert_eq!(lo, next);
            next = hi.wrapping_add(1);
            assert_eq!(slice_of_port(range, lo, 3), Some(i));
            assert_eq!(slice_of_port(range, hi, 3), Some(i));
        }
        assert_eq!(next, 0, "the last slice ends at the range's end");
        // Member 2 of 3 (index 1), worker 0 of 2.
        let mut p = LaddrPools::new(0, 2, range).with_member_slice(1, 3);
        let (lo, hi) = member_slice(range, 1, 3);
        let mut cur = 0;
        for _ in 0..100 {
            let (_, port) = p.alloc(&[A], &mut cur).unwrap();
            assert!((lo..=hi).contains(&port) && port % 2 == 0);
        }
        // A session member 1 synced holds a port of slice 0: reserved, and when it ends
        // the port is not ours to hand out.
        assert!(p.reserve(A, 1024));
        assert!(!p.reserve(A, 1024));
        p.free(A, 1024);
        assert!(p.reserve(A, 1024), "free again");
        p.free(A, 1024);
        let mut q = LaddrPools::new(0, 1, (2000, 2005)).with_member_slice(0, 2);
        let got: Vec<u16> = std::iter::from_fn(|| q.alloc(&[A], &mut cur).ok().map(|x| x.1)).collect();
        assert_eq!(got, [2000, 2001, 2002]);
        assert!(q.reserve(A, 2004));
        q.free(A, 2004);
        assert!(q.alloc(&[A], &mut cur).is_err(), "2004 is the other member's");
    }

    proptest! {
        #[test]
        fn member_slices_are_disjoint_and_cover(lo in 1u16..60000, width in 0u16..5000, n in 1u16..65) {
            let hi = lo.saturating_add(width);
            prop_assume!(u32::from(hi - lo) + 1 >= u32::from(n));
            let mut next = u32::from(lo);
            for i in 0..n {
                let (a, b) = member_slice((lo, hi), i, n);
                prop_assert_eq!(u32::from(a), next);
                prop_assert!(a <= b);
                prop_assert_eq!(slice_of_port((lo, hi), a, n), Some(i));
                prop_assert_eq!(slice_of_port((lo, hi), b, n), Some(i));
                next = u32::from(b) + 1;
            }
            prop_assert_eq!(next, u32::from(hi) + 1);
        }

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
