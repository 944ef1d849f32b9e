//! Per-service admission of new connections: source allow/deny lists, new-connection
//! rates (per source and per service) and a concurrent-connection cap.
//!
//! Everything here runs once per new flow (a SYN, a cookie-validated ACK, a UDP flow's
//! first datagram), never per established packet. A worker owns its state: each enforces
//! its share of the limits (the rates divided by the number of workers, the cap split
//! exactly like real-server thresholds), so nothing is shared between cores.

use hashbrown::HashSet;
use std::net::{IpAddr, Ipv4Addr};

use crate::time::Time;
use rvs_proto::{Cidr, RateLimit, ServiceOptions};

/// IPv4 prefixes, matched by one hash probe per distinct prefix length (at most 33),
/// whatever the number of prefixes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrefixSet {
    /// Distinct prefix lengths, longest first.
    lens: Vec<u8>,
    nets: HashSet<(u8, u32), ahash::RandomState>,
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

impl PrefixSet {
    /// The IPv4 prefixes of `list` (others are refused before they get here).
    pub fn new(list: &[Cidr]) -> Self {
        let mut s = PrefixSet::default();
        for c in list {
            if let IpAddr::V4(a) = c.addr() {
                let len = c.prefix_len().min(32);
                s.nets.insert((len, u32::from(a) & mask(len)));
                if !s.lens.contains(&len) {
                    s.lens.push(len);
                }
            }
        }
        s.lens.sort_unstable_by(|a, b| b.cmp(a));
        s
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    #[inline]
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let a = u32::from(ip);
        self.lens.iter().any(|&l| self.nets.contains(&(l, a & mask(l))))
    }
}

/// A rate as a worker enforces it: GCRA (the generic cell rate algorithm), one
/// "theoretical arrival time" per bucket instead of a token count and a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// Nanoseconds between admissions at the worker's share of the rate.
    interval: u64,
    /// How far ahead of `now` the arrival time may run: (burst - 1) intervals.
    tolerance: u64,
}

impl Gcra {
    /// `r` shared by `workers` workers: each admits `rate / workers` per second (exactly,
    /// as an interval) with a burst of `ceil(burst / workers)`.
    pub fn new(r: RateLimit, workers: u16) -> Gcra {
        let n = u64::from(workers.max(1));
        let interval = (1_000_000_000 * n / u64::from(r.rate.max(1))).max(1);
        let burst = u64::from(r.burst.max(1)).div_ceil(n);
        Gcra { interval, tolerance: (burst - 1) * interval }
    }

    /// Admits one connection at `now` against the arrival time `tat` (0: a fresh bucket),
    /// moving it on when admitted.
    #[inline]
    pub fn admit(&self, tat: &mut u64, now: Time) -> bool {
        let now = now.as_nanos();
        let t = (*tat).max(now);
        if t - now > self.tolerance {
            return false;
        }
        *tat = t + self.interval;
        true
    }
}

/// A service's admission rules, built from its options with the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceLimits {
    pub allow: PrefixSet,
    pub deny: PrefixSet,
    pub source_rate: Option<RateLimit>,
    pub conn_rate: Option<RateLimit>,
    /// Concurrent connections of the whole service (0: none).
    pub max_conns: u32,
}

impl ServiceLimits {
    /// None when the options set no rule (the common case costs one branch).
    pub fn from_options(o: &ServiceOptions) -> Option<ServiceLimits> {
        let l = ServiceLimits {
            allow: PrefixSet::new(&o.allow),
            deny: PrefixSet::new(&o.deny),
            source_rate: o.source_conn_rate,
            conn_rate: o.conn_rate,
            max_conns: o.max_conns,
        };
        let none = l.allow.is_empty()
            && l.deny.is_empty()
            && l.source_rate.is_none()
            && l.conn_rate.is_none()
            && l.max_conns == 0;
        (!none).then_some(l)
    }

    /// The list verdict for `src`: None if admitted.
    #[inline]
    pub fn acl(&self, src: Ipv4Addr) -> Option<AclVerdict> {
        if self.deny.contains(src) {
            return Some(AclVerdict::Denied);
        }
        if !self.allow.is_empty() && !self.allow.contains(src) {
            return Some(AclVerdict::NotAllowed);
        }
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclVerdict {
    /// In the deny list.
    Denied,
    /// The service has an allow list and the source is not in it.
    NotAllowed,
}

/// Per-source rate buckets of one worker: a fixed table (no allocation per packet), 4-way
/// set-associative by a hash of (service, source). A newcomer takes a free way, else one
/// whose bucket is full again (its arrival time is past: forgetting it loses nothing),
/// else the one seen least often. A flood from random spoofed sources, each seen once,
/// therefore cannot flush the bucket of the one source that keeps coming over its rate.
pub struct SourceBuckets {
    /// (key, arrival time); key 0 is a free way. A key is the source (bits 0-31), the
    /// service slot + 1 (bits 32-55) and how often it was seen, saturating (bits 56-63).
    ways: Box<[(u64, u64)]>,
    sets_mask: usize,
    hasher: ahash::RandomState,
}

const WAYS: usize = 4;
const KEY_BITS: u64 = (1 << 56) - 1;
const SEEN_ONE: u64 = 1 << 56;

impl SourceBuckets {
    /// Room for `sets * 4` sources (`sets` rounded up to a power of two).
    pub fn new(sets: usize) -> Self {
        let sets = sets.max(1).next_power_of_two();
        SourceBuckets {
            ways: vec![(0, 0); sets * WAYS].into_boxed_slice(),
            sets_mask: sets - 1,
            hasher: ahash::RandomState::with_seeds(0x6163_6c73, 0x7276_7321, 0x736f_7572, 0x6365_7321),
        }
    }

    /// Admits a new connection from `src` to service stat slot `slot` at `now`.
    pub fn admit(&mut self, slot: u32, src: Ipv4Addr, rate: &Gcra, now: Time) -> bool {
        let key = ((u64::from(slot) & 0xff_ffff) + 1) << 32 | u64::from(u32::from(src));
        let set = (self.hasher.hash_one(key) as usize & self.sets_mask) * WAYS;
        let ways = &mut self.ways[set..set + WAYS];
        let t = now.as_nanos();
        let i = match ways.iter().position(|w| w.0 & KEY_BITS == key) {
            Some(i) => i,
            None => {
                let victim = |w: &(u64, u64)| (w.0 != 0, w.1 > t, w.0 >> 56, w.1);
                let (i, _) = ways.iter().enumerate().min_by_key(|(_, w)| victim(w)).expect("4 ways");
                ways[i] = (key, 0);
                i
            }
        };
        let w = &mut ways[i];
        if w.0 >> 56 != 0xff {
            w.0 += SEEN_ONE;
        }
        rate.admit(&mut w.1, now)
    }
}

impl std::fmt::Debug for SourceBuckets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SourceBuckets({} ways)", self.ways.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidrs(v: &[&str]) -> Vec<Cidr> {
        v.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn prefix_sets_match_by_longest_and_shortest() {
        let s = PrefixSet::new(&cidrs(&["198.18.0.0/24", "198.18.5.7", "10.0.0.0/8"]));
        for (ip, hit) in [
            ("198.18.0.200", true),
            ("198.18.1.1", false),
            ("198.18.5.7", true),
            ("198.18.5.8", false),
            ("10.9.9.9", true),
        ] {
            assert_eq!(s.contains(ip.parse().unwrap()), hit, "{ip}");
        }
        let all = PrefixSet::new(&cidrs(&["0.0.0.0/0"]));
        assert!(all.contains("1.2.3.4".parse().unwrap()));
        assert!(!PrefixSet::default().contains("1.2.3.4".parse().unwrap()));
    }

    #[test]
    fn deny_wins_over_allow_and_an_allow_list_refuses_the_rest() {
        let o = ServiceOptions {
            allow: cidrs(&["198.18.0.0/24"]),
            deny: cidrs(&["198.18.0.20"]),
            ..Default::default()
        };
        let l = ServiceLimits::from_options(&o).unwrap();
        assert_eq!(l.acl("198.18.0.10".parse().unwrap()), None);
        assert_eq!(l.acl("198.18.0.20".parse().unwrap()), Some(AclVerdict::Denied));
        assert_eq!(l.acl("198.18.1.10".parse().unwrap()), Some(AclVerdict::NotAllowed));
        assert!(ServiceLimits::from_options(&ServiceOptions::default()).is_none());
    }

    #[test]
    fn gcra_admits_the_burst_then_the_rate() {
        let g = Gcra::new(RateLimit { rate: 10, burst: 5 }, 1);
        let mut tat = 0;
        let t0 = Time::from_secs(100);
        let admitted = (0..20).filter(|_| g.admit(&mut tat, t0)).count();
        assert_eq!(admitted, 5, "the burst at once");
        // 10 per second: one more every 100 ms.
        assert!(!g.admit(&mut tat, t0 + std::time::Duration::from_millis(50)));
        assert!(g.admit(&mut tat, t0 + std::time::Duration::from_millis(101)));
        // Over 10 s of steady offers, about 10 per second get in.
        let mut n = 0;
        for ms in (0..10_000).step_by(5) {
            n += g.admit(&mut tat, Time::from_secs(101) + std::time::Duration::from_millis(ms)) as u32;
        }
        assert!((99..=106).contains(&n), "{n}");
    }

    #[test]
    fn gcra_shares_the_rate_between_workers() {
        let g = Gcra::new(RateLimit { rate: 10, burst: 4 }, 2);
        let mut tat = 0;
        let t0 = Time::from_secs(1);
        assert_eq!((0..10).filter(|_| g.admit(&mut tat, t0)).count(), 2, "half the burst");
        let mut n = 0;
        for ms in (0..10_000).step_by(10) {
            n += g.admit(&mut tat, Time::from_secs(2) + std::time::Duration::from_millis(ms)) as u32;
        }
        assert!((49..=53).contains(&n), "half the rate: {n}");
    }

    #[test]
    fn a_spoofed_flood_does_not_flush_the_limited_source() {
        let g = Gcra::new(RateLimit { rate: 1, burst: 1 }, 1);
        let mut b = SourceBuckets::new(4);
        let heavy: Ipv4Addr = "198.18.0.66".parse().unwrap();
        let t = Time::from_secs(10);
        assert!(b.admit(1, heavy, &g, t));
        assert!(!b.admit(1, heavy, &g, t));
        // 10,000 other sources, each once, in the same instant: the table is 16 ways.
        for i in 0..10_000u32 {
            b.admit(1, Ipv4Addr::from(0x0a00_0000 + i), &g, t);
            assert!(!b.admit(1, heavy, &g, t), "the heavy source stays limited after {i}");
        }
        // The same source on another service has a bucket of its own.
        assert!(b.admit(2, heavy, &g, t));
        // And it gets its next connection a second later.
        assert!(b.admit(1, heavy, &g, t + std::time::Duration::from_millis(1001)));
    }
}
