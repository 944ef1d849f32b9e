//! What a random cache line of a large table costs on this host: the yardstick for the
//! fullnat bench's 10M ÷ 1k figure, whose 10M table makes every established packet touch
//! two random lines (index bucket, session slot) of about a gigabyte.
//!
//!   `cargo bench -p rvs-core --bench memprobe -- [--json FILE]`
//!
//! Over 1 GiB advised `MADV_HUGEPAGE` (as rvsd advises its session tables), the median of
//! `TRIALS` trials of each:
//! * `latency_ns`: one load at a time, each address depending on the load before (a chain);
//! * `random_line_ns`: loads of random lines in batches of 32, the batch prefetched first
//!   (as the pipeline's stages prefetch a burst), nothing else done: the memory system's
//!   rate for lines nobody waits on one at a time;
//! * `work_ns` and `work_random_ns`: a fixed serial computation per line (`WORK` steps of a
//!   64-bit LCG, about what the pipeline spends on a packet at 1k sessions) over lines
//!   already in cache, and over random lines prefetched a whole batch ahead (issued about
//!   a microsecond before use); `prefetched_line_stall_ns`, their difference, is what a
//!   random line costs the core even though its prefetch had time to land: a line from
//!   memory holds one of the core's few fill buffers for a whole latency, so lines a
//!   packet × latency ÷ fill buffers bounds the time a packet, whatever the prefetch
//!   distance;
//! * `window_16_mib_line_stall_ns` and `window_64_mib_line_stall_ns`: that stall over random
//!   lines of a 16 or 64 MiB window (in a large part's last-level cache, past the reach of
//!   4 KiB translations): a stall already there would come from translation misses (a
//!   guest on small host pages), not from memory;
//! * `work_random_same_batch_ns`: the same work over random lines prefetched at the start
//!   of their own batch (as a burst's stages prefetch), and its `same_batch_line_stall_ns`.

use std::hint::black_box;
use std::time::Instant;

use serde_json::json;

mod common;
use common::{advise_huge, median};

const BYTES: usize = 1 << 30;
const LINE_WORDS: usize = 8;
const LINES: usize = BYTES / 64;
/// Loads per trial.
const LOADS: usize = 1 << 22;
const BATCH: usize = 32;
const TRIALS: usize = 5;
/// LCG steps per line for the work figures (about 20 ns here).
const WORK: u32 = 16;

/// Random line indices (xorshift), `modulo` lines.
fn lines(n: usize, modulo: usize, mut x: u64) -> Vec<usize> {
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % modulo as u64) as usize * LINE_WORDS
        })
        .collect()
}

/// The table: zeroed words, advised huge before anything touches them.
fn table() -> Vec<u64> {
    let mut v: Vec<u64> = Vec::with_capacity(BYTES / 8);
    advise_huge(v.as_ptr() as *const u8, BYTES);
    v.resize(BYTES / 8, 0);
    v
}

#[inline(always)]
fn work(mut v: u64) -> u64 {
    for _ in 0..WORK {
        v = v.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        v = black_box(v);
    }
    v
}

/// ns per load of a dependent chain: each address takes the value loaded before (0).
fn latency(t: &[u64], idx: &[usize]) -> f64 {
    let n = idx.len() / 4;
    let mut q = 0u64;
    let t0 = Instant::now();
    for &i in &idx[..n] {
        q = t[i + q as usize];
    }
    black_box(q);
    t0.elapsed().as_secs_f64() * 1e9 / n as f64
}

/// ns per line: each batch prefetched `ahead` batches before its loads; `WORK` steps per
/// line if `with_work`.
fn batches(t: &[u64], idx: &[usize], ahead: usize, with_work: bool) -> f64 {
    let mut s = 0u64;
    let n = idx.len() - ahead * BATCH;
    let t0 = Instant::now();
    for b in (0..n).step_by(BATCH) {
        for &i in &idx[b + ahead * BATCH..b + (ahead + 1) * BATCH] {
            rvs_cpu::prefetch(t[i..].as_ptr() as *const u8);
        }
        for &i in &idx[b..b + BATCH] {
            s = s.wrapping_add(t[i]);
            if with_work {
                s = work(s);
            }
        }
    }
    black_box(s);
    t0.elapsed().as_secs_f64() * 1e9 / n as f64
}

/// ns per packet shaped as the burst stages' accesses: per packet of a batch, a random line
/// read (the index bucket; all prefetched first), whose value (0) gives the address of a
/// second random line (the session slot; prefetched once the first is read), then read,
/// written and `WORK` steps spent on it. `second` is None for the cached run (the same
/// lines as `first`'s pattern, in cache).
fn stages(t: &mut [u64], first: &[usize], second: &[usize]) -> f64 {
    let mut s = 0u64;
    let n = first.len() - first.len() % BATCH;
    let mut slot = [0usize; BATCH];
    let t0 = Instant::now();
    for b in (0..n).step_by(BATCH) {
        for &i in &first[b..b + BATCH] {
            rvs_cpu::prefetch(t[i..].as_ptr() as *const u8);
        }
        for (k, (&i, &j)) in first[b..b + BATCH].iter().zip(&second[b..b + BATCH]).enumerate() {
            slot[k] = j + t[i] as usize;
            rvs_cpu::prefetch(t[slot[k]..].as_ptr() as *const u8);
        }
        for &j in &slot {
            s = work(s.wrapping_add(t[j]));
            t[j + 1] = s;
        }
    }
    black_box(s);
    t0.elapsed().as_secs_f64() * 1e9 / n as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let json_out = args.iter().position(|a| a == "--json").and_then(|i| args.get(i + 1)).cloned();
    let mut t = table();
    let random = lines(LOADS, LINES, 0x9e37_79b9_7f4a_7c15);
    // 512 lines (32 KiB): stays in L1/L2.
    let cached = lines(LOADS, 512, 0x2545_f491_4f6c_dd1d);
    let trials = |f: &dyn Fn() -> f64| median((0..TRIALS).map(|_| f()).collect());
    // The first pass faults nothing in (the table is written), but warms the TLB and caches
    // the way a running table would be.
    batches(&t, &random, 1, false);
    let latency_ns = trials(&|| latency(&t, &random));
    let random_line_ns = trials(&|| batches(&t, &random, 0, false));
    let work_ns = trials(&|| batches(&t, &cached, 1, true));
    let work_random_ns = trials(&|| batches(&t, &random, 1, true));
    let work_random_same_batch_ns = trials(&|| batches(&t, &random, 0, true));
    // The same over a 64 MiB window (16 MiB for the small one): in the last-level cache of
    // a large server part, past the reach of 4 KiB translations, within that of 2 MiB ones.
    let window = |mib: usize, seed: u64| {
        let w = lines(LOADS, mib << 14, seed);
        batches(&t, &w, 1, false);
        trials(&|| batches(&t, &w, 1, true))
    };
    let work_window_16_ns = window(16, 0x6a09_e667_f3bc_c908);
    let work_window_64_ns = window(64, 0xbb67_ae85_84ca_a73b);
    let random2 = lines(LOADS, LINES, 0x1405_7b7e_f767_814f);
    let cached2 = lines(LOADS, 512, 0x5851_f42d_4c95_7f2d);
    let two_lines_cached_ns = {
        let v: Vec<f64> = (0..TRIALS).map(|_| stages(&mut t, &cached, &cached2)).collect();
        median(v)
    };
    let two_lines_random_ns = median((0..TRIALS).map(|_| stages(&mut t, &random, &random2)).collect());
    let huge = std::fs::read_to_string("/proc/self/smaps_rollup").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("AnonHugePages:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
    });
    let v = json!({
        "table_bytes": BYTES,
        "loads_per_trial": LOADS,
        "batch": BATCH,
        "work_steps": WORK,
        "trials": TRIALS,
        "anon_huge_mib": huge.map(|k| k / 1024),
        "latency_ns": latency_ns,
        "random_line_ns": random_line_ns,
        "work_ns": work_ns,
        "work_random_ns": work_random_ns,
        "prefetched_line_stall_ns": work_random_ns - work_ns,
        "work_random_same_batch_ns": work_random_same_batch_ns,
        "window_16_mib_line_stall_ns": work_window_16_ns - work_ns,
        "window_64_mib_line_stall_ns": work_window_64_ns - work_ns,
        "same_batch_line_stall_ns": work_random_same_batch_ns - work_ns,
        "two_lines_cached_ns": two_lines_cached_ns,
        "two_lines_random_ns": two_lines_random_ns,
        "two_lines_random_over_cached_pps": two_lines_cached_ns / two_lines_random_ns,
    });
    eprintln!(
        "memprobe: latency {latency_ns:.1} ns; random line {random_line_ns:.1} ns; work {work_ns:.1} ns alone, \
         {work_random_ns:.1} ns over random lines prefetched a batch ahead (stall {:.1} ns), \
         {work_random_same_batch_ns:.1} ns prefetched at the start of their own batch (stall {:.1} ns)",
        work_random_ns - work_ns,
        work_random_same_batch_ns - work_ns
    );
    eprintln!(
        "memprobe: stall over a 16 MiB window {:.1} ns, a 64 MiB one {:.1} ns",
        work_window_16_ns - work_ns,
        work_window_64_ns - work_ns
    );
    eprintln!(
        "memprobe: two dependent lines per packet as the stages touch them, with the work: \
         {two_lines_cached_ns:.1} ns in cache, {two_lines_random_ns:.1} ns over 1 GiB (pps ratio {:.3})",
        two_lines_cached_ns / two_lines_random_ns
    );
    if let Some(path) = json_out {
        std::fs::write(path, serde_json::to_string_pretty(&v).expect("json")).expect("write --json file");
    } else {
        println!("{v:#}");
    }
}
