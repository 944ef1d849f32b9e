//! Persistence templates (IPVS `-p timeout -M netmask`): pin a client, or a client
//! network, to one real server across its connections and source ports for a service.
//!
//! Per worker and sans-IO: each worker keeps its own table of templates, keyed by
//! (service stat slot, client address masked by the granularity), and is handed the
//! time. RSS sends a client's flows to several workers, so each worker pins the client
//! independently; use the sh/mh schedulers (deterministic per client) underneath if the
//! workers must agree on the first choice.
//!
//! IPVS semantics kept:
//! - a template lives `timeout` after its last use (each new connection it pins
//!   refreshes it), and never expires while connections it controls live
//!   ([`PersistTable::attach`]/[`PersistTable::detach`], IPVS `n_control`);
//! - a template whose server left the service is dropped on lookup, and so is one whose
//!   server is quiescent (weight 0) when `expire_quiescent_template` is set; without the
//!   flag a quiescent server keeps its persistent clients, as in IPVS;
//! - a template's server is used even when over its connection threshold (IPVS checks
//!   only availability and the quiescent rule).
//!
//! Expiry is driven by [`PersistTable::expire`] (a lazy min-heap: O(log n) per
//! expired template, bounded work per call); lookups also ignore expired templates.

use hashbrown::HashMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::sched::Candidates;
use crate::time::Time;

/// How much of the client address identifies a persistent client (ipvsadm `-M`: a
/// netmask for IPv4, a prefix length for IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granularity {
    pub v4_mask: Ipv4Addr,
    pub v6_prefix: u8,
}

impl Default for Granularity {
    /// One client address (255.255.255.255, /128).
    fn default() -> Self {
        Granularity { v4_mask: Ipv4Addr::BROADCAST, v6_prefix: 128 }
    }
}

impl Granularity {
    pub fn v4(mask: Ipv4Addr) -> Self {
        Granularity { v4_mask: mask, ..Granularity::default() }
    }

    pub fn mask(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & u32::from(self.v4_mask))),
            IpAddr::V6(a) => {
                let p = u32::from(self.v6_prefix.min(128));
                let m = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
            }
        }
    }
}

/// Persistence configuration of one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersistParams {
    /// ipvsadm `-p`; IPVS default 300 s.
    pub timeout: Duration,
    pub granularity: Granularity,
    /// sysctl `expire_quiescent_template`.
    pub expire_quiescent_template: bool,
}

impl Default for PersistParams {
    fn default() -> Self {
        PersistParams {
            timeout: Duration::from_secs(300),
            granularity: Granularity::default(),
            expire_quiescent_template: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersistKey {
    /// The service's stat slot.
    pub service: u32,
    /// The client address, masked.
    pub client: IpAddr,
}

impl PersistKey {
    pub fn new(service: u32, client: IpAddr, g: &Granularity) -> Self {
        PersistKey { service, client: g.mask(client) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    /// `Candidates::id` of the pinned server.
    pub real: u64,
    /// Its index in the service's reals when last seen (a hint; the id decides).
    pub hint: u32,
    pub expires: Time,
    pub timeout: Duration,
    /// Live connections this template pinned (IPVS `n_control`).
    pub controlled: u32,
    /// Time of this template's item in the expiry heap.
    queued: Time,
}

impl Template {
    fn expired(&self, now: Time) -> bool {
        self.expires <= now && self.controlled == 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("persistence template table full")]
pub struct TableFull;

/// One worker's persistence templates.
#[derive(Debug)]
pub struct PersistTable {
    map: HashMap<PersistKey, Template, ahash::RandomState>,
    heap: BinaryHeap<Reverse<(Time, PersistKey)>>,
    capacity: usize,
}

impl PersistTable {
    pub fn new(capacity: usize) -> Self {
        PersistTable { map: HashMap::default(), heap: BinaryHeap::new(), capacity }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&self, key: &PersistKey) -> Option<&Template> {
        self.map.get(key)
    }

    /// The server `key` is pinned to, as an index into `reals`, refreshing the template;
    /// None (and the template dropped) when there is none, it expired, its server left
    /// the service, or the server is quiescent and `expire_quiescent` is set.
    pub fn lookup<V: Candidates + ?Sized>(
        &mut self,
        key: &PersistKey,
        reals: &V,
        now: Time,
        expire_quiescent: bool,
    ) -> Option<usize> {
        let t = self.map.get_mut(key)?;
        let found = if t.expired(now) { None } else { find(reals, t.real, t.hint) };
        match found {
            Some(i) if !(expire_quiescent && reals.weight(i) == 0) => {
                t.hint = i as u32;
                t.expires = t.expires.max(now + t.timeout);
                Some(i)
            }
            _ => {
                self.map.remove(key);
                None
            }
        }
    }

    /// Pins `key` to server `i` of `reals` until `now + timeout` (replacing any template).
    pub fn insert<V: Candidates + ?Sized>(
        &mut self,
        key: PersistKey,
        reals: &V,
        i: usize,
        now: Time,
        timeout: Duration,
    ) -> Result<(), TableFull> {
        let expires = now + timeout;
        let (real, hint) = (reals.id(i), i as u32);
        if let Some(t) = self.map.get_mut(&key) {
            let queued = if expires < t.queued { expires } else { t.queued };
            if queued != t.queued {
                self.heap.push(Reverse((expires, key)));
            }
            *t = Template { real, hint, expires, timeout, controlled: t.controlled, queued };
            return Ok(());
        }
        if self.map.len() >= self.capacity {
            self.expire(now, 64);
            if self.map.len() >= self.capacity {
                return Err(TableFull);
            }
        }
        self.map.insert(key, Template { real, hint, expires, timeout, controlled: 0, queued: expires });
        self.heap.push(Reverse((expires, key)));
        Ok(())
    }

    /// Extends a template to `now + its timeout` (on traffic of a connection it pinned).
    pub fn touch(&mut self, key: &PersistKey, now: Time) -> bool {
        match self.map.get_mut(key) {
            Some(t) if !t.expired(now) => {
                t.expires = t.expires.max(now + t.timeout);
                true
            }
            _ => false,
        }
    }

    /// A connection pinned by `key` started: the template outlives it.
    pub fn attach(&mut self, key: &PersistKey) {
        if let Some(t) = self.map.get_mut(key) {
            t.controlled = t.controlled.saturating_add(1);
        }
    }

    /// A connection pinned by `key` ended.
    pub fn detach(&mut self, key: &PersistKey) {
        if let Some(t) = self.map.get_mut(key) {
            t.controlled = t.controlled.saturating_sub(1);
        }
    }

    pub fn remove(&mut self, key: &PersistKey) -> Option<Template> {
        self.map.remove(key)
    }

    /// Drops every template of a service (it was deleted or its persistence turned off).
    pub fn remove_service(&mut self, service: u32) {
        self.map.retain(|k, _| k.service != service);
    }

    /// When the next template may expire, for the caller's timer.
    pub fn next_expiry(&self) -> Option<Time> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// Removes templates expired by `now`, examining at most `budget` heap items.
    /// Returns how many were removed.
    pub fn expire(&mut self, now: Time, budget: usize) -> usize {
        let mut removed = 0;
        for _ in 0..budget {
            let Some(&Reverse((at, key))) = self.heap.peek() else { break };
            if at > now {
                break;
            }
            self.heap.pop();
            let Some(t) = self.map.get_mut(&key) else { continue };
            if t.queued != at {
                continue; // superseded item
            }
            if t.expired(now) {
                self.map.remove(&key);
                removed += 1;
            } else {
                // Refreshed, or held by live connections (IPVS re-arms the timer).
                let next = if t.expires > now { t.expires } else { now + t.timeout };
                t.queued = next;
                self.heap.push(Reverse((next, key)));
            }
        }
        // Items of removed templates linger until popped; keep the heap bounded.
        if self.heap.len() > 2 * self.map.len() + 1024 {
            self.heap = self.map.iter().map(|(k, t)| Reverse((t.queued, *k))).collect();
        }
        removed
    }

    /// Persistent scheduling of a new connection: the template's server when `key` has
    /// a valid one, else `schedule()`'s choice, which is then pinned. The bool is true
    /// on a template hit. A full table still schedules, without pinning.
    pub fn pick<V: Candidates + ?Sized>(
        &mut self,
        key: PersistKey,
        reals: &V,
        now: Time,
        params: &PersistParams,
        schedule: impl FnOnce() -> Option<usize>,
    ) -> Option<(usize, bool)> {
        if let Some(i) = self.lookup(&key, reals, now, params.expire_quiescent_template) {
            return Some((i, true));
        }
        let i = schedule()?;
        let _ = self.insert(key, reals, i, now, params.timeout);
        Some((i, false))
    }
}

/// Weighted rendezvous (highest-random-weight) hashing of a persistence key over the
/// available servers. Every worker, and every cluster member with the same real servers,
/// computes the same choice for a client, so a client stays on one server however its
/// connections are spread over cores or members, without sharing templates. Each
/// server wins a share of clients proportional to its weight, and removing one moves
/// only the clients it held.
pub fn rendezvous<V: Candidates + ?Sized>(reals: &V, key: &PersistKey) -> Option<usize> {
    let [a, b] = crate::sched::stable::ip_words(key.client);
    let mut best: Option<(f64, usize)> = None;
    for i in 0..reals.len() {
        if !reals.available(i) {
            continue;
        }
        let h = crate::sched::stable::hash_words(RENDEZVOUS_SEED, &[a, b, reals.id(i)]);
        // A uniform draw in (0, 1) from the top 53 bits, then the weighted score.
        let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let score = f64::from(reals.weight(i)) / -u.ln();
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, i));
        }
    }
    best.map(|(_, i)| i)
}

const RENDEZVOUS_SEED: u64 = 0x7276_735f_7065_7273; // "rvs_pers"

fn find<V: Candidates + ?Sized>(reals: &V, id: u64, hint: u32) -> Option<usize> {
    let h = hint as usize;
    if h < reals.len() && reals.id(h) == id {
        return Some(h);
    }
    (0..reals.len()).find(|&i| reals.id(i) == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::{Candidate, SchedKey, Scheduler};

    #[derive(Debug, Clone, Copy)]
    struct R {
        w: u32,
        id: u64,
    }
    impl Candidate for R {
        fn weight(&self) -> u32 {
            self.w
        }
        fn id(&self) -> u64 {
            self.id
        }
    }

    fn reals(ws: &[u32]) -> Vec<R> {
        ws.iter().enumerate().map(|(i, &w)| R { w, id: 100 + i as u64 }).collect()
    }

    fn key(client: [u8; 4], g: Granularity) -> PersistKey {
        PersistKey::new(7, Ipv4Addr::from(client).into(), &g)
    }

    const T300: Duration = Duration::from_secs(300);

    #[test]
    fn rendezvous_is_deterministic_weighted_and_minimally_disruptive() {
        let rs = reals(&[1, 1, 2]);
        let mut counts = [0usize; 3];
        let mut before = Vec::new();
        for n in 0..8000u32 {
            let k = key(n.to_be_bytes(), Granularity::default());
            let i = rendezvous(&rs, &k).unwrap();
            assert_eq!(rendezvous(&rs, &k), Some(i), "same answer every time");
            counts[i] += 1;
            before.push(i);
        }
        // Weight shares 1/4, 1/4, 1/2 within 5%.
        for (c, share) in counts.iter().zip([0.25, 0.25, 0.5]) {
            assert!((*c as f64 / 8000.0 - share).abs() < 0.05, "{counts:?}");
        }
        // Quiescing server 0 moves only its own clients.
        let mut rs2 = rs.clone();
        rs2[0].w = 0;
        for (n, &was) in before.iter().enumerate() {
            let now = rendezvous(&rs2, &key((n as u32).to_be_bytes(), Granularity::default())).unwrap();
            if was != 0 {
                assert_eq!(now, was);
            } else {
                assert_ne!(now, 0);
            }
        }
        assert_eq!(rendezvous(&reals(&[0, 0]), &key([1, 2, 3, 4], Granularity::default())), None);
    }

    fn t(s: u64) -> Time {
        Time::from_secs(s)
    }

    #[test]
    fn granularity_masks() {
        let g = Granularity::v4(Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(key([10, 1, 2, 3], g), key([10, 1, 2, 200], g));
        assert_ne!(key([10, 1, 2, 3], g), key([10, 1, 3, 3], g));
        assert_ne!(key([10, 1, 2, 3], Granularity::default()), key([10, 1, 2, 4], Granularity::default()));
        let g6 = Granularity { v6_prefix: 64, ..Granularity::default() };
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(g6.mask(a), g6.mask(b));
        assert_eq!(Granularity { v6_prefix: 0, ..g6 }.mask(a), IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    }

    #[test]
    fn pins_a_client_network_across_connections_until_timeout() {
        let r = reals(&[1, 1, 1]);
        let g = Granularity::v4(Ipv4Addr::new(255, 255, 255, 0));
        let mut tab = PersistTable::new(100);
        let p = PersistParams { granularity: g, ..PersistParams::default() };
        let mut rr = Scheduler::new("rr").unwrap();
        let mut sched = |now| rr.pick(&r, &SchedKey::default(), now);
        assert_eq!(tab.pick(key([10, 0, 0, 1], g), &r, t(0), &p, || sched(t(0))), Some((0, false)));
        // Same network, other host, other ports: pinned to 0 though rr would move on.
        assert_eq!(tab.pick(key([10, 0, 0, 9], g), &r, t(100), &p, || sched(t(100))), Some((0, true)));
        // Another network is scheduled.
        assert_eq!(tab.pick(key([10, 0, 1, 1], g), &r, t(100), &p, || sched(t(100))), Some((1, false)));
        // Each hit refreshed: 100 + 300 > 399.
        assert_eq!(tab.lookup(&key([10, 0, 0, 1], g), &r, t(399), false), Some(0));
        // Unused for the timeout: gone.
        assert_eq!(tab.lookup(&key([10, 0, 0, 1], g), &r, t(699), false), None);
        assert!(tab.get(&key([10, 0, 0, 1], g)).is_none());
    }

    #[test]
    fn quiescent_server_keeps_clients_unless_expire_quiescent_template() {
        let mut r = reals(&[1, 1]);
        let k = key([10, 0, 0, 1], Granularity::default());
        let mut tab = PersistTable::new(10);
        tab.insert(k, &r, 1, t(0), T300).unwrap();
        r[1].w = 0;
        assert_eq!(tab.lookup(&k, &r, t(1), false), Some(1), "IPVS default: still pinned");
        assert_eq!(tab.lookup(&k, &r, t(2), true), None, "flag set: template dropped");
        assert!(tab.is_empty());
    }

    #[test]
    fn template_of_a_removed_server_is_dropped_and_moves_follow_ids() {
        let r = reals(&[1, 1, 1]);
        let k = key([10, 0, 0, 1], Granularity::default());
        let mut tab = PersistTable::new(10);
        tab.insert(k, &r, 2, t(0), T300).unwrap();
        let reordered = vec![r[2], r[0]];
        assert_eq!(tab.lookup(&k, &reordered, t(1), false), Some(0));
        let without = vec![r[0], r[1]];
        assert_eq!(tab.lookup(&k, &without, t(2), false), None);
        assert!(tab.is_empty());
    }

    #[test]
    fn controlled_connections_keep_the_template() {
        let r = reals(&[1]);
        let k = key([10, 0, 0, 1], Granularity::default());
        let mut tab = PersistTable::new(10);
        tab.insert(k, &r, 0, t(0), T300).unwrap();
        tab.attach(&k);
        assert_eq!(tab.expire(t(1000), 100), 0);
        assert_eq!(tab.lookup(&k, &r, t(1000), false), Some(0), "held by a live connection");
        assert_eq!(tab.get(&k).unwrap().expires, t(1300));
        tab.detach(&k);
        assert!(tab.touch(&k, t(1100)));
        assert_eq!(tab.expire(t(1399), 100), 0);
        assert_eq!(tab.expire(t(1400), 100), 1);
        assert!(!tab.touch(&k, t(1400)));
    }

    #[test]
    fn expire_walks_the_heap_lazily_and_respects_the_budget() {
        let r = reals(&[1]);
        let mut tab = PersistTable::new(1000);
        for n in 0..100u8 {
            tab.insert(key([10, 0, 0, n], Granularity::default()), &r, 0, t(u64::from(n)), T300).unwrap();
        }
        assert_eq!(tab.next_expiry(), Some(t(300)));
        // Refresh the first 10: their heap items are re-pushed, not removed.
        for n in 0..10u8 {
            assert!(tab.touch(&key([10, 0, 0, n], Granularity::default()), t(250)));
        }
        assert_eq!(tab.expire(t(349), 20), 10, "10 refreshed re-armed, 10 removed");
        assert_eq!(tab.expire(t(349), 1000), 30, "the rest of 300..=349");
        assert_eq!(tab.len(), 60);
        assert_eq!(tab.expire(t(10_000), 1000), 60);
        assert!(tab.is_empty());
        assert_eq!(tab.next_expiry(), None);
    }

    #[test]
    fn capacity_makes_room_from_expired_only() {
        let r = reals(&[1, 1]);
        let mut tab = PersistTable::new(2);
        let k = |n| key([10, 0, 0, n], Granularity::default());
        tab.insert(k(1), &r, 0, t(0), T300).unwrap();
        tab.insert(k(2), &r, 1, t(10), T300).unwrap();
        assert_eq!(tab.insert(k(3), &r, 0, t(20), T300), Err(TableFull));
        // Replacing an existing key needs no room.
        tab.insert(k(2), &r, 0, t(20), Duration::from_secs(5)).unwrap();
        assert_eq!(tab.insert(k(3), &r, 0, t(24), T300), Err(TableFull));
        // k(2) expires at 25 (shorter timeout: a new heap item was queued).
        tab.insert(k(3), &r, 1, t(30), T300).unwrap();
        assert!(tab.get(&k(2)).is_none());
        // A full table still schedules, without pinning.
        let p = PersistParams::default();
        assert_eq!(tab.pick(k(4), &r, t(40), &p, || Some(1)), Some((1, false)));
        assert!(tab.get(&k(4)).is_none());
    }

    #[test]
    fn services_are_separate() {
        let r = reals(&[1, 1]);
        let mut tab = PersistTable::new(10);
        let c: IpAddr = Ipv4Addr::new(10, 0, 0, 1).into();
        let g = Granularity::default();
        tab.insert(PersistKey::new(1, c, &g), &r, 0, t(0), T300).unwrap();
        tab.insert(PersistKey::new(2, c, &g), &r, 1, t(0), T300).unwrap();
        assert_eq!(tab.lookup(&PersistKey::new(1, c, &g), &r, t(1), false), Some(0));
        assert_eq!(tab.lookup(&PersistKey::new(2, c, &g), &r, t(1), false), Some(1));
        tab.remove_service(1);
        assert_eq!(tab.len(), 1);
    }
}
