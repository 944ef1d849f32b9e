//! pps at a large table against a small one, in paired trials: the two tables live side by
//! side and their trials alternate, so that a slow spell of a shared host (whose figures
//! move ±15 % between minutes here) lands on both halves of a pair and not on one size's
//! whole series, as it does when the sizes run one after the other (`run_size`).

use super::*;

/// Pairs of trials; the ratio reported is their median.
const PAIRS: usize = 11;

/// Established packets at `small` and `large` sessions, in `PAIRS` pairs of trials taken
/// back to back (which size goes first alternates). Each pair gives pps(large) ÷
/// pps(small), i.e. ns(small) ÷ ns(large).
pub(crate) fn paired(small: usize, large: usize) -> Value {
    eprintln!("fullnat: paired trials, {small} and {large} sessions");
    let mut benches = [Bench::new(small, 0), Bench::new(large, 0)];
    // Equal arenas (as `timed`): the frames stream from memory at both sizes.
    let arenas = benches.each_ref().map(|b| b.arena(Scenario::Established, 7, ARENA_MAX));
    let (inp, outp) = Scenario::Established.ports();
    let drops0 = benches.each_ref().map(|b| b.drops());
    let per_trial = (arenas[0].len() / FRAME).clamp(1_000_000, 2_000_000);
    // Whether the tables' pages are huge (as `timed` records it for each size).
    let memory = memory_mib();
    let mut ns = [Vec::new(), Vec::new()];
    for pair in 0..PAIRS {
        let order = if pair % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            // The other size's trial streamed its own frames and table through the shared
            // cache: a trial's worth of packets untimed first, so that each timed trial
            // starts from its table's own steady state, as in `timed` (without it the 10M
            // trials came out 4 % slower than their series).
            benches[i].run(&arenas[i], inp, outp, per_trial);
            let t = benches[i].run(&arenas[i], inp, outp, per_trial);
            ns[i].push(t * 1e9 / per_trial as f64);
        }
    }
    for (b, d) in benches.iter().zip(drops0) {
        assert_eq!(b.drops() - d, 0, "paired: packets dropped");
    }
    let ratios: Vec<f64> = ns[0].iter().zip(&ns[1]).map(|(s, l)| s / l).collect();
    let ratio = median(ratios.clone());
    eprintln!(
        "fullnat: paired: {small} sessions {:.1} ns/pkt, {large} sessions {:.1} ns/pkt, pps ratio {ratio:.3} (median of {PAIRS} pairs)",
        median(ns[0].clone()),
        median(ns[1].clone())
    );
    json!({
        "small_sessions": small,
        "large_sessions": large,
        "packets_per_trial": per_trial,
        "small_trials_ns": ns[0],
        "large_trials_ns": ns[1],
        "pair_ratios": ratios,
        "memory_at_start": memory,
        "pps_large_over_small": ratio,
    })
}
