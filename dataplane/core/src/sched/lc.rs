//! The connection-count schedulers of IPVS, stateless over the candidates' counts:
//!
//! - `lc`: least overhead `active*256 + inactive`;
//! - `wlc`: least overhead/weight;
//! - `sed` (shortest expected delay): least `(active+1)/weight`;
//! - `nq` (never queue): the first idle server (active 0), else as sed.
//!
//! Ratios are compared by cross-multiplication (`a/w_a > b/w_b` ⇔ `a*w_b > b*w_a`) as
//! IPVS does, in u128 so nothing overflows. Ties go to the first server in list order.
//! Quiescent (weight 0) and overloaded servers are skipped.

use super::Candidates;

/// `c1/w1 < c2/w2`, by cross-multiplication: u64 when it cannot overflow (the common
/// case), u128 otherwise.
#[inline]
pub(crate) fn ratio_less(c1: u64, w1: u32, c2: u64, w2: u32) -> bool {
    match (c1.checked_mul(u64::from(w2)), c2.checked_mul(u64::from(w1))) {
        (Some(a), Some(b)) => a < b,
        _ => u128::from(c1) * u128::from(w2) < u128::from(c2) * u128::from(w1),
    }
}

/// Index of the server with the least `cost(i)/weight(i)` among available ones.
#[inline]
fn least_weighted<V: Candidates + ?Sized>(reals: &V, cost: impl Fn(usize) -> u64) -> Option<usize> {
    let mut best: Option<(usize, u64, u32)> = None;
    for i in 0..reals.len() {
        let w = reals.weight(i);
        if w == 0 || reals.overloaded(i) {
            continue;
        }
        let c = cost(i);
        match best {
            Some((_, bc, bw)) if !ratio_less(c, w, bc, bw) => {}
            _ => best = Some((i, c, w)),
        }
    }
    best.map(|b| b.0)
}

/// IPVS `lc`: least connection overhead, weights ignored (except 0 = quiescent).
pub fn lc<V: Candidates + ?Sized>(reals: &V) -> Option<usize> {
    let mut best: Option<(usize, u64)> = None;
    for i in 0..reals.len() {
        if reals.weight(i) == 0 || reals.overloaded(i) {
            continue;
        }
        let oh = reals.overhead(i);
        if best.is_none_or(|(_, b)| oh < b) {
            best = Some((i, oh));
        }
    }
    best.map(|b| b.0)
}

/// IPVS `wlc`: least overhead/weight.
pub fn wlc<V: Candidates + ?Sized>(reals: &V) -> Option<usize> {
    least_weighted(reals, |i| reals.overhead(i))
}

/// IPVS `sed`: least (active+1)/weight.
pub fn sed<V: Candidates + ?Sized>(reals: &V) -> Option<usize> {
    least_weighted(reals, |i| reals.active(i).saturating_add(1))
}

/// IPVS `nq`: the first available server with no active connection, else sed.
pub fn nq<V: Candidates + ?Sized>(reals: &V) -> Option<usize> {
    let mut best: Option<(usize, u64, u32)> = None;
    for i in 0..reals.len() {
        if !reals.available(i) {
            continue;
        }
        let a = reals.active(i);
        if a == 0 {
            return Some(i);
        }
        let (c, w) = (a.saturating_add(1), reals.weight(i));
        match best {
            Some((_, bc, bw)) if !ratio_less(c, w, bc, bw) => {}
            _ => best = Some((i, c, w)),
        }
    }
    best.map(|b| b.0)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn lc_counts_active_as_256_inactive() {
        // overheads: 1*256+0 = 256, 0*256+255 = 255, 0*256+300 = 300
        assert_eq!(lc(&loads(&[(1, 1, 0), (1, 0, 255), (1, 0, 300)])), Some(1));
        // weights do not matter to lc, but 0 is quiescent
        assert_eq!(lc(&loads(&[(100, 2, 0), (1, 1, 0), (0, 0, 0)])), Some(1));
        // ties: first
        assert_eq!(lc(&loads(&[(1, 3, 3), (1, 3, 3)])), Some(0));
    }

    #[test]
    fn wlc_divides_by_weight() {
        // 512/1 = 512, 1024/3 = 341.3, 300/1 = 300 → 2
        assert_eq!(wlc(&loads(&[(1, 2, 0), (3, 4, 0), (1, 0, 300)])), Some(2));
        // 512/1, 1024/3 → 1
        assert_eq!(wlc(&loads(&[(1, 2, 0), (3, 4, 0)])), Some(1));
        // exact ties (256/1 vs 768/3) keep the first
        assert_eq!(wlc(&loads(&[(1, 1, 0), (3, 3, 0)])), Some(0));
        assert_eq!(wlc(&loads(&[(3, 3, 0), (1, 1, 0)])), Some(0));
        // weight 0 never wins even when idle
        assert_eq!(wlc(&loads(&[(0, 0, 0), (1, 9, 9)])), Some(1));
    }

    #[test]
    fn wlc_does_not_overflow() {
        let r = loads(&[(u32::MAX, u64::MAX / 2, u64::MAX), (1, u64::MAX, 0)]);
        assert_eq!(wlc(&r), Some(0));
    }

    #[test]
    fn sed_uses_active_plus_one() {
        // (0+1)/1 = 1, (2+1)/4 = 0.75 → 1 (wlc would pick 0: overhead 0)
        let r = loads(&[(1, 0, 0), (4, 2, 0)]);
        assert_eq!(sed(&r), Some(1));
        assert_eq!(wlc(&r), Some(0));
        // inactive counts do not matter to sed
        assert_eq!(sed(&loads(&[(1, 1, 1000), (1, 2, 0)])), Some(0));
    }

    #[test]
    fn nq_prefers_idle_then_sed() {
        // server 1 is idle: taken although sed would prefer 2 ((0+1)/1 = 1 vs (1+1)/10 = 0.2)
        let r = loads(&[(1, 5, 0), (1, 0, 7), (10, 1, 0)]);
        assert_eq!(sed(&r), Some(2));
        assert_eq!(nq(&r), Some(1));
        // nobody idle: sed
        assert_eq!(nq(&loads(&[(1, 5, 0), (1, 1, 0), (10, 1, 0)])), Some(2));
        // an idle quiescent server is not taken
        assert_eq!(nq(&loads(&[(0, 0, 0), (1, 3, 0)])), Some(1));
    }

    #[test]
    fn overloaded_skipped() {
        let mut r = loads(&[(1, 0, 0), (1, 5, 0)]);
        r[0].o = true;
        for f in [lc::<[_]>, wlc::<[_]>, sed::<[_]>, nq::<[_]>] {
            assert_eq!(f(&r), Some(1));
        }
        r[1].o = true;
        for f in [lc::<[_]>, wlc::<[_]>, sed::<[_]>, nq::<[_]>] {
            assert_eq!(f(&r), None);
        }
    }

    #[test]
    fn wlc_balances_a_simulated_stream() {
        // Connections never end: wlc must hand them out in weight proportions.
        let mut r = loads(&[(1, 0, 0), (2, 0, 0), (5, 0, 0)]);
        for _ in 0..8000 {
            let i = wlc(&r).unwrap();
            r[i].a += 1;
        }
        assert_eq!([r[0].a, r[1].a, r[2].a], [1000, 2000, 5000]);
    }
}
