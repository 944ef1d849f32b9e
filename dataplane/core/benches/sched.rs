//! Scheduler decision cost, per scheduler, for 10 and 1,000 real servers.
//!
//! Run: `cargo bench -p rvs-core --bench sched` (optionally with a filter argument:
//! `-- wlc`). Instruction counts: build with `cargo bench --no-run`, then run the
//! printed binary under `valgrind --tool=callgrind --dump-instr=yes BINARY --quick`.
//!
//! Std-only timing (`Instant` + `black_box`): each case is warmed up, then timed over
//! enough decisions to take ~100 ms (`--quick`: a fixed 20,000 decisions, for
//! callgrind). Keys vary per decision (client address, port, destination) so the hash
//! and locality schedulers see many keys; connection counts are fixed per server.

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rvs_core::persist::{PersistKey, PersistParams, PersistTable};
use rvs_core::sched::{stable, Candidate, MaglevTable, RealSet, SchedKey, SchedParams, Scheduler, NAMES};
use rvs_core::service::Real;
use rvs_core::stats::WorkerCounters;
use rvs_core::time::Time;

#[derive(Clone, Copy)]
struct Rs {
    weight: u32,
    active: u64,
    inactive: u64,
    id: u64,
}

impl Candidate for Rs {
    fn weight(&self) -> u32 {
        self.weight
    }
    fn active(&self) -> u64 {
        self.active
    }
    fn inactive(&self) -> u64 {
        self.inactive
    }
    fn id(&self) -> u64 {
        self.id
    }
}

fn addr(i: usize) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(192, 168, (i / 250) as u8, (i % 250) as u8 + 1), 80)
}

fn servers(n: usize) -> Vec<Rs> {
    (0..n)
        .map(|i| {
            let a = addr(i);
            Rs {
                weight: 1 + (i % 10) as u32,
                active: (i as u64 * 7) % 5,
                inactive: (i as u64 * 13) % 11,
                id: stable::addr_id((*a.ip()).into(), a.port()),
            }
        })
        .collect()
}

fn keys() -> Vec<SchedKey> {
    (0..4096u32)
        .map(|k| {
            let src = Ipv4Addr::from(0x0a00_0000u32.wrapping_add(k.wrapping_mul(2_654_435_761) >> 8));
            let dst = Ipv4Addr::new(10, 200, 0, (k % 256) as u8);
            SchedKey::v4(src, 1024 + (k % 50_000) as u16, dst, 80)
        })
        .collect()
}

/// ns per call of `f(i)`.
fn time(quick: bool, mut f: impl FnMut(usize)) -> f64 {
    for i in 0..10_000 {
        f(i);
    }
    if quick {
        let n = 20_000;
        let t = Instant::now();
        for i in 0..n {
            f(i);
        }
        return t.elapsed().as_nanos() as f64 / n as f64;
    }
    let mut n = 1_000usize;
    loop {
        let t = Instant::now();
        for i in 0..n {
            f(i);
        }
        let e = t.elapsed();
        if e >= Duration::from_millis(100) {
            return e.as_nanos() as f64 / n as f64;
        }
        n *= 4;
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let filter: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    let keys = keys();
    let sizes = [10usize, 1000];
    let params = SchedParams { seed: 1, ..SchedParams::default() };

    println!("scheduler decision cost (ns/decision)");
    println!("{:<24}{:>12}{:>12}", "scheduler", "10 RSs", "1000 RSs");
    for name in NAMES.iter().filter(|n| wanted(n)) {
        let mut row = Vec::new();
        for &n in &sizes {
            let reals = servers(n);
            let mut s = Scheduler::with_params(name, &params).expect("scheduler");
            s.sync(&reals, 1);
            let mut now = Time::from_secs(1);
            let ns = time(quick, |i| {
                now = Time(now.0 + 1_000);
                let k = &keys[i & 4095];
                black_box(s.pick(black_box(&reals[..]), black_box(k), now));
            });
            row.push(ns);
        }
        println!("{:<24}{:>12.1}{:>12.1}", name, row[0], row[1]);
    }

    // Flags that change the hashing path.
    for (name, flags) in [("sh", "sh-port,sh-fallback"), ("mh", "mh-port,mh-fallback")] {
        let label = format!("{name} {flags}");
        if !wanted(&label) {
            continue;
        }
        let p = SchedParams { flags: rvs_core::sched::SchedFlags::parse(flags).unwrap(), ..params.clone() };
        let mut row = Vec::new();
        for &n in &sizes {
            let reals = servers(n);
            let mut s = Scheduler::with_params(name, &p).unwrap();
            s.sync(&reals, 1);
            row.push(time(quick, |i| {
                black_box(s.pick(black_box(&reals[..]), black_box(&keys[i & 4095]), Time::ZERO));
            }));
        }
        println!("{:<24}{:>12.1}{:>12.1}", label, row[0], row[1]);
    }

    // The pipeline's path: `Real`s read through `RealSet` (per-worker atomics by slot).
    if wanted("realset") {
        let mut row = Vec::new();
        for &n in &sizes {
            let reals: Vec<Real> = (0..n)
                .map(|i| Real {
                    addr: addr(i),
                    weight: 1 + (i % 10) as u32,
                    slot: i as u32,
                    thresholds: Default::default(),
                    method: Default::default(),
                    gue_port: 0,
                })
                .collect();
            let counters = Arc::new(WorkerCounters::new(1, n));
            for (i, c) in counters.reals.iter().enumerate() {
                c.active.set((i as u64 * 7) % 5);
                c.inactive.set((i as u64 * 13) % 11);
            }
            let view = RealSet::new(&reals, &counters.reals);
            let mut s = Scheduler::new("wlc").unwrap();
            s.sync(&view, 1);
            row.push(time(quick, |i| {
                black_box(s.pick(black_box(&view), black_box(&keys[i & 4095]), Time::ZERO));
            }));
        }
        println!("{:<24}{:>12.1}{:>12.1}", "wlc via RealSet", row[0], row[1]);
    }

    // Persistence template hit (lookup + refresh) in front of any scheduler.
    if wanted("persist") {
        let mut row = Vec::new();
        for &n in &sizes {
            let reals = servers(n);
            let mut tab = PersistTable::new(1 << 20);
            let p = PersistParams::default();
            for (i, k) in keys.iter().enumerate() {
                let key = PersistKey::new(1, k.src, &p.granularity);
                tab.insert(key, &reals[..], i % n, Time::ZERO, p.timeout).unwrap();
            }
            row.push(time(quick, |i| {
                let key = PersistKey::new(1, keys[i & 4095].src, &p.granularity);
                black_box(tab.lookup(black_box(&key), &reals[..], Time::from_secs(1), false));
            }));
        }
        println!("{:<24}{:>12.1}{:>12.1}", "persistence hit", row[0], row[1]);
    }

    if wanted("maglev-build") {
        println!();
        println!("maglev table build, M = 65537 (off the packet path)");
        for &n in &sizes {
            let reals = servers(n);
            let t = Instant::now();
            let reps = if quick { 1 } else { 5 };
            for _ in 0..reps {
                black_box(MaglevTable::build(black_box(&reals[..]), 65537));
            }
            println!("{:<24}{:>12.2} ms", format!("{n} RSs"), t.elapsed().as_secs_f64() * 1e3 / reps as f64);
        }
    }
}
