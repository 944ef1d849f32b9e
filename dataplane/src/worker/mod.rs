//! The DPDK worker loop: one pinned thread per configured core.
//!
//! Each worker polls its own rx queue on every port, runs the pipeline, and transmits
//! on its own tx queue; it owns its pipeline (sessions, ports, neighbours, counters)
//! outright. Workers talk to each other only through bounded lock-free queues:
//! replies that reached the wrong core are handed to the owner of their local port over
//! a single-producer, single-consumer ring per worker pair (parsed already, so the owner
//! neither parses nor verifies them again), and learned neighbours are shared as messages.

use crossbeam::channel::{Receiver, Sender};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::control::WorkerMsg;
use crate::dpdk::{Eal, Mbuf, Mempool, Port};
use crate::pipeline::{Output, Pipeline, BURST};
use crate::stats::{DropReason, WorkerCounters};
use crate::time::{Clock, Time};

/// Timers (session expiry, ARP retries) run at most this often.
const TIMER_INTERVAL_NS: u64 = 1_000_000;

/// A parsed frame handed from one worker to the owner of its session.
pub type Handoff = crate::pipeline::Handoff<Mbuf>;

/// One worker's ends of the hand-off rings: a producer towards every other worker and a
/// consumer from every other worker (single producer, single consumer each: no CAS).
pub struct HandoffRings {
    pub to: Vec<Option<rtrb::Producer<Handoff>>>,
    pub from: Vec<rtrb::Consumer<Handoff>>,
}

/// The rings of `n` workers, `capacity` frames each.
pub fn handoff_rings(n: usize, capacity: usize) -> Vec<HandoffRings> {
    let mut rings: Vec<HandoffRings> =
        (0..n).map(|_| HandoffRings { to: (0..n).map(|_| None).collect(), from: Vec::new() }).collect();
    for src in 0..n {
        for dst in (0..n).filter(|&d| d != src) {
            let (p, c) = rtrb::RingBuffer::new(capacity);
            rings[src].to[dst] = Some(p);
            rings[dst].from.push(c);
        }
    }
    rings
}

/// Idle behaviour: spin `spin` empty polls, then sleep, doubling up to `max_sleep_us`.
#[derive(Debug, Clone, Copy)]
pub struct IdlePolicy {
    pub spin: u32,
    pub max_sleep_us: u32,
}

pub struct Worker {
    pub id: u16,
    pub cpu: usize,
    pub ports: Vec<Port>,
    pub pipeline: Pipeline<Mbuf>,
    pub pool: Mempool,
    pub inbox: Receiver<WorkerMsg>,
    /// Every worker's neighbour-message sender (including ours, unused).
    pub peers: Vec<Sender<WorkerMsg>>,
    /// Our ends of the hand-off rings.
    pub handoff: HandoffRings,
    pub idle: IdlePolicy,
    pub stop: Arc<AtomicBool>,
    pub lcore: Arc<AtomicU32>,
    pub clock: Arc<Clock>,
    /// This worker's rings to and from the exception thread (None: no kernel interfaces).
    pub exception: Option<crate::exception::WorkerLink>,
    /// This worker's rings to and from the sync thread (None: no session sync).
    pub sync: Option<crate::sync::WorkerSyncLink>,
}

impl Worker {
    /// Runs until `stop` is set. Call on the worker's own thread.
    pub fn run(mut self) {
        // Pin by CPU number: the thread inherits the main lcore's affinity from EAL, so
        // core_affinity's list of allowed cores would only name that one.
        if !core_affinity::set_for_current(core_affinity::CoreId { id: self.cpu }) {
            tracing::warn!(worker = self.id, cpu = self.cpu, "could not pin worker");
        }
        match Eal::register_thread() {
            Ok(lcore) => self.lcore.store(lcore, Ordering::Relaxed),
            Err(e) => {
                tracing::warn!(worker = self.id, error = %e, "rte_thread_register failed; mempool cache off")
            }
        }
        tracing::info!(
            worker = self.id,
            cpu = self.cpu,
            lcore = self.lcore.load(Ordering::Relaxed),
            "worker running"
        );

        let queue = self.id;
        let nports = self.ports.len();
        let nworkers = self.handoff.to.len();
        let mut out: Output<Mbuf> = Output::new(nports, nworkers);
        let mut rx: Vec<Mbuf> = Vec::with_capacity(BURST);
        let mut last_timer = Time::ZERO;
        let mut idle_polls: u32 = 0;
        let mut sleep_us: u32 = 1;
        let counters: Arc<WorkerCounters> = self.pipeline.counters().clone();

        while !self.stop.load(Ordering::Relaxed) {
            // Heartbeat for watchdogs (rvs-ctrl's BIRD announcer): moves while we loop.
            counters.loops.inc();
            let now = self.clock.now();
            let mut work = 0usize;
            let mut alloc = self.pool;

            for p in 0..nports {
                let n = self.ports[p].rx_burst(queue, &mut rx, BURST);
                if n == 0 {
                    continue;
                }
                work += n;
                counters.rx_packets.add(n as u64);
                counters.rx_bytes.add(rx.iter().map(|m| m.data().len() as u64).sum());
                self.pipeline.handle_burst(p as crate::route::PortIndex, &mut rx, now, &mut alloc, &mut out);
            }

            // Frames other workers passed to us: bounded per loop so rx is not starved.
            let mut taken = 0u64;
            for c in self.handoff.from.iter_mut() {
                for _ in 0..BURST {
                    let Ok(h) = c.pop() else { break };
                    taken += 1;
                    self.pipeline.handle_handoff(h, now, &mut alloc, &mut out);
                }
            }
            if taken > 0 {
                work += taken as usize;
                counters.redirected_in.add(taken);
            }

            while let Ok(msg) = self.inbox.try_recv() {
                match msg {
                    WorkerMsg::Config(c) => self.pipeline.set_config(&c),
                    WorkerMsg::DumpConns(reply) => {
                        let _ = reply.send(self.pipeline.dump_sessions(now));
                    }
                    WorkerMsg::DumpNeigh(reply) => {
                        let _ = reply.send(self.pipeline.neighbours());
                    }
                    WorkerMsg::NeighAdd(ip, mac, iface, reply) => {
                        let _ = reply.send(self.pipeline.add_static_neighbour(ip, mac, iface));
                    }
                    WorkerMsg::NeighDel(ip, iface, reply) => {
                        let _ = reply.send(self.pipeline.del_neighbour(ip, iface));
                    }
                    WorkerMsg::NeighFlush(iface, states, reply) => {
                        let _ = reply.send(self.pipeline.flush_neighbours(iface, states));
                    }
                    WorkerMsg::Neigh(ip, mac, port) => {
                        self.pipeline.neigh_learned(ip, mac, port, now, &mut out)
                    }
                    WorkerMsg::Neigh6(ip, mac, port) => {
                        self.pipeline.neigh6_learned(ip, mac, port, now, &mut out)
                    }
                    WorkerMsg::Announce(addrs) => {
                        let (mut v4, mut v6) = (Vec::new(), Vec::new());
                        for a in addrs {
                            match a {
                                std::net::IpAddr::V4(a) => v4.push(a),
                                std::net::IpAddr::V6(a) => v6.push(a),
                            }
                        }
                        self.pipeline.announce(&v4, now);
                        self.pipeline.announce6(&v6, now);
                    }
                }
            }

            if now.as_nanos().wrapping_sub(last_timer.as_nanos()) >= TIMER_INTERVAL_NS {
                self.pipeline.poll(now, &mut alloc, &mut out);
                last_timer = now;
            }

            // Frames the kernel sent out of our ports (exception path), bounded like hand-offs.
            if let Some(link) = self.exception.as_mut() {
                work += link.take_from_kernel(&mut out.tx, &counters, BURST);
            }

            // Session sync: records out, synced sessions in, a bulk export's next slice.
            if let Some(s) = self.sync.as_mut() {
                work += s.poll(&mut self.pipeline, &mut out.synced, now);
            }

            self.flush(&mut out, &counters);

            if work > 0 {
                idle_polls = 0;
                sleep_us = 1;
            } else if self.idle.max_sleep_us > 0 {
                idle_polls += 1;
                if idle_polls > self.idle.spin {
                    // Give the core back to the lab's clients and servers: a 2-core
                    // machine runs them next to us.
                    std::thread::sleep(Duration::from_micros(sleep_us as u64));
                    sleep_us = (sleep_us * 2).min(self.idle.max_sleep_us);
                } else {
                    std::hint::spin_loop();
                }
            }
        }
        tracing::info!(worker = self.id, "worker stopped");
        Eal::unregister_thread();
    }

    /// Sends what the pipeline produced.
    fn flush(&mut self, out: &mut Output<Mbuf>, counters: &WorkerCounters) {
        let queue = self.id;
        for (p, pkts) in out.tx.iter_mut().enumerate() {
            if pkts.is_empty() {
                continue;
            }
            let bytes: u64 = pkts.iter().map(|m| m.data().len() as u64).sum();
            let total = pkts.len();
            let sent = self.ports[p].tx_burst(queue, pkts);
            let unsent_bytes: u64 = pkts.iter().map(|m| m.data().len() as u64).sum();
            counters.tx_packets.add(sent as u64);
            counters.tx_bytes.add(bytes - unsent_bytes);
            for _ in sent..total {
                counters.count_drop(DropReason::TxFull);
            }
            pkts.clear(); // frees what the queue did not take
        }
        for (w, pkts) in out.redirect.iter_mut().enumerate() {
            let Some(ring) = self.handoff.to[w].as_mut() else {
                pkts.clear(); // never: the pipeline does not hand frames to itself
                continue;
            };
            for h in pkts.drain(..) {
                // A full ring drops the frame (freed here), counted.
                if ring.push(h).is_err() {
                    counters.count_drop(DropReason::RedirectFull);
                }
            }
        }
        // Frames for the kernel: into the exception thread's ring, never waiting for it.
        match self.exception.as_mut() {
            Some(link) => link.send_to_kernel(&mut out.kernel, counters),
            None => out.kernel.clear(),
        }
        for (ip, mac, port) in out.learned.drain(..) {
            for (w, peer) in self.peers.iter().enumerate() {
                if w != self.id as usize {
                    let _ = peer.try_send(WorkerMsg::Neigh(ip, mac, port));
                }
            }
        }
        for (ip, mac, port) in out.learned6.drain(..) {
            for (w, peer) in self.peers.iter().enumerate() {
                if w != self.id as usize {
                    let _ = peer.try_send(WorkerMsg::Neigh6(ip, mac, port));
                }
            }
        }
    }
}
