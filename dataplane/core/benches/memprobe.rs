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
//!
//! `-- --levers` measures instead what two other session tables would get, each against
//! the two-line lookup of the same run (pps over the cached two-line lookup):
//! * `home_first`: client flows looked up in a home slot first (the slot at the flow's
//!   hash): per packet a home line, and for the packets whose session is not at home the
//!   index bucket and then the slot (three dependent lines), at shares of packets at home
//!   from 100 % down to 50 %, with the misses resolved in the burst itself or held back
//!   (their bucket read a batch later, their slot worked on the batch after);
//! * `index_window`: the two-line lookup with the bucket lines drawn from a window of 16 to
//!   256 MiB (an index small enough for the last-level cache) while the slots stream
//!   from the whole table.

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

/// One step of xorshift64: the probes' random numbers.
fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Random line indices, `modulo` lines.
fn lines(n: usize, modulo: usize, mut x: u64) -> Vec<usize> {
    (0..n).map(|_| (xorshift(&mut x) % modulo as u64) as usize * LINE_WORDS).collect()
}

/// The access patterns both runs share: random lines of the whole table (two
/// independent series, as the stages' bucket and slot) and lines of a 32 KiB patch that
/// stays in L1/L2 (likewise).
struct Patterns {
    random: Vec<usize>,
    random2: Vec<usize>,
    cached: Vec<usize>,
    cached2: Vec<usize>,
}

impl Patterns {
    fn new() -> Self {
        Patterns {
            random: lines(LOADS, LINES, 0x9e37_79b9_7f4a_7c15),
            random2: lines(LOADS, LINES, 0x1405_7b7e_f767_814f),
            cached: lines(LOADS, 512, 0x2545_f491_4f6c_dd1d),
            cached2: lines(LOADS, 512, 0x5851_f42d_4c95_7f2d),
        }
    }

    /// The two-line lookup's ns per packet (`stages`): in cache, and over the table.
    fn two_lines(&self, t: &mut [u64]) -> (f64, f64) {
        let cached = median((0..TRIALS).map(|_| stages(t, &self.cached, &self.cached2)).collect());
        let random = median((0..TRIALS).map(|_| stages(t, &self.random, &self.random2)).collect());
        (cached, random)
    }
}

/// The figures as JSON: into `path`, else on stdout.
fn emit(path: Option<String>, v: &serde_json::Value) {
    match path {
        Some(path) => {
            std::fs::write(path, serde_json::to_string_pretty(v).expect("json")).expect("write --json file")
        }
        None => println!("{v:#}"),
    }
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

/// Random lines of the `--levers` home-first probes: homes, buckets, slots, and whether each
/// packet's session is at home (a share `at_home` of them).
struct HomeFirst {
    home: Vec<usize>,
    bucket: Vec<usize>,
    slot: Vec<usize>,
    at_home: Vec<bool>,
}

impl HomeFirst {
    fn new(share: f64) -> Self {
        let mut x = 0x1234_5678u64;
        let at_home = (0..LOADS).map(|_| ((xorshift(&mut x) % 1000) as f64) < share * 1000.0).collect();
        HomeFirst {
            home: lines(LOADS, LINES, 0x3c6e_f372_fe94_f82b),
            bucket: lines(LOADS, LINES, 0xa54f_f53a_5f1d_36f1),
            slot: lines(LOADS, LINES, 0x510e_527f_ade6_82d1),
            at_home,
        }
    }

    /// ns per packet: every home prefetched, then read; a packet at home is worked on in
    /// its own batch. The others' buckets are prefetched once their home is read; with
    /// `hold_back`, read in the next batch (their slots prefetched then) and their slots
    /// worked on at the start of the batch after, while its homes are on their way; else
    /// read at once and worked on in the batch.
    fn run(&self, t: &mut [u64], hold_back: bool) -> f64 {
        let mut s = 0u64;
        let n = LOADS - LOADS % BATCH;
        // Lines to work on this batch; misses whose bucket, and whose slot, is on its way
        // (fixed arrays, as a pipeline's burst state).
        let (mut work_on, mut nw) = ([0usize; BATCH], 0);
        let (mut buckets, mut nb) = ([0usize; BATCH], 0);
        let (mut slots, mut ns) = ([0usize; BATCH], 0);
        let t0 = Instant::now();
        for b in (0..n).step_by(BATCH) {
            for &i in &self.home[b..b + BATCH] {
                rvs_cpu::prefetch(t[i..].as_ptr() as *const u8);
            }
            if hold_back {
                // The held-back misses' work while the homes are on their way.
                for &j in &slots[..ns] {
                    s = work(s.wrapping_add(t[j]));
                    t[j + 1] = s;
                }
                for (&q, j) in buckets[..nb].iter().zip(slots.iter_mut()) {
                    *j = self.slot[q] + t[self.bucket[q]] as usize;
                    rvs_cpu::prefetch(t[*j..].as_ptr() as *const u8);
                }
                (ns, nb) = (nb, 0);
            }
            nw = 0;
            for q in b..b + BATCH {
                let v = t[self.home[q]] as usize;
                if self.at_home[q] {
                    (work_on[nw], nw) = (self.home[q] + v, nw + 1);
                } else {
                    rvs_cpu::prefetch(t[self.bucket[q]..].as_ptr() as *const u8);
                    (buckets[nb], nb) = (q, nb + 1);
                }
            }
            if !hold_back {
                for &q in &buckets[..nb] {
                    let j = self.slot[q] + t[self.bucket[q]] as usize;
                    rvs_cpu::prefetch(t[j..].as_ptr() as *const u8);
                    (work_on[nw], nw) = (j, nw + 1);
                }
                nb = 0;
            }
            for &j in &work_on[..nw] {
                s = work(s.wrapping_add(t[j]));
                t[j + 1] = s;
            }
        }
        black_box((s, nw));
        t0.elapsed().as_secs_f64() * 1e9 / n as f64
    }
}

/// `--levers`: the two-line lookup's ns per packet (cached and over the table), then the
/// home-first lookup's at each share at home (resolved in the burst and held back), then
/// the two-line lookup's with its buckets in a window.
fn levers(t: &mut [u64], p: &Patterns) -> serde_json::Value {
    let trials = |f: &mut dyn FnMut() -> f64| median((0..TRIALS).map(|_| f()).collect());
    let (cached, two) = p.two_lines(t);
    eprintln!(
        "memprobe: levers: two-line lookup {two:.1} ns (cached {cached:.1}, pps ratio {:.3})",
        cached / two
    );
    let mut shares = Vec::new();
    for share in [1.0, 0.9, 0.8, 0.7, 0.6, 0.5] {
        let h = HomeFirst::new(share);
        let in_burst = trials(&mut || h.run(t, false));
        let held_back = trials(&mut || h.run(t, true));
        eprintln!(
            "memprobe: home first, {:>3.0} % at home: {in_burst:.1} ns ({:.3}), misses held back {held_back:.1} ns ({:.3})",
            share * 100.0,
            cached / in_burst,
            cached / held_back
        );
        shares.push(json!({
            "at_home": share,
            "in_burst_ns": in_burst,
            "held_back_ns": held_back,
            "in_burst_over_cached_pps": cached / in_burst,
            "held_back_over_cached_pps": cached / held_back,
        }));
    }
    let mut windows = Vec::new();
    for mib in [16usize, 32, 64, 128, 256] {
        let buckets = lines(LOADS, mib << 14, 0x6a09_e667_f3bc_c908);
        let ns = trials(&mut || stages(t, &buckets, &p.random2));
        eprintln!("memprobe: two-line lookup, buckets in {mib:>3} MiB: {ns:.1} ns ({:.3})", cached / ns);
        windows.push(json!({ "mib": mib, "ns": ns, "over_cached_pps": cached / ns }));
    }
    json!({
        "table_bytes": BYTES,
        "batch": BATCH,
        "work_steps": WORK,
        "two_lines_cached_ns": cached,
        "two_lines_random_ns": two,
        "two_lines_random_over_cached_pps": cached / two,
        "home_first": shares,
        "index_window": windows,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let json_out = args.iter().position(|a| a == "--json").and_then(|i| args.get(i + 1)).cloned();
    let mut t = table();
    let p = Patterns::new();
    let (random, cached) = (&p.random, &p.cached);
    // The first pass faults nothing in (the table is written), but warms the TLB and caches
    // the way a running table would be.
    batches(&t, random, 1, false);
    if args.iter().any(|a| a == "--levers") {
        emit(json_out, &levers(&mut t, &p));
        return;
    }
    let trials = |f: &dyn Fn() -> f64| median((0..TRIALS).map(|_| f()).collect());
    let latency_ns = trials(&|| latency(&t, random));
    let random_line_ns = trials(&|| batches(&t, random, 0, false));
    let work_ns = trials(&|| batches(&t, cached, 1, true));
    let work_random_ns = trials(&|| batches(&t, random, 1, true));
    let work_random_same_batch_ns = trials(&|| batches(&t, random, 0, true));
    // The same over a 64 MiB window (16 MiB for the small one): in the last-level cache of
    // a large server part, past the reach of 4 KiB translations, within that of 2 MiB ones.
    let window = |mib: usize, seed: u64| {
        let w = lines(LOADS, mib << 14, seed);
        batches(&t, &w, 1, false);
        trials(&|| batches(&t, &w, 1, true))
    };
    let work_window_16_ns = window(16, 0x6a09_e667_f3bc_c908);
    let work_window_64_ns = window(64, 0xbb67_ae85_84ca_a73b);
    let (two_lines_cached_ns, two_lines_random_ns) = p.two_lines(&mut t);
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
    emit(json_out, &v);
}
