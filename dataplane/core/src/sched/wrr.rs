//! Weighted round robin with IPVS `wrr` semantics: servers are visited in index order,
//! each round admitting those whose weight reaches the current weight, which steps
//! down by the gcd of the weights from the largest weight. A server of weight w gets
//! w picks out of every sum(weights). Overloaded servers are skipped (their turns are
//! lost, as in IPVS). The largest weight and the gcd are kept from `update` (IPVS
//! recomputes them when a destination changes), not recomputed per pick.

use super::Candidates;

#[derive(Debug, Clone, Default)]
pub struct WeightedRoundRobin {
    index: Option<usize>,
    current_weight: u32,
    /// Largest weight and gcd of the positive weights, as of `update`.
    max: u32,
    step: u32,
    /// Length of the list `update` saw.
    n: usize,
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl WeightedRoundRobin {
    /// Recomputes the weight steps; call when weights change.
    pub fn update<V: Candidates + ?Sized>(&mut self, reals: &V) {
        let ws = (0..reals.len()).map(|i| reals.weight(i));
        self.max = ws.clone().max().unwrap_or(0);
        self.step = ws.filter(|&w| w > 0).fold(0, gcd);
        self.n = reals.len();
    }

    pub fn pick<V: Candidates + ?Sized>(&mut self, reals: &V) -> Option<usize> {
        if self.n != reals.len() || self.max == 0 {
            self.update(reals);
        }
        if let Some(i) = self.scan(reals) {
            return Some(i);
        }
        // Nothing matched: perhaps weights changed without an update. Retry once fresh.
        let (max, step) = (self.max, self.step);
        self.update(reals);
        if (max, step) != (self.max, self.step) {
            return self.scan(reals);
        }
        None
    }

    fn scan<V: Candidates + ?Sized>(&mut self, reals: &V) -> Option<usize> {
        let (n, max, step) = (reals.len(), self.max, self.step);
        if max == 0 || n == 0 {
            return None;
        }
        if self.current_weight > max {
            self.current_weight = max;
        }
        let mut i = self.index.map_or(n - 1, |i| i.min(n - 1));
        // At most one full pass per weight level; bounded even for odd inputs.
        for _ in 0..=(n * (max / step + 1) as usize) {
            i = (i + 1) % n;
            if i == 0 {
                self.current_weight = self.current_weight.saturating_sub(step);
                if self.current_weight == 0 {
                    self.current_weight = max;
                }
            }
            let w = reals.weight(i);
            if w >= self.current_weight && w > 0 && !reals.overloaded(i) {
                self.index = Some(i);
                return Some(i);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn shares(weights: &[u32], picks: usize) -> Vec<usize> {
        let mut s = WeightedRoundRobin::default();
        let mut n = vec![0; weights.len()];
        for _ in 0..picks {
            n[s.pick(weights).unwrap()] += 1;
        }
        n
    }

    #[test]
    fn exact_weight_proportions_per_cycle() {
        assert_eq!(shares(&[1, 2, 3], 600), vec![100, 200, 300]);
        assert_eq!(shares(&[4, 4, 2], 10), vec![4, 4, 2]);
        assert_eq!(shares(&[5, 0, 5], 100), vec![50, 0, 50]);
    }

    #[test]
    fn ipvs_order_for_4_3_2() {
        let mut s = WeightedRoundRobin::default();
        let seq: Vec<_> = (0..9).map(|_| s.pick(&[4u32, 3, 2]).unwrap()).collect();
        assert_eq!(seq, vec![0, 0, 1, 0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn none_when_all_quiescent() {
        let mut s = WeightedRoundRobin::default();
        assert_eq!(s.pick(&[0u32, 0]), None);
        assert_eq!(s.pick::<[u32]>(&[]), None);
    }

    #[test]
    fn skips_overloaded_keeping_the_others_proportions() {
        let mut r = weights(&[3, 5, 1]);
        r[1].o = true;
        let mut s = WeightedRoundRobin::default();
        let mut n = [0; 3];
        for _ in 0..400 {
            n[s.pick(&r).unwrap()] += 1;
        }
        assert_eq!(n, [300, 0, 100]);
    }

    #[test]
    fn weight_change_mid_cycle_is_safe() {
        let mut s = WeightedRoundRobin::default();
        for _ in 0..5 {
            s.pick(&[10u32, 10]);
        }
        let n: Vec<_> = (0..4).map(|_| s.pick(&[1u32, 1]).unwrap()).collect();
        assert_eq!(n.iter().filter(|&&i| i == 0).count(), 2);
        s.update(&[1u32, 3]);
        let mut n = [0; 2];
        for _ in 0..400 {
            n[s.pick(&[1u32, 3]).unwrap()] += 1;
        }
        assert_eq!(n, [100, 300]);
    }
}
