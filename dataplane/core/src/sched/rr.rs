//! Round robin (IPVS `rr`): the next real server after the last one chosen, skipping
//! quiescent (weight 0) and overloaded servers.

use super::Candidates;

#[derive(Debug, Clone, Default)]
pub struct RoundRobin {
    /// Index chosen last time; the scan starts after it.
    last: Option<usize>,
}

impl RoundRobin {
    #[inline]
    pub fn pick<V: Candidates + ?Sized>(&mut self, reals: &V) -> Option<usize> {
        let n = reals.len();
        if n == 0 {
            return None;
        }
        // `(last + 1) % n`, then on around: a division only after the set shrank.
        let mut i = match self.last.map(|l| l + 1) {
            Some(s) if s < n => s,
            Some(s) if s > n => s % n,
            _ => 0,
        };
        for _ in 0..n {
            if reals.available(i) {
                self.last = Some(i);
                return Some(i);
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn cycles_in_order_and_skips_quiescent() {
        let mut s = RoundRobin::default();
        let picks: Vec<_> = (0..6).map(|_| s.pick(&[1u32, 0, 5]).unwrap()).collect();
        assert_eq!(picks, vec![0, 2, 0, 2, 0, 2]);
    }

    #[test]
    fn skips_overloaded() {
        let mut s = RoundRobin::default();
        let mut r = weights(&[1, 1, 1]);
        r[1].o = true;
        let picks: Vec<_> = (0..4).map(|_| s.pick(&r).unwrap()).collect();
        assert_eq!(picks, vec![0, 2, 0, 2]);
    }

    #[test]
    fn equal_shares_over_many_picks() {
        let mut s = RoundRobin::default();
        let mut n = [0; 3];
        for _ in 0..300 {
            n[s.pick(&[1u32, 1, 1]).unwrap()] += 1;
        }
        assert_eq!(n, [100, 100, 100]);
    }

    #[test]
    fn none_when_all_quiescent_or_empty() {
        let mut s = RoundRobin::default();
        assert_eq!(s.pick(&[0u32, 0]), None);
        assert_eq!(s.pick::<[u32]>(&[]), None);
    }

    #[test]
    fn survives_a_shrinking_list() {
        let mut s = RoundRobin::default();
        s.pick(&[1u32, 1, 1]);
        s.pick(&[1u32, 1, 1]);
        s.pick(&[1u32, 1, 1]);
        assert_eq!(s.pick(&[1u32]), Some(0));
    }
}
