//! Weighted round robin with IPVS `wrr` semantics: servers are visited in index order,
//! each round admitting those whose weight reaches the current weight, which steps
//! down by the gcd of the weights from the largest weight. A server of weight w gets
//! w picks out of every sum(weights).

use super::Candidate;

#[derive(Debug, Clone, Default)]
pub struct WeightedRoundRobin {
    index: Option<usize>,
    current_weight: u32,
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl WeightedRoundRobin {
    pub fn pick<C: Candidate>(&mut self, reals: &[C]) -> Option<usize> {
        let n = reals.len();
        let max = reals.iter().map(|r| r.weight()).max().unwrap_or(0);
        if max == 0 {
            return None;
        }
        let step = reals.iter().map(|r| r.weight()).filter(|&w| w > 0).fold(0, gcd);
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
            if reals[i].weight() >= self.current_weight && reals[i].weight() > 0 {
                self.index = Some(i);
                return Some(i);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(s.pick::<u32>(&[]), None);
    }

    #[test]
    fn weight_change_mid_cycle_is_safe() {
        let mut s = WeightedRoundRobin::default();
        for _ in 0..5 {
            s.pick(&[10u32, 10]);
        }
        let n: Vec<_> = (0..4).map(|_| s.pick(&[1u32, 1]).unwrap()).collect();
        assert_eq!(n.iter().filter(|&&i| i == 0).count(), 2);
    }
}
