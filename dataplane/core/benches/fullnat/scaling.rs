//! 1 → 2 workers in the sans-IO micro-benchmark (the scaling figure against the target).

use super::*;

/// 1 vs 2 workers: each thread owns a pipeline with `n` sessions (as rvsd workers do)
/// and forwards established traffic; aggregate Mpps. Both figures are medians of
/// `SCALING_TRIALS` trials taken in turns (one worker, then two), each worker pinned to
/// its CPU, so that a slow moment of the machine does not land on one side only.
pub(crate) fn scaling(n: usize) -> Value {
    const SCALING_TRIALS: usize = 5;
    let threads = std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1).min(2);
    let per_thread = 4_000_000;
    let mut benches: Vec<Bench> = (0..2).map(|_| Bench::new(n, 0)).collect();
    // The workers' tables are built alike, so one arena of frames serves both: read-only
    // input standing in for what a NIC would write, shared rather than doubled in the
    // caches the two CPUs share (the tables stay each worker's own). The second worker
    // reads it from the middle, so that neither brings the other's next frames in.
    let arena = benches[0].arena(Scenario::Established, 11, n.min(ARENA_MAX));
    let arenas = [&arena, &arena];
    let starts = [0, arena.len() / FRAME / 2];
    let pin = |cpu: usize| {
        core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
    };
    let (mut ones, mut twos) = (Vec::new(), Vec::new());
    for trial in 0..SCALING_TRIALS {
        // One worker, on CPU 0, in a thread of its own as the two below.
        let one = std::thread::scope(|sc| {
            let (b, a) = (&mut benches[0], arenas[0]);
            sc.spawn(move || {
                pin(0);
                if trial == 0 {
                    b.run(a, CLIENT_PORT, SERVER_PORT, 200_000);
                }
                per_thread as f64 / b.run(a, CLIENT_PORT, SERVER_PORT, per_thread) / 1e6
            })
            .join()
            .unwrap()
        });
        ones.push(one);
        if threads < 2 {
            continue;
        }
        // Two workers at once, one per CPU.
        let barrier = std::sync::Barrier::new(threads);
        let secs: Vec<f64> = std::thread::scope(|sc| {
            let hs: Vec<_> = benches
                .iter_mut()
                .zip(arenas)
                .take(threads)
                .enumerate()
                .map(|(cpu, (b, a))| {
                    let barrier = &barrier;
                    let start = starts[cpu];
                    sc.spawn(move || {
                        pin(cpu);
                        b.run_from(a, start, CLIENT_PORT, SERVER_PORT, 200_000);
                        barrier.wait();
                        b.run_from(a, start, CLIENT_PORT, SERVER_PORT, per_thread)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        twos.push(secs.iter().map(|s| per_thread as f64 / s / 1e6).sum::<f64>());
    }
    let one = median(ones.clone());
    let two = (threads == 2).then(|| median(twos.clone()));
    json!({
        "sessions_per_worker": n,
        "workers_1_mpps": one,
        "workers_2_mpps": two,
        "speedup": two.map(|t| t / one),
        "trials_1": ones,
        "trials_2": twos,
        "cpus": threads,
    })
}
