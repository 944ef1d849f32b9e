//! Weighted random twos choice (IPVS `twos`, "power of two choices"): draw two servers
//! at random with probability proportional to weight, take the one of lower
//! overhead/weight (the first drawn on a tie). Without load it is weighted random.
//!
//! The randomness is a per-worker SplitMix64 stream seeded from the parameters, so runs
//! are reproducible and no state is shared between cores.

use super::stable::mix64;
use super::Candidates;

#[derive(Debug, Clone)]
pub struct TwoChoices {
    state: u64,
}

impl TwoChoices {
    pub fn new(seed: u64) -> Self {
        TwoChoices { state: mix64(seed ^ 0x7a05_7a05_7a05_7a05) }
    }

    /// SplitMix64.
    #[inline]
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.state)
    }

    /// Uniform in 0..n (Lemire's multiply-shift; bias below 2^-32 for n < 2^32).
    #[inline]
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    pub fn pick<V: Candidates + ?Sized>(&mut self, reals: &V) -> Option<usize> {
        let total: u64 =
            (0..reals.len()).filter(|&i| reals.available(i)).map(|i| u64::from(reals.weight(i))).sum();
        if total == 0 {
            return None;
        }
        let (mut r1, mut r2) = (self.below(total), self.below(total));
        let (mut c1, mut c2) = (None, None);
        for i in 0..reals.len() {
            if !reals.available(i) {
                continue;
            }
            let w = u64::from(reals.weight(i));
            if c1.is_none() {
                if r1 < w {
                    c1 = Some(i);
                } else {
                    r1 -= w;
                }
            }
            if c2.is_none() {
                if r2 < w {
                    c2 = Some(i);
                } else {
                    r2 -= w;
                }
            }
            if c1.is_some() && c2.is_some() {
                break;
            }
        }
        let (a, b) = (c1?, c2?);
        let cost =
            |i: usize| u128::from(reals.overhead(i)) * u128::from(reals.weight(if i == a { b } else { a }));
        // b wins only when strictly less loaded: oh_b/w_b < oh_a/w_a.
        Some(if cost(b) < cost(a) { b } else { a })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn weighted_random_without_load_within_chi_square_bounds() {
        let ws = [1u32, 2, 3, 4, 0, 10];
        let mut s = TwoChoices::new(7);
        let mut n = [0u64; 6];
        for _ in 0..200_000 {
            n[s.pick(&weights(&ws)).unwrap()] += 1;
        }
        assert_eq!(n[4], 0);
        let shares: Vec<f64> = ws.iter().map(|&w| f64::from(w)).collect();
        // 4 degrees of freedom (5 non-zero classes): p = 0.001 at 18.47.
        let chi = chi_square(&n, &shares);
        assert!(chi < 18.47, "chi2 {chi}: {n:?}");
    }

    #[test]
    fn takes_the_less_loaded_of_two() {
        // Two equal servers, one loaded: the idle one wins unless both draws hit the
        // loaded one (probability 1/4).
        let r = loads(&[(1, 10, 0), (1, 0, 0)]);
        let mut s = TwoChoices::new(1);
        let mut n = [0u64; 2];
        for _ in 0..100_000 {
            n[s.pick(&r).unwrap()] += 1;
        }
        let loaded = n[0] as f64 / 100_000.0;
        assert!((loaded - 0.25).abs() < 0.01, "{n:?}");
    }

    #[test]
    fn deterministic_per_seed_and_different_across_seeds() {
        let r = weights(&[1; 16]);
        let seq = |seed| {
            let mut s = TwoChoices::new(seed);
            (0..64).map(|_| s.pick(&r).unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(seq(3), seq(3));
        assert_ne!(seq(3), seq(4));
    }

    #[test]
    fn skips_overloaded() {
        let mut r = weights(&[5, 5]);
        r[0].o = true;
        let mut s = TwoChoices::new(0);
        assert!((0..100).all(|_| s.pick(&r) == Some(1)));
    }
}
