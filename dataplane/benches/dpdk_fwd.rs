//! DPDK forwarding benchmark: rvsd's worker loop (`rvs_dataplane::worker::Worker`, the
//! loop rvsd runs) on two net_ring ports, fed by a generator in the same process.
//!
//!   `cargo bench -p rvs-dataplane --bench dpdk_fwd -- --dut rvs|io|macswap [--seconds 3]
//!      [--flows 1024] [--max-sessions 1048576] [--generator recycle|mempool] [--in-flight 2048]
//!      [--file-prefix NAME] [--json FILE]`
//!
//! Topology (one process; EAL with `--no-huge`): four rte_rings and two ring ethdevs
//! made with `rte_eth_from_rings` (the net_ring PMD):
//!
//! ```text
//!   generator (main thread, CPU 0)                 DUT (CPU 1)
//!     enqueue ──> c_in  ──rx──> port "client" ──┐
//!     dequeue <── c_out <─tx──                   │ rvs: Worker::run (pipeline, FULLNAT)
//!     dequeue <── s_out <─tx──  port "server" <──┘ io:  rx_burst -> tx_burst (testpmd's io engine)
//!                                                    macswap: the same, swapping each frame's MACs
//! ```
//!
//! The generator sends 60-byte UDP datagrams of `--flows` client flows to VIP:53 (one
//! session each, created in the warm-up; then established forwarding) and takes every
//! frame the DUT transmits off the out rings. Forwarded Mpps is what came out per second
//! over `--seconds`, after one second of warm-up.
//!
//! Two generators. `recycle` (the default) plays a NIC: it keeps `--in-flight` frames
//! going round, writing each frame the DUT sent out again (its first line, and the mbuf
//! fields a PMD's RX rearms) and sending it back in. `mempool` frees every frame it takes
//! and allocates a fresh one for every frame it sends. That round trip through the pool
//! rewrites each mbuf's header on the generator's core, and the DUT must then fetch it from
//! there: with any DUT that reads its mbufs (macswap as much as rvs), the generator
//! becomes the bottleneck at about half of io. `dut_input_ring_fill` says who limits: near
//! `in_flight / ring size` with `recycle`, every frame waits in the DUT's input ring
//! (the DUT is the bottleneck); near 0, the DUT waits for the generator. `--dut io` runs the
//! same generator against a plain rx→tx forwarder, the upper bound of this harness; it
//! never touches a frame, so the frames' cache lines stay with the generator's core.
//! `--dut macswap` (testpmd's macswap engine) reads and writes each frame's first line as
//! any forwarder that looks at packets must: the share of the gap to `io` that is the
//! frames' lines moving between the two cores, not the forwarder's own work.

use std::ffi::{c_char, c_void, CString};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dpdk_sys as sys;
use rvs_dataplane::dpdk::{Eal, Mbuf, Mempool, Port, DEFAULT_DATA_ROOM, HEADROOM, SOCKET_ANY};
use rvs_dataplane::pipeline::Pipeline;
use rvs_dataplane::stats::WorkerCounters;
use rvs_dataplane::testkit::*;
use rvs_dataplane::time::Clock;
use rvs_dataplane::wire::MacAddr;
use rvs_dataplane::worker::{handoff_rings, IdlePolicy, Worker};
use serde_json::json;

#[link(name = "rte_net_ring")]
extern "C" {
    fn rte_eth_from_rings(
        name: *const c_char,
        rx_queues: *const *mut sys::rte_ring,
        nb_rx_queues: u32,
        tx_queues: *const *mut sys::rte_ring,
        nb_tx_queues: u32,
        numa_node: u32,
    ) -> i32;
}

const RING_F_SP_ENQ: u32 = 0x0001;
const RING_F_SC_DEQ: u32 = 0x0002;
const RING_SIZE: u32 = 4096;
const BURST: usize = 32;
const FRAME: usize = 60;

fn ring(name: &str) -> *mut sys::rte_ring {
    let c = CString::new(name).unwrap();
    // SAFETY: EAL is up; the name is a valid C string.
    let r = unsafe { sys::rte_ring_create(c.as_ptr(), RING_SIZE, SOCKET_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ) };
    assert!(!r.is_null(), "rte_ring_create({name})");
    r
}

fn ring_port(name: &str, rx: *mut sys::rte_ring, tx: *mut sys::rte_ring) -> Port {
    let c = CString::new(name).unwrap();
    // SAFETY: one rx and one tx ring, valid for the life of the process.
    let id = unsafe { rte_eth_from_rings(c.as_ptr(), &rx, 1, &tx, 1, 0) };
    assert!(id >= 0, "rte_eth_from_rings({name})");
    Port::from_id(id as u16).expect("ring port")
}

/// Raw mbuf pointers, freed in bulk.
fn free_raw(ptrs: &mut [*mut sys::rte_mbuf]) {
    if !ptrs.is_empty() {
        // SAFETY: every pointer is an mbuf we own.
        unsafe { sys::rte_pktmbuf_free_bulk(ptrs.as_mut_ptr(), ptrs.len() as u32) }
    }
}

/// How the generator comes by the frames it sends (see the top of the file).
#[derive(Clone, Copy, PartialEq, Eq)]
enum GenMode {
    Recycle,
    Mempool,
}

struct Generator {
    mode: GenMode,
    /// `recycle`: the frames to keep going round, and how many are out of the pool.
    in_flight_target: usize,
    in_flight: usize,
    pool: Mempool,
    c_in: *mut sys::rte_ring,
    s_in: *mut sys::rte_ring,
    outs: [*mut sys::rte_ring; 2],
    templates: Vec<Vec<u8>>,
    next: usize,
    batch: Vec<Mbuf>,
}

impl Generator {
    /// Enqueues whole frames into `ring`; returns how many went in.
    fn send_frames(&mut self, ring: *mut sys::rte_ring, frames: &[Vec<u8>]) -> usize {
        let mut ptrs = Vec::new();
        for f in frames {
            let mut m = self.pool.alloc().expect("mbuf");
            assert!(m.set_len(f.len()));
            m.data_mut().copy_from_slice(f);
            ptrs.push(m.into_raw().as_ptr() as *mut c_void);
        }
        // SAFETY: valid ring and mbuf pointers.
        let n = unsafe {
            sys::rte_ring_enqueue_burst(ring, ptrs.as_ptr(), ptrs.len() as u32, std::ptr::null_mut())
        } as usize;
        let mut rest: Vec<*mut sys::rte_mbuf> = ptrs[n..].iter().map(|&p| p as *mut sys::rte_mbuf).collect();
        free_raw(&mut rest);
        n
    }

    /// One round: a burst of client frames in, everything the DUT sent out taken.
    /// Returns (sent, received).
    #[inline]
    fn round(&mut self) -> (usize, usize) {
        match self.mode {
            GenMode::Recycle => self.round_recycle(),
            GenMode::Mempool => self.round_mempool(),
        }
    }

    /// The next flow's frame, written into `m` (one segment, as the pool gave it).
    #[inline]
    fn write_next(&mut self, m: &mut Mbuf) {
        let t = &self.templates[self.next];
        self.next += 1;
        if self.next == self.templates.len() {
            self.next = 0;
        }
        m.set_len(FRAME);
        m.data_mut().copy_from_slice(t);
    }

    /// `round` of the recycling generator: the frames the DUT sent out are written again and
    /// sent back in, topped up from the pool to `in_flight_target`.
    #[inline]
    fn round_recycle(&mut self) -> (usize, usize) {
        let mut buf = [std::ptr::null_mut::<c_void>(); 2 * BURST];
        let mut n = 0;
        for &r in &self.outs {
            // SAFETY: valid ring, room for the rest of `buf`.
            n += unsafe {
                let room = (buf.len() - n) as u32;
                sys::rte_ring_dequeue_burst(r, buf.as_mut_ptr().add(n), room, std::ptr::null_mut())
            } as usize;
        }
        let recv = n;
        while n < BURST && self.in_flight < self.in_flight_target {
            let Some(m) = self.pool.alloc() else { break };
            buf[n] = m.into_raw().as_ptr() as *mut c_void;
            (n, self.in_flight) = (n + 1, self.in_flight + 1);
        }
        for p in &mut buf[..n] {
            // SAFETY: an mbuf we own (the DUT handed it over, or fresh from the pool).
            let mut m = unsafe { Mbuf::from_raw(std::ptr::NonNull::new_unchecked(*p as *mut sys::rte_mbuf)) };
            if !m.is_contiguous() || m.headroom() != HEADROOM as usize {
                // A frame the DUT built itself (an ARP request): a fresh one in its place.
                drop(m);
                m = self.pool.alloc().expect("mbuf");
            }
            // What a PMD's RX rearms: no flags from the frame's last trip.
            // SAFETY: we own the mbuf.
            unsafe { (*m.as_ptr()).ol_flags = 0 };
            self.write_next(&mut m);
            *p = m.into_raw().as_ptr() as *mut c_void;
        }
        // SAFETY: valid ring and mbuf pointers; those the ring does not take are freed.
        let sent = unsafe {
            let sent = sys::rte_ring_enqueue_burst(self.c_in, buf.as_ptr(), n as u32, std::ptr::null_mut());
            let rest = buf.as_mut_ptr().add(sent as usize) as *mut *mut sys::rte_mbuf;
            free_raw(std::slice::from_raw_parts_mut(rest, n - sent as usize));
            sent as usize
        };
        self.in_flight -= n - sent;
        (sent, recv)
    }

    /// Counts the frames out of the pool again (in the rings, in the DUT's hands, dropped
    /// and freed by it), so that `recycle` tops up what the DUT consumed.
    fn resync_in_flight(&mut self) {
        self.in_flight = self.pool.in_use() as usize;
    }

    /// `round` of the mempool generator: a burst of fresh frames in, everything the DUT sent
    /// out freed.
    #[inline]
    fn round_mempool(&mut self) -> (usize, usize) {
        let mut sent = 0;
        if self.pool.alloc_bulk(&mut self.batch, BURST) {
            let mut batch = std::mem::take(&mut self.batch);
            for m in batch.iter_mut() {
                self.write_next(m);
            }
            self.batch = batch;
            // SAFETY: `batch` holds BURST owned mbufs (Mbuf is a transparent pointer); the
            // ring takes the first `n`, which are forgotten, the rest freed.
            unsafe {
                let p = self.batch.as_ptr() as *const *mut c_void;
                sent = sys::rte_ring_enqueue_burst(self.c_in, p, BURST as u32, std::ptr::null_mut()) as usize;
                let len = self.batch.len();
                let raw = self.batch.as_mut_ptr() as *mut *mut sys::rte_mbuf;
                free_raw(std::slice::from_raw_parts_mut(raw.add(sent), len - sent));
                self.batch.set_len(0);
            }
        }
        let mut recv = 0;
        let mut buf = [std::ptr::null_mut::<c_void>(); 64];
        for &r in &self.outs {
            // SAFETY: valid ring, room for 64 pointers.
            let n = unsafe { sys::rte_ring_dequeue_burst(r, buf.as_mut_ptr(), 64, std::ptr::null_mut()) }
                as usize;
            // SAFETY: the DUT handed these mbufs over.
            free_raw(unsafe {
                std::slice::from_raw_parts_mut(buf.as_mut_ptr() as *mut *mut sys::rte_mbuf, n)
            });
            recv += n;
        }
        (sent, recv)
    }
}

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str)
}

/// The pipeline's configuration as rvsd builds it for a worker: `max_sessions` (rvsd's
/// default unless `--max-sessions`), and the session table asked for huge pages before its
/// first write (main.rs), which decides how many page walks a lookup costs.
fn rvsd_config(max_sessions: usize, c_mac: MacAddr, s_mac: MacAddr) -> rvs_core::pipeline::PipelineConfig {
    rvs_core::pipeline::PipelineConfig {
        mem_advice: Some(|addr, len| {
            let _ = rvs_dataplane::hugepage::advise(addr, len);
        }),
        ..config(max_sessions, c_mac, s_mac)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dut = arg(&args, "--dut").unwrap_or("rvs").to_string();
    assert!(dut == "rvs" || dut == "io" || dut == "macswap", "--dut rvs|io|macswap");
    let mode = match arg(&args, "--generator").unwrap_or("recycle") {
        "recycle" => GenMode::Recycle,
        "mempool" => GenMode::Mempool,
        g => panic!("--generator recycle|mempool, not {g}"),
    };
    let in_flight: usize = arg(&args, "--in-flight").unwrap_or("2048").parse().unwrap();
    assert!(in_flight < RING_SIZE as usize, "--in-flight below the ring size {RING_SIZE}");
    let seconds: f64 = arg(&args, "--seconds").unwrap_or("3").parse().unwrap();
    let flows: usize = arg(&args, "--flows").unwrap_or("1024").parse().unwrap();
    let max_sessions: usize = arg(&args, "--max-sessions").unwrap_or("1048576").parse().unwrap();
    let dut_cpu: usize = arg(&args, "--cpu").unwrap_or("1").parse().unwrap();
    let prefix =
        arg(&args, "--file-prefix").map(str::to_string).unwrap_or(format!("rvsbench{}", std::process::id()));
    let eal_args: Vec<String> = [
        "--no-huge",
        "-m",
        "512",
        "--file-prefix",
        &prefix,
        "-l",
        "0",
        "--no-pci",
        "--no-telemetry",
        "--log-level",
        "*:warning",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let eal = Eal::init(&eal_args).expect("EAL init");
    let pool = Mempool::new("bench_pkt", 32767, 256, DEFAULT_DATA_ROOM, SOCKET_ANY).expect("mempool");
    let (c_in, c_out, s_in, s_out) = (ring("c_in"), ring("c_out"), ring("s_in"), ring("s_out"));
    let client = ring_port("bench_client", c_in, c_out);
    let server = ring_port("bench_server", s_in, s_out);
    for p in [client, server] {
        p.configure(1, 1, 1024, 1024, &pool).expect("port configure");
    }
    let (c_mac, s_mac) = (MacAddr(client.mac()), MacAddr(server.mac()));

    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(WorkerCounters::new(16, 64));
    let clock = Arc::new(Clock::default());
    let dut_thread = if dut == "rvs" {
        let snapshot = Arc::new(registry(1).snapshot());
        let (tx, rx) = crossbeam::channel::bounded(16);
        let handoff = handoff_rings(1, 64).pop().expect("rings");
        let worker = Worker {
            id: 0,
            cpu: dut_cpu,
            ports: vec![client, server],
            pipeline: Pipeline::new(
                rvsd_config(max_sessions, c_mac, s_mac),
                snapshot,
                counters.clone(),
                clock.now(),
            ),
            pool,
            inbox: rx,
            peers: vec![tx],
            handoff,
            idle: IdlePolicy { spin: 256, max_sleep_us: 0 },
            stop: stop.clone(),
            lcore: Arc::new(AtomicU32::new(u32::MAX)),
            clock: clock.clone(),
            exception: None,
            sync: None,
        };
        std::thread::spawn(move || worker.run())
    } else {
        let stop = stop.clone();
        let macswap = dut == "macswap";
        std::thread::spawn(move || {
            core_affinity::set_for_current(core_affinity::CoreId { id: dut_cpu });
            let _ = Eal::register_thread();
            let mut rx: Vec<Mbuf> = Vec::with_capacity(BURST);
            let ports = [client, server];
            while !stop.load(Ordering::Relaxed) {
                for i in 0..2 {
                    if ports[i].rx_burst(0, &mut rx, BURST) > 0 {
                        if macswap {
                            for m in rx.iter_mut() {
                                if let Some(h) = m.data_mut().first_chunk_mut::<12>() {
                                    let (dst, src) = h.split_at_mut(6);
                                    dst.swap_with_slice(src);
                                }
                            }
                        }
                        ports[1 - i].tx_burst(0, &mut rx);
                        rx.clear(); // frees what tx did not take
                    }
                }
            }
            Eal::unregister_thread();
        })
    };

    core_affinity::set_for_current(core_affinity::CoreId { id: 0 });
    let mut templates = Vec::with_capacity(flows);
    let mut b = Vec::new();
    for i in 0..flows as u64 {
        let (cip, cport) = rvs_dataplane::testkit::client(i);
        udp_frame_into(&mut b, ROUTER_MAC, c_mac, cip, cport, VIP, 53, FRAME - 42);
        templates.push(b.clone());
    }
    let mut gen = Generator {
        mode,
        in_flight_target: in_flight,
        in_flight: 0,
        pool,
        c_in,
        s_in,
        outs: [c_out, s_out],
        templates,
        next: 0,
        batch: Vec::with_capacity(BURST),
    };
    // Neighbours for rvs: the clients' router and the real servers announce themselves.
    if dut == "rvs" {
        let arp = [arp_reply(ROUTER_MAC, ROUTER_IP, c_mac, LB_C_IP)];
        gen.send_frames(gen.c_in, &arp);
        let arps: Vec<Vec<u8>> =
            RS_MAC.iter().zip(RS_IP).map(|(m, ip)| arp_reply(*m, ip, s_mac, LB_S_IP)).collect();
        gen.send_frames(gen.s_in, &arps);
        std::thread::sleep(Duration::from_millis(50));
    }
    // Warm-up: sessions get created, caches and pools settle.
    let t = Instant::now();
    let mut rounds = 0u64;
    while t.elapsed() < Duration::from_secs(1) {
        gen.round();
        rounds += 1;
        if rounds.is_multiple_of(1024) {
            gen.resync_in_flight();
        }
    }
    let (mut sent, mut recv) = (0u64, 0u64);
    let t0 = Instant::now();
    let rx0 = counters.rx_packets.get();
    let (mut fill, mut samples) = (0u64, 0u64);
    loop {
        let (s, r) = gen.round();
        sent += s as u64;
        recv += r as u64;
        rounds += 1;
        if rounds.is_multiple_of(1024) {
            // How full the DUT's input ring is: near full, the DUT is the bottleneck;
            // near empty, the generator is.
            // SAFETY: valid ring.
            fill += u64::from(unsafe { sys::rte_ring_count(c_in) });
            samples += 1;
            gen.resync_in_flight();
            if t0.elapsed().as_secs_f64() >= seconds {
                break;
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let dut_rx = counters.rx_packets.get() - rx0;
    stop.store(true, Ordering::Relaxed);
    dut_thread.join().unwrap();
    // Drain what is left.
    gen.mode = GenMode::Mempool;
    for _ in 0..1000 {
        gen.round();
    }
    let sessions = counters.sessions_live.get();
    let drop_reasons = counters.snapshot(0, 0).drops;
    let drops: u64 = drop_reasons.iter().map(|d| d.1).sum();
    let mpps = recv as f64 / secs / 1e6;
    let doc = json!({
        "dut": dut,
        "vdev": "net_ring (rte_eth_from_rings)",
        "flows": flows,
        "frame_bytes": FRAME,
        "generator": if mode == GenMode::Recycle { "recycle" } else { "mempool" },
        "in_flight": if mode == GenMode::Recycle { Some(in_flight) } else { None },
        "ring_size": RING_SIZE,
        "seconds": secs,
        "dut_input_ring_fill": fill as f64 / samples.max(1) as f64 / RING_SIZE as f64,
        "offered_mpps": sent as f64 / secs / 1e6,
        "forwarded_mpps": mpps,
        "dut_rx_mpps": if dut == "rvs" { Some(dut_rx as f64 / secs / 1e6) } else { None },
        "rvs_sessions": if dut == "rvs" { Some(sessions) } else { None },
        "rvs_drops": if dut == "rvs" { Some(drops) } else { None },
        "rvs_drop_reasons": if dut == "rvs" { Some(drop_reasons) } else { None },
        "dpdk": Eal::version(),
    });
    eprintln!("dpdk_fwd {dut}: {mpps:.2} Mpps forwarded (offered {:.2})", sent as f64 / secs / 1e6);
    for p in [client, server] {
        let _ = p.close();
    }
    drop(eal);
    let text = serde_json::to_string_pretty(&doc).unwrap();
    match arg(&args, "--json") {
        Some(path) => std::fs::write(path, text).expect("write --json"),
        None => println!("{text}"),
    }
}
