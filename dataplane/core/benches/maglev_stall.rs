//! A worker's stall at a Maglev change, with 1,000 real servers behind one `mh` service.
//!
//! Run: `cargo bench -p rvs-core --bench maglev_stall [-- --quick] [-- --json FILE]`.
//!
//! One worker's pipeline (sans-IO, as rvsd's worker runs it) takes bursts of 32 new
//! connections; every 200 bursts a new snapshot arrives (one server's weight changed) and
//! is swapped in between two bursts, as the worker loop does. The gap between bursts is the
//! time from the end of one `handle_burst` to the start of the next (the frames are built
//! before the clock starts): the snapshot swap and nothing else.
//!
//! - before: the snapshot carries no table, so each worker builds its own Maglev table in
//!   `set_snapshot`, on its packet thread (what rvsd did before the table moved into the
//!   snapshot; every worker stalls the same at the same change);
//! - after: the snapshot carries the table the control thread built (`Registry::snapshot`),
//!   which workers install by reference.
//!
//! Also the control thread's cost: `Registry::snapshot` with the table, and the table build
//! alone for a few table sizes M (per service, `mh_table_size`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rvs_core::frame::VecAlloc;
use rvs_core::pipeline::{Output, Pipeline};
use rvs_core::sched::MaglevTable;
use rvs_core::service::{Registry, Snapshot};
use rvs_core::stats::WorkerCounters;
use rvs_core::testkit::*;
use rvs_core::time::Time;
use rvs_core::wire::tcp::TcpFlags;
use rvs_proto::{ForwardMethod, Protocol, RealSpec, ServiceKey, ServiceSpec};

const REALS: usize = 1000;
const BURST: usize = 32;
const BURSTS_PER_CHANGE: usize = 200;

fn key() -> ServiceKey {
    ServiceKey { protocol: Protocol::Tcp, addr: format!("{VIP}:80").parse().unwrap() }
}

/// Real server `i`: 198.19.0.11-.210, ports 8000-8004 (all on the server port's subnet).
fn real(i: usize, weight: u32) -> RealSpec {
    RealSpec {
        addr: format!("198.19.0.{}:{}", 11 + i % 200, 8000 + i / 200).parse().unwrap(),
        weight,
        method: ForwardMethod::FullNat,
        thresholds: Default::default(),
        tunnel: None,
    }
}

fn registry(m: Option<u32>) -> Registry {
    let mut r = Registry::new(4, REALS + 8);
    let mut spec = ServiceSpec {
        key: key(),
        scheduler: "mh".into(),
        local_addrs: (0..8).map(|k| lip(k).into()).collect(),
        options: Default::default(),
    };
    spec.options.mh_table_size = m;
    r.add_service(spec).unwrap();
    for i in 0..REALS {
        r.add_real(&key(), real(i, 1)).unwrap();
    }
    r
}

/// The same snapshot without the prebuilt table: the worker builds its own.
fn without_table(s: &Snapshot) -> Snapshot {
    let services = s.services.iter().cloned().map(|mut svc| {
        svc.maglev = None;
        svc
    });
    Snapshot::new(s.version, services.collect())
}

struct Gaps {
    max: Duration,
    p50: Duration,
    max_at_change: Duration,
    /// The median over the changes (a busy machine preempts some of them).
    p50_at_change: Duration,
    max_elsewhere: Duration,
    burst_mean: Duration,
}

fn run(changes: usize, prebuilt: bool) -> Gaps {
    let mut reg = registry(None);
    let mut snaps = Vec::new();
    for c in 0..changes {
        reg.edit_real(&key(), real(c * 7 % REALS, 2 + (c % 2) as u32)).unwrap();
        let s = reg.snapshot();
        snaps.push(Arc::new(if prebuilt { s } else { without_table(&s) }));
    }
    let counters = Arc::new(WorkerCounters::new(4, REALS + 8));
    let first = reg.snapshot();
    let first = Arc::new(if prebuilt { first } else { without_table(&first) });
    let mut out = Output::new(2, 1);
    let now = Time::from_secs(1);
    let mut p = Pipeline::new(config(1 << 20, LB_C_MAC, LB_S_MAC), first, counters, now);
    p.handle(CLIENT_PORT, arp_reply(ROUTER_MAC, ROUTER_IP, LB_C_MAC, LB_C_IP), now, &mut VecAlloc, &mut out);
    for i in 0..200u8 {
        let ip = std::net::Ipv4Addr::new(198, 19, 0, 11 + i);
        let mac = rvs_core::wire::MacAddr([2, 0, 0, 0, 3, i]);
        p.handle(SERVER_PORT, arp_reply(mac, ip, LB_S_MAC, LB_S_IP), now, &mut VecAlloc, &mut out);
    }
    let total = changes * BURSTS_PER_CHANGE;
    let mut gaps = Vec::with_capacity(total);
    let mut at_change = Vec::with_capacity(changes);
    let mut elsewhere = Duration::ZERO;
    let mut busy = Duration::ZERO;
    let mut frames: Vec<Vec<u8>> = Vec::with_capacity(BURST);
    let mut next_client = 0u64;
    let mut build = |frames: &mut Vec<Vec<u8>>| {
        for _ in 0..BURST {
            let (cip, cport) = client(next_client);
            next_client += 1;
            let mut b = Vec::new();
            tcp_frame_into(&mut b, ROUTER_MAC, LB_C_MAC, cip, cport, VIP, 80, TcpFlags::SYN, 0);
            frames.push(b);
        }
    };
    build(&mut frames);
    let mut prev_end = Instant::now();
    for i in 0..total {
        let change = i % BURSTS_PER_CHANGE == BURSTS_PER_CHANGE / 2;
        if change {
            // A snapshot message between two bursts, as the worker loop takes it.
            p.set_snapshot(snaps[i / BURSTS_PER_CHANGE].clone());
        }
        let start = Instant::now();
        let gap = start - prev_end;
        gaps.push(gap);
        if change {
            at_change.push(gap);
        } else {
            elsewhere = elsewhere.max(gap);
        }
        p.handle_burst(CLIENT_PORT, &mut frames, now, &mut VecAlloc, &mut out);
        busy += start.elapsed();
        // Not timed: what rx_burst would hand over, and the TX side.
        out.tx.iter_mut().for_each(Vec::clear);
        out.learned.clear();
        black_box(&p);
        build(&mut frames);
        prev_end = Instant::now();
    }
    assert!(p.sessions().len() > total * BURST / 2, "connections were scheduled");
    gaps.sort();
    at_change.sort();
    Gaps {
        max: *gaps.last().unwrap(),
        p50: gaps[gaps.len() / 2],
        max_at_change: *at_change.last().unwrap(),
        p50_at_change: at_change[at_change.len() / 2],
        max_elsewhere: elsewhere,
        burst_mean: busy / total as u32,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let json_path = args.iter().position(|a| a == "--json").and_then(|i| args.get(i + 1)).cloned();
    let changes = if quick { 3 } else { 10 };

    println!("worker gaps between bursts at a Maglev change: mh, {REALS} real servers, M = 65537");
    println!("{changes} changes, a snapshot every {BURSTS_PER_CHANGE} bursts of {BURST} new connections");
    println!(
        "{:<34}{:>12}{:>14}{:>18}{:>16}{:>12}{:>12}",
        "", "max gap ms", "at change ms", "median change ms", "elsewhere ms", "p50 us", "burst us"
    );
    let mut rows = Vec::new();
    for (label, prebuilt) in
        [("before: each worker builds (inline)", false), ("after: shared prebuilt table", true)]
    {
        let g = run(changes, prebuilt);
        println!(
            "{:<34}{:>12.3}{:>14.3}{:>18.3}{:>16.3}{:>12.2}{:>12.2}",
            label,
            ms(g.max),
            ms(g.max_at_change),
            ms(g.p50_at_change),
            ms(g.max_elsewhere),
            g.p50.as_secs_f64() * 1e6,
            g.burst_mean.as_secs_f64() * 1e6
        );
        rows.push(format!(
            "{{\"case\": \"{}\", \"max_gap_ms\": {:.4}, \"max_gap_at_change_ms\": {:.4}, \"median_gap_at_change_ms\": {:.4}, \"max_gap_elsewhere_ms\": {:.4}, \"p50_gap_us\": {:.3}, \"burst_mean_us\": {:.3}}}",
            if prebuilt { "after_shared" } else { "before_inline" },
            ms(g.max),
            ms(g.max_at_change),
            ms(g.p50_at_change),
            ms(g.max_elsewhere),
            g.p50.as_secs_f64() * 1e6,
            g.burst_mean.as_secs_f64() * 1e6
        ));
    }

    println!();
    println!("control thread: building the table ({REALS} real servers)");
    let reps = if quick { 1 } else { 5 };
    let mut builds = Vec::new();
    let reg = registry(None);
    let snap = reg.snapshot();
    let reals = &snap.services[0].reals;
    for m in [4093u32, 65537, 131071, 1048573] {
        let t = Instant::now();
        for _ in 0..reps {
            black_box(MaglevTable::build(black_box(&reals[..]), m));
        }
        let per = t.elapsed() / reps;
        println!("{:<34}{:>12.3} ms", format!("MaglevTable::build, M = {m}"), ms(per));
        builds.push(format!("{{\"m\": {m}, \"build_ms\": {:.4}}}", ms(per)));
    }
    let t = Instant::now();
    for _ in 0..reps {
        black_box(reg.snapshot());
    }
    let snapshot_ms = ms(t.elapsed() / reps);
    println!("{:<34}{:>12.3} ms", "Registry::snapshot (M = 65537)", snapshot_ms);

    if let Some(path) = json_path {
        let json = format!(
            "{{\n  \"method\": \"cargo bench -p rvs-core --bench maglev_stall: one worker's pipeline, bursts of {BURST} SYNs to an mh service of {REALS} real servers, a new snapshot (one weight changed) between two bursts every {BURSTS_PER_CHANGE} bursts, {changes} changes; gap = end of one handle_burst to start of the next (frame building excluded)\",\n  \"gaps\": [{}],\n  \"control_build\": [{}],\n  \"registry_snapshot_ms\": {snapshot_ms:.4}\n}}\n",
            rows.join(", "),
            builds.join(", ")
        );
        std::fs::write(&path, json).expect("write --json file");
    }
}
