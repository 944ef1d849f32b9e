//! Sans-IO dataplane micro-benchmarks: the FULLNAT pipeline on `Vec<u8>` frames, no DPDK.
//!
//! Run everything (what `bench/run.sh` does):
//!   `cargo bench -p rvs-core --bench fullnat -- --json FILE [--sizes 1000,100000,...] [--no-scaling] [--no-paired]`
//! (with sizes 1k and 10M among them, also the 10M ÷ 1k figure in alternating trials:
//! `fullnat/paired.rs`)
//! One scenario for callgrind (instructions per packet; only `rvs_bench_burst`, i.e.
//! `Pipeline::handle_burst` on bursts of 32, is counted; `rvs_bench_handle` for the whole
//! handshakes of plain_conn and synproxy_conn):
//!   `valgrind --tool=callgrind --collect-atstart=no --toggle-collect=rvs_bench_burst \
//!      BINARY --callgrind established --sessions 1000 --packets 200000 [--rss] [--sync] [--toa] [--dr|--nat] [--synproxy] [--vlan]`
//! (`--rss`: replies steered by the NIC's Toeplitz hash, `laddr::Steering::Rss`; `--sync`:
//! session sync on, as on an HA pair's master; `--toa`: the TCP service inserts TOA; `--dr`:
//! its real servers use direct routing, LVS/DR; established only; `--nat`: NAT (masquerading);
//! `--synproxy`: the sessions come from SYN-proxied handshakes; `--vlan`: the established
//! frames come in tagged, on a VLAN of the client port.)
//!
//! Scenarios, each with N live TCP sessions (set up through the pipeline itself: SYN,
//! then the client's ACK, so they are ESTABLISHED):
//! * `established`: client → VIP segments of live sessions (60-byte frames), sessions
//!   visited in random order;
//! * `reply`: real server → LIP segments of live sessions (the reply path);
//! * `new_conn`: SYNs of fresh flows (schedule, local port, session insert, rewrite);
//! * `plain_conn` / `synproxy_conn` (callgrind only): a whole handshake through the
//!   pipeline, three packets each: SYN, server SYN/ACK, client ACK for plain FULLNAT;
//!   SYN (answered with a cookie), client ACK (validated, server SYN sent), server SYN/ACK
//!   (absorbed, the held ACK forwarded) for the SYN proxy.
//!
//! Memory per session: a counting global allocator; the heap the pipeline gains while
//! N sessions are set up, divided by N (the pipeline's fixed start-up allocations are
//! excluded, so small N is not inflated).
//!
//! Timing is std only (`Instant`); frames are copied from a pre-built arena into a
//! reused buffer (the pipeline hands the same buffer back in `out.tx`), so the measured
//! loop allocates nothing (checked). The copy is timed on its own and reported as
//! `harness_ns`; `ns_per_pkt` includes it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use rvs_core::frame::VecAlloc;
use rvs_core::pipeline::{Output, Pipeline, PipelineConfig};
use rvs_core::route::PortIndex;
use rvs_core::stats::{DropReason, WorkerCounters};
use rvs_core::testkit::*;
use rvs_core::time::Time;
use rvs_core::wire::ipv4::Ipv4Packet;
use rvs_core::wire::tcp::{TcpFlags, TcpPacket};
use serde_json::{json, Value};

mod common;
use common::{advise_huge, median};

#[path = "fullnat/paired.rs"]
mod paired;
#[path = "fullnat/scaling.rs"]
mod scaling;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Relaxed);
        ALLOCS.fetch_add(1, Relaxed);
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Relaxed);
        ALLOCS.fetch_add(1, Relaxed);
        System.alloc_zeroed(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, Relaxed);
        LIVE.fetch_sub(l.size(), Relaxed);
        ALLOCS.fetch_add(1, Relaxed);
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Frame length of the measured data packets (the Ethernet minimum without FCS).
const FRAME: usize = 60;
/// Most frames an arena holds; above this, sessions are sampled at random.
const ARENA_MAX: usize = 1 << 21;
const NEW_CONN_TRIAL: usize = 100_000;
const NEW_CONN_TRIALS: usize = 3;
const TRIALS: usize = 5;

/// Bursts of this many frames go through `Pipeline::handle_burst`, as rvsd's workers do.
const BENCH_BURST: usize = 32;

/// `--rss`: the pipelines steer replies by RSS (`laddr::Steering::Rss`) instead of the port
/// partition, as rvsd does on a NIC without a flow API.
static RSS_STEERING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--dr`: the TCP service's real servers use direct routing.
static DR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--nat`: the TCP service's real servers use NAT (masquerading).
static NAT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--vlan`: the established frames come in tagged, on VLAN 10 of the client port.
static VLAN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--toa`: the TCP service inserts TOA.
static TOA: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The burst call callgrind counts on the data path (`--toggle-collect=rvs_bench_burst`).
#[no_mangle]
#[inline(never)]
pub fn rvs_bench_burst(
    p: &mut Pipeline<Vec<u8>>,
    port: PortIndex,
    frames: &mut Vec<Vec<u8>>,
    now: Time,
    out: &mut Output<Vec<u8>>,
) {
    p.handle_burst(port, frames, now, &mut VecAlloc, out)
}

/// The one-frame call callgrind counts for whole handshakes. Not inlined and not
/// mangled, so `--toggle-collect=rvs_bench_handle` finds it.
#[no_mangle]
#[inline(never)]
pub fn rvs_bench_handle(
    p: &mut Pipeline<Vec<u8>>,
    port: PortIndex,
    frame: Vec<u8>,
    now: Time,
    out: &mut Output<Vec<u8>>,
) {
    p.handle(port, frame, now, &mut VecAlloc, out)
}

/// A reply flow: (LIP, local port, real server index).
type ReplyKey = (std::net::Ipv4Addr, u16, u8);

struct Bench {
    p: Pipeline<Vec<u8>>,
    out: Output<Vec<u8>>,
    now: Time,
    replies: Vec<ReplyKey>,
    /// Next unused client index (fresh flows for new connections).
    next_client: u64,
    bytes_per_session: f64,
    setup_s: f64,
}

impl Bench {
    /// A pipeline with `n` ESTABLISHED sessions and room for `extra` more.
    fn new(n: usize, extra: usize) -> Bench {
        let t0 = Instant::now();
        let lips = (n + extra) / PORTS_PER_LIP + 1;
        let mut reg = registry(lips);
        if TOA.load(Relaxed) {
            // The TCP service inserts TOA (the client's address in a TCP option).
            let mut spec =
                reg.list().find(|(s, _, _)| s.key.protocol == rvs_proto::Protocol::Tcp).unwrap().0.clone();
            spec.options.toa = true;
            reg.edit_service(spec).unwrap();
        }
        let method = match (DR.load(Relaxed), NAT.load(Relaxed)) {
            (true, _) => Some(rvs_proto::ForwardMethod::DirectRoute),
            (_, true) => Some(rvs_proto::ForwardMethod::Nat),
            _ => None,
        };
        if let Some(method) = method {
            // The TCP service's real servers use direct routing (LVS/DR) or NAT.
            let (spec, reals) = {
                let (spec, _, reals) =
                    reg.list().find(|(s, _, _)| s.key.protocol == rvs_proto::Protocol::Tcp).unwrap();
                (spec.clone(), reals.into_iter().map(|(r, _)| r.clone()).collect::<Vec<_>>())
            };
            for mut r in reals {
                r.method = method;
                reg.edit_real(&spec.key, r).unwrap();
            }
        }
        let snapshot = Arc::new(reg.snapshot());
        let counters = Arc::new(WorkerCounters::new(16, 64).with_vlans(VLAN.load(Relaxed) as usize));
        let now = Time::from_secs(10);
        let mut replies = Vec::with_capacity(n);
        let mut buf = Vec::with_capacity(128);
        let mut out = Output::new(2, 1);
        // The heap of a pipeline without sessions (room for one): fixed, not per session.
        let fixed = {
            let base = LIVE.load(Relaxed);
            let p = Self::pipeline(1, snapshot.clone(), counters.clone(), now, &mut out);
            let grown = LIVE.load(Relaxed) - base;
            drop(p);
            grown
        };
        let base = LIVE.load(Relaxed) + fixed;
        let mut p = Self::pipeline(n + extra + 1024, snapshot, counters, now, &mut out);
        for i in 0..n as u64 {
            let (cip, cport) = client(i);
            tcp_frame_into(&mut buf, ROUTER_MAC, LB_C_MAC, cip, cport, VIP, 80, TcpFlags::SYN, 0);
            p.handle(CLIENT_PORT, buf, now, &mut VecAlloc, &mut out);
            buf = out.tx[SERVER_PORT as usize].pop().expect("SYN forwarded");
            let (lip, lport, rip, _) = endpoints(&buf);
            // DR keeps the client's addresses: its servers answer the client directly.
            if let Some(rs) = RS_IP.iter().position(|&r| r == rip) {
                replies.push((lip, lport, rs as u8));
                if !DR.load(Relaxed) {
                    // The server's SYN/ACK, as in a real handshake: the reply direction's
                    // first packet, which takes the full way (and caches its next hop).
                    let synack = TcpFlags::SYN | TcpFlags::ACK;
                    tcp_frame_into(&mut buf, RS_MAC[rs], LB_S_MAC, rip, 80, lip, lport, synack, 0);
                    p.handle(SERVER_PORT, buf, now, &mut VecAlloc, &mut out);
                    buf = out.tx[CLIENT_PORT as usize].pop().expect("SYN/ACK forwarded");
                }
            }
            tcp_frame_into(&mut buf, ROUTER_MAC, LB_C_MAC, cip, cport, VIP, 80, TcpFlags::ACK, 0);
            p.handle(CLIENT_PORT, buf, now, &mut VecAlloc, &mut out);
            buf = out.tx[SERVER_PORT as usize].pop().expect("ACK forwarded");
        }
        let grown = LIVE.load(Relaxed).saturating_sub(base);
        assert_eq!(p.sessions().len(), n);
        Bench {
            p,
            out,
            now,
            replies,
            next_client: n as u64,

            bytes_per_session: if n > 0 { grown as f64 / n as f64 } else { 0.0 },
            setup_s: t0.elapsed().as_secs_f64(),
        }
    }

    /// A pipeline that knows its neighbours: the clients' router and the real servers.
    fn pipeline(
        max_sessions: usize,
        snapshot: Arc<rvs_core::service::Snapshot>,
        counters: Arc<WorkerCounters>,
        now: Time,
        out: &mut Output<Vec<u8>>,
    ) -> Pipeline<Vec<u8>> {
        let mut cfg =
            PipelineConfig { mem_advice: Some(advise_huge), ..config(max_sessions, LB_C_MAC, LB_S_MAC) };
        if VLAN.load(Relaxed) {
            // The client port also carries VLAN 10, which the established frames come in on.
            cfg.ports[CLIENT_PORT as usize].vlans = vec![rvs_core::pipeline::VlanInfo {
                id: 10,
                addrs: vec![("198.18.10.1".parse().unwrap(), 24)],
                lips: vec![],
            }];
        }
        if RSS_STEERING.load(Relaxed) {
            // Local ports chosen for the NIC's Toeplitz hash (one queue: every reply is ours).
            use rvs_core::laddr::rss::{Rss, DEFAULT_KEY};
            let rss = Rss::round_robin(&DEFAULT_KEY, 128, 1).expect("RETA");
            cfg.steering = rvs_core::laddr::Steering::Rss(Arc::new(rss));
        }
        let mut p = Pipeline::new(cfg, snapshot, counters, now);
        p.handle(CLIENT_PORT, arp_reply(ROUTER_MAC, ROUTER_IP, LB_C_MAC, LB_C_IP), now, &mut VecAlloc, out);
        for (mac, ip) in RS_MAC.iter().zip(RS_IP) {
            p.handle(SERVER_PORT, arp_reply(*mac, ip, LB_S_MAC, LB_S_IP), now, &mut VecAlloc, out);
        }
        out.learned.clear();
        p
    }

    fn drops(&self) -> u64 {
        let c = self.p.counters();
        [
            DropReason::NoSession,
            DropReason::NoService,
            DropReason::SessionTableFull,
            DropReason::NoLocalAddr,
            DropReason::NeighQueueFull,
            DropReason::BadL4Checksum,
            DropReason::BadIpChecksum,
        ]
        .iter()
        .map(|&r| c.drop_count(r))
        .sum()
    }

    /// `count` frames of random live sessions: rounds of a permutation of them all while
    /// they fit, a random sample above that.
    fn arena(&self, kind: Scenario, seed: u64, count: usize) -> Vec<u8> {
        // Sessions set up (DR ones have no reply flow).
        let n = if kind == Scenario::Established { self.p.sessions().len() } else { self.replies.len() };
        let mut r = Rng(seed ^ 0xABCD);
        let order: Vec<u32> = if n <= count {
            let mut order = Vec::with_capacity(count);
            while order.len() < count {
                let mut round: Vec<u32> = (0..n as u32).collect();
                for i in (1..round.len()).rev() {
                    round.swap(i, r.below(i as u64 + 1) as usize);
                }
                order.extend_from_slice(&round[..round.len().min(count - order.len())]);
            }
            order
        } else {
            let mut r = Rng(seed);
            (0..count).map(|_| r.below(n as u64) as u32).collect()
        };
        let mut arena = Vec::with_capacity(count * FRAME);
        let mut b = Vec::with_capacity(FRAME);
        for &i in &order {
            match kind {
                Scenario::Established => {
                    let (cip, cport) = client(i as u64);
                    // With `--vlan`, tagged 10 and the same 60 bytes.
                    let vlan = VLAN.load(Relaxed);
                    let payload = FRAME - 54 - if vlan { 4 } else { 0 };
                    tcp_frame_into(&mut b, ROUTER_MAC, LB_C_MAC, cip, cport, VIP, 80, TcpFlags::ACK, payload);
                    if vlan {
                        assert!(rvs_core::frame::push_vlan(&mut b, 10));
                    }
                }
                Scenario::Reply => {
                    let (lip, lport, rs) = self.replies[i as usize];
                    let rs = rs as usize;
                    tcp_frame_into(
                        &mut b,
                        RS_MAC[rs],
                        LB_S_MAC,
                        RS_IP[rs],
                        80,
                        lip,
                        lport,
                        TcpFlags::ACK,
                        FRAME - 54,
                    );
                }
                Scenario::NewConn => unreachable!(),
            }
            arena.extend_from_slice(&b);
        }
        arena
    }

    /// SYN frames of `count` fresh flows.
    fn syn_arena(&mut self, count: usize) -> Vec<u8> {
        let mut arena = Vec::with_capacity(count * FRAME);
        let mut b = Vec::with_capacity(FRAME);
        for _ in 0..count {
            let (cip, cport) = client(self.next_client);
            self.next_client += 1;
            tcp_frame_into(&mut b, ROUTER_MAC, LB_C_MAC, cip, cport, VIP, 80, TcpFlags::SYN, FRAME - 54);
            arena.extend_from_slice(&b);
        }
        arena
    }

    /// Feeds `packets` frames from `arena` (cycling) into `port` in bursts of
    /// `BENCH_BURST`; the output is expected on `out_port`. Returns seconds.
    fn run(&mut self, arena: &[u8], port: PortIndex, out_port: PortIndex, packets: usize) -> f64 {
        self.run_from(arena, 0, port, out_port, packets)
    }

    /// `run`, starting at frame `start` of the arena.
    fn run_from(
        &mut self,
        arena: &[u8],
        start: usize,
        port: PortIndex,
        out_port: PortIndex,
        packets: usize,
    ) -> f64 {
        let frames = arena.len() / FRAME;
        let mut pool: Vec<Vec<u8>> = (0..BENCH_BURST).map(|_| Vec::with_capacity(128)).collect();
        let mut burst: Vec<Vec<u8>> = Vec::with_capacity(BENCH_BURST);
        let t0 = Instant::now();
        let mut j = start % frames.max(1);
        let mut left = packets;
        while left > 0 {
            let n = left.min(BENCH_BURST);
            for _ in 0..n {
                let mut buf = pool.pop().unwrap_or_else(|| Vec::with_capacity(128));
                buf.clear();
                buf.extend_from_slice(&arena[j * FRAME..(j + 1) * FRAME]);
                j += 1;
                if j == frames {
                    j = 0;
                }
                burst.push(buf);
            }
            rvs_bench_burst(&mut self.p, port, &mut burst, self.now, &mut self.out);
            // Frames come back from the TX side for reuse (a drop is counted, and fails
            // the check).
            pool.append(&mut self.out.tx[out_port as usize]);
            // With `--sync`, the records the burst produced go to the sync thread in rvsd.
            self.out.synced.clear();
            left -= n;
        }
        t0.elapsed().as_secs_f64()
    }
}

/// The process's resident and transparent-huge-page memory in MiB (`smaps_rollup`), so
/// that a large table's figure says whether its pages were huge when it was measured
/// (the kernel may back them with 4 KiB pages first and collapse them later).
fn memory_mib() -> Value {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    let kib = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    json!({ "rss_mib": kib("Rss:").map(|k| k / 1024), "anon_huge_mib": kib("AnonHugePages:").map(|k| k / 1024) })
}

/// The arena copy alone, per packet (what `run` adds around the pipeline).
fn harness_ns(arena: &[u8], packets: usize) -> f64 {
    let frames = arena.len() / FRAME;
    let mut buf: Vec<u8> = Vec::with_capacity(128);
    let t0 = Instant::now();
    let mut j = 0;
    for _ in 0..packets {
        buf.clear();
        buf.extend_from_slice(&arena[j * FRAME..(j + 1) * FRAME]);
        j += 1;
        if j == frames {
            j = 0;
        }
        buf = black_box(buf);
    }
    t0.elapsed().as_secs_f64() * 1e9 / packets as f64
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    Established,
    Reply,
    NewConn,
}

impl Scenario {
    fn parse(s: &str) -> Scenario {
        match s {
            "established" => Scenario::Established,
            "reply" => Scenario::Reply,
            "new_conn" => Scenario::NewConn,
            _ => panic!("unknown scenario {s} (established, reply, new_conn)"),
        }
    }
    fn ports(self) -> (PortIndex, PortIndex) {
        match self {
            Scenario::Reply => (SERVER_PORT, CLIENT_PORT),
            _ => (CLIENT_PORT, SERVER_PORT),
        }
    }
}

/// Timed trials of one data-path scenario; ns/packet (median, min) and checks.
fn timed(b: &mut Bench, kind: Scenario) -> Value {
    // The same number of frames at every table size: a NIC's frames are not in the cache
    // whatever the table holds, so a small table's figure does not get its packets from
    // L1 while a large one's stream from memory.
    timed_arena(b, kind, ARENA_MAX)
}

/// `timed` over an arena of `frames` frames.
fn timed_arena(b: &mut Bench, kind: Scenario, frames: usize) -> Value {
    let arena = b.arena(kind, 7, frames);
    let frames = arena.len() / FRAME;
    let (inp, outp) = kind.ports();
    let drops0 = b.drops();
    // Warm-up: one pass over the arena (at least 200k packets).
    b.run(&arena, inp, outp, frames.max(200_000));
    let per_trial = frames.clamp(1_000_000, 2_000_000);
    let memory = memory_mib();
    let allocs0 = ALLOCS.load(Relaxed);
    let ns: Vec<f64> =
        (0..TRIALS).map(|_| b.run(&arena, inp, outp, per_trial) * 1e9 / per_trial as f64).collect();
    let allocs = ALLOCS.load(Relaxed) - allocs0;
    let drops = b.drops() - drops0;
    assert_eq!(drops, 0, "{kind:?}: packets dropped");
    let min = ns.iter().cloned().fold(f64::MAX, f64::min);
    let med = median(ns.clone());
    json!({
        "ns_per_pkt": med,
        "ns_per_pkt_min": min,
        "mpps": 1e3 / med,
        "trials_ns": ns,
        "packets_per_trial": per_trial,
        "distinct_sessions_visited": frames,
        "harness_ns": harness_ns(&arena, per_trial),
        "allocations_in_loop": allocs,
        "memory_at_start": memory,
    })
}

fn timed_new_conn(b: &mut Bench) -> Value {
    let drops0 = b.drops();
    let warm = b.syn_arena(10_000);
    b.run(&warm, CLIENT_PORT, SERVER_PORT, 10_000);
    let mut ns = Vec::new();
    for _ in 0..NEW_CONN_TRIALS {
        let arena = b.syn_arena(NEW_CONN_TRIAL);
        ns.push(b.run(&arena, CLIENT_PORT, SERVER_PORT, NEW_CONN_TRIAL) * 1e9 / NEW_CONN_TRIAL as f64);
    }
    assert_eq!(b.drops() - drops0, 0, "new_conn: packets dropped");
    let med = median(ns.clone());
    json!({ "ns_per_conn": med, "conns_per_s": 1e9 / med, "trials_ns": ns, "conns_per_trial": NEW_CONN_TRIAL })
}

fn extra_for_new_conn() -> usize {
    10_000 + NEW_CONN_TRIAL * NEW_CONN_TRIALS + 1024
}

fn run_size(n: usize) -> Value {
    eprintln!("fullnat: setting up {n} sessions");
    let mut b = Bench::new(n, extra_for_new_conn());
    eprintln!("fullnat: {n} sessions in {:.1} s, {:.1} B/session", b.setup_s, b.bytes_per_session);
    let est = timed(&mut b, Scenario::Established);
    // The figure before equal arenas: a table that fits ARENA_MAX frames many times over
    // had an arena of one frame per session (at 1k, 60 KB that stays in L1/L2).
    let est_own = (n < ARENA_MAX).then(|| timed_arena(&mut b, Scenario::Established, n));
    let rep = timed(&mut b, Scenario::Reply);
    let newc = timed_new_conn(&mut b);
    // Last: it turns the SYN proxy on for the service.
    let flood = timed_synflood(&mut b);
    let (setup_s, bytes_per_session) = (b.setup_s, b.bytes_per_session);
    drop(b);
    // The same table on an HA pair's master, session sync on: client packets count
    // towards `sync_period`, in per-session marks a packet touches too.
    let mut b = Bench::new(n, 0);
    b.p.enable_sync(rvs_core::sync::SyncParams::default(), b.now);
    let est_sync = timed(&mut b, Scenario::Established);
    eprintln!(
        "fullnat: {n:>9} sessions: established {:.1} ns/pkt (with sync {:.1}), reply {:.1} ns/pkt, new {:.1} ns/conn",
        est["ns_per_pkt"].as_f64().unwrap(),
        est_sync["ns_per_pkt"].as_f64().unwrap(),
        rep["ns_per_pkt"].as_f64().unwrap(),
        newc["ns_per_conn"].as_f64().unwrap()
    );
    json!({
        "sessions": n,
        "setup_s": setup_s,
        "bytes_per_session": bytes_per_session,
        "established": est,
        "established_sync": est_sync,
        "established_arena_of_sessions": est_own,
        "reply": rep,
        "new_conn": newc,
        "synflood": flood,
    })
}

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str)
}

/// Turns the SYN proxy on for the TCP service, keeping its local addresses (the sessions
/// use them) plus room for `extra` more connections.
fn enable_syn_proxy(b: &mut Bench, extra: usize) {
    let mut reg = registry((b.replies.len() + extra + 1024) / PORTS_PER_LIP + 1);
    let key = rvs_proto::ServiceKey {
        protocol: rvs_proto::Protocol::Tcp,
        addr: format!("{VIP}:80").parse().unwrap(),
    };
    let mut spec = reg.list().find(|(s, _, _)| s.key == key).map(|(s, _, _)| s.clone()).unwrap();
    spec.options.syn_proxy = true;
    reg.edit_service(spec).unwrap();
    b.p.set_snapshot(Arc::new(reg.snapshot()));
}

/// A SYN flood against a SYN-proxied service: every SYN answered with a cookie, no state.
/// ns per SYN and SYNs absorbed per second by one worker.
fn timed_synflood(b: &mut Bench) -> Value {
    enable_syn_proxy(b, NEW_CONN_TRIAL * NEW_CONN_TRIALS);
    let sessions0 = b.p.sessions().len();
    let answered0 = b.p.counters().event_count(rvs_core::stats::Event::SynProxySynAnswered);
    let mut ns = Vec::new();
    for _ in 0..NEW_CONN_TRIALS {
        let arena = b.syn_arena(NEW_CONN_TRIAL);
        ns.push(b.run(&arena, CLIENT_PORT, CLIENT_PORT, NEW_CONN_TRIAL) * 1e9 / NEW_CONN_TRIAL as f64);
    }
    let answered = b.p.counters().event_count(rvs_core::stats::Event::SynProxySynAnswered) - answered0;
    assert_eq!(answered as usize, NEW_CONN_TRIAL * NEW_CONN_TRIALS, "every SYN answered");
    assert_eq!(b.p.sessions().len(), sessions0, "no state for SYNs");
    let med = median(ns.clone());
    json!({ "ns_per_syn": med, "syns_per_s_per_worker": 1e9 / med, "trials_ns": ns })
}

/// Reads (seq, ack) of the TCP segment in an Ethernet frame.
fn seq_ack(f: &[u8]) -> (u32, u32) {
    let t = &f[34..];
    (u32::from_be_bytes([t[4], t[5], t[6], t[7]]), u32::from_be_bytes([t[8], t[9], t[10], t[11]]))
}

/// Sets seq and ack of a built TCP frame and refreshes its checksum.
fn set_seq_ack(f: &mut [u8], seq: u32, ack: u32) {
    let ipp = Ipv4Packet::new_checked(&f[14..]).unwrap();
    let (src, dst) = (ipp.src_addr(), ipp.dst_addr());
    let mut t = TcpPacket::new_unchecked(&mut f[34..]);
    t.set_seq_number(seq);
    t.set_ack_number(ack);
    t.fill_checksum(src, dst);
}

/// Whole handshakes, `conns` of them; only `rvs_bench_handle` is counted by callgrind, so
/// the frame building here is free. Returns when every connection is established.
fn handshakes(b: &mut Bench, conns: usize, syn_proxy: bool) {
    if syn_proxy {
        enable_syn_proxy(b, conns);
    }
    let mut f = Vec::with_capacity(128);
    for _ in 0..conns {
        let (cip, cport) = client(b.next_client);
        b.next_client += 1;
        tcp_frame_into(&mut f, ROUTER_MAC, LB_C_MAC, cip, cport, VIP, 80, TcpFlags::SYN, 0);
        rvs_bench_handle(&mut b.p, CLIENT_PORT, f, b.now, &mut b.out);
        if syn_proxy {
            let synack = b.out.tx[CLIENT_PORT as usize].pop().expect("SYN/ACK from the proxy");
            let cookie = seq_ack(&synack).0;
            f = synack;
            tcp_frame_into(&mut f, ROUTER_MAC, LB_C_MAC, cip, cport, VIP, 80, TcpFlags::ACK, 0);
            set_seq_ack(&mut f, 1001, cookie.wrapping_add(1));
            rvs_bench_handle(&mut b.p, CLIENT_PORT, f, b.now, &mut b.out);
        }
        let syn = b.out.tx[SERVER_PORT as usize].pop().expect("SYN to the real server");
        let (lip, lport, rip, _) = endpoints(&syn);
        let rs = RS_IP.iter().position(|&r| r == rip).unwrap();
        b.replies.push((lip, lport, rs as u8));
        f = syn;
        tcp_frame_into(&mut f, RS_MAC[rs], LB_S_MAC, rip, 80, lip, lport, TcpFlags(0x12), 0);
        set_seq_ack(&mut f, 50_000, 1001);
        rvs_bench_handle(&mut b.p, SERVER_PORT, f, b.now, &mut b.out);
        if !syn_proxy {
            f = b.out.tx[CLIENT_PORT as usize].pop().expect("SYN/ACK to the client");
            tcp_frame_into(&mut f, ROUTER_MAC, LB_C_MAC, cip, cport, VIP, 80, TcpFlags::ACK, 0);
            set_seq_ack(&mut f, 1001, 50_001);
            rvs_bench_handle(&mut b.p, CLIENT_PORT, f, b.now, &mut b.out);
        }
        f = b.out.tx[SERVER_PORT as usize].pop().expect("the client's ACK reaches the server");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some("synflood") = arg(&args, "--callgrind") {
        let n: usize = arg(&args, "--sessions").unwrap_or("1000").parse().unwrap();
        let packets: usize = arg(&args, "--packets").unwrap_or("100000").parse().unwrap();
        let mut b = Bench::new(n, 1024);
        enable_syn_proxy(&mut b, 0);
        let arena = b.syn_arena(packets);
        b.run(&arena, CLIENT_PORT, CLIENT_PORT, packets);
        assert_eq!(b.p.sessions().len(), n, "no state for SYNs");
        println!("callgrind scenario synflood: {n} sessions, {packets} SYNs");
        return;
    }
    if let Some(scen) = arg(&args, "--callgrind").filter(|s| *s == "plain_conn" || *s == "synproxy_conn") {
        let n: usize = arg(&args, "--sessions").unwrap_or("1000").parse().unwrap();
        let conns: usize = arg(&args, "--packets").unwrap_or("20000").parse().unwrap();
        let mut b = Bench::new(n, conns + 1024);
        let drops0 = b.drops();
        handshakes(&mut b, conns, scen == "synproxy_conn");
        assert_eq!(b.drops() - drops0, 0, "packets dropped");
        println!("callgrind scenario {scen}: {n} sessions, {conns} connections");
        return;
    }
    if let Some(scen) = arg(&args, "--callgrind") {
        RSS_STEERING.store(args.iter().any(|a| a == "--rss"), Relaxed);
        let sync = args.iter().any(|a| a == "--sync");
        TOA.store(args.iter().any(|a| a == "--toa"), Relaxed);
        DR.store(args.iter().any(|a| a == "--dr"), Relaxed);
        NAT.store(args.iter().any(|a| a == "--nat"), Relaxed);
        VLAN.store(args.iter().any(|a| a == "--vlan"), Relaxed);
        let n: usize = arg(&args, "--sessions").unwrap_or("1000").parse().unwrap();
        let packets: usize = arg(&args, "--packets").unwrap_or("100000").parse().unwrap();
        let kind = Scenario::parse(scen);
        let synproxy = args.iter().any(|a| a == "--synproxy") && kind != Scenario::NewConn;
        let mut b = if synproxy {
            // The sessions come from whole SYN-proxied handshakes (cookie, server SYN, held ACK).
            let mut b = Bench::new(0, n + 1024);
            handshakes(&mut b, n, true);
            b
        } else {
            Bench::new(n, if kind == Scenario::NewConn { packets + 1024 } else { 0 })
        };
        if sync {
            // Session sync on (an HA pair's master): client packets count towards sync_period.
            b.p.enable_sync(rvs_core::sync::SyncParams::default(), b.now);
        }
        let arena =
            if kind == Scenario::NewConn { b.syn_arena(packets) } else { b.arena(kind, 7, n.min(ARENA_MAX)) };
        let (inp, outp) = kind.ports();
        let drops0 = b.drops();
        b.run(&arena, inp, outp, packets);
        assert_eq!(b.drops() - drops0, 0, "packets dropped");
        println!("callgrind scenario {scen}: {n} sessions, {packets} packets");
        return;
    }
    let sizes: Vec<usize> = arg(&args, "--sizes")
        .unwrap_or("1000,100000,1000000,10000000")
        .split(',')
        .map(|s| s.parse().expect("--sizes: comma-separated numbers"))
        .collect();
    let mut results = Vec::new();
    for &n in &sizes {
        results.push(run_size(n));
    }
    // The 10M ÷ 1k figure once more, its trials alternating (`paired.rs`).
    let paired = match (sizes.contains(&1000), sizes.contains(&10_000_000)) {
        (true, true) if !args.iter().any(|a| a == "--no-paired") => paired::paired(1000, 10_000_000),
        _ => Value::Null,
    };
    // 1 -> 2 workers at 100k sessions each (the figure against the target), and at
    // smaller tables too (`--scaling-sessions`): whether the workers share anything
    // shows at sizes whose working sets fit each core's own caches.
    let scaling_sizes: Vec<usize> = arg(&args, "--scaling-sessions")
        .unwrap_or("100000")
        .split(',')
        .map(|s| s.parse().expect("--scaling-sessions: comma-separated numbers"))
        .collect();
    let (scale, scale_by_size) = if args.iter().any(|a| a == "--no-scaling") {
        (Value::Null, Value::Null)
    } else {
        let all: Vec<Value> = scaling_sizes.iter().map(|&n| scaling::scaling(n)).collect();
        let main = all.iter().find(|v| v["sessions_per_worker"] == 100_000).cloned().unwrap_or(Value::Null);
        (main, Value::Array(all))
    };
    let doc =
        json!({ "sizes": results, "paired": paired, "scaling": scale, "scaling_by_size": scale_by_size });
    let text = serde_json::to_string_pretty(&doc).unwrap();
    match arg(&args, "--json") {
        Some(path) => std::fs::write(path, text).expect("write --json"),
        None => println!("{text}"),
    }
}
