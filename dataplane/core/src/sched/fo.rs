//! Weight-ordered schedulers of IPVS:
//!
//! - `fo` (weighted failover): the available server of the highest weight;
//! - `ovf` (weighted overflow): the server of the highest weight whose active
//!   connections do not exceed its weight (IPVS skips `activeconns > weight`), so
//!   traffic overflows to the next weight when the first is full.
//!
//! Ties go to the first server in list order. Quiescent and overloaded servers are
//! skipped.

use super::Candidates;

/// IPVS `fo`.
pub fn fo<V: Candidates + ?Sized>(reals: &V) -> Option<usize> {
    let mut best: Option<(usize, u32)> = None;
    for i in 0..reals.len() {
        let w = reals.weight(i);
        if reals.available(i) && best.is_none_or(|(_, bw)| w > bw) {
            best = Some((i, w));
        }
    }
    best.map(|b| b.0)
}

/// IPVS `ovf`.
pub fn ovf<V: Candidates + ?Sized>(reals: &V) -> Option<usize> {
    let mut best: Option<(usize, u32)> = None;
    for i in 0..reals.len() {
        let w = reals.weight(i);
        if !reals.available(i) || reals.active(i) > u64::from(w) {
            continue;
        }
        if best.is_none_or(|(_, bw)| w > bw) {
            best = Some((i, w));
        }
    }
    best.map(|b| b.0)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn fo_takes_highest_weight_in_order() {
        assert_eq!(fo(&weights(&[5, 9, 9, 1])), Some(1));
        let mut r = weights(&[5, 9, 9, 1]);
        r[1].o = true;
        assert_eq!(fo(&r), Some(2));
        r[2].o = true;
        assert_eq!(fo(&r), Some(0));
        r[0].w = 0;
        assert_eq!(fo(&r), Some(3));
        r[3].o = true;
        assert_eq!(fo(&r), None);
    }

    #[test]
    fn fo_ignores_load() {
        assert_eq!(fo(&loads(&[(2, 0, 0), (3, 1_000_000, 0)])), Some(1));
    }

    #[test]
    fn ovf_overflows_by_active_count() {
        // Weight 3 takes connections until it holds more than 3 active.
        let mut r = loads(&[(1, 0, 0), (3, 0, 0), (2, 0, 0)]);
        let mut order = Vec::new();
        for _ in 0..9 {
            let Some(i) = ovf(&r) else { break };
            r[i].a += 1;
            order.push(i);
        }
        // 4 to weight 3 (active 0..=3 admitted), 3 to weight 2, 2 to weight 1, then full.
        assert_eq!(order, vec![1, 1, 1, 1, 2, 2, 2, 0, 0]);
        assert_eq!(ovf(&r), None);
        // Inactive connections do not count.
        assert_eq!(ovf(&loads(&[(1, 0, 1000)])), Some(0));
    }

    #[test]
    fn ovf_skips_quiescent_and_overloaded() {
        let mut r = loads(&[(0, 0, 0), (2, 0, 0), (1, 0, 0)]);
        assert_eq!(ovf(&r), Some(1));
        r[1].o = true;
        assert_eq!(ovf(&r), Some(2));
    }
}
