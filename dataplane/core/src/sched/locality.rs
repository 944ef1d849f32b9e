//! Locality-based schedulers of IPVS, for cache clusters: keep sending a destination
//! address to the same server(s).
//!
//! - `lblc`: destination → one server. Reused while it is available and not "locally
//!   overloaded" (active > weight while some server is below half its weight); else
//!   wlc chooses and the entry is replaced.
//! - `lblcr`: destination → a set of servers; the least loaded member (weighted, as
//!   wlc) is used; when it is locally overloaded wlc adds a server to the set; a set
//!   that has not grown for `expiration` loses its most loaded member, one per use.
//!
//! Per worker, sans-IO: the maps belong to one worker's scheduler of one service and
//! time is passed in. Entries unused for `expiration` (IPVS: 24 h) are ignored on lookup
//! and removed by [`Lblc::expire`]/[`Lblcr::expire`]; when a map reaches its bound,
//! entries idle for 6 minutes are swept (IPVS `ENTRY_TIMEOUT`) and if it is still full
//! the choice is made without remembering it. Servers are remembered by id with the
//! index they had as a hint, so snapshot changes cannot misdirect.
//!
//! Unlike IPVS, a remembered server that is over its connection threshold (the
//! `Overload` flag) is not reused: the flag means "no new connections" everywhere here.

use hashbrown::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use super::{find_by_id, lc, Candidates};
use crate::time::Time;

pub const DEFAULT_MAX_ENTRIES: usize = 16 * 1024;
/// Idle time after which an entry may go when the map is full (IPVS `ENTRY_TIMEOUT`).
const ENTRY_TIMEOUT: Duration = Duration::from_secs(6 * 60);

/// IPVS lblc/lblcr `is_overloaded`: more active connections than weight while some
/// server is below half of its weight.
fn locally_overloaded<V: Candidates + ?Sized>(reals: &V, i: usize) -> bool {
    reals.active(i) > u64::from(reals.weight(i))
        && (0..reals.len()).any(|d| reals.active(d).saturating_mul(2) < u64::from(reals.weight(d)))
}

#[derive(Debug, Clone, Copy)]
struct Member {
    id: u64,
    hint: u32,
}

#[derive(Debug, Clone)]
struct LblcEntry {
    member: Member,
    lastuse: Time,
}

#[derive(Debug, Clone)]
pub struct Lblc {
    map: HashMap<IpAddr, LblcEntry, ahash::RandomState>,
    expiration: Duration,
    max: usize,
}

impl Lblc {
    pub fn new(expiration: Duration, max: usize) -> Self {
        Lblc { map: HashMap::default(), expiration, max }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn pick<V: Candidates + ?Sized>(&mut self, reals: &V, dst: IpAddr, now: Time) -> Option<usize> {
        let expiration = self.expiration;
        if let Some(e) = self.map.get_mut(&dst) {
            if e.lastuse + expiration > now {
                e.lastuse = now;
                if let Some(i) = find_by_id(reals, e.member.id, e.member.hint) {
                    e.member.hint = i as u32;
                    if reals.available(i) && !locally_overloaded(reals, i) {
                        return Some(i);
                    }
                }
            }
        }
        let i = lc::wlc(reals)?;
        let member = Member { id: reals.id(i), hint: i as u32 };
        if let Some(e) = self.map.get_mut(&dst) {
            *e = LblcEntry { member, lastuse: now };
        } else if self.room(now) {
            self.map.insert(dst, LblcEntry { member, lastuse: now });
        }
        Some(i)
    }

    fn room(&mut self, now: Time) -> bool {
        if self.map.len() >= self.max {
            let idle = ENTRY_TIMEOUT.min(self.expiration);
            self.map.retain(|_, e| e.lastuse + idle > now);
        }
        self.map.len() < self.max
    }

    /// Forgets destinations unused for the expiration time.
    pub fn expire(&mut self, now: Time) {
        let exp = self.expiration;
        self.map.retain(|_, e| e.lastuse + exp > now);
    }
}

#[derive(Debug, Clone)]
struct LblcrEntry {
    set: Vec<Member>,
    lastuse: Time,
    /// When the set last grew.
    lastmod: Time,
}

#[derive(Debug, Clone)]
pub struct Lblcr {
    map: HashMap<IpAddr, LblcrEntry, ahash::RandomState>,
    expiration: Duration,
    max: usize,
}

/// IPVS `ip_vs_dest_set_min`: the available member of least overhead/weight.
fn set_min<V: Candidates + ?Sized>(reals: &V, set: &[Member]) -> Option<usize> {
    let mut best: Option<(usize, u128, u128)> = None;
    for m in set {
        let i = m.hint as usize;
        if !reals.available(i) {
            continue;
        }
        let (c, w) = (u128::from(reals.overhead(i)), u128::from(reals.weight(i)));
        match best {
            Some((_, bc, bw)) if bc * w <= c * bw => {}
            _ => best = Some((i, c, w)),
        }
    }
    best.map(|b| b.0)
}

/// IPVS `ip_vs_dest_set_max`: the member (weight > 0) of most overhead/weight.
fn set_max<V: Candidates + ?Sized>(reals: &V, set: &[Member]) -> Option<usize> {
    let mut best: Option<(usize, u128, u128)> = None;
    for (k, m) in set.iter().enumerate() {
        let i = m.hint as usize;
        if reals.weight(i) == 0 {
            continue;
        }
        let (c, w) = (u128::from(reals.overhead(i)), u128::from(reals.weight(i)));
        match best {
            Some((_, bc, bw)) if bc * w >= c * bw => {}
            _ => best = Some((k, c, w)),
        }
    }
    best.map(|b| b.0)
}

impl Lblcr {
    pub fn new(expiration: Duration, max: usize) -> Self {
        Lblcr { map: HashMap::default(), expiration, max }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Members of the set of `dst` (indices as of the last pick), for tests and stats.
    pub fn set_of(&self, dst: IpAddr) -> Vec<usize> {
        self.map.get(&dst).map_or(Vec::new(), |e| e.set.iter().map(|m| m.hint as usize).collect())
    }

    pub fn pick<V: Candidates + ?Sized>(&mut self, reals: &V, dst: IpAddr, now: Time) -> Option<usize> {
        let expiration = self.expiration;
        if let Some(e) = self.map.get_mut(&dst) {
            if e.lastuse + expiration > now {
                e.lastuse = now;
                // Resolve members; drop those gone from the service.
                e.set.retain_mut(|m| match find_by_id(reals, m.id, m.hint) {
                    Some(i) => {
                        m.hint = i as u32;
                        true
                    }
                    None => false,
                });
                let chosen = set_min(reals, &e.set);
                if e.set.len() > 1 && now > e.lastmod + expiration {
                    if let Some(k) = set_max(reals, &e.set) {
                        e.set.remove(k);
                    }
                }
                if let Some(i) = chosen.filter(|&i| !locally_overloaded(reals, i)) {
                    return Some(i);
                }
                let i = lc::wlc(reals)?;
                if !e.set.iter().any(|m| m.hint as usize == i) {
                    e.set.push(Member { id: reals.id(i), hint: i as u32 });
                    e.lastmod = now;
                }
                return Some(i);
            }
        }
        let i = lc::wlc(reals)?;
        let entry =
            LblcrEntry { set: vec![Member { id: reals.id(i), hint: i as u32 }], lastuse: now, lastmod: now };
        if let Some(e) = self.map.get_mut(&dst) {
            *e = entry;
        } else if self.room(now) {
            self.map.insert(dst, entry);
        }
        Some(i)
    }

    fn room(&mut self, now: Time) -> bool {
        if self.map.len() >= self.max {
            let idle = ENTRY_TIMEOUT.min(self.expiration);
            self.map.retain(|_, e| e.lastuse + idle > now);
        }
        self.map.len() < self.max
    }

    /// Forgets destinations unused for the expiration time.
    pub fn expire(&mut self, now: Time) {
        let exp = self.expiration;
        self.map.retain(|_, e| e.lastuse + exp > now);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use std::net::Ipv4Addr;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    fn dst(n: u8) -> IpAddr {
        Ipv4Addr::new(10, 9, 0, n).into()
    }

    #[test]
    fn lblc_sticks_to_a_destination_while_usable() {
        let mut s = Lblc::new(DAY, 100);
        let mut r = loads(&[(1, 0, 0), (1, 0, 0), (1, 0, 0)]);
        let first = s.pick(&r, dst(1), Time::from_secs(1)).unwrap();
        assert_eq!(first, 0, "wlc on empty counts: first");
        // Load the chosen server beyond others: still sticky (not locally overloaded
        // while active <= weight... here 1 > 1 is false).
        r[0].a = 1;
        assert_eq!(s.pick(&r, dst(1), Time::from_secs(2)), Some(0));
        // A different destination goes by wlc.
        assert_eq!(s.pick(&r, dst(2), Time::from_secs(2)), Some(1));
        // active 2 > weight 1 and server 2 is idle (0*2 < 1): locally overloaded → wlc.
        r[0].a = 2;
        assert_eq!(s.pick(&r, dst(1), Time::from_secs(3)), Some(1));
        // ...and the entry now points to the new server.
        r[0].a = 0;
        assert_eq!(s.pick(&r, dst(1), Time::from_secs(4)), Some(1));
    }

    #[test]
    fn lblc_leaves_quiescent_overloaded_and_removed_servers() {
        let mut s = Lblc::new(DAY, 100);
        let mut r = weights(&[1, 1, 1]);
        assert_eq!(s.pick(&r, dst(1), Time::ZERO), Some(0));
        r[0].w = 0;
        assert_eq!(s.pick(&r, dst(1), Time::ZERO), Some(1));
        r[1].o = true;
        assert_eq!(s.pick(&r, dst(1), Time::ZERO), Some(2));
        // Snapshot change: server 2 moves to index 0; the entry follows its id.
        let moved = vec![r[2], r[1]];
        assert_eq!(s.pick(&moved, dst(1), Time::ZERO), Some(0));
    }

    #[test]
    fn lblc_entries_expire_with_passed_in_time() {
        let exp = Duration::from_secs(100);
        let mut s = Lblc::new(exp, 100);
        let mut r = loads(&[(1, 0, 0), (1, 0, 0)]);
        assert_eq!(s.pick(&r, dst(1), Time::from_secs(0)), Some(0));
        r[0].a = 1; // now wlc prefers server 1, but the entry holds
        assert_eq!(s.pick(&r, dst(1), Time::from_secs(99)), Some(0));
        assert_eq!(s.pick(&r, dst(1), Time::from_secs(198)), Some(0), "use refreshes");
        // Unused for the expiration time: forgotten, wlc decides.
        assert_eq!(s.pick(&r, dst(1), Time::from_secs(298)), Some(1));
        s.expire(Time::from_secs(1000));
        assert!(s.is_empty());
    }

    #[test]
    fn lblc_bounded_map() {
        let mut s = Lblc::new(DAY, 4);
        let r = weights(&[1, 1]);
        for n in 0..10 {
            assert!(s.pick(&r, dst(n), Time::from_secs(u64::from(n))).is_some());
        }
        assert_eq!(s.len(), 4);
        // Entries idle for ENTRY_TIMEOUT make room.
        s.pick(&r, dst(50), Time::from_secs(10_000));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn lblcr_grows_when_overloaded_and_uses_least_loaded_member() {
        let mut s = Lblcr::new(DAY, 100);
        let mut r = loads(&[(1, 0, 0), (1, 0, 0), (1, 0, 0)]);
        let t = Time::from_secs(1);
        assert_eq!(s.pick(&r, dst(1), t), Some(0));
        assert_eq!(s.set_of(dst(1)), vec![0]);
        r[0].a = 2; // > weight and others idle: grow the set via wlc
        assert_eq!(s.pick(&r, dst(1), t), Some(1));
        assert_eq!(s.set_of(dst(1)), vec![0, 1]);
        // Both members usable: the least loaded member is used.
        r[0].a = 1;
        r[1].a = 0;
        r[1].i = 5;
        assert_eq!(s.pick(&r, dst(1), t), Some(1));
        r[1].a = 1;
        assert_eq!(s.pick(&r, dst(1), t), Some(0), "256 < 256+5");
        assert_eq!(s.set_of(dst(1)), vec![0, 1]);
    }

    #[test]
    fn lblcr_shrinks_after_expiration_without_growth() {
        let exp = Duration::from_secs(100);
        let mut s = Lblcr::new(exp, 100);
        let mut r = loads(&[(1, 0, 0), (1, 0, 0), (1, 0, 0)]);
        s.pick(&r, dst(1), Time::from_secs(0));
        r[0].a = 2;
        s.pick(&r, dst(1), Time::from_secs(10));
        assert_eq!(s.set_of(dst(1)), vec![0, 1]);
        r[0].a = 1;
        // Kept busy (lastuse refreshed) but not grown for > 100 s: the most loaded
        // member (0: 256 vs 0) leaves.
        for t in (20..=100).step_by(20) {
            s.pick(&r, dst(1), Time::from_secs(t));
        }
        assert_eq!(s.set_of(dst(1)), vec![0, 1]);
        assert_eq!(s.pick(&r, dst(1), Time::from_secs(111)), Some(1));
        assert_eq!(s.set_of(dst(1)), vec![1]);
    }

    #[test]
    fn lblcr_drops_removed_members() {
        let mut s = Lblcr::new(DAY, 100);
        let mut r = loads(&[(1, 0, 0), (1, 0, 0)]);
        s.pick(&r, dst(1), Time::ZERO);
        r[0].a = 2;
        s.pick(&r, dst(1), Time::ZERO);
        assert_eq!(s.set_of(dst(1)), vec![0, 1]);
        let only = vec![r[1]];
        assert_eq!(s.pick(&only, dst(1), Time::ZERO), Some(0));
        assert_eq!(s.set_of(dst(1)), vec![0]);
    }
}
