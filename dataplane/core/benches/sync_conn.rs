//! What session sync costs a worker: new connections per second on one worker with sync
//! off and on, and sync bytes per session.
//!
//! Run: `cargo bench -p rvs-core --bench sync_conn` (`-- --conns N`, default 100000 per
//! trial, 5 trials alternating off/on). A connection is the client's SYN, ACK and first
//! data segment through `Pipeline::handle` (sessions ESTABLISHED, as the sync policy
//! wants them); with sync on the third packet makes the session's record
//! (`sync_threshold` 3), which the loop hands on as the worker does (moved into a
//! preallocated ring-sized buffer, drained when full). The sync thread's share (packing
//! and sealing the records into 1500-MTU datagrams, on another core in rvsd) is timed
//! separately, and gives the bytes per session. Prints one JSON object.

use std::sync::Arc;
use std::time::Instant;

use rvs_core::frame::VecAlloc;
use rvs_core::pipeline::{Output, Pipeline};
use rvs_core::stats::WorkerCounters;
use rvs_core::sync::{ClusterKey, ConnRecord, Packer, Sender, SenderConfig, SyncParams};
use rvs_core::testkit::*;
use rvs_core::time::Time;
use rvs_core::wire::tcp::TcpFlags;
use serde_json::json;

// Only `median` here.
#[allow(dead_code)]
mod common;
use common::median;

const TRIALS: usize = 5;
/// The worker → sync thread ring of rvsd (`[sync] ring_size` default).
const RING: usize = 8192;

struct Run {
    ns_per_conn: f64,
    records: Vec<ConnRecord>,
}

fn pipeline(max: usize, sync: bool, now: Time, out: &mut Output<Vec<u8>>) -> Pipeline<Vec<u8>> {
    let lips = max / PORTS_PER_LIP + 1;
    let snapshot = Arc::new(registry(lips).snapshot());
    let counters = Arc::new(WorkerCounters::new(16, 64));
    let mut p = Pipeline::new(config(max, LB_C_MAC, LB_S_MAC), snapshot, counters, now);
    p.handle(CLIENT_PORT, arp_reply(ROUTER_MAC, ROUTER_IP, LB_C_MAC, LB_C_IP), now, &mut VecAlloc, out);
    for (mac, ip) in RS_MAC.iter().zip(RS_IP) {
        p.handle(SERVER_PORT, arp_reply(*mac, ip, LB_S_MAC, LB_S_IP), now, &mut VecAlloc, out);
    }
    out.learned.clear();
    if sync {
        p.enable_sync(SyncParams::default(), now);
    }
    p
}

/// `conns` connections (SYN, ACK, data) from fresh clients; returns ns per connection and
/// the records sync produced.
fn run(conns: usize, sync: bool, first_client: u64) -> Run {
    let now = Time::from_secs(10);
    let mut out = Output::new(2, 1);
    let mut p = pipeline(conns + 1024, sync, now, &mut out);
    // Frames built before the clock starts: 3 per connection.
    let mut frames: Vec<Vec<u8>> = Vec::with_capacity(conns * 3);
    for i in 0..conns as u64 {
        let (cip, cport) = client(first_client + i);
        for (flags, len) in [(TcpFlags::SYN, 0), (TcpFlags::ACK, 0), (TcpFlags(0x18), 100)] {
            let mut b = Vec::with_capacity(256);
            tcp_frame_into(&mut b, ROUTER_MAC, LB_C_MAC, cip, cport, VIP, 80, flags, len);
            frames.push(b);
        }
    }
    let mut ring: Vec<ConnRecord> = Vec::with_capacity(RING);
    let mut records = Vec::new();
    let mut drained = 0usize;
    let t0 = Instant::now();
    for f in frames.drain(..) {
        p.handle(CLIENT_PORT, f, now, &mut VecAlloc, &mut out);
        out.tx[SERVER_PORT as usize].clear();
        // The worker's hand-over: into the ring, never waiting (the sync thread empties it).
        for r in out.synced.drain(..) {
            if ring.len() == RING {
                drained += ring.len();
                records.append(&mut ring);
            }
            ring.push(r);
        }
    }
    let ns = t0.elapsed().as_nanos() as f64 / conns as f64;
    let _ = drained;
    records.append(&mut ring);
    assert_eq!(p.sessions().len(), conns, "every connection has its session");
    Run { ns_per_conn: ns, records }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let conns = args
        .iter()
        .position(|a| a == "--conns")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000usize);
    let (mut off, mut on) = (Vec::new(), Vec::new());
    let mut last = None;
    for t in 0..TRIALS {
        off.push(run(conns, false, (2 * t as u64) * conns as u64).ns_per_conn);
        let r = run(conns, true, (2 * t as u64 + 1) * conns as u64);
        assert_eq!(r.records.len(), conns, "one record per connection (its third packet)");
        on.push(r.ns_per_conn);
        last = Some(r.records);
    }
    // The sync thread's share: pack and seal the records of one trial.
    let records = last.expect("trials ran");
    let key = ClusterKey::from_config("sync-conn bench passphrase, not a secret").expect("key");
    let mut packer = Packer::new(Sender::new(SenderConfig::new(1, 1, 1), &key).expect("sender"));
    let mut wire = 0u64;
    let t0 = Instant::now();
    for r in &records {
        packer.push(r, |d| wire += d.len() as u64).expect("push");
    }
    packer.flush(|d| wire += d.len() as u64).expect("flush");
    let pack_ns = t0.elapsed().as_nanos() as f64 / records.len() as f64;
    let (msgs, recs, bytes) = packer.sent();
    assert_eq!((recs, bytes), (records.len() as u64, wire));
    let (m_off, m_on) = (median(off.clone()), median(on.clone()));
    println!(
        "{}",
        json!({
            "conns_per_trial": conns,
            "sync_off": { "ns_per_conn": m_off, "conns_per_s": 1e9 / m_off, "trials_ns": off },
            "sync_on": { "ns_per_conn": m_on, "conns_per_s": 1e9 / m_on, "trials_ns": on },
            "ratio_on_over_off_conns_per_s": m_off / m_on,
            "sync_thread_pack_seal_ns_per_record": pack_ns,
            "datagrams": msgs,
            "sync_bytes_per_session_payload": bytes as f64 / recs as f64,
            "sync_bytes_per_session_with_ip_udp": (bytes + msgs * 28) as f64 / recs as f64,
        })
    );
}
