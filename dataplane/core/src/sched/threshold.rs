//! Connection thresholds per real server (ipvsadm `-x` upper, `-y` lower) with IPVS's
//! hysteresis: a server becomes overloaded when its connections (active + inactive)
//! reach the upper threshold, and stays so — no new connections from any scheduler —
//! until they fall below the lower threshold (or, when that is 0, below 3/4 of the
//! upper one). An upper threshold of 0 means no limit.
//!
//! Per worker: the [`Overload`] flags are the worker's own, indexed by the real's stat
//! slot, updated from the connection count the worker sees — its own gauges, or its own
//! plus the published sum of the other workers' ([`super::PeerLoad`]). Without that sum,
//! give each worker its share of the thresholds ([`Thresholds::per_worker`]).

/// Upper and lower connection thresholds of one real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Thresholds {
    /// Overloaded at this many connections; 0: no limit.
    pub upper: u32,
    /// Not overloaded again below this many; 0: 3/4 of `upper`.
    pub lower: u32,
    /// A worker's share of a limit that gave it nothing: it admits no connection.
    pub closed: bool,
}

impl Thresholds {
    pub fn new(upper: u32, lower: u32) -> Self {
        Thresholds { upper, lower, closed: false }
    }

    /// No limit at all.
    pub fn is_unlimited(self) -> bool {
        self.upper == 0 && self.lower == 0
    }

    /// One worker's share when each worker counts only its own connections: the
    /// thresholds divided by the worker count, rounded up (never 0 when set).
    pub fn per_worker(self, workers: u16) -> Thresholds {
        let w = u32::from(workers.max(1));
        Thresholds::new(self.upper.div_ceil(w), self.lower.div_ceil(w))
    }

    /// Worker `worker`'s exact share of `workers`, for real-server stat slot `slot`: the
    /// shares add up to the thresholds (never more, so `-x 1` over 8 workers admits one
    /// connection, not eight). The remainder goes to different workers for different
    /// servers. A worker whose upper share is 0 admits none (`closed`).
    pub fn share(self, worker: u16, workers: u16, slot: u32) -> Thresholds {
        let n = u32::from(workers.max(1));
        let rank = (u32::from(worker) + slot % n) % n;
        let part = |v: u32| v / n + u32::from(rank < v % n);
        let upper = part(self.upper);
        if self.upper != 0 && upper == 0 {
            return Thresholds { upper: 0, lower: 0, closed: true };
        }
        // A lower share of 0 from a set lower threshold falls back to 3/4 of the upper share.
        Thresholds::new(upper, part(self.lower))
    }

    /// IPVS `ip_vs_bind_dest`: does a server with `conns` connections become overloaded?
    #[inline]
    fn sets(self, conns: u64) -> bool {
        self.closed || (self.upper != 0 && conns >= u64::from(self.upper))
    }

    /// IPVS `ip_vs_unbind_dest`: may an overloaded server with `conns` connections take
    /// new ones again?
    #[inline]
    fn clears(self, conns: u64) -> bool {
        if self.closed {
            false
        } else if self.lower != 0 {
            conns < u64::from(self.lower)
        } else if self.upper != 0 {
            conns * 4 < u64::from(self.upper) * 3
        } else {
            true
        }
    }
}

/// Overload flags of one worker, indexed by real-server stat slot.
#[derive(Debug, Clone, Default)]
pub struct Overload {
    bits: Vec<u64>,
}

impl Overload {
    pub fn new(slots: usize) -> Self {
        Overload { bits: vec![0; slots.div_ceil(64)] }
    }

    #[inline]
    pub fn is_overloaded(&self, slot: u32) -> bool {
        let s = slot as usize;
        self.bits.get(s / 64).is_some_and(|w| w & (1 << (s % 64)) != 0)
    }

    fn set(&mut self, slot: u32, on: bool) {
        let s = slot as usize;
        if s / 64 >= self.bits.len() {
            if !on {
                return;
            }
            self.bits.resize(s / 64 + 1, 0);
        }
        if on {
            self.bits[s / 64] |= 1 << (s % 64);
        } else {
            self.bits[s / 64] &= !(1 << (s % 64));
        }
    }

    /// After a connection was bound to the server (`conns` now counts it).
    #[inline]
    pub fn on_bind(&mut self, slot: u32, conns: u64, t: Thresholds) -> bool {
        if t.sets(conns) {
            self.set(slot, true);
        }
        self.is_overloaded(slot)
    }

    /// After a connection of the server ended (`conns` no longer counts it).
    #[inline]
    pub fn on_unbind(&mut self, slot: u32, conns: u64, t: Thresholds) -> bool {
        if self.is_overloaded(slot) && t.clears(conns) {
            self.set(slot, false);
        }
        self.is_overloaded(slot)
    }

    /// Re-evaluates after thresholds or counts changed otherwise (new config, a
    /// refreshed peer sum): sets at the upper threshold, clears per the hysteresis.
    pub fn update(&mut self, slot: u32, conns: u64, t: Thresholds) -> bool {
        if t.sets(conns) {
            self.set(slot, true);
        } else if t.clears(conns) {
            self.set(slot, false);
        }
        self.is_overloaded(slot)
    }

    /// Forgets a slot (its server was removed; the slot may be reused).
    pub fn clear(&mut self, slot: u32) {
        self.set(slot, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hysteresis_with_explicit_lower() {
        let t = Thresholds::new(10, 5);
        let mut o = Overload::new(4);
        for c in 1..10 {
            assert!(!o.on_bind(2, c, t), "{c}");
        }
        assert!(o.on_bind(2, 10, t));
        // Draining: still overloaded down to 5.
        for c in (5..10).rev() {
            assert!(o.on_unbind(2, c, t), "{c}");
        }
        assert!(!o.on_unbind(2, 4, t));
        assert!(!o.is_overloaded(1) && !o.is_overloaded(3));
    }

    #[test]
    fn lower_zero_means_three_quarters_of_upper() {
        let t = Thresholds::new(100, 0);
        let mut o = Overload::new(1);
        assert!(o.on_bind(0, 100, t));
        assert!(o.on_unbind(0, 75, t), "75*4 = 300 is not < 300");
        assert!(!o.on_unbind(0, 74, t));
    }

    #[test]
    fn upper_zero_never_overloads() {
        let t = Thresholds::default();
        assert!(t.is_unlimited());
        let mut o = Overload::new(1);
        assert!(!o.on_bind(0, u64::MAX, t));
        // A flag left from before the limit was removed clears on the next unbind.
        o.on_bind(0, 10, Thresholds::new(10, 0));
        assert!(!o.on_unbind(0, 9, t));
    }

    #[test]
    fn update_and_slots_beyond_initial_size() {
        let mut o = Overload::new(0);
        assert!(o.update(130, 50, Thresholds::new(50, 40)));
        assert!(o.is_overloaded(130));
        assert!(o.update(130, 45, Thresholds::new(50, 40)));
        assert!(!o.update(130, 39, Thresholds::new(50, 40)));
        o.update(7, 60, Thresholds::new(50, 40));
        o.clear(7);
        assert!(!o.is_overloaded(7));
        assert!(!o.is_overloaded(10_000));
    }

    /// `-x 1` and `-x 5` (with `-y`) over 1, 2, 3 and 8 workers: the shares add up to
    /// exactly the threshold, and a worker that may take none is overloaded from the
    /// start and stays so.
    #[test]
    fn exact_shares_add_up_across_workers() {
        for workers in [1u16, 2, 3, 8] {
            for (x, y) in [(1u32, 0u32), (5, 2), (100, 30)] {
                for slot in [0u32, 1, 7] {
                    let shares: Vec<_> =
                        (0..workers).map(|w| Thresholds::new(x, y).share(w, workers, slot)).collect();
                    let admitted: u32 = shares.iter().filter(|s| !s.closed).map(|s| s.upper).sum();
                    assert_eq!(admitted, x, "-x {x} over {workers} workers, slot {slot}");
                    for s in &shares {
                        let mut o = Overload::new(1);
                        assert_eq!(o.update(0, 0, *s), s.closed, "{s:?} at 0 connections");
                        if s.closed {
                            assert!(o.on_unbind(0, 0, *s), "a closed share never clears");
                        }
                    }
                }
            }
        }
        // The remainder moves between workers with the server's slot.
        let firsts: Vec<bool> = (0..3).map(|slot| !Thresholds::new(1, 0).share(0, 3, slot).closed).collect();
        assert_eq!(firsts, vec![true, false, false]);
    }

    #[test]
    fn per_worker_share() {
        assert_eq!(Thresholds::new(100, 30).per_worker(8), Thresholds::new(13, 4));
        assert_eq!(Thresholds::new(1, 0).per_worker(8), Thresholds::new(1, 0));
        assert_eq!(Thresholds::new(5, 2).per_worker(0), Thresholds::new(5, 2));
    }
}
